"""core.importers.torch_zip reads torch.save's zip checkpoints exactly as torch does, and runs nothing it was not told to."""
import collections
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch

from core.errors import CheckpointMismatch, UnsafeCheckpoint
from core.importers.torch_zip import read_object, read_state_dict


def _tensors():
    """Every storage dtype torch names, plus views that share storages at offsets and with strides."""
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=generator)
    return collections.OrderedDict(
        f32=torch.randn(3, 4, generator=generator),
        f64=torch.randn(2, 3, generator=generator, dtype=torch.float64),
        f16=torch.randn(5, generator=generator).half(),
        bf16=torch.randn(5, generator=generator).bfloat16(),
        i64=torch.tensor([-(2**40), -1, 0, 7]),
        i32=torch.tensor([-(2**30), 5], dtype=torch.int32),
        i16=torch.tensor([-300, 300], dtype=torch.int16),
        i8=torch.tensor([-128, 127], dtype=torch.int8),
        u8=torch.tensor([0, 255], dtype=torch.uint8),
        flags=torch.tensor([True, False, True]),
        base=base,
        transposed=base.t(),  # same storage, strides (1, 6)
        window=base[1:3, ::2],  # same storage, offset 6, strides (12, 2)
        scalar=torch.tensor(3.5),
        empty=torch.zeros(0, 3),
        parameter=torch.nn.Parameter(torch.arange(4.0)),  # pickled through _rebuild_parameter
    )


def test_reads_every_dtype_and_view_as_torch_does(tmp_path):
    tensors = _tensors()
    path = tmp_path / "mixed.pt"
    torch.save(tensors, path)
    storages = [n for n in zipfile.ZipFile(path).namelist() if "/data/" in n]
    assert len(storages) == len(tensors) - 2  # base, transposed and window share one storage

    state = read_state_dict(path)

    assert list(state) == list(tensors)
    for name, tensor in tensors.items():
        expected = tensor.detach().float().numpy() if tensor.dtype == torch.bfloat16 else tensor.detach().numpy()
        assert state[name].dtype == expected.dtype, name
        assert state[name].shape == expected.shape, name
        np.testing.assert_array_equal(state[name], expected, err_msg=name)
        assert state[name].flags.c_contiguous and state[name].flags.writeable, name
    assert state["bf16"].dtype == np.float32  # numpy has no bfloat16: widened exactly
    # Views come back as copies: writing one leaves the tensors that shared its storage alone.
    state["window"][0, 0] = 1e6
    np.testing.assert_array_equal(state["base"], tensors["base"].numpy())


def test_big_endian_files_are_read_in_their_byte_order(tmp_path):
    tensors = collections.OrderedDict(w=torch.randn(3, 5, dtype=torch.float64), n=torch.tensor([1, -2, 3**20]))
    little = tmp_path / "little.pt"
    torch.save(tensors, little)
    # The same checkpoint as a big-endian machine writes it: every storage byte-swapped.
    big = tmp_path / "big.pt"
    with zipfile.ZipFile(little) as source, zipfile.ZipFile(big, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in name:
                data = np.frombuffer(data, dtype="<i8").astype(">i8").tobytes()  # both tensors are 8-byte types
            target.writestr(name, data)

    state = read_state_dict(big)

    np.testing.assert_array_equal(state["w"], tensors["w"].numpy())
    np.testing.assert_array_equal(state["n"], tensors["n"].numpy())


def _pickle_calling(module: str, name: str, argument: str) -> bytes:
    """A protocol-2 pickle that calls module.name(argument) when loaded, written opcode by opcode."""
    encoded = argument.encode()
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(encoded)) + encoded + b"\x85R."


def _zip_checkpoint(path, data_pkl: bytes):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", data_pkl)
        archive.writestr("evil/byteorder", "little")
        archive.writestr("evil/version", "3\n")
    return path


