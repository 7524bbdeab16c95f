"""Attribute editing: the application (core.apps.attribute_editing) and its tab (demos.attribute_editing).

The published CelebA models run as narrow variants of their real layouts (the same layers, names and condition
sizes, fewer channels), registered under the real checkpoint names for this module; our digit editors at their
real (CPU-sized) configurations with random weights and the trainer's export layout (``netG`` and ``meta``).
Faces are found by BlazeFace with its real weights (imported offline from the mediapipe wheel), in scikit-image's
astronaut photo.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata

import cv2
import gradio as gr
import numpy as np
import paddle
import pytest
from PIL import Image
from skimage import data

from core import face, runtime, weights
from core.apps import attribute_editing as ae
from core.errors import CheckpointMismatch, InputError, WeightsUnavailable
from core.checkpoints import digit_editors
from core.registry import WEIGHTS
from core.train.morphometry import ATTRIBUTES, MEASURES
from demos import attribute_editing as tab
from tests import aio

try:
    importlib.metadata.distribution("mediapipe")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed", allow_module_level=True)

TINY_FACES = {
    "stargan.celeba": {"conv_dim": 8, "repeat_num": 1},
    "attgan.celeba": {"dim": 8, "max_dim": 32},
    "stgan.celeba": {"dim": 8, "max_dim": 32},
}
# AttGAN's narrow variant draws a nearly flat grey at random; a stronger last layer makes its edits show.
LAST_LAYER_GAIN = {"attgan.celeba": 20.0}
# Per class: thickness (px), slant (deg), width (px) medians, as an export records them (made up, plausible).
THRESHOLDS = np.tile([2.4, 8.0, 11.0], (10, 1))


def save_editor(spec, folder, seed, thresholds=THRESHOLDS, meta=True):
    """A digit editor as the trainer exports it: {"netG": state, "meta": {...}} (random weights)."""
    paddle.seed(seed)
    saved = {"netG": weights.build_network(spec).state_dict()}
    if meta:
        saved["meta"] = {"generator": {"architecture": spec.architecture, **spec.net_overrides},
                         "attributes": list(ATTRIBUTES), "thresholds": np.asarray(thresholds).tolist(), "image_size": 32}
    paddle.save(saved, str(folder / spec.filename))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny CelebA editors and real-size digit editors in GAN_GALLERY_WEIGHTS_DIR under their real names."""
    folder = tmp_path_factory.mktemp("attribute-editing")
    (folder / "weights").mkdir()
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_CACHE", str(folder / "cache"))
        mp.setenv("GAN_GALLERY_WEIGHTS_DIR", str(folder / "weights"))
        mp.setenv("GAN_GALLERY_WORKDIR", str(folder / "requests"))
        weights.import_packaged(weights.spec(face.DETECTOR))
        for seed, (name, overrides) in enumerate(TINY_FACES.items()):
            real = weights.spec(name)
            small = stack.enter_context(WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=overrides), real.aliases))
            paddle.seed(seed)
            net = weights.build_network(small)
            last = f"decoder.{len(getattr(net, 'decoder', [])) - 1}.conv.weight"
            state = {k: v * LAST_LAYER_GAIN.get(name, 1.0) if k == last else v for k, v in net.state_dict().items()}
            paddle.save(state, str(folder / "weights" / small.filename))
        for seed, choice in enumerate(ae.DIGIT_MODELS.values(), start=10):
            save_editor(weights.spec(choice.weights), folder / "weights", seed)
        runtime.models.clear()
        yield folder
    runtime.models.clear()


@pytest.fixture(scope="module")
def astronaut(tiny):
    path = tiny / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return str(path)


# ---------------------------------------------------------------- the checkpoints of our digit editors


def test_the_digit_editor_specs_build_what_the_trainer_trains():
    from core.train.attributes import RECIPES

    for model, config in digit_editors.DIGITS_CONFIGS.items():
        assert config == {"c_dim": len(ATTRIBUTES), **RECIPES[model].digits_config}
        spec = weights.spec(f"{model}.digits")
        assert spec.net_overrides == config and spec.key == "netG" and spec.bundled == f"assets/weights/digits_{model}.pdparams"
        options = {"stgan": "--lambda-identity 2 --steps 3500 "}.get(model, "")  # how the shipped one was trained
        assert spec.source_note == (f"python -m core.train {model} --data mnist-full {options}--out runs/{model} "
                                    f"--export assets/weights/digits_{model}.pdparams")
        assert "CC BY-SA 3.0" in spec.licence


