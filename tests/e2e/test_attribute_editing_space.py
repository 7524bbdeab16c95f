"""The Attribute editing Space: built alone into its own folder, started from its own app.py, called with
gradio_client.

The server serves narrow variants of the published CelebA StarGAN and AttGAN (their real layouts, fewer
channels): it is started through ``LAUNCHER``, which registers them under the real checkpoint names in the
Space's own registry and runs the Space's app.py (heavy work in that process: GAN_GALLERY_WORKERS=0). Our digit
editors StarGAN and AttGAN run at their real configurations from random-weight exports written here; STGAN's
CelebA and digit checkpoints are left out, which must give the clear messages at once. BlazeFace is the real one,
from the Space's own ``weights/`` folder.
"""
from __future__ import annotations

import importlib.metadata
import json
import sys
import time

import numpy as np
import paddle
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from core import weights
from core.apps import attribute_editing as ae
from core.train.morphometry import ATTRIBUTES
from tests.e2e.conftest import ROOT, free_port, start_server, stop_server

try:
    importlib.metadata.distribution("mediapipe")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed", allow_module_level=True)

FACE = str(ROOT / ae.EXAMPLE_FACE)
TINY = {"stargan.celeba": {"conv_dim": 8, "repeat_num": 1}, "attgan.celeba": {"dim": 8, "max_dim": 32}}

# Run in the built Space folder as `python -c LAUNCHER '<TINY as JSON>'`: the Space's own code (its folder is
# sys.path[0]), the tiny variants registered for the life of the process, then its app.py as __main__.
LAUNCHER = r"""
import contextlib, dataclasses, json, runpy, sys
from pathlib import Path

space = Path.cwd().resolve()
sys.path.insert(0, str(space))
from core.runtime import configure_process

configure_process()
import core
from core import weights
from core.registry import WEIGHTS

if not Path(core.__file__).resolve().is_relative_to(space):
    raise RuntimeError(f"core was imported from {core.__file__}, not from the Space in {space}")
with contextlib.ExitStack() as stack:
    for name, overrides in json.loads(sys.argv[1]).items():
        real = weights.spec(name)
        stack.enter_context(WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=overrides), real.aliases))
    sys.argv = [str(space / "app.py")]
    runpy.run_path("app.py", run_name="__main__")
"""


def write_checkpoints(folder) -> None:
    """Tiny CelebA StarGAN and AttGAN (flat, as converted), and the digit StarGAN and AttGAN as the trainer exports them."""
    import dataclasses

    for seed, (name, overrides) in enumerate(TINY.items()):
        spec = dataclasses.replace(weights.spec(name), net_overrides=overrides)
        paddle.seed(seed)
        paddle.save(weights.build_network(spec).state_dict(), str(folder / spec.filename))
    for seed, key in enumerate(("stargan", "attgan"), start=5):
        spec = weights.spec(ae.DIGIT_MODELS[key].weights)
        paddle.seed(seed)
        meta = {"generator": {"architecture": spec.architecture, **spec.net_overrides}, "attributes": list(ATTRIBUTES),
                "thresholds": np.tile([2.4, 8.0, 11.0], (10, 1)).tolist(), "image_size": 32}
        paddle.save({"netG": weights.build_network(spec).state_dict(), "meta": meta}, str(folder / spec.filename))


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    from spaces.build import build

    tmp = tmp_path_factory.mktemp("attribute-editing-space")
    out = build("attribute_editing", tmp / "space")
    for module in ("core/face.py", "core/nets/stargan.py", "core/nets/attgan.py", "core/checkpoints/digit_editors.py",
                   "core/nets/celeba_labels.py",
                   "core/nets/digit_classifier.py", "core/nets/blazeface.py", "core/train/morphometry.py",
                   "core/train/attributes.py", "assets/digits/mnist_5k.npz", "assets/weights/digits_classifier.pdparams",
                   "assets/examples/astronaut.jpg", "demos/attribute_editing.py"):
        assert (out / module).is_file(), module
    assert not (out / "core" / "apps" / "lip_sync.py").exists()
    assert (out / "weights" / weights.spec(ae.faces.DETECTOR).filename).is_file()  # BlazeFace travels with it
    write_checkpoints(out / "weights")
    # STGAN is the editor this Space lacks, to show the "not trained yet" path whatever the repository ships.
    (out / "assets" / "weights" / weights.spec("stgan.digits").filename).unlink(missing_ok=True)
    port = free_port()
    server = start_server([sys.executable, "-c", LAUNCHER, json.dumps(TINY)], out, tmp, port,
                          extra_env={"GAN_GALLERY_WORKERS": "0", "GAN_GALLERY_WEIGHTS_DIR": str(out / "weights")})
    try:
        yield Client(server.url, verbose=False), tmp
    finally:
        stop_server(server)