@pytest.mark.parametrize("module, name, make_command", [
    ("builtins", "eval", lambda marker: f"open({str(marker)!r}, 'w').close()"),
    ("os", "system", lambda marker: f"touch '{marker}'"),
])
def test_a_pickle_naming_other_code_is_refused_unrun(tmp_path, module, name, make_command):
    marker = tmp_path / "ran"
    payload = _pickle_calling(module, name, make_command(marker))
    path = _zip_checkpoint(tmp_path / "evil.pt", payload)

    with pytest.raises(UnsafeCheckpoint, match=rf"names {module}\.{name}\b.*Nothing in it was run"):
        read_state_dict(path)
    assert not marker.exists()
    assert issubclass(UnsafeCheckpoint, CheckpointMismatch)  # callers that handle bad checkpoints handle this too

    # Control: the same bytes given to a plain unpickler do run, so the marker would have shown it.
    pickle.loads(payload)
    assert marker.exists()


_RETYPE = b"}X\x04\x00\x00\x00nameX\x0b\x00\x00\x00LongStorages"  # {"name": "LongStorage"}


@pytest.mark.parametrize("state", [_RETYPE, b"N" + _RETYPE + b"\x86"], ids=["dict state", "slot state"])
def test_a_pickle_cannot_retype_the_storages_it_is_allowed(tmp_path, state):
    # GLOBAL torch.FloatStorage, then BUILD it with new attributes: the immutable object refuses.
    tamper = b"\x80\x02ctorch\nFloatStorage\n" + state + b"b."
    with pytest.raises(CheckpointMismatch, match="tamper.pt has an invalid data.pkl"):
        read_object(_zip_checkpoint(tmp_path / "tamper.pt", tamper))

    path = tmp_path / "after.pt"
    torch.save({"w": torch.tensor([1.5, -2.0])}, path)
    np.testing.assert_array_equal(read_state_dict(path)["w"], np.array([1.5, -2.0], np.float32))


def test_expanded_views_are_read_up_to_a_memory_bound(tmp_path):
    row = torch.arange(3.0)
    path = tmp_path / "expanded.pt"
    torch.save({"small": row.expand(100, 3), "huge": row[:1].expand(5000, 5000)}, path)  # stride 0, one storage
    refused = r"expanded.pt has an invalid data.pkl: A tensor of shape \[5000, 5000\] repeats the 3 elements"
    with pytest.raises(CheckpointMismatch, match=refused):
        read_state_dict(path)

    torch.save({"small": row.expand(100, 3)}, path)
    np.testing.assert_array_equal(read_state_dict(path)["small"], np.tile(np.arange(3.0, dtype=np.float32), (100, 1)))


def test_legacy_non_zip_files_are_read_too(tmp_path):
    """The same reader takes torch's legacy pickle stream (tests/importers/test_torch_legacy.py has the details)."""
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    np.testing.assert_array_equal(read_state_dict(path)["w"], np.ones(2, np.float32))


def test_truncated_and_damaged_files_give_clear_errors(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save({"w": torch.arange(1000.0)}, path)
    data = path.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointMismatch, match="truncated or damaged"):
        read_state_dict(truncated)

    # One flipped byte inside the (stored, uncompressed) storage: the zip's CRC catches it when the tensor is read.
    flipped = bytearray(data)
    flipped[data.index(np.arange(1000.0, dtype="<f4").tobytes()) + 100] ^= 0xFF
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointMismatch, match=r"damaged: record whole/data/0"):
        read_state_dict(damaged)

    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("not a checkpoint")
    with pytest.raises(CheckpointMismatch, match="not a PyTorch checkpoint"):
        read_state_dict(not_a_checkpoint)


def test_nested_checkpoints_read_whole_but_are_not_a_flat_state_dict(tmp_path):
    path = tmp_path / "nested.pt"
    torch.save({"generator": {"w": torch.ones(2, 2)}, "epoch": 33}, path)

    saved = read_object(path)
    assert saved["epoch"] == 33
    np.testing.assert_array_equal(saved["generator"]["w"], np.ones((2, 2), np.float32))
    with pytest.raises(CheckpointMismatch, match="not a flat state dict of tensors: entries generator, epoch"):
        read_state_dict(path)