# ---------------------------------------------------------------- faces: pieces


def test_the_eye_targets_are_where_the_librarys_reader_puts_celebas_eyes(tmp_path):
    """A 178x218 "aligned CelebA picture" with bright dots at the mean eye landmarks, read by the trainer's own
    reader (central 170x170 -> 128x128): the dots land on celeba_eyes(170). StarGAN's 178 crop likewise."""
    from core.train.attributes import celeba_picture

    picture = np.zeros((ae.CELEBA_HEIGHT, ae.CELEBA_WIDTH, 3), np.uint8)
    for x, y in ae.CELEBA_EYES:
        cv2.circle(picture, (int(x), int(y)), 3, (255, 255, 255), -1)
    path = tmp_path / "celeba.png"
    Image.fromarray(picture).save(path)
    read = (celeba_picture(path).transpose(1, 2, 0)[..., 0] + 1) / 2
    for side, (x, y) in zip((slice(0, 64), slice(64, 128)), ae.celeba_eyes(170)):
        half = read[:, side]
        rows, columns = np.mgrid[0:128, 0:128][:, :, side]
        mass = half.sum()
        assert abs((columns * half).sum() / mass - x) < 0.3 and abs((rows * half).sum() / mass - y) < 0.3
    np.testing.assert_allclose(ae.celeba_eyes(170), [[48.82, 65.38], [78.18, 65.38]], atol=0.01)
    np.testing.assert_allclose(ae.celeba_eyes(178)[:, 1], (111 - 20 + 0.5) * 128 / 178 - 0.5)


