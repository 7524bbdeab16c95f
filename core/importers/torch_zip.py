"""PyTorch checkpoints read with numpy alone (the zip format and the legacy one), and the
converter of vintagify's CycleGAN generator.

``torch.save`` (torch >= 1.6) writes a zip whose single top folder holds ``data.pkl``
(the pickled object), ``data/<key>`` (one raw storage per key), ``byteorder`` and
``version``. Tensors in ``data.pkl`` are calls of ``torch._utils._rebuild_tensor_v2``
on a storage that the pickle refers to by a persistent id
``('storage', torch.<Type>Storage, key, location, numel)``.

The legacy format (torch 0.4 to 1.5, and ``torch.save(..., _use_new_zipfile_serialization=False)``
since) is one stream of pickles: torch's magic number, the format version (1001), the
writer's system information, the object (storages as persistent ids
``('storage', torch.<Type>Storage, key, location, numel, None)``), the sorted list of
storage keys, then each storage in that order as an int64 element count and its raw
elements, little-endian whatever machine wrote them. The location (``'cpu'``, ``'cuda:0'``...)
only says where the writer kept the storage: every storage is read into a CPU numpy array.
Older files (the tar format, storage views) are refused by name.

Unpickling runs whatever callables the pickle names, so the unpickler here resolves
only the few globals a tensor state dict needs, each to our own numpy code; any other
global (``os.system``, ``builtins.eval``, a model class...) is refused with
``UnsafeCheckpoint`` before anything is called (``core.checkpoint_io.RestrictedUnpickler``,
shared with the reader of Paddle's own files). Storages are read from the zip only when
a tensor uses them, once per key; a legacy file's storages follow its object, so its
tensors are built once the whole file is read and checked.

    state = read_state_dict(path)        # {name: numpy array}, in the file's order
    saved = read_object(path)            # whatever was saved (nested dicts...), tensors as numpy
"""
from __future__ import annotations

import collections
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from core.checkpoint_io import Guarded, RestrictedUnpickler
from core.errors import CheckpointMismatch
from core.registry import CONVERTERS

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL_OPCODE = b"\x80"
# numpy dtype of each typed storage torch names in its pickles. bfloat16 has no numpy
# dtype: it is read as uint16 and widened to float32 exactly (it is float32's top half).
_STORAGE_DTYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "u2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


# A view may repeat storage elements (stride 0, as torch's expand makes); a repeat beyond this
# many elements is a memory bomb, not a weight.
_MAX_EXPANDED_ELEMENTS = 1 << 24


class _StorageType:
    """What the pickle's ``torch.<Name>Storage`` resolves to: just a dtype.

    Immutable, with no ``__dict__`` and no ``__setstate__``: a pickle's BUILD opcode cannot
    retype it (a frozen dataclass would not do: its generated ``__setstate__`` bypasses frozen).
    """

    __slots__ = ("name",)

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)

    def __setattr__(self, attribute, value):
        raise AttributeError(f"{self!r} cannot be changed")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])

    def __repr__(self):
        return f"torch.{self.name}"


class _Storage:
    """One ``data/<key>`` record, decoded to a flat native-order array on first use."""

    def __init__(self, archive: "_Archive", storage_type: _StorageType, key: str, numel: int):
        self.archive, self.storage_type, self.key, self.numel = archive, storage_type, key, numel
        self._array = None

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = self.archive.storage_array(self.key, self.storage_type, self.numel)
        return self._array


