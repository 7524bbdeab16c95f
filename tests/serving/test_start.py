"""What a server does before its page answers: nothing heavy (``python -m bench.digits`` times the start).

Paddle is imported on the main thread once the server listens (``demos.gallery.launch``); handlers that
arrive before that wait for it rather than import it on their own thread, where Paddle 3.3 would leave the
other threads in static-graph mode.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

from core import runtime
from demos.common import user_errors
from tests.e2e.conftest import ROOT
from tests import aio

HEAVY_MODULES = ("paddle", "torch", "scipy")


def _run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_importing_gradio_through_demos_leaves_its_type_stubs_alone():
    """Gradio 6 rewrites every component's .pyi stub on each import (1.5-2 s here); demos turns that off
    before the first component class exists, and the components still work."""
    out = _run_python(
        "import demos, gradio as gr\n"
        "from gradio import blocks_events, component_meta\n"
        "with gr.Blocks() as page:\n"
        "    box = gr.Textbox('x', elem_id='box')\n"
        "print(component_meta.create_or_modify_pyi is demos._no_stub_rewriting,\n"
        "      blocks_events.create_or_modify_pyi is demos._no_stub_rewriting, box.value)"
    )
    assert out == "True True x"


def test_the_whole_gallery_builds_its_pages_without_importing_paddle():
    out = _run_python(
        "import sys\n"
        "from core.runtime import configure_process\n"
        "configure_process()\n"
        "from demos.gallery import build_gallery\n"
        "page = build_gallery()\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules), len(page.fns) > 20)"
    )
    assert out == "[] True"


@pytest.fixture
def deferred_import(monkeypatch):
    """This process as a server between listening and importing Paddle (really imported first, here on the
    main thread: the tests then call init_paddle from other threads, which must not be the first import)."""
    runtime.init_paddle()
    monkeypatch.setattr(runtime, "_paddle_deferred", True)
    monkeypatch.setattr(runtime, "_paddle_imported", threading.Event())
    assert not runtime.paddle_ready()


def test_a_handler_called_before_the_main_thread_imported_paddle_waits_for_it(deferred_import):
    events = []

    @user_errors
    def handler():
        events.append("handler ran")
        return "done"

    caller = threading.Thread(target=lambda: events.append(handler()))
    caller.start()
    time.sleep(0.3)
    assert events == [] and caller.is_alive()  # waiting
    events.append("paddle imported")
    runtime.init_paddle()
    caller.join(10)
    assert events == ["paddle imported", "handler ran", "done"]


def test_an_async_handler_waits_off_the_event_loop(deferred_import):
    @user_errors
    async def handler():
        return "done"

    async def scenario():
        call = asyncio.ensure_future(handler())
        ticks = 0
        for _ in range(5):  # the loop keeps turning while the handler waits
            await asyncio.sleep(0.05)
            ticks += 1
        assert not call.done()
        threading.Timer(0.1, runtime.init_paddle).start()
        return ticks, await asyncio.wait_for(call, 10)

    assert aio.run(scenario(), timeout_s=30) == (5, "done")


def test_without_a_server_handlers_never_wait():
    assert runtime.paddle_ready()
    start = time.perf_counter()
    runtime.wait_for_paddle(timeout_s=0.01)
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("asked, reason", [
    ("fp8", r"Precision must be one of fp32, bf16, not 'fp8'"),
    ("bf16", r"bf16 needs a CPU with AVX512-BF16 or AMX-BF16 .* choose Exact \(fp32\)"),
])
def test_a_precision_the_machine_cannot_run_stops_the_server_before_it_serves(asked, reason):
    import os
    import re

    if asked == "bf16" and runtime.bf16_supported():
        pytest.skip("this CPU runs bf16: there is nothing to refuse")
    env = {**os.environ, "GAN_GALLERY_PRECISION": asked, "GRADIO_SERVER_PORT": "1"}  # never reached
    done = subprocess.run([sys.executable, "app.py", "--demo", "digits"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert re.search(r"GAN_GALLERY_PRECISION: " + reason, done.stderr), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
