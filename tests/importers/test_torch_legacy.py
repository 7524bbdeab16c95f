"""core.importers.torch_zip reads PyTorch's legacy (non-zip) checkpoints exactly as torch does, and refuses what it cannot.

Files are written by torch itself (``torch.save(..., _use_new_zipfile_serialization=False)``); a
CUDA-tagged storage is made by having torch's own ``location_tag`` name ``cuda:0`` while saving
(what a GPU machine writes), and omniart-eye-generator's real file (saved on a GPU) is read too.
"""
import collections
import importlib.metadata
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from core.errors import CheckpointMismatch, UnsafeCheckpoint
from core.importers.torch_zip import read_object, read_state_dict
from tests.importers.test_torch_zip import _pickle_calling, _tensors

LEGACY = {"_use_new_zipfile_serialization": False}


def _save_legacy(obj, path):
    torch.save(obj, path, **LEGACY)
    return path


def _expected(tensor) -> np.ndarray:
    return tensor.detach().float().numpy() if tensor.dtype == torch.bfloat16 else tensor.detach().numpy()


def _assert_same(state: dict, tensors: dict):
    assert list(state) == list(tensors)
    for name, tensor in tensors.items():
        expected = _expected(tensor)
        assert state[name].dtype == expected.dtype and state[name].shape == expected.shape, name
        np.testing.assert_array_equal(state[name], expected, err_msg=name)
        assert state[name].flags.c_contiguous and state[name].flags.writeable, name


def test_reads_every_dtype_and_view_as_torch_does(tmp_path):
    tensors = _tensors()  # every storage type, shared storages, offsets, strides, a scalar, an empty one, a Parameter
    path = _save_legacy(tensors, tmp_path / "mixed.pt")
    assert path.read_bytes()[:2] == b"\x80\x02"  # the legacy pickle stream, not a zip

    state = read_state_dict(path)

    _assert_same(state, tensors)
    _assert_same(state, torch.load(path, weights_only=True))  # what torch itself reads back
    state["window"][0, 0] = 1e6  # views come back as copies
    np.testing.assert_array_equal(state["base"], tensors["base"].numpy())


