"""core.checkpoint_io reads paddle.save files exactly as paddle.load(return_numpy=True) does, and runs nothing they name."""
from __future__ import annotations

import collections
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import paddle
import pytest

from core import checkpoint_io
from core.checkpoint_io import RestrictedUnpickler, read_checkpoint_file, save_checkpoint
from core.errors import CheckpointMismatch, UnsafeCheckpoint

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "assets" / "weights").glob("*.pdparams"))


def assert_same(ours, theirs, where="file"):
    """Same types, keys in the same order, arrays of the same dtype, shape and values."""
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), where
        np.testing.assert_array_equal(ours, theirs, err_msg=where)
        assert ours.flags.writeable, where
    else:
        assert ours == theirs or (ours != ours and theirs != theirs), f"{where}: {ours!r} != {theirs!r}"


def _tiny_layers():
    paddle.seed(0)
    return paddle.nn.Sequential(
        paddle.nn.Conv2D(1, 2, 3), paddle.nn.BatchNorm2D(2), paddle.nn.Flatten(), paddle.nn.Linear(18, 3)
    )


def _trained_optimizers(net):
    """An Adam with a learning-rate schedule and an RMSProp, each after one step (so with accumulators)."""
    adam = paddle.optimizer.Adam(learning_rate=paddle.optimizer.lr.StepDecay(0.1, 2), parameters=net.parameters())
    rmsprop = paddle.optimizer.RMSProp(learning_rate=0.01, parameters=net.parameters())
    for optimizer in (adam, rmsprop):
        net(paddle.randn([2, 1, 5, 5])).mean().backward()
        optimizer.step()
        optimizer.clear_grad()
    return adam, rmsprop


# ---------------------------------------------------------------- the same result as paddle.load


def test_the_repository_ships_weights_to_compare():
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_weights_read_as_paddle_loads_them(path):
    ours = read_checkpoint_file(path)
    assert_same(ours, paddle.load(str(path), return_numpy=True))
    # Every state dict holds arrays (PGGAN's "stages" holds one per stage); "meta" (a trainer's record of the
    # configuration) holds plain values.
    assert all(isinstance(v, np.ndarray) for key, state in ours.items() if key != "meta" for v in _leaves(state))


def _leaves(state: dict):
    for value in state.values():
        yield from _leaves(value) if isinstance(value, dict) else (value,)


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_layer_and_optimizer_state_dicts_read_as_paddle_loads_them(tmp_path, protocol):
    net = _tiny_layers()
    adam, rmsprop = _trained_optimizers(net)
    for name, state in (("net", net.state_dict()), ("adam", adam.state_dict()), ("rmsprop", rmsprop.state_dict())):
        path = tmp_path / f"{name}.pdparams"
        paddle.save(state, str(path), protocol=protocol)
        ours = read_checkpoint_file(path)
        assert_same(ours, paddle.load(str(path), return_numpy=True), name)
        assert "StructuredToParameterName@@" not in ours
    assert "LR_Scheduler" in read_checkpoint_file(tmp_path / "adam.pdparams")  # a plain dict inside


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_training_checkpoint_reads_as_paddle_loads_it(tmp_path, protocol):
    """The layout core.train writes: nested state dicts, optimizer states, plain metadata, numpy values."""
    net = _tiny_layers()
    adam, rmsprop = _trained_optimizers(net)
    checkpoint = {
        "netG": net.state_dict(),
        "netD": net.state_dict(),
        "optG": adam.state_dict(),
        "optD": rmsprop.state_dict(),
        "fake_history": np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32),
        "meta": {"step": 7, "batches_served": 12, "config": {"lr": 2e-4, "ema": None, "clip": (0.01, -0.01),
                                                              "objective": "wgan", "flag": True, "seeds": [1, 2]}},
        "scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64("nan")],
        "tensor": paddle.to_tensor([[1.0, 2.0]], dtype="float16"),
    }
    path = tmp_path / "checkpoint.pdparams"
    paddle.save(checkpoint, str(path), protocol=protocol)

    ours = read_checkpoint_file(path)

    assert_same(ours, paddle.load(str(path), return_numpy=True))
    assert isinstance(ours["netG"]["0.weight"], np.ndarray) and ours["tensor"].dtype == np.float16
    assert ours["meta"]["config"]["clip"] == (0.01, -0.01)


