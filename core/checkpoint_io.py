"""Checkpoint files read without running what they name, and written atomically.

``paddle.save`` writes a pickle, and ``paddle.load`` is ``pickle.load``: a file from
outside (a download, a hand-placed file, a checkpoint to resume) could name any
callable (``os.system``, ``builtins.exec``...) and run it. Here the unpickler resolves
only the globals a state dict needs, each to our own code; any other global is refused
with ``UnsafeCheckpoint`` before anything is called. What Paddle's own files name
(measured with paddle 3.3 and 2.6, numpy 2.x and 1.x: layer and optimizer state dicts,
training checkpoints, protocols 2 to 4):

- numpy arrays: ``numpy._core.multiarray._reconstruct`` (numpy 2) or
  ``numpy.core.multiarray._reconstruct`` (numpy 1), with ``numpy.ndarray`` as its type
  and ``numpy.dtype``; numpy scalars: ``numpy[._]core.multiarray.scalar``;
- ``builtins.tuple``: ``paddle.save`` pickles a tensor as ``tuple((name, array))``;
- ``collections.OrderedDict`` (``Layer.state_dict()``);
- at protocol 2 only, ``_codecs.encode`` (bytes as latin-1 text) and ``__builtin__``
  (Python 2 spelling) for ``bytes``, ``set``, ``frozenset``, ``tuple``.

Even allowed numpy code is not handed the file's data: ``numpy.dtype.__setstate__``
accepts flags that make a float dtype claim to hold Python objects (numpy then treats
the array's bytes as pointers), so dtypes and arrays are built here, from a short list
of plain numeric types, and only once their whole pickled state has been checked.

The result is what ``paddle.load(path, return_numpy=True)`` gives for the same file
(tensors as numpy arrays, Paddle's name table dropped, split big arrays joined).

    state = read_checkpoint_file(path)     # {key: array or nested dict ...}
    save_checkpoint({"netG": net.state_dict()}, path)

``RestrictedUnpickler`` and ``Guarded`` are shared with ``core.importers.torch_zip``;
``numpy_array_globals`` and ``plain_data`` with ``core.train.data`` (the full MNIST's pickle).
"""
from __future__ import annotations

import collections
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np

from core.errors import CheckpointMismatch, UnsafeCheckpoint

_HASH_CHUNK_BYTES = 1 << 20


def file_sha256(path) -> str:
    """The sha256 of a file, read in 1 MB chunks (checkpoints are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- shared: an unpickler that refuses unknown globals


class Guarded:
    """An allowed global as a pickle sees it: callable, and nothing else.

    A pickle's BUILD opcode sets attributes on whatever object it is given, a global
    included; on a plain function that would change its ``__defaults__`` for the rest of
    the process. This wrapper has no ``__dict__``, refuses ``setattr`` and ``__setstate__``.
    """

    __slots__ = ("_function", "_label")

    def __init__(self, function, label: str):
        object.__setattr__(self, "_function", function)
        object.__setattr__(self, "_label", label)

    def __call__(self, *args):
        return self._function(*args)

    def __setattr__(self, attribute, value):
        raise AttributeError(f"{self._label} cannot be changed")

    def __setstate__(self, state):
        raise TypeError(f"{self._label} cannot be given a state")

    def __reduce__(self):
        raise TypeError(f"{self._label} is not data")

    def __repr__(self):
        return self._label


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``allowed``; any other is refused before anything is called.

    Subclasses set ``allowed`` ({(module, name): object}) and ``allowed_summary`` (for the
    message), and pass the file's path so that every error names it.
    """

    allowed: dict = {}
    allowed_summary = "tensors"

    def __init__(self, file, path, **kwargs):
        super().__init__(file, **kwargs)
        self.path = path

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except (KeyError, TypeError):
            raise UnsafeCheckpoint(
                f"The weights file {self.path} was refused: its pickle names {module}.{name}, which a tensor "
                f"state dict does not need (only {self.allowed_summary} are allowed). Nothing in it was run."
            ) from None

    def persistent_load(self, pid):
        raise CheckpointMismatch(f"The weights file {self.path} refers to a persistent object {pid!r:.80}, which its format does not use.")

    def load_checked(self, failure: str):
        """``load()``, with any failure but a refusal reported as CheckpointMismatch("<file> <failure>: why")."""
        try:
            return self.load()
        except CheckpointMismatch:
            raise
        except Exception as exc:  # a damaged or hostile file (MemoryError, RecursionError included); nothing of it has run
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise CheckpointMismatch(f"The weights file {self.path} {failure}: {why}") from exc


