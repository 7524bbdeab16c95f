"""The Paint a scene Space: built alone into its own folder, started from its own app.py, called with gradio_client.

The Space carries our trained digit-scenes SPADE (assets/weights); here it runs at its real size from a seeded
checkpoint written as the trainer exports it ('netG'), placed in the weights folder, which comes first.
Cityscapes' and PhotoPen's weights are absent, which must give the clear message at once.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from core.apps import scene_painting
from tests.e2e.conftest import ROOT, running_space

EXAMPLE = str(ROOT / scene_painting.EXAMPLE_MAP)


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scene-painting-space")
    with running_space("scene_painting", tmp, ["spade.digit_scenes"]) as (server, out):
        for module in ("core/apps/scene_painting.py", "core/nets/spade.py", "core/nets/spade_labels.py",
                       "core/checkpoints/spade_scenes.py", "assets/weights/digit_scenes_spade.pdparams",
                       scene_painting.EXAMPLE_MAP):
            assert (out / module).is_file(), module
        yield server, tmp


def test_the_space_paints_a_scene_and_names_missing_weights(space):
    server, tmp = space
    client = Client(server.url, verbose=False)
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == {"/paint_scene"}

    picture, snapped, status = client.predict(None, handle_file(EXAMPLE), "digit_scenes", api_name="/paint_scene")
    image = np.asarray(Image.open(picture))
    assert image.shape == (64, 64, 3) and image.std() > 0
    assert np.asarray(Image.open(snapped)).shape == (64, 64, 3)
    assert "64x64; classes painted: sky, ground, digit" in status

    start = time.perf_counter()
    with pytest.raises(Exception) as error:
        client.predict(None, handle_file(EXAMPLE), "cityscapes", api_name="/paint_scene")
    assert time.perf_counter() - start < 3.0
    assert "spade_cityscapes.pdparams" in str(error.value) and "Traceback" not in str(error.value)

    # A photo is not a label map: refused naming the pixels and the colours, and the server keeps serving.
    rng = np.random.default_rng(0)
    noise = tmp / "noise.png"
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(noise)
    with pytest.raises(Exception) as error:
        client.predict(None, handle_file(str(noise)), "digit_scenes", api_name="/paint_scene")
    assert "pixels" in str(error.value) and "sky #5A96FF" in str(error.value), str(error.value)
    assert client.predict(None, handle_file(EXAMPLE), "digit_scenes", api_name="/paint_scene")[2]
