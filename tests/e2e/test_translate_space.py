"""The Image translation Space builds, starts from its own app.py and answers gradio_client.

AnimeGANv2 runs at its real configuration (2.2 M parameters) from a checkpoint
this test writes in the published layout ({'netG': state}); the server picks
its fast path as in production. The other models have no weights here, which
must give the clear "not available" message at once.
"""
from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from core.media import ffmpeg_exe, probe_video
from tests.e2e.conftest import running_space


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("translate-space")
    with running_space("translate", tmp, ["animeganv2_hayao"]) as (server, out):
        assert (out / "assets" / "examples" / "facade_labels.png").is_file() and (out / "core" / "video.py").is_file()
        yield Client(server.url, verbose=False), tmp


def test_named_endpoints(space):
    client, _ = space
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == {"/translate_image", "/translate_video", "/translate_batch", "/translate_portrait"}


def test_translate_image_returns_a_png_of_the_input_size(space):
    client, tmp = space
    rgb = np.random.default_rng(0).integers(0, 256, (45, 67, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp / "odd.png")
    image_path, file_path, status = client.predict("anime_hayao", handle_file(str(tmp / "odd.png")), api_name="/translate_image")
    with Image.open(image_path) as image:
        assert image.format == "PNG" and image.size == (67, 45)
    assert open(file_path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert status.startswith("Done in") and "(67x45)" in status


def test_missing_weights_are_named_quickly(space):
    client, tmp = space
    Image.new("RGB", (40, 40), (90, 120, 30)).save(tmp / "flat.png")
    start = time.perf_counter()
    with pytest.raises(Exception) as error:
        client.predict("horse2zebra", handle_file(str(tmp / "flat.png")), api_name="/translate_image")
    assert time.perf_counter() - start < 2.0
    message = str(error.value)
    assert "CycleGAN_horse2zebra.pdparams" in message and "Place the file" in message and "Traceback" not in message


def test_translate_video_keeps_size_fps_and_sound(space):
    client, tmp = space
    clip = tmp / "clip.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x36:rate=4:duration=1",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(clip)],
        check=True,
    )
    video, download, status = client.predict("anime_hayao", handle_file(str(clip)), api_name="/translate_video")
    path = video["video"] if isinstance(video, dict) else video
    info, source = probe_video(path), probe_video(clip)
    assert (info.width, info.height) == (48, 36) and info.fps == source.fps and info.has_audio
    assert "Done in" in status and "4 frames" in status
