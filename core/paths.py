"""Where the gallery keeps its files: the repository, and the cache every process shares.

A leaf: the weights cache, the engine verdicts and the timing estimates all live under
``cache_root()``, so moving the cache is one environment variable.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """``GAN_GALLERY_CACHE``, default ``~/.cache/gan-gallery``."""
    return Path(os.environ.get("GAN_GALLERY_CACHE") or os.path.join(Path.home(), ".cache", "gan-gallery"))