# ---------------------------------------------------------------- numpy, rebuilt from checked state

# The dtypes a checkpoint may hold: plain numbers and booleans (Paddle stores bfloat16 as uint16).
_ARRAY_TYPES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"})
# numpy's pickled dtype state, version 3: (3, byteorder, subarray, names, fields, elsize, alignment, flags).
_PLAIN_DTYPE_STATE = (None, None, None, -1, -1, 0)


class _Built:
    """Base of the placeholders a pickle builds: immutable except through one checked ``__setstate__``."""

    __slots__ = ()

    def __setattr__(self, attribute, value):
        raise AttributeError(f"{type(self).__name__} cannot be changed")

    def _set(self, **values):
        for attribute, value in values.items():
            object.__setattr__(self, attribute, value)


class _DtypeSpec(_Built):
    """What ``numpy.dtype(spec, align, copy)`` gives here: a plain type, byte order set by BUILD."""

    __slots__ = ("spec", "byteorder", "built")

    def __init__(self, spec: str):
        self._set(spec=spec, byteorder="=", built=False)

    def __setstate__(self, state):
        if self.built:
            raise ValueError(f"dtype {self.spec} is given a state twice")
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ("<", ">", "|", "=")
                and tuple(state[2:]) == _PLAIN_DTYPE_STATE):
            raise ValueError(f"dtype {self.spec} has a state that a plain numeric dtype does not have: {state!r:.120}")
        self._set(byteorder=state[1], built=True)

    @property
    def dtype(self) -> np.dtype:
        dtype = np.dtype(self.spec)
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" and dtype.itemsize > 1 else dtype


