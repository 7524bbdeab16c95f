"""vintagify's CycleGAN file, converted, gives in our Paddle network what vintagify's own torch network gives.

The reference is independent of our code: PyTorch runs the original state dict (read by
torch.load) in vintagify's own ``ResnetGenerator`` class.
"""
import importlib.metadata
import importlib.util

import numpy as np
import paddle
import pytest
import torch

from core import nets, weights
from core.errors import CheckpointMismatch
from core.importers.torch_zip import resnet_generator_from_torch
from core.media import read_image

NET = "cyclegan_resnet9_horse2zebra"
# Identical fp32 weights and the same operations: only summation order differs (measured max 2.5e-6).
TOLERANCE = 1.5e-5
# (photo, top, left, height, width): a square crop and a non-square one, both with detail.
CROPS = [("astronaut", 40, 180, 64, 64), ("coffee", 100, 200, 48, 80)]


def _vintagify_file(relative: str):
    return importlib.metadata.distribution("vintagify").locate_file(f"vintagify/{relative}")


@pytest.fixture(scope="module")
def vintagify_generator():
    """vintagify's ResnetGenerator class, loaded from its file (the package's __init__ needs torchvision)."""
    spec = importlib.util.spec_from_file_location("vintagify_generator", _vintagify_file("generator.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ResnetGenerator


def _photo_crop(photo, top, left, height, width) -> np.ndarray:
    """A 1 x 3 x H x W crop in [-1, 1], as vintagify's ToTensor + Normalize(0.5, 0.5) makes it."""
    pixels = read_image(f"assets/examples/{photo}.jpg")[top : top + height, left : left + width]
    assert pixels.shape == (height, width, 3)
    return np.ascontiguousarray((pixels.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()


def _torch_output(generator, image):
    with torch.no_grad():
        return generator(torch.from_numpy(image)).numpy()


def _paddle_output(net, image):
    with paddle.no_grad():
        return net(paddle.to_tensor(image)).numpy()


def _ours(files):
    state, overrides = resnet_generator_from_torch(files)
    net = nets.build(NET, **overrides)
    weights.load_state_strict(net, state, str(files[0]))  # strict: every name and shape
    net.eval()
    return net, overrides


@pytest.mark.slow
def test_converted_vintagify_matches_its_torch_network_on_photos(vintagify_generator):
    path = _vintagify_file("resources/G_A2B_epoch33.pth")
    reference = vintagify_generator()
    reference.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    reference.eval()
    ours, overrides = _ours([path])
    assert overrides == {}  # the default network, as the weight spec declares

    for photo, *box in CROPS:
        image = _photo_crop(photo, *box)
        expected = _torch_output(reference, image)
        got = _paddle_output(ours, image)
        assert got.shape == expected.shape == image.shape
        # The network does change the photo (a vintage look), so agreement is not trivial.
        assert np.abs(expected - image).mean() > 0.05
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE, err_msg=photo)


def test_other_sizes_convert_with_overrides_and_match(vintagify_generator, tmp_path):
    torch.manual_seed(0)
    small = vintagify_generator(ngf=8, n_blocks=2)
    with torch.no_grad():  # instance-norm affines away from their (1, 0) start, so a scale/bias mix-up would show
        for name, value in small.named_parameters():
            if value.ndim == 1:
                value.uniform_(-1.5, 1.5)
    small.eval()
    path = tmp_path / "small.pth"
    torch.save(small.state_dict(), path)

    ours, overrides = _ours([path])

    assert overrides == {"ngf": 8, "n_blocks": 2}
    image = _photo_crop("chelsea", 60, 120, 36, 44)
    np.testing.assert_allclose(_paddle_output(ours, image), _torch_output(small, image), rtol=0, atol=TOLERANCE)


def _set(name, value):
    return lambda state: state.update({name: value})


@pytest.mark.parametrize("edit, message", [
    (lambda state: state.pop("model.11.block.5.bias"), r"1 missing: model\.11\.block\.5\.bias \[32\]"),
    (_set("model.2.running_mean", torch.zeros(8)), r"1 unexpected: model\.2\.running_mean"),
    (_set("model.13.weight", torch.zeros(9)), r"1 wrong shape: model\.13\.weight \[9\] \(expected \[16\]\)"),
    (_set("model.1.bias", torch.zeros(8, dtype=torch.int64)), r"not floating point: model\.1\.bias \(int64\)"),
], ids=["missing", "unexpected", "wrong shape", "integer"])
def test_an_unexpected_layout_is_named(vintagify_generator, tmp_path, edit, message):
    state = vintagify_generator(ngf=8, n_blocks=2).state_dict()
    edit(state)
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatch, match=rf"{tmp_path}.*edited\.pth does not have the layout.*{message}"):
        resnet_generator_from_torch([path])