def test_the_aligned_crop_puts_the_astronauts_eyes_where_celebas_are(tiny):
    """BlazeFace looks again in the 128x128 crop: the eyes it finds there lie within 2 pixels of CelebA's."""
    photo = data.astronaut()
    found = face.detect_faces(photo)[0]
    crop = ae.cut(photo, ae.celeba_matrix(found, 170))
    assert crop.shape == (128, 128, 3)
    again = face.detect_faces(crop, windows=False)
    assert again, "no face in the aligned crop"
    assert np.abs(again[0].keypoints[:2] - ae.celeba_eyes(170)).max() < 2.5
    eyes = again[0].keypoints[:2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 2  # level


def test_asked_attributes_are_flipped_from_what_the_face_is_said_to_have():
    attgan, stargan = ae.FACE_MODELS["attgan"], ae.FACE_MODELS["stargan"]
    request = ae.face_request(attgan, ["Blond_Hair", "Eyeglasses"], ["Black_Hair", "Eyeglasses"])
    assert ae.describe_change(request) == "-Black_Hair, +Blond_Hair, -Eyeglasses"
    column = list(attgan.attributes).index
    assert request.source[column("Black_Hair")] == 1 and request.target[column("Blond_Hair")] == 1
    condition = request.condition(1.5)[0][0]
    assert condition[column("Blond_Hair")] == 1.5 and condition[column("Eyeglasses")] == -1.5  # the asked: test_int
    assert condition[column("Black_Hair")] == -0.5 and condition[column("Male")] == -0.5  # the rest: thres_int
    source, difference = ae.face_request(ae.FACE_MODELS["stgan"], ["Blond_Hair"], []).condition(0.5)
    assert not source.any() and difference[0][column("Blond_Hair")] == 0.5 and np.count_nonzero(difference) == 1
    star = ae.face_request(stargan, ["Blond_Hair", "Eyeglasses", "Bald"], [])
    assert star.asked == ("Blond_Hair",) and star.ignored == ("Eyeglasses", "Bald")
    assert star.condition(2.0)[0][0].tolist() == [0, 1, 0, 0, 0]  # 0/1 targets: no intensity
    with pytest.raises(InputError, match="^Black_Hair and Blond_Hair cannot be changed together"):
        ae.face_request(attgan, ["Black_Hair", "Blond_Hair", "Young"], [])
    with pytest.raises(InputError, match="^Bald and Bangs cannot be changed together"):
        ae.face_request(attgan, ["Bald", "Bangs"], ["Eyeglasses"])


# ---------------------------------------------------------------- faces: the whole pipeline


def test_the_astronauts_face_is_edited_by_each_model_and_nothing_else_changes(tiny, astronaut):
    steps = []
    result = ae.edit_faces(astronaut, ["stargan", "attgan", "stgan"], ["Blond_Hair", "Eyeglasses"],
                           progress=lambda done, total, what: steps.append((done, total)))
    photo = data.astronaut()
    assert np.array_equal(result.photo, photo) and len(result.faces) == 1 and steps[-1] == (4, 4)
    assert [e.model.key for e in result.edits] == ["stargan", "attgan", "stgan"]
    assert result.edits[0].ignored == ("Eyeglasses",) and result.edits[1].ignored == ()
    box = np.array(result.faces[0].box)
    width = box[2] - box[0]
    around = np.zeros(photo.shape[:2], bool)  # the face's CelebA crop reaches about 1.5 face widths around it
    x0, y0, x1, y1 = (box + [-1.5 * width, -1.5 * width, 1.5 * width, 1.5 * width]).astype(int).clip(0, 512)
    around[y0:y1, x0:x1] = True
    for edit in result.edits:
        assert edit.photo.shape == photo.shape and edit.photo.dtype == np.uint8 and len(edit.crops) == 1
        change = np.abs(edit.photo.astype(int) - photo).sum(axis=2)
        inner = change[int(box[1]):int(box[3]), int(box[0]):int(box[2])]
        assert inner.mean() > 20, edit.model.key  # the (random) network redrew the face
        assert change[~around].max() == 0, edit.model.key  # nothing far from the face moved
    assert len(result.crops) == 1 and result.crops[0].shape == (128, 128, 3)


def test_another_attribute_or_intensity_changes_the_edit(tiny, astronaut):
    blond = ae.edit_faces(astronaut, ["attgan", "stgan"], ["Blond_Hair"])
    male = ae.edit_faces(astronaut, ["attgan", "stgan"], ["Male"])
    weaker = ae.edit_faces(astronaut, ["attgan", "stgan"], ["Blond_Hair"], intensity=0.2)
    for a, b, c in zip(blond.edits, male.edits, weaker.edits):
        assert np.abs(a.crops[0].astype(int) - b.crops[0]).mean() > 0.5, a.model.key
        assert np.abs(a.crops[0].astype(int) - c.crops[0]).mean() > 0.5, a.model.key


def test_a_model_that_knows_none_of_the_asked_attributes_is_skipped_and_says_so(tiny, astronaut):
    result = ae.edit_faces(astronaut, ["stargan", "attgan"], ["Eyeglasses", "Mustache"])
    assert [e.model.key for e in result.edits] == ["attgan"]
    assert result.skipped[0][0].key == "stargan" and "Eyeglasses, Mustache" in result.skipped[0][1]


def test_face_refusals_name_the_problem_before_a_model_loads(tiny, astronaut):
    coffee = str(tiny / "coffee.png")
    Image.fromarray(data.coffee()).save(coffee)
    runtime.models.clear()
    for args, kwargs, message in [
        ((astronaut, ["attgan"], []), {}, "Tick at least one attribute to change"),
        ((astronaut, [], ["Bald"]), {}, "Choose at least one model"),
        ((astronaut, ["cyclegan"], ["Bald"]), {}, "Unknown model 'cyclegan'"),
        ((astronaut, ["attgan"], ["Wings"]), {}, "Unknown attribute 'Wings' in the attributes to change"),
        ((astronaut, ["attgan"], ["Bald"], ["Halo"]), {}, "Unknown attribute 'Halo' in the attributes the face has"),
        ((astronaut, ["attgan"], ["Bald"]), {"intensity": 7}, "intensity must be a number from 0 to 2; got 7"),
        ((None, ["attgan"], ["Bald"]), {}, "Upload a photo with a face first"),
        ((coffee, ["attgan"], ["Bald"]), {}, r"No face was found in the photo"),
    ]:
        with pytest.raises(InputError, match=message):
            ae.edit_faces(*args, **kwargs)
    assert not [key for key in runtime.models.loaded() if "celeba" in str(key)]


def test_missing_celeba_weights_are_named_at_once(tiny, astronaut, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tiny / "empty"))
    with pytest.raises(gr.Error, match="attgan_celeba_128.pdparams"):
        aio.run(tab.run_face_edit(astronaut, ["attgan"], ["Bald"], [], 1.0, False))
    with pytest.raises(WeightsUnavailable, match="attgan_G.tar.gz"):
        ae.edit_faces(astronaut, ["attgan"], ["Bald"])