class _ArrayParts(_Built):
    """What ``_reconstruct(ndarray, ...)`` gives here; BUILD brings (version, shape, dtype, fortran, bytes)."""

    __slots__ = ("array",)

    def __init__(self):
        self._set(array=None)

    def __setstate__(self, state):
        if self.array is not None:
            raise ValueError("an array is given a state twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise ValueError(f"an array has a state numpy does not write: {state!r:.120}")
        shape, spec, fortran, data = state
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise ValueError(f"an array has an invalid shape {shape!r:.80}")
        if not isinstance(spec, _DtypeSpec):
            raise ValueError(f"an array's dtype is a {type(spec).__name__}, not a numpy dtype")
        if isinstance(data, str):  # what a Python 2 pickle read with encoding="latin1" gives
            data = data.encode("latin1")
        if not isinstance(data, bytes):
            raise ValueError(f"an array's data is a {type(data).__name__}, not bytes")
        dtype = spec.dtype
        count = 1
        for n in shape:
            count *= n
        if len(data) != count * dtype.itemsize:
            raise ValueError(f"an array of shape {list(shape)} and dtype {dtype} needs {count * dtype.itemsize} bytes, not {len(data)}")
        order = "F" if fortran else "C"
        flat = np.frombuffer(data, dtype=dtype, count=count) if count else np.empty(0, dtype)
        # A copy, as numpy's own unpickling makes: writable, free of the pickle's bytes, and
        # (as numpy does too) in this machine's byte order.
        self._set(array=flat.reshape(shape, order=order).astype(dtype.newbyteorder("="), order="K"))


def _refuse_ndarray_call(*args):
    raise ValueError("numpy.ndarray is allowed only as the type that numpy's _reconstruct names")


_NDARRAY = Guarded(_refuse_ndarray_call, "numpy.ndarray")


def _reconstruct(subtype, shape=None, typecode=None):
    if subtype is not _NDARRAY:
        raise ValueError(f"_reconstruct is asked for a {subtype!r:.60}, not a numpy.ndarray")
    return _ArrayParts()


def _dtype(spec, align=False, copy=False):
    if not (isinstance(spec, str) and spec in _ARRAY_TYPES):
        raise ValueError(f"dtype {spec!r:.40} is not a plain numeric type")
    return _DtypeSpec(spec)


def _scalar(spec, data=None):
    if not isinstance(spec, _DtypeSpec):
        raise ValueError(f"a numpy scalar's dtype is a {type(spec).__name__}")
    if isinstance(data, str):
        data = data.encode("latin1")
    dtype = spec.dtype
    if not (isinstance(data, bytes) and len(data) == dtype.itemsize):
        raise ValueError(f"a numpy {dtype} scalar needs {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1_bytes(text, encoding="latin1"):
    """``_codecs.encode(text, "latin1")``: how protocol 2 spells a bytes object."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
        raise ValueError("_codecs.encode is allowed only to turn latin-1 text into bytes")
    return text.encode("latin1")


def _container(kind, *accepted):
    def build(*args):
        if len(args) > 1 or (args and not isinstance(args[0], accepted)):
            raise ValueError(f"{kind.__name__} is allowed only on a list or tuple")
        return kind(*args)

    return build


def _paddle_allowed() -> dict:
    allowed = {}
    for core in ("numpy._core.multiarray", "numpy.core.multiarray"):  # numpy 2, numpy 1
        allowed[(core, "_reconstruct")] = Guarded(_reconstruct, f"{core}._reconstruct")
        allowed[(core, "scalar")] = Guarded(_scalar, f"{core}.scalar")
    allowed[("numpy", "ndarray")] = _NDARRAY
    allowed[("numpy", "dtype")] = Guarded(_dtype, "numpy.dtype")
    allowed[("_codecs", "encode")] = Guarded(_latin1_bytes, "_codecs.encode")
    sequences = (list, tuple)
    containers = {
        "tuple": _container(tuple, *sequences),
        "list": _container(list, *sequences),
        "set": _container(set, *sequences),
        "frozenset": _container(frozenset, *sequences),
        "bytes": _container(bytes, bytes),
    }
    for builtins_module in ("builtins", "__builtin__"):  # protocol 2 writes Python 2's name
        for name, build in containers.items():
            allowed[(builtins_module, name)] = Guarded(build, f"builtins.{name}")
    allowed[("collections", "OrderedDict")] = Guarded(_container(collections.OrderedDict, list, tuple), "collections.OrderedDict")
    return allowed


def numpy_array_globals(*modules: str) -> dict:
    """The three globals a pickled numpy array names (``<module>._reconstruct`` for each module given,
    ``numpy.ndarray``, ``numpy.dtype``), each resolved to the checked builders above: an ``allowed`` table
    for a RestrictedUnpickler of files that hold numpy arrays and nothing else (turn what it loads into
    arrays with ``plain_data``)."""
    allowed = {(module, "_reconstruct"): Guarded(_reconstruct, f"{module}._reconstruct") for module in modules}
    allowed[("numpy", "ndarray")] = _NDARRAY
    allowed[("numpy", "dtype")] = Guarded(_dtype, "numpy.dtype")
    return allowed


class _PaddleUnpickler(RestrictedUnpickler):
    allowed = _paddle_allowed()
    allowed_summary = "numpy arrays, numpy scalars, tuples, sets and OrderedDict"


# ---------------------------------------------------------------- from placeholders to plain objects

_PLAIN_TYPES = (str, bytes, int, float, bool, complex, type(None))


def _realize(obj, path, memo: dict, open_containers: set):
    """The loaded object with placeholders turned into numpy arrays and dtypes, in fresh containers;
    anything that is not plain data is refused."""
    if type(obj) in _PLAIN_TYPES or isinstance(obj, np.generic):
        return obj
    key = id(obj)
    if key in memo:
        return memo[key]
    if key in open_containers:
        raise CheckpointMismatch(f"The weights file {path} holds a container that contains itself; a checkpoint does not.")
    kind = type(obj)
    if kind is _ArrayParts:
        if obj.array is None:
            raise CheckpointMismatch(f"The weights file {path} holds an array without data.")
        result = obj.array
    elif kind is _DtypeSpec:
        result = obj.dtype
    elif kind in (dict, collections.OrderedDict, list, tuple, set, frozenset):
        open_containers.add(key)
        if kind in (dict, collections.OrderedDict):
            # kind.items, not obj.items: BUILD may have given an OrderedDict an attribute "items".
            result = kind((_realize(k, path, memo, open_containers), _realize(v, path, memo, open_containers)) for k, v in kind.items(obj))
        else:
            result = kind(_realize(item, path, memo, open_containers) for item in kind.__iter__(obj))
        open_containers.discard(key)
    else:
        raise CheckpointMismatch(f"The weights file {path} holds a {kind.__name__}, which a checkpoint does not.")
    memo[key] = result
    return result


def plain_data(obj, path):
    """What a RestrictedUnpickler loaded, with its array placeholders turned into numpy arrays in fresh
    containers; anything that is not plain data is refused (CheckpointMismatch naming ``path``)."""
    try:
        return _realize(obj, path, {}, set())
    except RecursionError:
        raise CheckpointMismatch(f"The file {path} is nested too deeply to be plain data.") from None


# ---------------------------------------------------------------- paddle.load's own steps after unpickling

_NAME_TABLE = "StructuredToParameterName@@"
_SPLIT_ARRAYS = "UnpackBigParamInfor@@"  # (sic) Paddle's key for arrays split at protocols 2 and 3


def _join_split_arrays(saved: dict, path) -> dict:
    """Arrays over 1 GiB that Paddle saved in slices (protocols 2 and 3), joined as paddle.load does."""
    info = saved.pop(_SPLIT_ARRAYS, None)
    if info is None:
        return saved
    if not isinstance(info, dict):
        raise CheckpointMismatch(f"The weights file {path} has a malformed {_SPLIT_ARRAYS} entry.")
    for key, entry in info.items():
        try:
            slices = [saved.pop(part) for part in entry["slices"]]
            saved[key] = np.concatenate(slices).reshape(entry["OriginShape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointMismatch(f"The weights file {path} has a split array {key!r} that cannot be joined: {exc}") from exc
    return saved


def _is_saved_tensor(obj) -> bool:
    """How paddle.save pickles a tensor: (name, array)."""
    return isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray)


def _holds_saved_tensor(obj) -> bool:
    if _is_saved_tensor(obj):
        return True
    if type(obj) in (dict, collections.OrderedDict):
        return any(_holds_saved_tensor(v) for v in obj.values())
    if type(obj) in (list, tuple):
        return any(_holds_saved_tensor(v) for v in obj)
    return False


def _saved_tensors_to_arrays(obj):
    if _is_saved_tensor(obj):
        return obj[1]
    if type(obj) in (dict, collections.OrderedDict):
        for key in obj:
            obj[key] = _saved_tensors_to_arrays(obj[key])
        return obj
    if type(obj) in (list, tuple, set):
        return type(obj)(_saved_tensors_to_arrays(v) for v in obj)
    return obj


def _as_paddle_loads(obj, path):
    """The steps ``paddle.load(path, return_numpy=True)`` takes after ``pickle.load``."""
    if isinstance(obj, dict):
        obj = _join_split_arrays(obj, path)
        if _NAME_TABLE in obj:  # a layer or optimizer state dict: arrays as they are, name table dropped
            del obj[_NAME_TABLE]
            return obj
    # Anything else pickled its tensors as (name, array): all of them become arrays, where there are any.
    return _saved_tensors_to_arrays(obj) if _holds_saved_tensor(obj) else obj


# ---------------------------------------------------------------- the public functions


def read_checkpoint_file(path) -> dict:
    """The dict a ``paddle.save`` file holds, as ``paddle.load(path, return_numpy=True)`` gives it,
    read without running anything the file names (CheckpointMismatch, or UnsafeCheckpoint, naming the file)."""
    path = Path(path)
    try:
        file = open(path, "rb")
    except OSError as exc:
        raise CheckpointMismatch(f"The weights file {path} cannot be read: {exc.strerror or exc}.") from exc
    with file:
        loaded = _PaddleUnpickler(file, path, encoding="latin1").load_checked("cannot be read as a Paddle checkpoint")
    try:
        saved = _as_paddle_loads(_realize(loaded, path, {}, set()), path)
    except RecursionError:
        raise CheckpointMismatch(f"The weights file {path} is nested too deeply to be a checkpoint.") from None
    except TypeError as exc:  # e.g. an unhashable key
        raise CheckpointMismatch(f"The weights file {path} cannot be read as a Paddle checkpoint: {exc}") from exc
    if not isinstance(saved, dict):
        raise CheckpointMismatch(f"The weights file {path} holds a {type(saved).__name__}, not a state dict.")
    return saved


def save_checkpoint(state_by_key: dict, path) -> Path:
    """Save a checkpoint with ``paddle.save`` atomically: a temporary file renamed when complete."""
    import paddle

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        paddle.save(state_by_key, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