class _Archive:
    """The zip of one checkpoint: its top folder, byte order and records."""

    def __init__(self, path: Path, zip_file: zipfile.ZipFile):
        self.path = path
        self.zip = zip_file
        tops = {name.split("/", 1)[0] for name in zip_file.namelist()}
        if len(tops) != 1 or f"{next(iter(tops))}/data.pkl" not in zip_file.namelist():
            raise CheckpointMismatch(
                f"The weights file {path} is a zip but not a PyTorch checkpoint: torch.save writes one top folder "
                f"holding data.pkl (found top-level entries {sorted(tops)[:5]})."
            )
        self.prefix = next(iter(tops)) + "/"
        self.byteorder = self._byteorder()

    def record(self, name: str) -> bytes:
        try:
            return self.zip.read(self.prefix + name)
        except KeyError:
            raise CheckpointMismatch(f"The weights file {self.path} has no record {self.prefix + name}.") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointMismatch(f"The weights file {self.path} is damaged: record {self.prefix + name}: {exc}") from exc

    def _byteorder(self) -> str:
        # Files from before torch wrote this record are little-endian (torch assumes the same).
        if self.prefix + "byteorder" not in self.zip.namelist():
            return "little"
        order = self.record("byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise CheckpointMismatch(f"The weights file {self.path} names an unknown byte order {order!r}.")
        return order

    def storage_array(self, key: str, storage_type: _StorageType, numel: int) -> np.ndarray:
        raw = self.record(f"data/{key}")
        expected = numel * storage_type.dtype.itemsize
        if len(raw) != expected:
            raise CheckpointMismatch(
                f"The weights file {self.path} has a storage data/{key} of {len(raw)} bytes; "
                f"its {storage_type} of {numel} elements needs {expected}."
            )
        stored = storage_type.dtype.newbyteorder("<" if self.byteorder == "little" else ">")
        array = np.frombuffer(raw, dtype=stored).astype(storage_type.dtype.newbyteorder("="), copy=False)
        if storage_type.name == "BFloat16Storage":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """A tensor as a contiguous numpy copy of its (possibly strided, shared) storage window.

    ValueError for a layout torch would not write (``read_object`` names the file).
    """
    if not isinstance(storage, _Storage):
        raise ValueError(f"A tensor in the checkpoint is built on a {type(storage).__name__}, not a storage.")
    size, stride = tuple(size), tuple(stride)
    if not (
        len(size) == len(stride)
        and all(isinstance(n, int) and n >= 0 for n in (storage_offset, *size, *stride))
    ):
        raise ValueError(
            f"A tensor on storage {storage.key} has an invalid layout: "
            f"offset {storage_offset}, size {size}, stride {stride}."
        )
    flat = storage.array()
    if 0 in size:
        return np.zeros(size, dtype=flat.dtype)
    count = int(np.prod(size, dtype=np.int64))
    if count > max(flat.size, _MAX_EXPANDED_ELEMENTS):
        raise ValueError(
            f"A tensor of shape {list(size)} repeats the {flat.size} elements of storage {storage.key} "
            f"beyond {_MAX_EXPANDED_ELEMENTS} elements; such a file is refused."
        )
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise ValueError(
            f"A tensor on storage {storage.key} reaches element {last}, past the storage's {flat.size}."
        )
    window = np.lib.stride_tricks.as_strided(
        flat[storage_offset:], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False
    )
    return np.array(window, copy=True, order="C")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """An ``nn.Parameter`` is its data here."""
    return data


class _StateDictUnpickler(RestrictedUnpickler):
    """Resolves only the globals of a tensor state dict, each to our numpy code."""

    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): Guarded(_rebuild_tensor_v2, "torch._utils._rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"): Guarded(_rebuild_parameter, "torch._utils._rebuild_parameter"),
        **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
    }
    allowed_summary = "tensors, storages and OrderedDict"

    def __init__(self, archive: _Archive, data: bytes):
        super().__init__(io.BytesIO(data), archive.path)
        self.archive = archive
        self.storages: dict[str, _Storage] = {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointMismatch(f"The weights file {self.archive.path} refers to an unknown persistent object {pid!r:.80}.")
        _, storage_type, key, _location, numel = pid
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str) and isinstance(numel, int) and numel >= 0):
            raise CheckpointMismatch(f"The weights file {self.archive.path} has a malformed storage reference {pid!r:.80}.")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(self.archive, storage_type, key, numel)
        elif storage.storage_type != storage_type or storage.numel != numel:
            raise CheckpointMismatch(f"The weights file {self.archive.path} describes storage data/{key} in two ways.")
        return storage


# ---------------------------------------------------------------- the legacy format

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_VERSION = 1001  # torch.serialization.PROTOCOL_VERSION
_INT64 = 8


class _PlainUnpickler(RestrictedUnpickler):
    """The legacy stream's header pickles and its key list: plain data, no global at all."""

    allowed = {}
    allowed_summary = "plain numbers, strings, lists and dicts"


class _DeferredTensor:
    """A legacy file's tensor, built once the storages (which follow the object) are read."""

    __slots__ = ("args",)

    def __init__(self, args: tuple):
        object.__setattr__(self, "args", args)

    def __setattr__(self, attribute, value):
        raise AttributeError("a tensor of the checkpoint cannot be changed")


def _defer_tensor(*args):
    return _DeferredTensor(args)


class _LegacyStorages:
    """The storages after a legacy file's object: {key: flat array}, filled by ``_read_legacy``."""

    def __init__(self, path: Path):
        self.path = path
        self.arrays: dict[str, np.ndarray] = {}

    def storage_array(self, key: str, storage_type: _StorageType, numel: int) -> np.ndarray:
        return self.arrays[key]  # _read_legacy has checked that every referenced key was read