def test_the_face_endpoint_answers_with_pictures_of_the_photos_size(tiny, astronaut):
    pictures, crops, status = aio.run(tab.run_face_edit(astronaut, ["stargan", "attgan"], ["Bald", "Young"],
                                                            ["Young"], 1.0, True))
    assert [caption for _, caption in pictures] == ["original", "StarGAN: -Young; ignores Bald", "AttGAN: +Bald, -Young"]
    assert all(Image.open(path).size == (512, 512) for path, _ in pictures)
    assert [caption for _, caption in crops] == ["face 1, aligned as CelebA", "face 1, StarGAN", "face 1, AttGAN"]
    assert all(Image.open(path).size == (128, 128) for path, _ in crops)
    assert "1 face edited" in status and "told the face has: Young" in status and "Done in" in status
    for args, message in [
        ((astronaut, ["attgan"], ["Bald"], [], 1.0, "yes"), "Every face must be true or false"),
        ((astronaut, ["attgan"], ["Black_Hair", "Brown_Hair"], [], 1.0, False), "Black_Hair and Brown_Hair cannot be changed together"),
        ((astronaut, ["attgan"], ["Bald"], [], None, False), "intensity must be a number"),
        ((None, ["attgan"], ["Bald"], [], 1.0, False), "Upload a photo with a face first"),
    ]:
        with pytest.raises(gr.Error, match=message):
            aio.run(tab.run_face_edit(*args))


# ---------------------------------------------------------------- digits: the digit


def mass_centre(digit):
    ink = digit.astype(float)
    rows, columns = np.mgrid[0:digit.shape[0], 0:digit.shape[1]]
    return (columns * ink).sum() / ink.sum(), (rows * ink).sum() / ink.sum()


@pytest.mark.parametrize("canvas", ["dark on white", "white on black", "transparent"])
def test_a_drawing_is_normalised_as_mnist_digits_were(canvas):
    """A seven drawn off-centre on a 300x200 canvas: its box scaled to 20 pixels (aspect kept), its centre of
    mass at the centre of 28x28, its edges grey (anti-aliased)."""
    strokes = np.zeros((200, 300), np.uint8)
    cv2.line(strokes, (200, 30), (260, 30), 255, 9)
    cv2.line(strokes, (260, 30), (215, 150), 255, 9)
    if canvas == "dark on white":
        picture = np.repeat((255 - strokes)[..., None], 3, axis=2)
    elif canvas == "white on black":
        picture = np.repeat(strokes[..., None], 3, axis=2)
    else:  # black strokes on a transparent canvas, as a sketchpad layer may come
        picture = np.zeros((200, 300, 4), np.uint8)
        picture[..., 3] = strokes
    digit = ae.normalise_drawing(picture)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    x, y = mass_centre(digit)
    assert abs(x - 13.5) < 0.3 and abs(y - 13.5) < 0.3
    rows, columns = np.nonzero(digit > 25)
    height, width = np.ptp(rows) + 1, np.ptp(columns) + 1
    assert 19 <= height <= 21 and 8 <= width <= 13  # the longer side fills the 20-pixel box; aspect kept
    assert ((digit > 0) & (digit < 200)).sum() > 10  # grey edges
    for blank in (np.full((50, 50, 3), 255, np.uint8), np.full((8, 8), 128, np.uint8), np.zeros((30, 20, 4), np.uint8)):
        with pytest.raises(InputError, match="The drawing is empty"):
            ae.normalise_drawing(blank)


def test_a_bundled_digit_is_picked_by_seed_and_class():
    digit, label, index = ae.bundled_digit(3, "7")
    images, labels = ae.bundled_digits()
    assert label == 7 and labels[index] == 7 and np.array_equal(digit, images[index])
    assert ae.bundled_digit(3, "7")[2] == index and ae.bundled_digit(4, "7")[2] != index
    for args, message in [((3, "12"), "0 to 9 or 'any'; got 12"), ((-1, "any"), "seed must be a whole number"),
                          ((1.5, None), "seed must be a whole number"), (("x", None), "got 'x'")]:
        with pytest.raises(InputError, match=message):
            ae.bundled_digit(*args)


# ---------------------------------------------------------------- digits: the editors


