"""Spaces: each application builds into a self-contained folder; the digits Space runs and answers."""
from __future__ import annotations

import re
import sys

import pytest
from gradio_client import Client
from PIL import Image

from core import weights
from core.apps import apps, get
from spaces.build import GALLERY, build
from tests.e2e.conftest import free_port, start_server, stop_server


def front_matter(readme: str) -> dict:
    block = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert block, "README.md has no front matter"
    return dict(line.split(": ", 1) for line in block.group(1).splitlines())


@pytest.mark.parametrize("name", [a.name for a in apps()] + [GALLERY])
def test_space_folder_is_complete(name, tmp_path):
    out = build(name, tmp_path / name)
    meta = front_matter((out / "README.md").read_text())
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    for key in ("title", "emoji", "sdk_version", "python_version", "suggested_hardware", "license"):
        assert meta.get(key), key
    assert (out / "requirements.txt").read_text().count("paddlepaddle==") == 1
    assert (out / "NOTICE").is_file() and (out / "app.py").is_file()
    assert not (out / "tests").exists() and not (out / "spaces").exists()
    # Imported weights travel as converted files, with their licences.
    chosen = apps() if name == GALLERY else [get(name)]
    imported = {weights.spec(n).filename for app in chosen for n in app.weights if weights.spec(n).packaged}
    assert {p.name for p in (out / "weights").glob("*.pdparams")} == imported
    if imported:
        assert (out / "licenses" / "vintagify-MIT.txt").is_file() and "Real-ESRGAN" in (out / "NOTICE").read_text()
        assert "GAN_GALLERY_WEIGHTS_DIR" in (out / "app.py").read_text()
    if name != GALLERY:
        own = get(name)
        others = [a for a in apps() if a.name != name and f"core/apps/{a.name}.py" not in own.assets]
        for other in others:
            assert not (out / "core" / "apps" / f"{other.name}.py").exists(), f"{other.name} leaked into {name}"


def test_digits_space_starts_from_its_own_app_py_and_answers(tmp_path):
    out = build("digits", tmp_path / "space")
    port = free_port()
    server = start_server([sys.executable, "app.py"], out, tmp_path, port)
    try:
        client = Client(server.url, verbose=False)
        assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == {"/digits_generate"}
        image_path, _, _ = client.predict(3, 10, "any", api_name="/digits_generate")
        assert Image.open(image_path).format == "PNG"
    finally:
        stop_server(server)
