"""The Lip sync Space: built into its own folder, started from its own app.py, called with
gradio_client and driven in a real browser (Debian chromium through Playwright).

Wav2Lip HQ runs at its real size (36 M parameters) from a checkpoint this test writes flat, as
PaddleGAN publishes it; the plain Wav2Lip has no weights here, which must give the clear message at
once. BlazeFace is the real one: the Space carries its weights, converted from the mediapipe wheel.
"""
from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import time

import pytest
from gradio_client import Client, handle_file

from core.apps import lip_sync
from core.media import ffmpeg_exe, probe_video
from tests.e2e.conftest import ROOT, running_space

try:
    importlib.metadata.distribution("mediapipe")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed", allow_module_level=True)

FACE = str(ROOT / lip_sync.EXAMPLE_FACE)


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lip-sync-space")
    with running_space("lip_sync", tmp, ["wav2lip.hq"]) as (server, out):
        for module in ("core/audio.py", "core/face.py", "core/nets/wav2lip.py", "core/nets/s3fd.py"):
            assert (out / module).is_file(), module
        assert (out / "weights" / "blazeface-mediapipe-short-range.pdparams").is_file()
        assert "espeak-ng" in (out / "packages.txt").read_text().split()
        assert "librosa" in (out / "requirements.txt").read_text()
        yield server, tmp


@pytest.fixture(scope="module")
def speech(space):
    """0.6 s of a 200 Hz tone whose loudness comes and goes, as an MP3 at 44.1 kHz."""
    _, tmp = space
    path = tmp / "speech.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=200:sample_rate=44100",
                    "-af", "volume='0.5+0.4*sin(2*PI*4*t)':eval=frame", "-t", "0.6", str(path)], check=True)
    return str(path)


def test_the_space_lip_syncs_a_photo_to_speech_and_names_missing_weights(space, speech):
    server, _ = space
    client = Client(server.url, verbose=False)
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == {"/lip_sync"}

    video, download, status = client.predict(None, handle_file(FACE), None, handle_file(speech), "", "hq",
                                             api_name="/lip_sync")
    info = probe_video(video["video"] if isinstance(video, dict) else video)
    assert (info.width, info.height) == (512, 512) and info.n_frames == 15 and info.has_audio
    assert "15 frames for 0.6 s of speech" in status

    start = time.perf_counter()
    with pytest.raises(Exception) as error:
        client.predict(None, handle_file(FACE), None, handle_file(speech), "", "wav2lip", api_name="/lip_sync")
    assert time.perf_counter() - start < 3.0
    assert "wav2lip.pdparams" in str(error.value) and "Traceback" not in str(error.value)

    # A photo is not speech: refused with a message naming it, and the server keeps serving.
    with pytest.raises(Exception) as error:
        client.predict(None, handle_file(FACE), None, handle_file(FACE), "", "hq", api_name="/lip_sync")
    assert "Invalid file type" in str(error.value) and ".mp3" in str(error.value)  # the file slot's own check
    with pytest.raises(Exception) as error:
        client.predict(None, handle_file(FACE), handle_file(FACE), None, "", "hq", api_name="/lip_sync")
    assert "astronaut" in str(error.value) and "Traceback" not in str(error.value), str(error.value)
    assert client.predict(None, handle_file(FACE), handle_file(speech), None, "", "hq", api_name="/lip_sync")[2]


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_tab_in_a_browser_speaks_typed_text_with_a_photo(browser, space, tmp_path):
    server, _ = space
    page = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    page.goto(server.url, wait_until="domcontentloaded")
    page.locator("#lip-sync-run").wait_for(state="visible", timeout=30_000)
    assert not page.locator("#lip-sync-unavailable").is_visible()  # HQ's weights are here
    page.get_by_role("tab", name="Photo").click()
    page.locator("#lip-sync-face-photo input[type=file]").set_input_files(FACE)
    page.locator("#lip-sync-face-photo img").wait_for(state="visible", timeout=30_000)
    page.get_by_role("tab", name="Type text").click()
    page.locator("#lip-sync-text textarea").fill("Hello there.")
    page.locator("#lip-sync-run").click()
    page.locator("#lip-sync-output video").wait_for(state="attached", timeout=120_000)
    status = page.locator("#lip-sync-status")
    assert "s of speech" in status.inner_text(timeout=10_000)
    page.screenshot(path=str(tmp_path / "lip_sync.png"), full_page=True)
