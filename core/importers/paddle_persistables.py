"""PaddlePaddle's static-graph persistables read with numpy alone, and the converter of archives of them.

Paddle's static-graph API of 2019 (``fluid.io.save_persistables``, ``save_vars``; ``paddle.static.save_vars``
still writes the same bytes) saves a program's variables as a directory with one file per variable,
named by the variable, or with ``filename=`` as one combined file of the same records back to back,
sorted by variable name. A record is Paddle's ``SerializeToStream`` of a LoD tensor (C++
``lod_tensor.cc`` and ``tensor_util.cc`` ``TensorToStream``), little-endian:

- uint32 LoD-tensor version (0, the only one Paddle ever wrote);
- uint64 number of LoD levels, then per level a uint64 byte count and that many bytes of
  uint64 offsets (size_t);
- uint32 tensor version (0), int32 byte count of a ``VarType.TensorDesc`` protobuf, the protobuf
  (field 1: the ``VarType.Type`` enum of the data type; field 2: int64 dims, repeated), then the
  raw elements, row-major, ``prod(dims) * itemsize`` bytes.

The protobuf is parsed here by hand (varints; dims plain or packed): no protobuf dependency.
bfloat16 has no numpy dtype: it is widened to float32 exactly (it is float32's top half) and
reported as ``dtype == "bfloat16"``. Anything else (a short or long file, another version, an
unknown type, dims that disagree with the bytes) is refused with a ValueError naming the file and
the variable.

    var = read_variable(path)                      # one file: Variable(name, dtype, shape, lod, array)
    found = read_directory(folder)                 # {name: Variable} for every file in the folder
    found = read_combined(path, ["a", "b"])        # one combined file, names in its (sorted) order

The converter ``paddle_persistables`` (``core.registry.CONVERTERS``) turns an unpacked published
archive (``core.registry.PublishedArchive``) into our state dict: ``convert(unpacked folder, spec)``.
See ``convert_published_archive`` for what it accepts and refuses.
"""
from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

import numpy as np

from core.errors import CheckpointMismatch
from core.registry import CONVERTERS

LOD_TENSOR_VERSION = 0
TENSOR_VERSION = 0

# VarType.Type (framework.proto) -> (Paddle's name, numpy dtype of the stored elements). Values checked
# against paddle.base.core.VarDesc.VarType of Paddle 2.6.
DATA_TYPES: dict[int, tuple[str, str]] = {
    0: ("bool", "?"),
    1: ("int16", "<i2"),
    2: ("int32", "<i4"),
    3: ("int64", "<i8"),
    4: ("float16", "<f2"),
    5: ("float32", "<f4"),
    6: ("float64", "<f8"),
    20: ("uint8", "u1"),
    21: ("int8", "i1"),
    22: ("bfloat16", "<u2"),
    23: ("complex64", "<c8"),
    24: ("complex128", "<c16"),
}
# No saved tensor needs more: a TensorDesc is a type and a few dims; LoD is one or two levels.
_MAX_DESC_BYTES = 1 << 16
_MAX_LOD_LEVELS = 64
_MAX_DIMS = 64