class _LegacyUnpickler(RestrictedUnpickler):
    """The object pickle of a legacy file: the zip reader's globals, tensors deferred."""

    allowed = {
        **_StateDictUnpickler.allowed,
        ("torch._utils", "_rebuild_tensor_v2"): Guarded(_defer_tensor, "torch._utils._rebuild_tensor_v2"),
    }
    allowed_summary = _StateDictUnpickler.allowed_summary

    def __init__(self, file, storages: _LegacyStorages):
        super().__init__(file, storages.path)
        self.source = storages
        self.storages: dict[str, _Storage] = {}

    def persistent_load(self, pid):
        path = self.source.path
        kind = pid[0] if isinstance(pid, tuple) and pid else None
        if isinstance(kind, bytes):  # written by Python 2
            kind = kind.decode("ascii", "replace")
        if kind == "module":
            raise CheckpointMismatch(
                f"The weights file {path} holds a whole pickled torch module (torch.save(model)), not a state dict; "
                f"only tensors and containers of them are read."
            )
        if not (kind == "storage" and len(pid) == 6):
            raise CheckpointMismatch(f"The weights file {path} refers to an unknown persistent object {pid!r:.80}.")
        _, storage_type, key, location, numel, view = pid
        if isinstance(key, bytes):
            key = key.decode("ascii", "replace")
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str) and isinstance(location, (str, bytes))
                and isinstance(numel, int) and numel >= 0):
            raise CheckpointMismatch(f"The weights file {path} has a malformed storage reference {pid!r:.80}.")
        if view is not None:
            raise CheckpointMismatch(
                f"The weights file {path} uses storage views (torch < 0.4), which are not supported: re-save it with a current torch.save."
            )
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(self.source, storage_type, key, numel)
        elif storage.storage_type != storage_type or storage.numel != numel:
            raise CheckpointMismatch(f"The weights file {path} describes storage {key} in two ways.")
        return storage


def _read_storage(path: Path, f, storage: _Storage, remaining: int) -> tuple[np.ndarray, int]:
    """One storage record (int64 element count, then the elements) at `f`'s position; the bytes left after it."""
    header = f.read(_INT64)
    if len(header) < _INT64:
        raise CheckpointMismatch(f"The weights file {path} is truncated: it ends before storage {storage.key}.")
    numel = int.from_bytes(header, "little", signed=True)
    if numel != storage.numel:
        raise CheckpointMismatch(
            f"The weights file {path} has a storage {storage.key} of {numel} elements; its object describes {storage.numel}."
        )
    dtype = storage.storage_type.dtype
    size = numel * dtype.itemsize
    remaining -= _INT64
    if size > remaining:
        raise CheckpointMismatch(
            f"The weights file {path} is truncated: storage {storage.key} needs {size} bytes, {remaining} are left."
        )
    raw = f.read(size)
    if len(raw) != size:
        raise CheckpointMismatch(f"The weights file {path} is truncated inside storage {storage.key}.")
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype.newbyteorder("="), copy=False)
    if storage.storage_type.name == "BFloat16Storage":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array, remaining - size


def _materialize(obj, built: dict):
    """`obj` with every deferred tensor built (containers: dicts, lists, tuples; each shared one once)."""
    if isinstance(obj, _DeferredTensor):
        if id(obj) not in built:
            built[id(obj)] = (obj, _rebuild_tensor_v2(*obj.args))
        return built[id(obj)][1]
    if isinstance(obj, (dict, list)):
        if id(obj) in built:
            return obj
        built[id(obj)] = (obj, obj)
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in list(items):
            obj[key] = _materialize(value, built)
        return obj
    if isinstance(obj, tuple):
        return tuple(_materialize(value, built) for value in obj)
    return obj


