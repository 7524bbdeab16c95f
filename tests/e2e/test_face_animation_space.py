"""The Face animation Space: built into its own folder, started from its own app.py, called with
gradio_client and driven in a real browser (Debian chromium through Playwright).

The mobile First Order Motion model runs at its real configuration (1.7 M parameters) from a
checkpoint this test writes in PaddleGAN's two-network layout; the full model has no weights here,
which must give the clear message at once. BlazeFace is the real one: the Space carries its weights,
converted from the mediapipe wheel by the builder.
"""
from __future__ import annotations

import importlib.metadata
import time

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from core.apps import face_animation
from core.media import probe_video
from tests.clips import ffmpeg
from tests.e2e.conftest import ROOT, running_space

try:
    importlib.metadata.distribution("mediapipe")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed", allow_module_level=True)

SOURCE = str(ROOT / "assets" / "examples" / "astronaut.jpg")


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("face-animation-space")
    with running_space("face_animation", tmp, ["first_order_motion.vox_mobile"]) as (server, out):
        assert (out / "core" / "face.py").is_file() and (out / "core" / "nets" / "first_order.py").is_file()
        assert (out / "weights" / "blazeface-mediapipe-short-range.pdparams").is_file()
        assert (out / face_animation.EXAMPLE_DRIVING).is_file()
        yield server, tmp


@pytest.fixture(scope="module")
def driving(space):
    """Half a second of the example driving video: 6 frames, with its sound."""
    _, tmp = space
    path = tmp / "driving.mp4"
    ffmpeg("-i", str(ROOT / face_animation.EXAMPLE_DRIVING), "-t", "0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(path))
    return str(path)


def test_the_space_animates_a_photo_and_finds_its_faces(space, driving):
    server, _ = space
    client = Client(server.url, verbose=False)
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == {"/face_animate", "/face_preview"}

    marked, status = client.predict(handle_file(SOURCE), True, False, api_name="/face_preview")
    assert "1 face found" in status
    with Image.open(marked) as image:
        assert image.size == (512, 512)

    video, download, status = client.predict(handle_file(SOURCE), handle_file(driving), "vox_mobile",
                                             True, True, False, True, False, api_name="/face_animate")
    info = probe_video(video["video"] if isinstance(video, dict) else video)
    assert (info.width, info.height) == (512, 512) and info.n_frames == 6 and info.has_audio
    assert "6 frames, 1 face" in status

    start = time.perf_counter()
    with pytest.raises(Exception) as error:
        client.predict(handle_file(SOURCE), handle_file(driving), "vox", True, True, False, True, False,
                       api_name="/face_animate")
    assert time.perf_counter() - start < 3.0
    assert "vox-cpk.pdparams" in str(error.value) and "Traceback" not in str(error.value)


@pytest.mark.browser
def test_the_tab_in_a_browser_finds_faces_and_names_missing_weights(browser, space, tmp_path):
    server, _ = space
    page = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    page.goto(server.url, wait_until="domcontentloaded")
    notice = page.locator("#face-animation-unavailable")
    # The mobile model's weights are here: the tab runs, so no "nothing can run" notice.
    page.locator("#face-animation-run").wait_for(state="visible", timeout=30_000)
    assert not notice.is_visible()
    page.locator("#face-animation-source input[type=file]").set_input_files(SOURCE)
    page.locator("#face-animation-source img").wait_for(state="visible", timeout=30_000)
    page.locator("#face-animation-preview-run").click()
    status = page.locator("#face-animation-preview-status")
    page.locator("#face-animation-preview img").wait_for(state="visible", timeout=60_000)
    assert "1 face found" in status.inner_text(timeout=10_000)
    page.locator("#face-animation-driving input[type=file]").set_input_files(str(ROOT / face_animation.EXAMPLE_DRIVING))
    page.locator("#face-animation-driving video").wait_for(state="attached", timeout=30_000)
    page.locator("#face-animation-run").click()  # the default model is the full one, whose weights are missing
    page.locator('[data-testid="toast-body"]').filter(has_text="vox-cpk.pdparams").first.wait_for(state="visible", timeout=60_000)
    page.screenshot(path=str(tmp_path / "face_animation.png"), full_page=True)