@pytest.fixture
def saved_on_cuda(monkeypatch):
    """torch.save as a GPU machine runs it: every storage's location is 'cuda:0' (CPU data, CUDA tag)."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_cuda_storages_are_read_into_cpu_arrays(tmp_path, saved_on_cuda, legacy):
    tensors = collections.OrderedDict(w=torch.randn(4, 3, 2), b=torch.arange(5, dtype=torch.int64), h=torch.randn(3).half())
    path = tmp_path / "cuda.pt"
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    if legacy:
        assert b"cuda:0" in path.read_bytes()
    _assert_same(read_state_dict(path), tensors)
    _assert_same(read_state_dict(path), torch.load(path, map_location="cpu", weights_only=True))


def test_the_omniart_wheels_cuda_file_reads_as_torch_maps_it_to_the_cpu():
    path = importlib.metadata.distribution("omniart-eye-generator").locate_file("omniart_eye_generator/generator_model_state.pth")
    head = path.read_bytes()[:4096]
    assert head.startswith(b"\x80\x02") and b"cuda:0" in head  # legacy format, CUDA storages
    ours = read_state_dict(path)
    reference = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(reference) and len(ours) == 31
    for name, tensor in reference.items():
        np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)
        assert ours[name].dtype == tensor.numpy().dtype, name


def test_nested_objects_and_shared_tensors(tmp_path):
    shared = torch.randn(3, 3)
    saved = {"generator": collections.OrderedDict(w=shared, t=shared.t()), "pair": (shared, 7), "steps": [1, shared], "epoch": 33}
    path = _save_legacy(saved, tmp_path / "nested.pt")

    got = read_object(path)

    assert got["epoch"] == 33 and got["steps"][0] == 1 and got["pair"][1] == 7
    np.testing.assert_array_equal(got["generator"]["t"], shared.t().numpy())
    for value in (got["generator"]["w"], got["pair"][0], got["steps"][1]):
        np.testing.assert_array_equal(value, shared.numpy())
    assert got["pair"][0] is got["steps"][1]  # one tensor in the pickle, one array here
    with pytest.raises(CheckpointMismatch, match="not a flat state dict of tensors: entries generator, pair, steps, epoch"):
        read_state_dict(path)


# ---------------------------------------------------------------- refusals

def _header(version=1001) -> bytes:
    return (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(version, protocol=2)
            + pickle.dumps({"protocol_version": version, "little_endian": True}, protocol=2))


def test_a_foreign_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))
    with pytest.raises(CheckpointMismatch, match=r"plain\.pkl is a pickle but not a PyTorch checkpoint: .*magic number"):
        read_object(path)

    other = tmp_path / "version.pt"
    other.write_bytes(_header(version=1000) + pickle.dumps({}, protocol=2))
    with pytest.raises(CheckpointMismatch, match=r"version\.pt is in PyTorch's legacy format version 1000; only 1001"):
        read_object(other)


@pytest.mark.parametrize("where", ["header", "object"])
def test_a_pickle_naming_other_code_is_refused_unrun(tmp_path, where):
    marker = tmp_path / "ran"
    payload = _pickle_calling("os", "system", f"touch '{marker}'")
    path = tmp_path / "evil.pt"
    path.write_bytes(payload if where == "header" else _header() + payload + pickle.dumps([], protocol=2))
    with pytest.raises(UnsafeCheckpoint, match=r"evil\.pt was refused: its pickle names os\.system.*Nothing in it was run"):
        read_object(path)
    assert not marker.exists()


def test_a_whole_pickled_module_is_refused(tmp_path):
    path = _save_legacy(torch.nn.Linear(2, 2), tmp_path / "model.pt")
    with pytest.raises(UnsafeCheckpoint, match=r"model\.pt was refused: its pickle names torch\.nn\.modules\.linear\.Linear"):
        read_object(path)


def test_truncated_damaged_and_padded_files_give_clear_errors(tmp_path):
    tensors = collections.OrderedDict(w=torch.arange(1000.0), n=torch.arange(4))
    data = _save_legacy(tensors, tmp_path / "whole.pt").read_bytes()
    storages = data.index(np.arange(1000.0, dtype="<f4").tobytes()) - 8  # the element count before the first storage

    def variant(name, content):
        path = tmp_path / name
        path.write_bytes(content)
        return path

    with pytest.raises(CheckpointMismatch, match=r"cut\.pt is truncated: storage \d+ needs 4000 bytes, 2000 are left"):
        read_object(variant("cut.pt", data[: storages + 8 + 2000]))
    with pytest.raises(CheckpointMismatch, match=r"early\.pt is truncated: it ends before storage"):
        read_object(variant("early.pt", data[:storages]))
    with pytest.raises(CheckpointMismatch, match=r"mid-pickle\.pt has an invalid object pickle"):
        read_object(variant("mid-pickle.pt", data[: data.index(b"OrderedDict") + 40]))
    with pytest.raises(CheckpointMismatch, match=r"padded\.pt has 3 unexpected bytes after its last storage"):
        read_object(variant("padded.pt", data + b"xyz"))
    recount = data[:storages] + struct.pack("<q", 999) + data[storages + 8:]
    with pytest.raises(CheckpointMismatch, match=r"recount\.pt has a storage \d+ of 999 elements; its object describes 1000"):
        read_object(variant("recount.pt", recount))
    with pytest.raises(CheckpointMismatch, match=r"notes\.pt is not a PyTorch checkpoint"):
        read_object(variant("notes.pt", b"not a checkpoint"))


def test_the_tar_format_is_refused_by_name(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("sys_info")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"\x80\x02N."))
    path = tmp_path / "ancient.pt"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointMismatch, match=r"ancient\.pt uses PyTorch's oldest \(tar\) format"):
        read_object(path)
