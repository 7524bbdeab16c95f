"""What every tab shares: error mapping, per-request work directories, limits, launching alone."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
import uuid
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: there, directories are pruned by age alone
    fcntl = None

import gradio as gr

from core import runtime
from core.errors import GalleryError

log = logging.getLogger("gan_gallery")

# ---------------------------------------------------------------- per-request work directories
#
# Each request writes its files (uploads converted, results, videos) in a directory of its own
# under one root. The root is private to this user: created 0700 by this process under a
# per-user path, and checked on every use (ours, a real directory, closed to others), since
# a shared temporary directory lets another user pre-create or read it. Request directories
# older than the retention are removed as new requests arrive, except those in use: a
# request marks its directory in use by holding a shared flock on ``<dir>/.in-use``
# (``workdir_in_use``), which the pruner must take exclusively before it removes anything.
# The kernel drops the lock when its holder exits, so a crashed process never pins a
# directory, and the lock works across the server's processes.

_DEFAULT_RETENTION_S = 3600
_IN_USE = ".in-use"


def retention_s() -> float:
    """How long (seconds) a request directory not in use is kept: GAN_GALLERY_RETENTION_S, default 1 hour."""
    value = os.environ.get("GAN_GALLERY_RETENTION_S", "").strip()
    if not value:
        return _DEFAULT_RETENTION_S
    try:
        return max(0.0, float(value))
    except ValueError:
        raise RuntimeError(f"GAN_GALLERY_RETENTION_S must be a number of seconds, not {value!r}.") from None


def _uid():
    geteuid = getattr(os, "geteuid", None)
    return geteuid() if geteuid else None


def workdir_root() -> Path:
    """Where request directories live: GAN_GALLERY_WORKDIR, else ``<temp>/gan-gallery-<uid>/requests``.
    The path only; ``private_workdir_root`` creates and checks it."""
    configured = os.environ.get("GAN_GALLERY_WORKDIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"gan-gallery-{_uid() if _uid() is not None else 'user'}" / "requests"


def _private_dir(path: Path) -> None:
    """Create `path` with mode 0700, or check the one there: a real directory (not a link), owned
    by this process's user, and closed to others (its mode is tightened if it is not)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(
            f"The work directory {path} is not a directory (a link or a file is in its place); "
            f"remove it, or set GAN_GALLERY_WORKDIR to a directory of your own."
        )
    uid = _uid()
    if uid is not None and info.st_uid != uid:
        raise RuntimeError(
            f"The work directory {path} belongs to user id {info.st_uid}, not to this process's user ({uid}): "
            f"that user could read or replace the files of every request. Remove it, or set GAN_GALLERY_WORKDIR "
            f"to a directory of your own."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)  # also when just made: the umask may have taken owner bits away


def private_workdir_root() -> Path:
    """The root of the request directories, created or checked now (RuntimeError when it is not private)."""
    root = workdir_root()
    if os.environ.get("GAN_GALLERY_WORKDIR"):
        root.parent.mkdir(parents=True, exist_ok=True)
    else:
        _private_dir(root.parent)  # gan-gallery-<uid>, in the shared temporary directory
    _private_dir(root)
    return root


def new_workdir() -> Path:
    """A fresh directory (mode 0700) for one request's files (never a fixed output path).

    Old directories are pruned first. A request that may outlive the retention holds its
    directory with ``workdir_in_use`` (or use ``request_workdir``, which does both).
    """
    root = private_workdir_root()
    _prune(root)
    path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}"
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)
    return path


def _open_in_use_file(path: Path) -> int:
    return os.open(path / _IN_USE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)


_held: dict[Path, list[int]] = {}  # this process's holds: lock file descriptors per directory
_held_lock = threading.Lock()


def hold_workdir(path) -> None:
    """Mark `path` in use until ``release_workdir(path)`` (or this process's exit): the pruner skips it.
    Holds are counted; each needs its release. FileNotFoundError if it was pruned already."""
    path = Path(path)
    if fcntl is None:
        return
    fd = _open_in_use_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a pruner holds it exclusively
        if os.fstat(fd).st_nlink == 0:  # that pruner removed the directory meanwhile
            raise FileNotFoundError(f"The work directory {path} was removed before it could be held.")
    except BaseException:
        os.close(fd)
        raise
    with _held_lock:
        _held.setdefault(path, []).append(fd)


def release_workdir(path) -> None:
    """Undo one ``hold_workdir(path)``. The retention counts from now: a long request's results
    stay as long after it ends as a short one's."""
    path = Path(path)
    with _held_lock:
        fds = _held.get(path)
        fd = fds.pop() if fds else None
        if fds == []:
            del _held[path]
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.utime(path)


@contextlib.contextmanager
def workdir_in_use(path):
    """Hold `path` in use (``hold_workdir``) for the duration of the block."""
    hold_workdir(path)
    try:
        yield Path(path)
    finally:
        release_workdir(path)


def remove_workdir(path) -> None:
    """Remove a request directory and its files (a failed or cancelled request), held or not.
    Only a directory directly under the work root is removed; anything else is a ValueError."""
    path = Path(path)
    if path.resolve().parent != workdir_root().resolve() or path.is_symlink():
        raise ValueError(f"{path} is not a request directory under {workdir_root()}; it is not removed.")
    with _held_lock:
        fds = _held.pop(path, [])
    for fd in fds:
        os.close(fd)  # closing drops this process's locks
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def request_workdir():
    """A new request directory, held in use for the block and removed if the block fails."""
    path = new_workdir()
    with workdir_in_use(path):
        try:
            yield path
        except BaseException:
            remove_workdir(path)
            raise


def _prune(root: Path, now: float | None = None) -> None:
    """Remove request directories not modified for the retention time, except those in use."""
    cutoff = (time.time() if now is None else now) - retention_s()
    for child in root.iterdir():
        try:
            info = os.lstat(child)
            if not stat.S_ISDIR(info.st_mode) or info.st_mtime >= cutoff:
                continue
            if fcntl is None:
                shutil.rmtree(child, ignore_errors=True)
                continue
            fd = _open_in_use_file(child)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: in use
            os.close(fd)
            continue
        try:
            shutil.rmtree(child, ignore_errors=True)
        finally:
            os.close(fd)


def user_error(message: str) -> gr.Error:
    """A gr.Error for an expected refusal: shown to the user, logged in one line, no traceback."""
    log.info("refused: %s", message)
    return gr.Error(message, print_exception=False)


def _as_user_error(exc: BaseException, name: str) -> gr.Error:
    if isinstance(exc, gr.Error):
        exc.print_exception = False  # expected, and already one line in the log where we raised it
        return exc
    if isinstance(exc, GalleryError):
        # Expected: the user's input or this machine's state; one line in the log, no traceback.
        return user_error(str(exc))
    log.error("unexpected error in %s", name, exc_info=exc)  # the one traceback, for us
    return gr.Error("Something went wrong on our side while processing this request; it has been logged.",
                    print_exception=False)


def user_errors(fn):
    """Turn core's errors into gr.Error with the same text; hide everything else behind a short message.

    A handler called in the first second of a server's life waits for the server's main thread to
    import Paddle (``core.runtime.wait_for_paddle``) rather than importing it on its own thread.

    Works for plain and async handlers (heavy handlers are async, so that a
    cancelled request can stop its worker).
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                if not runtime.paddle_ready():  # the server has just started: wait off the event loop
                    await asyncio.to_thread(runtime.wait_for_paddle)
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - mapped for the user, logged when unexpected
                raise _as_user_error(exc, fn.__name__) from None

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            runtime.wait_for_paddle()
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