def test_save_checkpoint_round_trips_every_dtype_and_byte_order(tmp_path):
    arrays = {dtype: (np.arange(6) % 2 if dtype == "bool" else np.arange(-3, 3)).astype(dtype).reshape(2, 3)
              for dtype in ("bool", "int8", "uint8", "int16", "uint16", "int32", "int64", "float16", "float32", "float64", "complex64")}
    arrays["big_endian"] = np.arange(4, dtype=">f4")
    arrays["fortran"] = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    arrays["empty"] = np.zeros((0, 3), np.float32)
    path = save_checkpoint({"arrays": arrays}, tmp_path / "deep" / "all.pdparams")
    assert [p.name for p in path.parent.iterdir()] == ["all.pdparams"]

    ours = read_checkpoint_file(path)["arrays"]

    assert_same(ours, paddle.load(str(path), return_numpy=True)["arrays"])
    for name, array in arrays.items():
        np.testing.assert_array_equal(ours[name], array, err_msg=name)
        assert ours[name].dtype == array.dtype.newbyteorder("="), name  # numpy unpickles in native order too


def test_plain_pickles_of_every_allowed_kind_read_as_pickle_reads_them(tmp_path):
    """Protocol 2 names bytes, sets and tuples with Python 2's __builtin__ and bytes through _codecs.encode."""
    data = collections.OrderedDict(
        a=np.arange(3, dtype=np.int16), s={1, 2}, f=frozenset({"x"}), b=b"raw\x00\xff", e=b"", t=(1, (2, 3)),
        n=None, c=np.asfortranarray(np.ones((2, 2))),
    )
    for protocol in (2, 3, 4):
        path = tmp_path / f"plain{protocol}.pkl"
        path.write_bytes(pickle.dumps({"data": data}, protocol=protocol))
        ours = read_checkpoint_file(path)["data"]
        assert list(ours) == list(data) and type(ours) is collections.OrderedDict
        for key, value in data.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(ours[key], value)
                assert ours[key].flags.f_contiguous == value.flags.f_contiguous
            else:
                assert ours[key] == value and type(ours[key]) is type(value), key


@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"], ids=["numpy 1", "numpy 2"])
def test_both_numpy_module_names_are_read(tmp_path, module):
    """numpy 1.x (with Paddle 2.6) writes numpy.core.multiarray where numpy 2 writes numpy._core.multiarray;
    a file written by either is read under either."""
    payload = pickle.dumps({"w": np.arange(4, dtype=np.float32), "s": np.float64(2.5)}, protocol=2)
    spelled = payload.replace(b"numpy._core.multiarray", module).replace(b"numpy.core.multiarray", module)
    assert module + b"\n_reconstruct" in spelled  # protocol 2: newline-ended names, so renaming keeps it valid
    path = tmp_path / "spelled.pdparams"
    path.write_bytes(spelled)

    read = read_checkpoint_file(path)

    np.testing.assert_array_equal(read["w"], np.arange(4, dtype=np.float32))
    assert read["s"] == 2.5 and type(read["s"]) is np.float64


def test_arrays_paddle_split_in_slices_are_joined_as_paddle_joins_them(tmp_path):
    """Protocols 2 and 3 split arrays over 1 GiB into slices listed under UnpackBigParamInfor@@."""
    whole = np.arange(12, dtype=np.float32)
    saved = {"w@@.0": whole[:7], "w@@.1": whole[7:], "b": np.ones(2, np.float32),
             "UnpackBigParamInfor@@": {"w": {"OriginShape": (3, 4), "slices": ["w@@.0", "w@@.1"]}}}
    path = tmp_path / "split.pdparams"
    path.write_bytes(pickle.dumps(saved, protocol=2))

    ours = read_checkpoint_file(path)

    assert_same(ours, paddle.load(str(path), return_numpy=True))
    assert sorted(ours) == ["b", "w"] and ours["w"].shape == (3, 4)


# ---------------------------------------------------------------- refused, unrun


def _pickle_calling(module: str, name: str, argument: str) -> bytes:
    """A protocol-2 pickle that calls module.name(argument) when loaded, written opcode by opcode."""
    encoded = argument.encode()
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(encoded)) + encoded + b"\x85R."


@pytest.mark.parametrize("module, name, make_command", [
    ("builtins", "exec", lambda marker: f"open({str(marker)!r}, 'w').close()"),
    ("builtins", "eval", lambda marker: f"open({str(marker)!r}, 'w').close()"),
    ("os", "system", lambda marker: f"touch '{marker}'"),
    ("posix", "system", lambda marker: f"touch '{marker}'"),
    ("subprocess", "getoutput", lambda marker: f"touch '{marker}'"),
])
def test_a_pickle_naming_other_code_is_refused_unrun(tmp_path, module, name, make_command):
    marker = tmp_path / "ran"
    payload = _pickle_calling(module, name, make_command(marker))
    path = tmp_path / "evil.pdparams"
    path.write_bytes(payload)

    with pytest.raises(UnsafeCheckpoint, match=rf"{path}.*names {module}\.{name}\b.*Nothing in it was run"):
        read_checkpoint_file(path)
    assert not marker.exists()
    assert issubclass(UnsafeCheckpoint, CheckpointMismatch)

    # Control: the same bytes given to a plain unpickler do run, so the marker would have shown it.
    pickle.loads(payload)
    assert marker.exists()