@dataclass(frozen=True)
class Variable:
    """One saved variable.

    dtype: Paddle's name of the stored type ("float32", "bfloat16"...); ``array`` has that dtype,
        except bfloat16, widened exactly to float32.
    lod: the LoD levels (offsets), () for a plain tensor.
    nbytes: the size of its record in the file.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    lod: tuple[tuple[int, ...], ...]
    array: np.ndarray
    nbytes: int


class _Cursor:
    """Reads fields off one record; every short read names the file, the variable and the field."""

    def __init__(self, data: memoryview, offset: int, where: str, name: str):
        self.data, self.pos, self.where, self.name = data, offset, where, name

    def fail(self, problem: str) -> ValueError:
        return ValueError(f"{self.where}: variable {self.name!r}: {problem}")

    def take(self, count: int, field: str) -> memoryview:
        left = len(self.data) - self.pos
        if count > left:
            raise self.fail(f"truncated: the file ends inside {field} (needs {count:,} bytes, {left:,} left)")
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def unpack(self, fmt: str, field: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), field))[0]


def _varint(buf: bytes, pos: int, fail) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        if pos >= len(buf):
            raise fail("the TensorDesc ends inside a varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise fail("the TensorDesc has a varint longer than 10 bytes")


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def parse_tensor_desc(buf: bytes, fail=ValueError) -> tuple[int, list[int]]:
    """(data type enum, dims) of a serialized ``VarType.TensorDesc``; any other field is refused."""
    pos, data_type, dims = 0, None, []
    while pos < len(buf):
        key, pos = _varint(buf, pos, fail)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 0:
            data_type, pos = _varint(buf, pos, fail)
        elif field == 2 and wire == 0:
            value, pos = _varint(buf, pos, fail)
            dims.append(_int64(value))
        elif field == 2 and wire == 2:
            length, pos = _varint(buf, pos, fail)
            end = pos + length
            if end > len(buf):
                raise fail("the TensorDesc's packed dims run past its end")
            while pos < end:
                value, pos = _varint(buf, pos, fail)
                dims.append(_int64(value))
            if pos != end:
                raise fail("the TensorDesc's packed dims overrun their length")
        else:
            raise fail(f"the TensorDesc has field {field} (wire type {wire}); a TensorDesc has only "
                       f"1 (data type) and 2 (dims): this is not a Paddle tensor")
        if len(dims) > _MAX_DIMS:
            raise fail(f"the TensorDesc has more than {_MAX_DIMS} dims")
    if data_type is None:
        raise fail("the TensorDesc names no data type: this is not a Paddle tensor")
    return data_type, dims


def parse_record(data, offset: int, name: str, where: str) -> tuple[Variable, int]:
    """The variable `name` serialized at `offset` of `data` (bytes of the file `where`); returns it and
    the offset just past it. ValueError names `where`, `name` and what is wrong."""
    view = memoryview(data).cast("B")
    c = _Cursor(view, offset, where, name)
    version = c.unpack("<I", "the LoD tensor version")
    if version != LOD_TENSOR_VERSION:
        raise c.fail(f"LoD tensor version {version:#x}, but Paddle writes only version {LOD_TENSOR_VERSION}: "
                     "not a Paddle persistable (or another format)")
    levels = c.unpack("<Q", "the LoD level count")
    if levels > _MAX_LOD_LEVELS:
        raise c.fail(f"{levels:,} LoD levels (at most {_MAX_LOD_LEVELS} are plausible): not a Paddle persistable")
    lod = []
    for level in range(levels):
        size = c.unpack("<Q", f"the byte count of LoD level {level}")
        if size % 8:
            raise c.fail(f"LoD level {level} has {size:,} bytes, not a whole number of uint64 offsets")
        lod.append(tuple(int(v) for v in np.frombuffer(c.take(size, f"LoD level {level}"), "<u8")))
    tensor_version = c.unpack("<I", "the tensor version")
    if tensor_version != TENSOR_VERSION:
        raise c.fail(f"tensor version {tensor_version:#x}, but Paddle writes only version {TENSOR_VERSION}")
    desc_size = c.unpack("<i", "the TensorDesc size")
    if not 0 < desc_size <= _MAX_DESC_BYTES:
        raise c.fail(f"a TensorDesc of {desc_size:,} bytes (expected 1 to {_MAX_DESC_BYTES:,}): not a Paddle persistable")
    data_type, dims = parse_tensor_desc(bytes(c.take(desc_size, "the TensorDesc")), c.fail)
    if data_type not in DATA_TYPES:
        raise c.fail(f"unknown data type {data_type} (VarType.Type); known: "
                     + ", ".join(f"{k} {v[0]}" for k, v in sorted(DATA_TYPES.items())))
    if any(d < 0 for d in dims):
        raise c.fail(f"dims {dims} have a negative size: a saved tensor's dims are concrete")
    dtype_name, stored = DATA_TYPES[data_type]
    numel = math.prod(dims)
    needed = numel * np.dtype(stored).itemsize
    left = len(view) - c.pos
    if needed > left:
        raise c.fail(f"dims {dims} of {dtype_name} need {needed:,} bytes of data, but the file has {left:,} left "
                     "(truncated, or the dims and the data disagree)")
    raw = np.frombuffer(c.take(needed, "the tensor data"), stored).reshape(dims)
    array = (raw.astype("<u4") << 16).view("<f4") if dtype_name == "bfloat16" else raw.copy()
    return Variable(name, dtype_name, tuple(dims), tuple(lod), array, c.pos - offset), c.pos


def read_variable(path, name: str | None = None) -> Variable:
    """The one variable in the file `path` (named by the file unless `name` is given); the file must
    hold exactly one record, nothing after it."""
    path = Path(path)
    name = path.name if name is None else name
    data = path.read_bytes()
    variable, end = parse_record(data, 0, name, str(path))
    if end != len(data):
        raise ValueError(f"{path}: variable {name!r}: {len(data) - end:,} trailing bytes after its data "
                         f"(the record ends at byte {end:,} of {len(data):,}): the dims and the data disagree, "
                         "or this is a combined file")
    return variable


def read_directory(directory, names: Iterable[str] | None = None) -> dict[str, Variable]:
    """The variables of a ``save_persistables``/``save_vars`` folder: those `names`, or every regular
    file in it (sorted). A named variable without a file is refused by name."""
    directory = Path(directory)
    if names is None:
        names = sorted(p.name for p in directory.iterdir() if p.is_file() and not p.is_symlink())
    found = {}
    for name in names:
        path = directory / name
        if not path.is_file():
            raise ValueError(f"{directory}: no file for variable {name!r}")
        found[name] = read_variable(path, name)
    return found


def read_combined(path, names: Sequence[str] | None = None) -> dict[str, Variable]:
    """The variables of one combined file (``save_vars(..., filename=...)``), named by `names` in the
    file's order (Paddle sorts them by name when it writes). Without `names`, every record is read and
    named by its position (``#0``, ``#1``...). A file with fewer or more records is refused."""
    path = Path(path)
    data = path.read_bytes()
    found, offset = {}, 0
    if names is None:
        while offset < len(data):
            variable, offset = parse_record(data, offset, f"#{len(found)}", str(path))
            found[variable.name] = variable
        return found
    for index, name in enumerate(names):
        if offset >= len(data):
            raise ValueError(f"{path}: variable {name!r}: the file ends after {index} of {len(names)} variables")
        variable, offset = parse_record(data, offset, name, str(path))
        found[name] = variable
    if offset != len(data):
        last = names[-1] if names else None
        raise ValueError(f"{path}: {len(data) - offset:,} trailing bytes after the last variable {last!r} "
                         f"({len(names)} expected): the file holds more variables than named")
    return found


def write_variable(array: np.ndarray, lod: Sequence[Sequence[int]] = (), dtype: str | None = None) -> bytes:
    """The bytes Paddle's ``SerializeToStream`` writes for `array` (with LoD `lod`): for tests and tools
    that build archives in the library's format. ``dtype="bfloat16"`` stores a float32 array's top halves."""
    array = np.asarray(array)
    if dtype == "bfloat16":
        stored = (np.ascontiguousarray(array, "<f4").view("<u4") >> 16).astype("<u2")
        code = 22
    else:
        name = dtype or array.dtype.name
        code = next((k for k, (n, _) in DATA_TYPES.items() if n == name), None)
        if code is None:
            raise ValueError(f"Paddle persistables have no data type {name!r}")
        stored = np.ascontiguousarray(array, DATA_TYPES[code][1])
    desc = bytearray([0x08]) + _encode_varint(code)
    for d in array.shape:
        desc += bytes([0x10]) + _encode_varint(d)
    out = bytearray(struct.pack("<IQ", LOD_TENSOR_VERSION, len(lod)))
    for level in lod:
        offsets = np.asarray(level, "<u8")
        out += struct.pack("<Q", offsets.nbytes) + offsets.tobytes()
    out += struct.pack("<Ii", TENSOR_VERSION, len(desc)) + bytes(desc) + stored.tobytes()
    return bytes(out)


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# ---------------------------------------------------------------- the converter of published archives

# What a trainer's ``save_persistables`` writes beside the network's own variables, and no inference
# reads. Listed one by one; anything else that is not in the name table is an error.
OPTIMIZER_ACCUMULATORS = (
    "moment1", "moment2", "beta1_pow_acc", "beta2_pow_acc",  # Adam (PaddleCV/gan trains every model with it)
    "velocity",  # Momentum
    "moment", "mean_square", "mean_grad",  # Adagrad, RMSProp
    "inf_norm",  # Adamax
)
# ``<parameter>_<accumulator>_<n>``, optionally after the optimizer's own name (``net_G_...``).
_ACCUMULATOR = re.compile(r"^(?P<param>.+)_(?P<kind>" + "|".join(OPTIMIZER_ACCUMULATORS) + r")_\d+$")
# The learning rate (``learning_rate_0``; ``learning_rate`` from ``piecewise_decay``) and the step
# counter of a learning-rate schedule.
_LEARNING_RATE = re.compile(r"^learning_rate(_\d+)?$")
LR_DECAY_COUNTER = "@LR_DECAY_COUNTER@"
# Intermediate results a trainer marked persistable to fetch them between programs (PaddleCV/gan's
# ``fake_B.persistable = True``, its losses): ``<layer>.tmp_<n>`` or ``tmp_<n>``.
_INTERMEDIATE = re.compile(r"(^|\.)tmp_\d+$")


def training_only(name: str, present: set[str]) -> str | None:
    """Why the variable `name` is training state and not the network (None when it is not): the
    learning rate and its schedule's counter, an optimizer's accumulator of a variable in `present`,
    or an intermediate result marked persistable."""
    if _LEARNING_RATE.match(name):
        return "learning rate"
    if name == LR_DECAY_COUNTER:
        return "learning-rate schedule counter"
    if _INTERMEDIATE.search(name):
        return "intermediate result"
    match = _ACCUMULATOR.match(name)
    if match:
        param = match.group("param")
        # The accumulator's parameter, possibly after the optimizer's name: any "_" may start it.
        candidates = [param] + [param[i + 1:] for i, ch in enumerate(param) if ch == "_"]
        if any(c in present for c in candidates):
            return f"optimizer state ({match.group('kind')})"
    return None


def _scope(table: Mapping[str, str]) -> str:
    """The network's name scope in the library: the first ``_``-separated word that every variable of
    the table starts with (``generator_``, ``GA_``), or "" when they share none. Variables outside it
    belong to other networks the trainer saved alongside (``discriminator_``, the other direction's
    ``GB_``); inside it, a variable the table lacks is an error, however deep its name."""
    common = os.path.commonprefix(list(table)) if table else ""
    word, underscore, _ = common.partition("_")
    return word + underscore if underscore else ""


def check_name_table(table: Mapping[str, str], where: str) -> dict[str, str]:
    """The table as a dict, once each name is a string and no two variables map onto one parameter."""
    table = dict(table)
    bad = [k for k, v in table.items() if not (isinstance(k, str) and isinstance(v, str) and k and v)]
    if bad:
        raise ValueError(f"{where}: the name table has entries that are not two non-empty names: {bad[:3]}")
    seen: dict[str, str] = {}
    for library, ours in table.items():
        if ours in seen:
            raise ValueError(f"{where}: the name table maps both {seen[ours]!r} and {library!r} onto {ours!r}")
        seen[ours] = library
    return table


def _safe_relative(member: str) -> PurePosixPath:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"archive member {member!r} must be a relative path inside the archive")
    return path


