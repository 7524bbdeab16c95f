"""The GAN basics Space: built into its own folder, started from its own app.py, called with gradio_client.

It serves our shipped digit weights (they travel inside the Space under assets/weights),
so sampling works without any download.
"""
from __future__ import annotations

import sys

import numpy as np
from gradio_client import Client
from PIL import Image

from core.media import probe_video
from spaces.build import build
from tests.e2e.conftest import free_port, start_server, stop_server


def test_gan_basics_space_samples_and_walks(tmp_path):
    out = build("gan_basics", tmp_path / "space")
    assert (out / "assets" / "weights" / "digits_cgan.pdparams").is_file()
    assert (out / "core" / "nets" / "dcgan.py").is_file() and list((out / "weights").glob("*eye*.pdparams"))
    assert not (out / "core" / "apps" / "restore.py").exists()
    port = free_port()
    server = start_server([sys.executable, "app.py"], out, tmp_path, port)
    try:
        client = Client(server.url, verbose=False)
        named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
        assert named == {"/gan_sample", "/gan_interpolate", "/eyes_generate", "/eyes_walk", "/pggan_stages", "/pggan_growth"}

        grid_path, download, status = client.predict("cgan", 7, 10, "3", False, api_name="/gan_sample")
        with Image.open(grid_path) as grid:
            assert grid.format == "PNG"
            pixels = np.asarray(grid.convert("L"), dtype=np.float32)
        # Ten digits drawn in white on black: some ink, mostly background.
        assert 0.05 < (pixels > 128).mean() < 0.5
        assert open(download, "rb").read() == open(grid_path, "rb").read() and status.startswith("Done in")

        video, video_download, _ = client.predict("dcgan", "1, 2", 8, "any", False, api_name="/gan_interpolate")
        video_path = video["video"] if isinstance(video, dict) else video
        info = probe_video(video_path)
        assert (info.codec, info.n_frames) == ("h264", 8)

        # The painted eyes: their converted weights travel in the Space's weights/ folder.
        gallery, files, _ = client.predict(5, "all", 1, api_name="/eyes_generate")
        assert [item["caption"] for item in gallery] == ["amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red"]
        assert Image.open(files[0]).size == (256, 256)

        # PGGAN at each stage: four rows of digits (4x4 to 32x32, each tile 96 px) once its grown weights ship;
        # until then the Space names the missing file instead of failing obscurely.
        if (out / "assets" / "weights" / "digits_pggan.pdparams").is_file():
            stages, _, _ = client.predict(3, 4, api_name="/pggan_stages")
            assert Image.open(stages).size == (4 * 96, 4 * 96 + 3 * 4)
            growth, _, growth_status = client.predict(3, 4, api_name="/pggan_growth")
            assert probe_video(growth["video"] if isinstance(growth, dict) else growth).codec == "h264"
            assert growth_status.startswith("Done in")
        else:
            try:
                client.predict(3, 4, api_name="/pggan_stages")
                raise AssertionError("PGGAN sampled without its weights")
            except Exception as error:
                assert "digits_pggan.pdparams" in str(error) and "Traceback" not in str(error)

        try:
            client.predict("nonsense", 7, 10, "any", False, api_name="/gan_sample")
            raise AssertionError("an unknown objective was accepted")
        except Exception as error:  # Gradio checks dropdown values itself and names the choices
            assert "not in the list of choices" in str(error) and "wgan-gp" in str(error) and "Traceback" not in str(error)
    finally:
        stop_server(server)
