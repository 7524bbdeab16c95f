"""What every tab shares: error mapping, per-request work directories, limits, launching alone."""
from __future__ import annotations

import functools
import inspect
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


def _as_user_error(exc: BaseException, name: str) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, GalleryError):
        # Expected: the user's input or this machine's state; one line in the log, no traceback.
        log.info("refused in %s: %s", name, exc)
        return gr.Error(str(exc))
    log.error("unexpected error in %s", name, exc_info=exc)
    return gr.Error("Something went wrong on our side while processing this request; it has been logged.")


def user_errors(fn):
    """Turn core's errors into gr.Error with the same text; hide everything else behind a short message.

    Works for plain and async handlers (heavy handlers are async, so that a
    cancelled request can stop its worker).
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - mapped for the user, logged when unexpected
                raise _as_user_error(exc, fn.__name__) from None

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - mapped for the user, logged when unexpected
            raise _as_user_error(exc, fn.__name__) from None

    return wrapper


def timed(seconds: float) -> str:
    return f"Done in {seconds * 1000:.0f} ms." if seconds < 1 else f"Done in {seconds:.1f} s."


def launch_alone(build, **launch_kwargs) -> None:
    """Run one tab as its own app (``python demos/<name>.py``)."""
    from core.runtime import configure_process

    configure_process()
    from demos.gallery import launch

    launch(build_blocks=build, **launch_kwargs)