def locate_member(unpacked: Path, member: str, table: Mapping[str, str]) -> Path:
    """The folder (or combined file) of the archive's variables: `member` inside `unpacked`, or, when
    the archive has no such path, the one folder in it holding files named by the table's variables
    (the published archives' inner layout was never documented; the variable names are)."""
    unpacked = Path(unpacked)
    declared = unpacked.joinpath(*_safe_relative(member).parts)
    if declared.exists():
        return declared
    holders = sorted({p for p in [unpacked, *(d for d in unpacked.rglob("*") if d.is_dir())]
                      if any((p / name).is_file() for name in table)})
    if len(holders) == 1:
        return holders[0]
    listing = sorted(str(p.relative_to(unpacked)) + ("/" if p.is_dir() else "") for p in unpacked.iterdir())
    if not holders:
        raise CheckpointMismatch(
            f"The archive has no {member!r}, and no folder in it holds any of the {len(table)} variables the "
            f"network needs (first: {next(iter(table), None)!r}); its top level holds: {', '.join(listing[:10]) or 'nothing'}."
        )
    raise CheckpointMismatch(
        f"The archive has no {member!r}, and several folders in it hold the network's variables: "
        + ", ".join(str(p.relative_to(unpacked)) or "." for p in holders[:5]) + "."
    )


