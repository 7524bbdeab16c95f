"""core.importers.paddle_persistables: Paddle's static-graph persistables, read with numpy alone.

The fixtures in tests/importers/data/persistables/ were written once by Paddle 2.6's own savers
(tests/importers/data/make_persistables_fixtures.py): every dtype, a 0-D tensor and a LoD tensor,
one file per variable and one combined file. Every environment reads those bytes; where the running
Paddle can save static-graph variables, fresh files are written and read back too.
"""
from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import paddle
import pytest

from core.errors import CheckpointMismatch
from core.importers import paddle_persistables as pp

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "importers" / "data"
FIXTURES = DATA / "persistables"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def fixture_script():
    spec = importlib.util.spec_from_file_location("make_persistables_fixtures", DATA / "make_persistables_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_matches(variable: pp.Variable, expected: dict):
    assert variable.dtype == expected["dtype"], variable.name
    assert list(variable.shape) == expected["shape"] and variable.array.shape == tuple(expected["shape"]), variable.name
    assert [list(level) for level in variable.lod] == expected["lod"], variable.name
    want = np.array(expected["values"], dtype=variable.array.dtype).reshape(expected["shape"])
    np.testing.assert_array_equal(variable.array, want, err_msg=variable.name)
    numpy_dtype = "float32" if expected["dtype"] == "bfloat16" else expected["dtype"]
    assert variable.array.dtype == np.dtype(numpy_dtype), variable.name


# ---------------------------------------------------------------- Paddle's own files


def test_the_fixtures_were_written_by_paddle_2_6_with_every_dtype():
    assert EXPECTED["paddle"].startswith("2.6")
    dtypes = {v["dtype"] for v in EXPECTED["variables"].values()}
    assert dtypes == {"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16", "float32", "float64"}
    assert any(v["lod"] for v in EXPECTED["variables"].values()) and any(v["shape"] == [] for v in EXPECTED["variables"].values())


def test_every_single_variable_file_reads_back():
    names = EXPECTED["single_files"]
    assert sorted(p.name for p in (FIXTURES / "vars").iterdir()) == names
    for name in names:
        variable = pp.read_variable(FIXTURES / "vars" / name)
        assert variable.name == name and variable.nbytes == (FIXTURES / "vars" / name).stat().st_size
        assert_matches(variable, EXPECTED["variables"][name])


def test_a_folder_reads_as_every_file_in_it_or_the_names_asked_for():
    every = pp.read_directory(FIXTURES / "vars")
    assert list(every) == EXPECTED["single_files"]
    asked = pp.read_directory(FIXTURES / "vars", ["seq_feature", "conv1_w"])
    assert list(asked) == ["seq_feature", "conv1_w"]
    assert asked["seq_feature"].lod == ((0, 2, 5),)
    with pytest.raises(ValueError, match="no file for variable 'flag_bool'"):
        pp.read_directory(FIXTURES / "vars", ["conv1_w", "flag_bool"])


def test_the_combined_file_reads_back_in_its_sorted_order():
    order = EXPECTED["combined_order"]
    assert order == sorted(EXPECTED["variables"])
    found = pp.read_combined(FIXTURES / "combined", order)
    assert list(found) == order
    for name, variable in found.items():
        assert_matches(variable, EXPECTED["variables"][name])
    unnamed = pp.read_combined(FIXTURES / "combined")
    assert list(unnamed) == [f"#{i}" for i in range(len(order))]
    # The combined file is the single files back to back (bool only exists there: no 2.6 save kernel).
    singles = b"".join((FIXTURES / "vars" / n).read_bytes() for n in order if n in EXPECTED["single_files"])
    combined_without_bool = b"".join(
        pp.write_variable(found[n].array, found[n].lod, found[n].dtype) for n in order if n != "flag_bool")
    assert singles == combined_without_bool


def test_the_writer_gives_paddles_bytes():
    """write_variable (which the archive tests use to build archives) writes what Paddle wrote."""
    for name in EXPECTED["single_files"]:
        path = FIXTURES / "vars" / name
        variable = pp.read_variable(path)
        assert pp.write_variable(variable.array, variable.lod, variable.dtype) == path.read_bytes(), name
    data = (FIXTURES / "combined").read_bytes()
    rebuilt = b"".join(pp.write_variable(v.array, v.lod, v.dtype) for v in pp.read_combined(FIXTURES / "combined").values())
    assert rebuilt == data


def test_complex_and_packed_dims_read_too():
    value = np.array([[1 + 2j, -3.5j]], np.complex64)
    record = pp.write_variable(value)
    variable, end = pp.parse_record(record, 0, "c", "memory")
    assert end == len(record) and variable.dtype == "complex64"
    np.testing.assert_array_equal(variable.array, value)
    # A TensorDesc with packed dims (wire type 2) means the same.
    assert pp.parse_tensor_desc(bytes([0x08, 0x05, 0x12, 0x02, 0x02, 0x03])) == (5, [2, 3])


def _can_save_static() -> bool:
    return hasattr(paddle, "static") and hasattr(paddle.static, "save_vars")


@pytest.mark.skipif(not _can_save_static(), reason="this Paddle has no static-graph save_vars")
def test_fresh_files_from_the_running_paddle_read_back(tmp_path):
    report = fixture_script().write_fixtures(tmp_path)
    for name in report["single_files"]:
        assert_matches(pp.read_variable(tmp_path / "vars" / name), EXPECTED["variables"][name])
        # The format has not moved since 2.6: the same bytes.
        if name in EXPECTED["single_files"]:
            assert (tmp_path / "vars" / name).read_bytes() == (FIXTURES / "vars" / name).read_bytes(), name
    for name, variable in pp.read_combined(tmp_path / "combined", report["combined_order"]).items():
        assert_matches(variable, EXPECTED["variables"][name])


# ---------------------------------------------------------------- refused files


def record_of(name="conv1_w") -> bytes:
    return (FIXTURES / "vars" / name).read_bytes()


def refused(tmp_path, data: bytes, *expected, name="conv1_w"):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError) as caught:
        pp.read_variable(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: variable {name!r}: "), message
    for text in expected:
        assert text in message, (text, message)
    return message


@pytest.mark.parametrize("cut, field", [
    (0, "the LoD tensor version"), (3, "the LoD tensor version"), (4, "the LoD level count"),
    (12, "the tensor version"), (16, "the TensorDesc size"), (22, "the TensorDesc"),
])
def test_a_truncated_header_is_refused_naming_the_field(tmp_path, cut, field):
    refused(tmp_path, record_of()[:cut], "truncated", f"inside {field}")


def test_truncated_data_is_refused(tmp_path):
    data = record_of()
    refused(tmp_path, data[:-1], "need 96 bytes of data, but the file has 95 left")
    lod = record_of("seq_feature")
    refused(tmp_path, lod[:30], "truncated", "inside LoD level 0", name="seq_feature")


def test_trailing_bytes_are_refused(tmp_path):
    refused(tmp_path, record_of() + b"\0", "1 trailing bytes after its data")


def test_foreign_files_are_refused(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    refused(tmp_path, png, "LoD tensor version 0x474e5089", "not a Paddle persistable")
    pdparams = tmp_path / "w.pdparams"
    paddle.save({"w": paddle.ones([2, 3])}, str(pdparams))
    refused(tmp_path, pdparams.read_bytes(), "LoD tensor version")
    refused(tmp_path, bytes(64), "a TensorDesc of 0 bytes")
    refused(tmp_path, b"", "truncated")


def test_other_versions_are_refused(tmp_path):
    data = bytearray(record_of())
    data[0:4] = struct.pack("<I", 1)
    refused(tmp_path, bytes(data), "LoD tensor version 0x1, but Paddle writes only version 0")
    data = bytearray(record_of())
    data[12:16] = struct.pack("<I", 2)
    refused(tmp_path, bytes(data), "tensor version 0x2")


def _with_desc(desc: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + payload


def test_descs_that_disagree_with_the_data_or_are_not_paddles_are_refused(tmp_path):
    refused(tmp_path, _with_desc(bytes([0x08, 0x05, 0x10, 0x03]), bytes(8)), "need 12 bytes of data, but the file has 8 left")
    refused(tmp_path, _with_desc(bytes([0x08, 0x63, 0x10, 0x01]), bytes(4)), "unknown data type 99")
    refused(tmp_path, _with_desc(bytes([0x10, 0x01]), bytes(4)), "names no data type")
    refused(tmp_path, _with_desc(bytes([0x08, 0x05, 0x18, 0x01])), "field 3 (wire type 0)")
    minus_one = bytes([0x10]) + bytes([0xFF] * 9 + [0x01])
    refused(tmp_path, _with_desc(bytes([0x08, 0x05]) + minus_one), "dims [-1] have a negative size")
    refused(tmp_path, _with_desc(bytes([0x08, 0x05, 0x10])), "ends inside a varint")
    huge = struct.pack("<IQIi", 0, 0, 0, 1 << 30)
    refused(tmp_path, huge, "a TensorDesc of 1,073,741,824 bytes")
    lod = struct.pack("<IQQ", 0, 1, 7) + bytes(7)
    refused(tmp_path, lod, "LoD level 0 has 7 bytes")


def test_combined_files_with_more_or_fewer_records_than_names_are_refused():
    order = EXPECTED["combined_order"]
    with pytest.raises(ValueError, match=r"variable 'zzz_extra': the file ends after 12 of 13 variables"):
        pp.read_combined(FIXTURES / "combined", order + ["zzz_extra"])
    with pytest.raises(ValueError, match=r"trailing bytes after the last variable 'learning_rate_0' \(11 expected\)"):
        pp.read_combined(FIXTURES / "combined", order[:-1])


# ---------------------------------------------------------------- the archive converter's rules


def test_training_state_is_recognised_by_name_and_nothing_else():
    present = {"gen_c1_w", "gen_c1_norm_w", "disc_c1_w"}
    assert pp.training_only("learning_rate_0", present) == "learning rate"
    assert pp.training_only("learning_rate", present) == "learning rate"
    assert pp.training_only("@LR_DECAY_COUNTER@", present) == "learning-rate schedule counter"
    assert pp.training_only("gen_c1_w_moment1_0", present) == "optimizer state (moment1)"
    assert pp.training_only("net_G_gen_c1_w_beta2_pow_acc_3", present) == "optimizer state (beta2_pow_acc)"
    assert pp.training_only("gen_c6_tanh.tmp_0", present) == "intermediate result"
    assert pp.training_only("tmp_12", present) == "intermediate result"
    # An accumulator of no saved variable, or anything else, is not training state.
    assert pp.training_only("gen_c9_w_moment1_0", present) is None
    assert pp.training_only("gen_c1_w", present) is None
    assert pp.training_only("gen_learning_rate_scale", present) is None


def _folder(tmp_path, variables: dict[str, np.ndarray], member="net_G") -> Path:
    folder = tmp_path / "unpacked" / member
    folder.mkdir(parents=True)
    for name, value in variables.items():
        (folder / name).write_bytes(pp.write_variable(value))
    return tmp_path / "unpacked"


TABLE = {"gen_c1_w": "conv.weight", "gen_c1_norm_w": "norm.weight"}


def test_archive_variables_are_read_strictly_by_the_table(tmp_path):
    unpacked = _folder(tmp_path, {"gen_c1_w": np.ones((2, 3), "float32"), "gen_c1_norm_w": np.ones(2, "float64"),
                                  "gen_c1_w_moment1_0": np.ones((2, 3), "float32"), "disc_c1_w": np.ones(1, "float32")})
    found, skipped = pp.read_archive_variables(unpacked, "net_G", TABLE)
    assert list(found) == list(TABLE)
    assert skipped == {"gen_c1_w_moment1_0": "optimizer state (moment1)", "disc_c1_w": "another network's variable (outside 'gen_')"}


def test_archive_problems_are_named(tmp_path):
    unpacked = _folder(tmp_path, {"gen_c1_w": np.ones(2, "float32"), "gen_c2_w": np.ones(2, "float32")})
    with pytest.raises(CheckpointMismatch) as caught:
        pp.read_archive_variables(unpacked, "net_G", TABLE)
    message = str(caught.value)
    assert "'net_G' of the archive" in message and str(unpacked) not in message
    assert "1 missing: gen_c1_norm_w" in message and "1 unexpected: gen_c2_w" in message
    with pytest.raises(ValueError, match="maps both 'a' and 'b' onto 'x'"):
        pp.read_archive_variables(unpacked, "net_G", {"a": "x", "b": "x"})
    with pytest.raises(ValueError, match="must be a relative path"):
        pp.read_archive_variables(unpacked, "../net_G", TABLE)


def test_a_combined_member_holds_the_table_variables_sorted(tmp_path):
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    values = {"gen_c1_norm_w": np.full(2, 3.0, "float32"), "gen_c1_w": np.full((2, 3), 7.0, "float32")}
    (unpacked / "params").write_bytes(b"".join(pp.write_variable(values[n]) for n in sorted(values)))
    found, _ = pp.read_archive_variables(unpacked, "params", TABLE)
    np.testing.assert_array_equal(found["gen_c1_w"].array, values["gen_c1_w"])
    (unpacked / "params").write_bytes(pp.write_variable(values["gen_c1_w"]))
    with pytest.raises(CheckpointMismatch, match="does not hold exactly the 2 variables"):
        pp.read_archive_variables(unpacked, "params", TABLE)