def test_each_editor_edits_a_digit_and_the_table_shows_its_measures_before_and_after(tiny):
    digit, label, _ = ae.bundled_digit(5, "3")
    result = ae.edit_digit(digit, label, {"thick": "more", "slanted_right": "less"}, ["stargan", "attgan", "stgan"])
    assert [e.model.key for e in result.edits] == ["stargan", "attgan", "stgan"]
    assert result.directions == {"thick": "more", "slanted_right": "less", "wide": "keep"}
    measured = ae.measured_attributes(result.measures, label, THRESHOLDS)
    for edit in result.edits:
        assert edit.digit.shape == (28, 28) and edit.digit.dtype == np.uint8
        assert edit.source.tolist() == [0, 1, measured[2]] and edit.target.tolist() == [1, 0, measured[2]]
    headers, rows = ae.measure_table(result)
    assert headers == ["digit", "read as", "thickness (px)", "slant (°)", "width (px)"]
    assert [row[0] for row in rows] == ["source", "StarGAN", "AttGAN", "STGAN"]
    thickness = MEASURES.index("thickness")
    assert rows[0][2] == f"{result.measures[thickness]:.2f}"
    edit = result.edits[1]
    expected = (f"{edit.measures[thickness]:.2f} ({edit.measures[thickness] - result.measures[thickness]:+.2f})"
                if np.isfinite(edit.measures[thickness]) else "no stroke")
    assert rows[2][2] == expected


def test_keeping_everything_gives_stgan_no_difference_whatever_the_digit_is_measured_to_have(tiny):
    """With every attribute kept, STGAN sees target - source = 0: its output is its reconstruction of the digit,
    the same whatever thresholds say the digit has (a trained STGAN gives back the digit, next test)."""
    digit, label, _ = ae.bundled_digit(8, "5")
    keep = {a: "keep" for a in ATTRIBUTES}
    result = ae.edit_digit(digit, label, keep, ["stgan"])
    spec = weights.spec("stgan.digits")
    net = weights.build_network(spec)
    weights.load_into(net, spec)
    net.eval()
    with paddle.no_grad():
        reconstruction = net.forward_difference(paddle.to_tensor(ae.to_editor(digit[None])), paddle.zeros([1, 3])).numpy()
    assert np.abs(result.edits[0].digit.astype(int) - ae.from_editor(reconstruction)[0]).max() <= 1
    other = ae.edit_digit(digit, (label + 1) % 10, keep, ["stgan"])  # another class: other measured labels
    assert np.array_equal(other.edits[0].digit, result.edits[0].digit)


def test_the_intensity_scales_what_attgan_and_stgan_are_asked_to_change(tiny):
    digit, label, _ = ae.bundled_digit(3, "7")
    asked = {"thick": "more", "wide": "less"}
    usual, stronger, none = (ae.edit_digit(digit, label, asked, ["attgan", "stgan"], intensity=i) for i in (1.0, 2.0, 0.0))
    for k in range(2):
        assert not np.array_equal(usual.edits[k].digit, stronger.edits[k].digit)
    # Intensity 0 asks STGAN for no difference at all: the digit as it is when everything is kept.
    kept = ae.edit_digit(digit, label, {}, ["stgan"])
    assert np.array_equal(none.edits[1].digit, kept.edits[0].digit)
    # StarGAN's 0/1 targets have no intensity.
    star = [ae.edit_digit(digit, label, asked, ["stargan"], intensity=i).edits[0].digit for i in (0.5, 2.0)]
    assert np.array_equal(*star)
    for intensity in (2.5, -1, "strong", float("nan")):
        with pytest.raises(InputError, match="The intensity must be a number from 0 to 2"):
            ae.edit_digit(digit, label, asked, ["attgan"], intensity=intensity)


@pytest.mark.skipif(weights.locate(weights.spec("stgan.digits")) is None, reason="the STGAN digit editor is not trained yet")
def test_the_trained_stgan_gives_back_the_digit_when_everything_is_kept(tmp_path, monkeypatch):
    from core.train.morphometry import MARGINS

    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))  # the shipped file, not `tiny`'s random editor
    runtime.models.clear()
    images, labels = ae.bundled_digits()
    try:
        for index in np.random.default_rng(0).choice(len(images), 5, replace=False):
            result = ae.edit_digit(images[index], int(labels[index]), {}, ["stgan"])
            kept = result.edits[0]
            assert np.abs(kept.digit.astype(int) - images[index]).mean() < 20
            assert kept.read_as == labels[index]
            assert abs(kept.measures[MEASURES.index("thickness")] - result.measures[MEASURES.index("thickness")]) < 2 * MARGINS["thick"]
    finally:
        runtime.models.clear()  # the tests after it edit with `tiny`'s editors again


