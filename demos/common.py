"""What every tab shares: error mapping, per-request work directories, limits, launching alone."""
from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr

from core.errors import GalleryError

log = logging.getLogger("gan_gallery")

# Work directories older than this are removed when new requests arrive.
_WORKDIR_MAX_AGE_S = 3600


def heavy_concurrency() -> int:
    """How many heavy requests run at once: each one already uses every core, so one by default."""
    return max(1, int(os.environ.get("GAN_GALLERY_HEAVY_CONCURRENCY", "1")))


HEAVY = {"concurrency_id": "heavy", "concurrency_limit": heavy_concurrency()}


def workdir_root() -> Path:
    return Path(os.environ.get("GAN_GALLERY_WORKDIR") or Path(tempfile.gettempdir()) / "gan-gallery-requests")


def new_workdir() -> Path:
    """A fresh directory for one request's files (never a fixed output path)."""
    root = workdir_root()
    root.mkdir(parents=True, exist_ok=True)
    _prune(root)
    path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _prune(root: Path) -> None:
    cutoff = time.time() - _WORKDIR_MAX_AGE_S
    for child in root.iterdir():
        try:
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            pass


def user_errors(fn):
    """Turn core's errors into gr.Error with the same text; hide everything else behind a short message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GalleryError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error("Something went wrong on our side while processing this request; it has been logged.") from None

    return wrapper


def timed(seconds: float) -> str:
    return f"Done in {seconds * 1000:.0f} ms." if seconds < 1 else f"Done in {seconds:.1f} s."


def launch_alone(build, **launch_kwargs) -> None:
    """Run one tab as its own app (``python demos/<name>.py``)."""
    from core.runtime import configure_process

    configure_process()
    from demos.gallery import launch

    launch(build_blocks=build, **launch_kwargs)