class _RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_real_checkpoint_with_one_hostile_entry_is_refused_unrun(tmp_path):
    """Protocol 4 (paddle.save's default) names globals with STACK_GLOBAL; the refusal is the same."""
    marker = tmp_path / "ran"
    path = tmp_path / "mixed.pdparams"
    paddle.save({"netG": _tiny_layers().state_dict(), "meta": {"step": 1}}, str(path))
    saved = pickle.loads(path.read_bytes())
    saved["meta"]["hook"] = _RunsCommand(f"touch '{marker}'")
    path.write_bytes(pickle.dumps(saved, protocol=4))

    with pytest.raises(UnsafeCheckpoint, match=r"names posix\.system"):
        read_checkpoint_file(path)
    assert not marker.exists()


def test_numpy_is_not_handed_a_dtype_state_that_claims_python_objects(tmp_path):
    """numpy.dtype.__setstate__ accepts flags that make float64 claim to hold object pointers."""
    class _ObjectFlaggedDtype:
        def __reduce__(self):
            return np.dtype, ("f8", False, True), (3, "<", None, None, None, -1, -1, 63)

    path = tmp_path / "flags.pdparams"
    path.write_bytes(pickle.dumps({"d": _ObjectFlaggedDtype()}, protocol=2))
    with pytest.raises(CheckpointMismatch, match="state that a plain numeric dtype does not have"):
        read_checkpoint_file(path)


@pytest.mark.parametrize("value, message", [
    (np.array([1, "text"], dtype=object), "not a plain numeric type"),
    (np.array(["text"]), "not a plain numeric type"),
    (np.zeros(2, dtype=[("x", "f4"), ("y", "i4")]), "not a plain numeric type"),
], ids=["object", "unicode", "structured"])
def test_arrays_of_anything_but_numbers_are_refused(tmp_path, value, message):
    path = tmp_path / "array.pdparams"
    path.write_bytes(pickle.dumps({"a": value}, protocol=4))
    with pytest.raises(CheckpointMismatch, match=message):
        read_checkpoint_file(path)


def test_an_allowed_global_cannot_be_changed_by_the_pickle(tmp_path):
    # GLOBAL numpy.dtype, then BUILD it with a slot state: the global refuses, and stays as it was.
    tamper = b"\x80\x02cnumpy\ndtype\nN}X\x08\x00\x00\x00__call__Ns\x86b."
    path = tmp_path / "tamper.pdparams"
    path.write_bytes(tamper)
    with pytest.raises(CheckpointMismatch, match="tamper.pdparams cannot be read as a Paddle checkpoint"):
        read_checkpoint_file(path)

    after = tmp_path / "after.pdparams"
    after.write_bytes(pickle.dumps({"w": np.float32([1.5])}, protocol=2))
    np.testing.assert_array_equal(read_checkpoint_file(after)["w"], [1.5])


@pytest.mark.parametrize("payload, message", [
    (pickle.dumps([np.zeros(2)], protocol=4), "holds a list, not a state dict"),
    (pickle.dumps({"w": np.zeros(3)}, protocol=4)[:-20], "cannot be read as a Paddle checkpoint"),
    (b"", "cannot be read as a Paddle checkpoint"),
], ids=["not a dict", "truncated", "empty"])
def test_files_that_are_not_state_dicts_are_reported_by_name(tmp_path, payload, message):
    path = tmp_path / "bad.pdparams"
    path.write_bytes(payload)
    with pytest.raises(CheckpointMismatch, match=message) as caught:
        read_checkpoint_file(path)
    assert str(path) in str(caught.value)


def test_a_container_that_contains_itself_is_refused(tmp_path):
    loop = []
    loop.append(loop)
    path = tmp_path / "loop.pdparams"
    path.write_bytes(pickle.dumps({"loop": loop}, protocol=4))
    with pytest.raises(CheckpointMismatch, match="contains itself"):
        read_checkpoint_file(path)


def test_a_missing_file_is_reported_by_name(tmp_path):
    with pytest.raises(CheckpointMismatch, match="missing.pdparams cannot be read"):
        read_checkpoint_file(tmp_path / "missing.pdparams")


def test_torch_zip_refuses_through_the_same_unpickler():
    from core.importers import torch_zip

    assert issubclass(torch_zip._StateDictUnpickler, RestrictedUnpickler)
    assert issubclass(checkpoint_io._PaddleUnpickler, RestrictedUnpickler)
