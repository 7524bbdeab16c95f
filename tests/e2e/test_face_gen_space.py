"""The face_gen Space: built into its own folder, started, and called with gradio_client.

The server serves tiny StyleGAN2 variants: it is started through tests/e2e/tiny_face_gen.py,
which registers them under the real checkpoint names and runs the Space's app.py (heavy work in
that process: GAN_GALLERY_WORKERS=0). The checkpoints are written by the test under the
published file names, in the published flat layout, after a first request has shown the
missing-weights message.
"""
from __future__ import annotations

import sys
import time

import paddle
import pytest
from gradio_client import Client
from PIL import Image

from core import nets, weights
from core.apps import face_gen
from core.media import probe_video
from spaces.build import build
from tests.e2e.conftest import ROOT, free_port, start_server, stop_server
from tests.e2e.tiny_face_gen import TINY

TINY_LAUNCHER = ROOT / "tests" / "e2e" / "tiny_face_gen.py"


@pytest.mark.serial  # times the refusal: alone, after the parallel run
def test_face_gen_space_answers_without_and_with_weights(tmp_path, monkeypatch):
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("GAN_GALLERY_ENGINE", "dygraph")  # the fast path has its own test; keep this one quick
    out = build("face_gen", tmp_path / "space")
    assert not (out / "core" / "apps" / "digits.py").exists() and (out / "core" / "nets" / "stylegan2.py").is_file()
    digiface = weights.spec(face_gen.MODELS["digiface"].weights)
    assert (out / "core" / "nets" / "dcgan.py").is_file() and (out / "weights" / digiface.filename).is_file()
    port = free_port()
    server = start_server([sys.executable, str(TINY_LAUNCHER)], out, tmp_path, port, extra_env={"GAN_GALLERY_WORKERS": "0"})
    try:
        client = Client(server.url, verbose=False)
        named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
        assert named == {"/face_generate", "/face_mix", "/face_walk"}

        start = time.perf_counter()
        try:
            client.predict("ffhq", "1", 0.7, "full", api_name="/face_generate")
            raise AssertionError("a request without weights succeeded")
        except Exception as error:  # gradio_client's AppError carries our message
            message = str(error)
        assert time.perf_counter() - start < 2.0
        assert "stylegan2-ffhq-config-f.pdparams" in message and str(weights_dir) in message and "Traceback" not in message
        # Without any StyleGAN2 weights, the DCGAN faces the Space carries already draw.
        gallery, files, status = client.predict("digiface", "1, 2", 1.0, "full", api_name="/face_generate")
        assert len(files) == 2 and all(Image.open(path).size == (64, 64) for path in files)

        for seed, choice in enumerate(face_gen.MODELS[key] for key in face_gen.STYLEGAN_MODELS):
            paddle.seed(seed)
            paddle.save(nets.build(choice.network, **TINY).state_dict(), str(weights_dir / weights.spec(choice.weights).filename))

        gallery, files, status = client.predict("ffhq", "1, 2, 3", 0.7, "full", api_name="/face_generate")
        assert len(gallery) == 3 and len(files) == 3 and status.startswith("Done in")
        assert [item["caption"] for item in gallery] == ["seed 1", "seed 2", "seed 3"]
        for path in files:
            with Image.open(path) as image:
                assert image.format == "PNG" and image.size == (32, 32)

        source_a, source_b, mixed, mix_files, _ = client.predict("anime", 4, 5, 0, 3, 0.6, "full", api_name="/face_mix")
        assert len(mix_files) == 3 and all(Image.open(p).format == "PNG" for p in (source_a, source_b, mixed))

        video, download, walk_status = client.predict("ffhq", "1, 2, 3", 12, 0.7, "full", api_name="/face_walk")
        video_path = video["video"] if isinstance(video, dict) else video
        info = probe_video(video_path)
        assert (info.codec, info.n_frames) == ("h264", 12) and "12 frames" in walk_status
        assert open(download, "rb").read() == open(video_path, "rb").read()

        try:
            client.predict("ffhq", "1", 12, 0.7, "full", api_name="/face_walk")
            raise AssertionError("a walk with one seed succeeded")
        except Exception as error:
            assert "at least 2 seeds" in str(error)
    finally:
        stop_server(server)