def _read_legacy(path: Path, f) -> object:
    """The object of a legacy-format checkpoint open as `f` (see the module's docstring for the layout)."""
    size = os.fstat(f.fileno()).st_size
    f.seek(0)

    def plain(what: str):
        return _PlainUnpickler(f, path).load_checked(f"has an invalid {what}")

    magic = plain("header")
    if magic != _LEGACY_MAGIC:
        raise CheckpointMismatch(
            f"The weights file {path} is a pickle but not a PyTorch checkpoint: it does not start with torch's magic number."
        )
    version = plain("header")
    if version != _LEGACY_VERSION:
        raise CheckpointMismatch(
            f"The weights file {path} is in PyTorch's legacy format version {version!r:.20}; only {_LEGACY_VERSION} is supported."
        )
    if not isinstance(plain("header"), dict):  # the writer's system information (storages are little-endian anyway)
        raise CheckpointMismatch(f"The weights file {path} has an invalid header: no system information.")
    storages = _LegacyStorages(path)
    unpickler = _LegacyUnpickler(f, storages)
    saved = unpickler.load_checked("has an invalid object pickle")
    keys = plain("storage key list")
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys) and len(set(keys)) == len(keys)):
        raise CheckpointMismatch(f"The weights file {path} has an invalid storage key list.")
    if set(keys) != set(unpickler.storages):
        unlisted = sorted(set(unpickler.storages) - set(keys))[:3]
        unused = sorted(set(keys) - set(unpickler.storages))[:3]
        raise CheckpointMismatch(
            f"The weights file {path} lists storages that its object does not use ({unused}) "
            f"or uses storages it does not list ({unlisted})."
        )
    remaining = size - f.tell()
    for key in keys:
        storages.arrays[key], remaining = _read_storage(path, f, unpickler.storages[key], remaining)
    if remaining or f.read(1):
        raise CheckpointMismatch(f"The weights file {path} has {remaining} unexpected bytes after its last storage.")
    try:
        return _materialize(saved, {})
    except CheckpointMismatch:
        raise
    except Exception as exc:  # a tensor torch would not write (ValueError), wrong arguments, deep nesting...
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointMismatch(f"The weights file {path} has an invalid object pickle: {why}") from exc


def _refuse_unknown(path: Path, head: bytes) -> None:
    if head[257:262] == b"ustar":
        raise CheckpointMismatch(
            f"The weights file {path} uses PyTorch's oldest (tar) format, which is not supported: "
            f"re-save it with a current torch.save."
        )
    raise CheckpointMismatch(
        f"The weights file {path} is not a PyTorch checkpoint (neither torch.save's zip format nor its legacy pickle stream)."
    )


def read_object(path) -> object:
    """The object a PyTorch checkpoint (zip or legacy format) holds, with tensors as numpy arrays (allowed globals only)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(262)
            if head.startswith(_PICKLE_PROTOCOL_OPCODE):
                return _read_legacy(path, f)
    except OSError as exc:
        raise CheckpointMismatch(f"The weights file {path} cannot be read: {exc.strerror or exc}.") from exc
    if not head.startswith(_ZIP_MAGIC):
        _refuse_unknown(path, head)
    try:
        zip_file = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise CheckpointMismatch(
            f"The weights file {path} starts like a zip but cannot be opened as one: it is truncated or damaged."
        ) from None
    with zip_file:
        archive = _Archive(path, zip_file)
        return _StateDictUnpickler(archive, archive.record("data.pkl")).load_checked("has an invalid data.pkl")


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The flat state dict of a PyTorch zip checkpoint: {name: contiguous numpy array}, in file order.

    Arrays keep their dtype (float16 stays float16), except bfloat16, widened to float32.
    """
    saved = read_object(path)
    if not isinstance(saved, dict):
        raise CheckpointMismatch(f"The weights file {path} holds a {type(saved).__name__}, not a state dict.")
    not_tensors = [str(k) for k, v in saved.items() if not (isinstance(k, str) and isinstance(v, np.ndarray))]
    if not_tensors:
        raise CheckpointMismatch(
            f"The weights file {path} is not a flat state dict of tensors: entries {', '.join(not_tensors[:5])} are not."
        )
    return dict(saved)


# ---------------------------------------------------------------- vintagify's CycleGAN generator

# Our cyclegan_resnet9_horse2zebra network's defaults; a file that differs gets them as overrides.
_RESNET_GENERATOR_DEFAULTS = {"input_nc": 3, "output_nc": 3, "ngf": 64, "n_blocks": 9}
_MAX_REPORTED = 5