_MAX_REPORTED = 5


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _MAX_REPORTED} more" if len(names) > _MAX_REPORTED else ""
    return ", ".join(names[:_MAX_REPORTED]) + more


def read_archive_variables(unpacked, member: str, table: Mapping[str, str]) -> tuple[dict[str, Variable], dict[str, str]]:
    """The table's variables from an unpacked archive, strictly: ({library name: Variable}, {skipped
    name: why}). CheckpointMismatch names every variable the table needs that the archive lacks, and
    every variable inside the network's name scope that is neither in the table nor training state."""
    unpacked = Path(unpacked)
    table = check_name_table(table, "the archive")
    where = locate_member(unpacked, member, table)
    shown = f"{where.relative_to(unpacked).as_posix()!r} of the archive" if where != unpacked else "the archive's top level"

    def inside(exc: Exception) -> str:  # messages name files as the archive does, not by the folder it went to
        return str(exc).replace(str(unpacked) + os.sep, "")

    if where.is_file():
        # A combined file holds its records sorted by name, and records carry no names: only a file
        # of exactly the table's variables can be named.
        try:
            return read_combined(where, sorted(table)), {}
        except ValueError as exc:
            raise CheckpointMismatch(f"The combined persistables file {shown} does not hold exactly the "
                                     f"{len(table)} variables the network needs: {inside(exc)}") from exc
    files = sorted(p.name for p in where.iterdir())
    not_files = [n for n in files if not (where / n).is_file() or (where / n).is_symlink()]
    present = set(files) - set(not_files)
    missing = [name for name in table if name not in present]
    scope = _scope(table)
    skipped, unexpected = {}, []
    for name in sorted(present - set(table)):
        why = training_only(name, present)
        if why is None and not name.startswith(scope):
            why = f"another network's variable (outside {scope!r})"
        if why is None:
            unexpected.append(name)
        else:
            skipped[name] = why
    unexpected += [f"{n} (not a file)" for n in not_files if n.startswith(scope)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_listed(unexpected)}")
    if problems:
        raise CheckpointMismatch(f"The persistables in {shown} do not have the network's variables: "
                                 + "; ".join(problems) + ".")
    try:
        return read_directory(where, list(table)), skipped
    except ValueError as exc:
        raise CheckpointMismatch(f"A persistable in {shown} is not readable: {inside(exc)}") from exc


@CONVERTERS.register("paddle_persistables")
def convert_published_archive(unpacked: Path, spec) -> dict[str, np.ndarray]:
    """An unpacked archive of static-graph persistables -> our state dict, by ``spec.archive``.

    ``spec.archive.member`` names the folder (or combined file) of the variables;
    ``spec.archive.table()`` maps each library variable onto our parameter name. Every variable
    of the table must be there. Also accepted, and left out: training state (the learning rate and
    its schedule's counter, optimizer accumulators of saved variables, intermediate results marked
    persistable; ``training_only``) and the variables of other networks the trainer saved alongside
    (names outside the table's common prefix). Anything else is refused by name. Floating-point
    values come out as float32 (bfloat16 widened exactly); shapes are checked by the strict load
    that follows (``core.weights``).
    """
    archive = spec.archive
    if archive is None:
        raise ValueError(f"{spec.name} names no published archive")
    table = archive.table()  # imports the network module whose function names the variables
    variables, _ = read_archive_variables(unpacked, archive.member, table)
    state = {}
    for library, variable in variables.items():
        array = variable.array
        if array.dtype.kind == "f" and array.dtype != np.float32:
            array = array.astype(np.float32)
        state[table[library]] = array
    return state
