"""Heavy work in worker processes, behind one small interface.

Paddle's inference holds Python's global lock for a whole network call, so a
model run inside the web server's process freezes every other visitor's page.
Heavy applications therefore call ``pool("heavy").call("core.apps.x:job", ...)``:
the call is sent to a worker process, which imports the target, runs it with
its models kept loaded between requests, and streams progress back. The
caller's thread only waits on a pipe, without the global lock.

What a caller gets:
- ``budget_s``: past it the worker is killed (with the ffmpeg children it
  started: each worker leads its own process group), replaced, and
  ``BudgetExceeded`` is raised with the budget in its message.
- ``cancelled``: a callable polled a few times a second; when it returns True
  (the client cancelled or went away) the worker is killed and replaced and
  ``JobCancelled`` is raised.
- ``stop``: a ``threading.Event``; setting it asks the target to finish early
  (targets that take a ``should_stop`` argument see it), without killing.
- a worker that dies (killed, out of memory) raises ``WorkerDied`` with a
  message for people; the next call gets a fresh worker.

``GAN_GALLERY_WORKERS`` sets the heavy pool's size (default: one worker per
two cores, at least one; each worker's math uses ``cores / workers`` threads).
``GAN_GALLERY_WORKERS=0`` runs targets in the calling process instead (tests
that register tiny models in-process, debugging): no isolation then.

The pool is the seam for scaling out: a distributed serving engine would
replace ``WorkerPool.call``; applications only name a target and its arguments.
"""
from __future__ import annotations

import importlib
import inspect
import itertools
import logging
import socket
import subprocess
import os
import queue
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Callable, Optional

from core.errors import GalleryError
from core.runtime import current_precision, precision_scope

log = logging.getLogger(__name__)

# The server puts its largest application pixel limit here; workers cap Pillow with it too.
IMAGE_PIXEL_CAP_VARIABLE = "GAN_GALLERY_IMAGE_PIXEL_CAP"
_POLL_S = 0.2  # how often a waiting caller checks for cancellation and the budget
_START_TIMEOUT_S = 120  # a worker must import Paddle and say hello within this
_KILL_WAIT_S = 5


class JobCancelled(GalleryError):
    """The request was cancelled (by its client, or because the client went away)."""


class BudgetExceeded(GalleryError):
    """The request ran past its application's time budget and was stopped."""


class WorkerDied(GalleryError):
    """The worker process running the request stopped unexpectedly."""