def _resnet_generator_layout(input_nc: int, output_nc: int, ngf: int, n_blocks: int) -> list[tuple[str, str, tuple]]:
    """(torch name, our name, shape) of every parameter, slot by slot in ``model``.

    Both networks number the same layers the same way (pads and activations keep their
    slots); torch's residual blocks hold their layers in ``block``, ours in ``conv_block``,
    and instance norm's weight is our ``scale``. Conv and transposed-conv weights share
    the layout ([out, in, kh, kw] and [in, out, kh, kw]).
    """
    layout = []

    def ours(torch_prefix):
        return torch_prefix.replace(".block.", ".conv_block.")

    def conv(prefix, weight_shape, out_channels):
        layout.append((f"{prefix}.weight", f"{ours(prefix)}.weight", weight_shape))
        layout.append((f"{prefix}.bias", f"{ours(prefix)}.bias", (out_channels,)))

    def norm(prefix, channels):
        layout.append((f"{prefix}.weight", f"{ours(prefix)}.scale", (channels,)))
        layout.append((f"{prefix}.bias", f"{ours(prefix)}.bias", (channels,)))

    channels = ngf
    conv("model.1", (ngf, input_nc, 7, 7), ngf)
    norm("model.2", ngf)
    slot = 4
    for _ in range(2):
        conv(f"model.{slot}", (channels * 2, channels, 3, 3), channels * 2)
        norm(f"model.{slot + 1}", channels * 2)
        channels *= 2
        slot += 3
    for _ in range(n_blocks):
        for conv_slot in (1, 5):
            conv(f"model.{slot}.block.{conv_slot}", (channels, channels, 3, 3), channels)
            norm(f"model.{slot}.block.{conv_slot + 1}", channels)
        slot += 1
    for _ in range(2):
        conv(f"model.{slot}", (channels, channels // 2, 3, 3), channels // 2)
        norm(f"model.{slot + 1}", channels // 2)
        channels //= 2
        slot += 3
    conv(f"model.{slot + 1}", (output_nc, channels, 7, 7), output_nc)
    return layout


def _resnet_generator_config(state: dict[str, np.ndarray], path) -> dict:
    """input_nc, output_nc, ngf and n_blocks, read from the shapes in `state`."""
    stem = state.get("model.1.weight")
    if stem is None or stem.ndim != 4:
        raise CheckpointMismatch(
            f"The weights file {path} is not a torch CycleGAN ResNet generator: it has no 4-D stem convolution "
            f"model.1.weight (found {', '.join(list(state)[:5])}...)."
        )
    n_blocks = len({name.split(".")[1] for name in state if name.split(".")[2:3] == ["block"]})
    head = state.get(f"model.{10 + n_blocks + 7}.weight")
    output_nc = head.shape[0] if head is not None and head.ndim == 4 else _RESNET_GENERATOR_DEFAULTS["output_nc"]
    return {"input_nc": stem.shape[1], "output_nc": int(output_nc), "ngf": stem.shape[0], "n_blocks": n_blocks}


def check_layout(state: dict[str, np.ndarray], layout, path, what: str, ignored: frozenset = frozenset()) -> None:
    """Refuse (CheckpointMismatch, every problem named) a PyTorch state dict whose names, shapes or dtypes are not
    `layout`'s ([(torch name, our name, shape)]); `ignored` names may be present without being in the layout."""
    expected = {torch_name: shape for torch_name, _, shape in layout}
    missing = [f"{n} {list(s)}" for n, s in expected.items() if n not in state]
    extra = [n for n in state if n not in expected and n not in ignored]
    wrong = [
        f"{n} {list(state[n].shape)} (expected {list(s)})" for n, s in expected.items() if n in state and state[n].shape != s
    ]
    not_float = [f"{n} ({state[n].dtype})" for n in expected if n in state and state[n].dtype.kind != "f"]
    problems = []
    for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong), ("not floating point", not_float)):
        if items:
            more = f" and {len(items) - _MAX_REPORTED} more" if len(items) > _MAX_REPORTED else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_MAX_REPORTED])}{more}")
    if problems:
        raise CheckpointMismatch(f"The weights file {path} does not have the layout of {what}: " + "; ".join(problems) + ".")


@CONVERTERS.register("torch_resnet_generator")
def resnet_generator_from_torch(files: list[Path]) -> tuple[dict[str, np.ndarray], dict]:
    """vintagify's torch ResNet generator file -> (state dict of ``cyclegan_resnet9_horse2zebra``, overrides).

    The overrides list only the settings (input_nc, output_nc, ngf, n_blocks) where the
    file differs from our network's defaults: {} for vintagify's G_A2B_epoch33.pth.
    Numerics match without any change: torch's InstanceNorm2d (eps 1e-5, no running
    statistics) is Paddle's InstanceNorm2D, and both use reflection pads and
    ConvTranspose(k3, s2, p1, output_padding=1).
    """
    if len(files) != 1:
        raise CheckpointMismatch(f"The torch ResNet generator converter takes one .pth file, got {len(files)}: {files}.")
    path = Path(files[0])
    state = read_state_dict(path)
    config = _resnet_generator_config(state, path)
    layout = _resnet_generator_layout(**config)
    check_layout(state, layout, path,
                 "vintagify's CycleGAN ResNet generator (torch, instance norm with affine weights)")
    converted = {our_name: state[torch_name].astype(np.float32, copy=False) for torch_name, our_name, _ in layout}
    overrides = {k: v for k, v in config.items() if _RESNET_GENERATOR_DEFAULTS[k] != v}
    return converted, overrides