def test_digit_refusals_name_the_problem(tiny):
    digit, label, _ = ae.bundled_digit(1, "any")
    for args, message in [
        ((digit, label, {"thick": "fatter"}, ["stgan"]), r"Thick must be more, less or keep; got 'fatter'"),
        ((digit, label, {"bold": "more"}, ["stgan"]), "Unknown digit attribute 'bold'"),
        ((digit, label, {}, []), "Choose at least one editor"),
        ((digit, label, {}, ["pix2pix"]), "Unknown editor 'pix2pix'"),
        ((np.zeros((28, 28), np.uint8), label, {}, ["stgan"]), "no stroke to measure"),
        ((np.zeros((32, 32), np.uint8), label, {}, ["stgan"]), "must be a 28x28 grey picture"),
    ]:
        with pytest.raises(InputError, match=message):
            ae.edit_digit(*args)


def test_an_export_without_its_thresholds_is_refused_by_name(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    save_editor(weights.spec("attgan.digits"), tmp_path, 0, meta=False)
    digit, label, _ = ae.bundled_digit(1, "any")
    with pytest.raises(CheckpointMismatch, match=r"digits_attgan.pdparams \(attgan.digits\) does not record the digit attributes"):
        ae.edit_digit(digit, label, {}, ["attgan"])


def test_untrained_editors_are_named_with_the_command_that_trains_them(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(ae, "untrained_editors", lambda: list(ae.DIGIT_MODELS.values())[1:])
    assert "AttGAN, STGAN" in tab.untrained_note() and "python -m core.train stgan --data mnist-full" in tab.untrained_note()
    if weights.locate(weights.spec("stargan.digits")) is None:  # nothing trained in this checkout
        with pytest.raises(gr.Error, match=r"StarGAN digit editor is not trained yet: train and export it with "
                                           r"python -m core.train stargan .*digits_stargan.pdparams"):
            aio.run(tab.run_digit_edit("bundled", 1, "any", None, "more", "keep", "keep", ["stargan"]))


def test_the_editors_ticked_as_the_page_comes_are_those_trained_here(monkeypatch):
    models = list(ae.DIGIT_MODELS.values())
    monkeypatch.setattr(ae, "untrained_editors", lambda: models[:2])  # only STGAN shipped
    assert tab.default_digit_models() == ["stgan"]
    assert tab.refresh()[1]["value"] == ["stgan"]  # a page opened later ticks what is trained by then
    monkeypatch.setattr(ae, "untrained_editors", lambda: [])
    assert tab.default_digit_models() == ["stargan", "attgan", "stgan"]
    # None trained: all ticked, so that "Edit the digit" says which command trains each.
    monkeypatch.setattr(ae, "untrained_editors", lambda: models)
    assert tab.default_digit_models() == ["stargan", "attgan", "stgan"]


def test_the_digit_endpoint_answers_with_pictures_a_table_and_the_labels_it_gave(tiny):
    pictures, table, status = aio.run(tab.run_digit_edit("bundled", 2, "4", None, "more", "keep", "less",
                                                             ["attgan", "stgan"]))
    assert [caption for _, caption in pictures] == ["source (a 4)", "AttGAN", "STGAN"]
    assert all(Image.open(path).size == (224, 224) for path, _ in pictures)
    assert tab.TABLE_HEADERS == ["digit", "read as", "thickness (px)", "slant (°)", "width (px)"]
    assert [row[0] for row in table] == ["source", "AttGAN", "STGAN"] and all(len(row) == 5 for row in table)
    assert "bundled digit #" in status and "thick: more" in status and "wide: less" in status
    assert "AttGAN: thick 0→1" in status and "wide 1→0" in status and "intensity" not in status
    _, _, status = aio.run(tab.run_digit_edit("bundled", 2, "4", None, "more", "keep", "less", ["attgan"], 1.5))
    assert "wide: less at intensity 1.5" in status
    # A drawing, as the sketchpad hands it over: the composite picture.
    strokes = np.full((280, 280, 3), 255, np.uint8)
    cv2.line(strokes, (140, 40), (140, 240), (0, 0, 0), 18)
    pictures, table, status = aio.run(tab.run_digit_edit("drawing", 0, "any", {"composite": strokes}, "keep", "more",
                                                             "keep", ["stargan"]))
    assert len(pictures) == 2 and "your drawing" in status and "the digit classifier reads a" in status
    for args, message in [
        (("drawing", 0, "any", None, "keep", "keep", "keep", ["stargan"]), "Draw a digit first"),
        (("drawing", 0, "any", {"composite": np.full((9, 9, 3), 255, np.uint8)}, "keep", "keep", "keep", ["stargan"]),
         "The drawing is empty"),
        (("camera", 0, "any", None, "keep", "keep", "keep", ["stargan"]), "Digit from must be bundled or drawing"),
        (("bundled", 0, "11", None, "keep", "keep", "keep", ["stargan"]), "0 to 9 or 'any'; got 11"),
        (("bundled", 0, "any", None, "up", "keep", "keep", ["stargan"]), "Thick must be more, less or keep; got 'up'"),
        (("bundled", 0, "any", None, "keep", "keep", "keep", None), "Choose at least one editor"),
        (("bundled", 0, "any", None, "more", "keep", "keep", ["attgan"], 3), "intensity must be a number from 0 to 2; got 3"),
    ]:
        with pytest.raises(gr.Error, match=message):
            aio.run(tab.run_digit_edit(*args))


# ---------------------------------------------------------------- the tab


def test_the_tab_exposes_its_endpoints_and_its_components_name_what_they_refuse(tiny, tmp_path):
    blocks = tab.build()
    assert set(blocks.get_api_info()["named_endpoints"]) == {"/edit_face_attributes", "/edit_digit"}
    assert ae.APP.endpoints == ("edit_face_attributes", "edit_digit")
    components = {c.elem_id: c for c in blocks.blocks.values() if getattr(c, "elem_id", None)}
    change = components["attributes-change"]
    assert change.preprocess(None) == [] and change.preprocess(["Bald"]) == ["Bald"]
    with pytest.raises(gr.Error, match="Change must be a list of choices; got str"):
        change.preprocess("Bald")
    with pytest.raises(gr.Error, match="Change: .*'Wings' .*not in the list of choices"):
        change.preprocess(["Wings"])
    sketchpad = components["attributes-drawing"]
    assert sketchpad.get_block_name() == "imageeditor"
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    note = tmp_path / "note.png"
    note.write_text("not a picture")
    with pytest.raises(gr.Error, match="Drawing: The file note.png isn't a readable image"):
        sketchpad.preprocess(EditorData(background=None, layers=[], composite=FileData(path=str(note))))
    bomb = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(bomb)
    with pytest.raises(gr.Error, match=r"Drawing: .*9\.0 megapixels; the limit is 4\.2 megapixels"):
        sketchpad.preprocess(EditorData(background=None, layers=[], composite=FileData(path=str(bomb))))
    drawn = tmp_path / "drawn.png"
    Image.new("RGB", (64, 64), "white").save(drawn)
    value = sketchpad.preprocess(EditorData(background=None, layers=[], composite=FileData(path=str(drawn))))
    assert value["composite"].shape[:2] == (64, 64)


@pytest.mark.parametrize("name", sorted(TINY_FACES))
def test_the_face_editors_run_on_the_fast_path_equal_to_dygraph(name, tmp_path, monkeypatch):
    """Each CelebA editor exported for any number of 128x128 faces and their conditions (two for STGAN)
    verifies on oneDNN and edits as dygraph does."""
    from core import models

    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    spec = weights.spec(name)
    paddle.seed(2)
    network = weights.build_network(dataclasses.replace(spec, net_overrides={**spec.net_overrides, **TINY_FACES[name]}))
    run = models.prepare_runner(network, ae._face_editor_export())
    assert run.kind == "onednn"
    _, samples = ae._face_editor_inputs(network)
    rng = np.random.default_rng(7)
    faces = rng.uniform(-1, 1, (3, 3, ae.FACE_SIDE, ae.FACE_SIDE)).astype(np.float32)  # another batch size
    conditions = [rng.uniform(-1, 1, (3, network.c_dim)).astype(np.float32) for _ in samples[1:]]
    want = runtime.DygraphRunner(network)(faces, *conditions)[0]
    got = run(faces, *conditions)[0]
    assert got.shape == want.shape == faces.shape
    assert np.abs(got - want).max() <= 1e-4 * max(np.abs(want).max(), 1e-6)
