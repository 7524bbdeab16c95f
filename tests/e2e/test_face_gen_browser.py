"""The face_gen tab in a real browser (Debian chromium through Playwright), on its Space with tiny weights.

The Space is started through tests/e2e/tiny_face_gen.py, which registers tiny StyleGAN2s under the real
checkpoint names and runs the Space's app.py (heavy work in that process: GAN_GALLERY_WORKERS=0).
"""
from __future__ import annotations

import re

import sys

import paddle
import pytest

from core import nets, weights
from core.apps import face_gen
from spaces.build import build
from tests.e2e.conftest import ROOT, free_port, start_server, stop_server
from tests.e2e.tiny_face_gen import TINY

pytestmark = pytest.mark.browser
TINY_LAUNCHER = ROOT / "tests" / "e2e" / "tiny_face_gen.py"


@pytest.fixture
def space(tmp_path, monkeypatch):
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    for seed, choice in enumerate(face_gen.MODELS[key] for key in face_gen.STYLEGAN_MODELS):
        paddle.seed(seed)
        paddle.save(nets.build(choice.network, **TINY).state_dict(), str(weights_dir / weights.spec(choice.weights).filename))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("GAN_GALLERY_ENGINE", "dygraph")
    out = build("face_gen", tmp_path / "space")
    port = free_port()
    server = start_server([sys.executable, str(TINY_LAUNCHER)], out, tmp_path, port, extra_env={"GAN_GALLERY_WORKERS": "0"})
    yield server
    stop_server(server)


def test_generate_and_mix_in_the_browser(browser, space, tmp_path):
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(space.url, wait_until="domcontentloaded")
    page.locator("#face-gen-seeds textarea").fill("3, 4")
    page.locator("#face-gen-generate").click()
    page.locator("#face-gen-gallery img").nth(1).wait_for(state="visible", timeout=60_000)
    assert page.locator("#face-gen-gallery img").count() >= 2
    assert "Done in" in page.locator("#face-gen-status").inner_text(timeout=10_000)

    page.get_by_role("tab", name="Style mixing").click()
    page.locator("#face-gen-mix").click()
    mixed = page.locator("#face-gen-mix-output img")
    mixed.wait_for(state="visible", timeout=60_000)
    assert mixed.evaluate("img => img.complete ? img.naturalWidth : 0") == 32

    # The DCGAN faces, imported offline into the Space's weights/: drawn at 64², enlarged to 256² on request.
    page.get_by_role("tab", name="Generate").click()
    page.locator("#face-gen-model input").click()
    page.get_by_role("option", name=re.compile("DCGAN faces")).click()
    page.locator("#face-gen-size").get_by_label("256 × 256").check()
    page.locator("#face-gen-seeds textarea").fill("5")
    page.locator("#face-gen-generate").click()
    first = page.locator("#face-gen-gallery img").first
    page.wait_for_function("() => [...document.querySelectorAll('#face-gen-gallery img')].some("
                           "img => img.complete && img.naturalWidth === 256)", timeout=60_000)
    assert first.is_visible()
    page.screenshot(path=str(tmp_path / "face_gen.png"), full_page=True)