def refused(call) -> str:
    """The message of a refused call (gradio_client raises it), checked to carry no traceback."""
    with pytest.raises(Exception) as error:
        call()
    assert "Traceback" not in str(error.value), str(error.value)
    return str(error.value)


def test_the_space_edits_the_astronauts_face_and_names_what_is_missing(space):
    client, tmp = space
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == {"/edit_face_attributes", "/edit_digit"}

    pictures, crops, status = client.predict(handle_file(FACE), ["stargan", "attgan"], ["Blond_Hair", "Eyeglasses"], [],
                                             1.0, False, api_name="/edit_face_attributes")
    assert [item["caption"] for item in pictures] == ["original", "StarGAN: +Blond_Hair; ignores Eyeglasses",
                                                      "AttGAN: +Blond_Hair, +Eyeglasses"]
    for item in pictures:
        with Image.open(item["image"]) as picture:
            assert picture.size == (512, 512)
    assert len(crops) == 3 and "1 face edited" in status

    start = time.perf_counter()
    message = refused(lambda: client.predict(handle_file(FACE), ["stgan"], ["Bald"], [], 1.0, False,
                                             api_name="/edit_face_attributes"))
    assert time.perf_counter() - start < 3.0 and "stgan_celeba_128.pdparams" in message
    note = tmp / "note.png"
    note.write_text("not a picture")
    message = refused(lambda: client.predict(handle_file(str(note)), ["attgan"], ["Bald"], [], 1.0, False,
                                             api_name="/edit_face_attributes"))
    assert "note.png isn't a readable image" in message
    message = refused(lambda: client.predict(handle_file(FACE), ["attgan"], ["Wings"], [], 1.0, False,
                                             api_name="/edit_face_attributes"))
    assert "Change" in message and "Wings" in message


def test_the_space_edits_bundled_and_drawn_digits_and_says_which_editors_are_untrained(space):
    client, tmp = space
    pictures, table, status = client.predict("bundled", 3, "7", None, "more", "keep", "less", ["stargan", "attgan"],
                                             api_name="/edit_digit")
    assert [item["caption"] for item in pictures] == ["source (a 7)", "StarGAN", "AttGAN"]
    with Image.open(pictures[0]["image"]) as picture:
        assert picture.size == (224, 224)
    assert table["headers"] == ["digit", "read as", "thickness (px)", "slant (°)", "width (px)"]
    assert [row[0] for row in table["data"]] == ["source", "StarGAN", "AttGAN"]
    assert "thick: more" in status and "wide: less" in status

    drawing = np.full((280, 280, 3), 255, np.uint8)
    drawing[40:240, 130:150] = 0  # a one
    Image.fromarray(drawing).save(tmp / "one.png")
    pictures, table, status = client.predict(
        "drawing", 0, "any", {"background": None, "layers": [], "composite": handle_file(str(tmp / "one.png"))},
        "keep", "more", "keep", ["attgan"], api_name="/edit_digit")
    assert len(pictures) == 2 and "your drawing" in status
    # The intensity is the last input, so that callers that leave it out get 1 (as the editors were trained).
    pictures, _, status = client.predict("bundled", 3, "7", None, "more", "keep", "keep", ["attgan"], 1.6,
                                         api_name="/edit_digit")
    assert len(pictures) == 2 and "thick: more" in status and "at intensity 1.6" in status

    start = time.perf_counter()
    message = refused(lambda: client.predict("bundled", 3, "7", None, "more", "keep", "keep", ["stgan"],
                                             api_name="/edit_digit"))
    assert time.perf_counter() - start < 3.0
    assert "STGAN digit editor is not trained yet" in message and "python -m core.train stgan" in message
    assert "digits_stgan.pdparams" in message
    message = refused(lambda: client.predict("bundled", 3, "7", None, "fatter", "keep", "keep", ["attgan"],
                                             api_name="/edit_digit"))
    assert "Thickness" in message and "fatter" in message
    # The server keeps serving.
    assert client.predict("bundled", 4, "any", None, "keep", "keep", "keep", ["attgan"], api_name="/edit_digit")[2]