# ---------------------------------------------------------------- sizing


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configured_workers() -> int:
    """Heavy workers: ``GAN_GALLERY_WORKERS`` or one per two cores (at least one); 0 means in-process."""
    text = os.environ.get("GAN_GALLERY_WORKERS", "").strip()
    if text:
        try:
            return max(0, int(text))
        except ValueError:
            raise ValueError(f"GAN_GALLERY_WORKERS must be a whole number, got {text!r}") from None
    return max(1, _cores() // 2)


def threads_per_worker(workers: int) -> int:
    """Every worker gets an equal share of the cores (``GAN_GALLERY_THREADS`` overrides)."""
    if os.environ.get("GAN_GALLERY_THREADS"):
        return max(1, int(os.environ["GAN_GALLERY_THREADS"]))
    return max(1, _cores() // max(1, workers))


# ---------------------------------------------------------------- the worker process


def _resolve(target: str) -> Callable:
    # Targets are named by our own code, never by a request.
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"a worker target is 'package.module:function', got {target!r}")
    return getattr(importlib.import_module(module_name), function_name)


def _run(target: str, args: tuple, kwargs: dict, progress: Callable, should_stop: Callable, emit: Callable):
    """Call the target, handing it the callbacks it asks for by name (progress, should_stop, emit)."""
    function = _resolve(target)
    offered = {"progress": progress, "should_stop": should_stop, "emit": emit}
    wanted = inspect.signature(function).parameters
    return function(*args, **kwargs, **{name: value for name, value in offered.items() if name in wanted})


def _worker_main(fd: int, threads: int) -> None:
    """A worker's life (``python -m core.serving FD THREADS``): set up Paddle once, then run call after call."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's to handle
    conn = Connection(fd)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["GAN_GALLERY_THREADS"] = str(threads)
    from core.media import set_image_pixel_cap
    from core.runtime import init_paddle

    init_paddle()
    if os.environ.get(IMAGE_PIXEL_CAP_VARIABLE):
        set_image_pixel_cap(int(os.environ[IMAGE_PIXEL_CAP_VARIABLE]))
    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    stopped_calls: set = set()  # ids of calls asked to stop (a stop may arrive before its call starts)
    calls: "queue.Queue" = queue.Queue()

    def listen() -> None:
        # A reader thread, so that a stop request reaches a target while it runs.
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # The server closed the socket or died: end this worker and whatever it started.
                # (Not PR_SET_PDEATHSIG: it fires when the *thread* that started us ends.)
                os.killpg(os.getpgid(0), signal.SIGKILL)
                return
            if message[0] == "stop":
                stopped_calls.add(message[1])
            else:
                calls.put(message)

    threading.Thread(target=listen, name="worker-listen", daemon=True).start()
    send(("ready", os.getpid()))
    while True:
        message = calls.get()
        if message is None or message[0] == "exit":
            return
        _, call_id, target, args, kwargs, stopped_already, precision = message
        if stopped_already:
            stopped_calls.add(call_id)
        try:
            with precision_scope(precision):  # the caller's choice travels with its call
                result = _run(
                    target, args, kwargs,
                    progress=lambda done, total, desc=None: send(("progress", done, total, desc)),
                    should_stop=lambda call_id=call_id: call_id in stopped_calls,
                    emit=lambda item: send(("emit", item)),
                )
            send(("result", result))
        except GalleryError as error:
            send(("error", error))
        except BaseException as error:  # reported, not raised: the worker lives on
            send(("crash", f"{type(error).__name__}: {error}", traceback.format_exc()))


# ---------------------------------------------------------------- the parent's side


class _Worker:
    """One worker process and the socket to it.

    Started as a fresh interpreter (not multiprocessing's spawn, which re-runs
    the server's main script) in a session of its own, so that killing its
    process group also ends the ffmpeg children it started.
    """

    def __init__(self, threads: int, name: str):
        parent_sock, child_sock = socket.socketpair()
        self.name = name
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.serving", str(child_sock.fileno()), str(threads)],
            pass_fds=[child_sock.fileno()], start_new_session=True, env=env, stdin=subprocess.DEVNULL,
        )
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.ready = False

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            if not self.conn.poll(_START_TIMEOUT_S):
                raise RuntimeError(f"worker {self.pid} did not start within {_START_TIMEOUT_S} s")
            message = self.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"worker {self.pid} exited while starting (code {self.process.poll()})") from None
        if message[0] != "ready":
            raise RuntimeError(f"worker {self.pid} said {message!r} instead of hello")
        self.ready = True

    def alive(self) -> bool:
        if self.process.poll() is not None:
            return False
        # A killed process shows as a zombie while its other threads (Paddle's) finish dying,
        # and only then can it be reaped: count it dead as soon as Linux says so.
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                return stat.read().rpartition(")")[2].split()[0] != "Z"
        except (OSError, IndexError):
            return True  # not Linux: poll() is all we have

    def exit_code(self, wait_s: float = 0.0):
        """The exit code; a worker whose socket just closed may need a moment to finish exiting."""
        try:
            return self.process.wait(wait_s) if wait_s else self.process.poll()
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """End the worker and everything it started; reap it."""
        pid = self.process.pid
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(_KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            log.error("worker %s did not end within %s s of SIGKILL", pid, _KILL_WAIT_S)
        self.conn.close()


class _AnsweredError(Exception):
    """The target raised `error` and the worker reported it: the worker itself is fine."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


class WorkerPool:
    """A fixed number of worker processes; ``call`` runs a target on an idle one and waits."""

    def __init__(self, size: int, name: str = "heavy", threads: Optional[int] = None):
        if size < 1:
            raise ValueError("a worker pool needs at least one worker; use InlinePool for none")
        self.size = size
        self.name = name
        self.threads = threads or threads_per_worker(size)
        self._idle: "queue.Queue[_Worker]" = queue.Queue()
        self._all: set = set()
        self._lock = threading.Lock()
        self._closed = False
        self._started = 0
        self._call_ids = itertools.count(1)
        for _ in range(size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        with self._lock:
            self._started += 1
            worker = _Worker(self.threads, f"{self.name}-{self._started}")
            self._all.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
        if not self._closed:
            self._idle.put(self._spawn())

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._all if w.pid is not None]

    def warm_up(self) -> None:
        """Wait until every idle worker has imported Paddle (the first request then need not)."""
        workers = []
        while True:
            try:
                workers.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in workers:
            try:
                worker.wait_ready()
            except RuntimeError:
                log.exception("worker failed to start")
            self._idle.put(worker)

    def call(
        self,
        target: str,
        *args,
        budget_s: float,
        progress: Optional[Callable] = None,
        cancelled: Optional[Callable[[], bool]] = None,
        stop: Optional[threading.Event] = None,
        emit: Optional[Callable] = None,
        **kwargs,
    ):
        """Run ``target(*args, **kwargs)`` in a worker and return its result (see the module's text)."""
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        worker = self._idle.get()
        while not worker.alive():  # died while idle (killed, out of memory): replace it unseen
            log.warning("worker %s died while idle (exit code %s); replacing it", worker.pid, worker.exit_code())
            self._replace(worker)
            worker = self._idle.get()
        healthy = False
        try:
            try:
                worker.wait_ready()
                call_id = next(self._call_ids)
                stop_sent = stop is not None and stop.is_set()  # a stop that came already goes with the call
                worker.conn.send(("call", call_id, target, args, kwargs, stop_sent, current_precision()))
            except (RuntimeError, OSError):
                raise WorkerDied("A worker process failed to start; it has been replaced. Please try again.") from None
            result = self._wait(worker, call_id, target, budget_s, progress, cancelled, stop, emit, stop_sent)
            healthy = True
            return result
        except _AnsweredError as answered:
            healthy = True  # the target raised, the worker answered: it stays, with its models
            raise answered.error from None
        finally:
            if healthy and worker.alive():
                self._idle.put(worker)
            else:
                self._replace(worker)

    def _wait(self, worker, call_id, target, budget_s, progress, cancelled, stop, emit, stop_sent):
        deadline = time.monotonic() + budget_s
        while True:
            if cancelled is not None and cancelled():
                raise JobCancelled("The request was cancelled, and its work stopped.")
            if time.monotonic() > deadline:
                raise BudgetExceeded(
                    f"This request ran past its time budget of {budget_s:g} seconds and was stopped; "
                    "try a smaller input or a faster model."
                )
            if stop is not None and stop.is_set() and not stop_sent:
                worker.conn.send(("stop", call_id))
                stop_sent = True
            try:
                if not worker.conn.poll(_POLL_S):
                    if not worker.alive():
                        raise EOFError
                    continue
                message = worker.conn.recv()
            except (EOFError, OSError):
                code = worker.exit_code(wait_s=2.0)
                log.error("worker %s running %s died (exit code %s)", worker.pid, target, code)
                raise WorkerDied(
                    "The worker process running this request stopped unexpectedly "
                    f"(exit code {code}; it may have run out of memory). It has been replaced: "
                    "please try again, perhaps with a smaller input."
                ) from None
            kind = message[0]
            if kind == "progress":
                if progress is not None:
                    progress(*message[1:])
            elif kind == "emit":
                if emit is not None:
                    emit(message[1])
            elif kind == "result":
                return message[1]
            elif kind == "error":
                raise _AnsweredError(message[1])
            elif kind == "crash":
                log.error("worker %s: %s raised %s\n%s", worker.pid, target, message[1], message[2])
                raise _AnsweredError(RuntimeError(f"{target} failed in a worker: {message[1]}"))

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()


class InlinePool:
    """The same interface, run in the calling process (``GAN_GALLERY_WORKERS=0``): no isolation, no kill."""

    size = 0
    name = "inline"

    def pids(self) -> list[int]:
        return []

    def warm_up(self) -> None:
        pass

    def call(self, target, *args, budget_s, progress=None, cancelled=None, stop=None, emit=None, **kwargs):
        return _run(
            target, args, kwargs,
            progress=progress or (lambda *a, **k: None),
            should_stop=stop.is_set if stop is not None else (lambda: False),
            emit=emit or (lambda item: None),
        )

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- the process's pools


_pools: dict = {}
_pools_lock = threading.Lock()


def pool(name: str = "heavy", size: Optional[int] = None):
    """The process's pool called `name`, created on first use.

    "heavy" is sized by ``configured_workers()``; other pools (e.g. "training")
    take `size` when first created. With ``GAN_GALLERY_WORKERS=0`` every pool
    is an ``InlinePool``.
    """
    with _pools_lock:
        existing = _pools.get(name)
        if existing is not None:
            return existing
        workers = configured_workers()
        if workers == 0:
            created = InlinePool()
        else:
            count = workers if name == "heavy" else max(1, size or 1)
            created = WorkerPool(count, name=name, threads=threads_per_worker(workers) if name == "heavy" else None)
        _pools[name] = created
        return created


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python -m core.serving FD THREADS (started by WorkerPool, not by hand)", file=sys.stderr)
        sys.exit(2)
    _worker_main(int(sys.argv[1]), int(sys.argv[2]))
