import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from core import nets
from core.nets.realcugan import reflect_pad

NAME = "realcugan"


def test_parameter_names_and_counts():
    x2 = {k: v.shape for k, v in nets.build(NAME).state_dict().items()}
    assert x2["upsampler.encode.conv1.weight"] == [32, 3, 3, 3]
    assert x2["upsampler.middle.se.squeeze.weight"] == [64, 8] and x2["upsampler.middle.se.excite.weight"] == [8, 64]
    assert x2["upsampler.head.weight"] == [64, 3, 4, 4]  # a transposed convolution enlarging by 2
    assert x2["refiner.bottom.conv1.weight"] == [256, 128, 3, 3] and x2["refiner.head.weight"] == [3, 64, 3, 3]
    assert "upsampler.encode.se.squeeze.weight" not in x2 and not any(k.startswith("to_pixels") for k in x2)
    x3 = nets.build(NAME, scale=3).state_dict()
    assert x3["upsampler.head.weight"].shape == [64, 3, 5, 5]
    x4 = nets.build(NAME, scale=4).state_dict()
    # x4: both U-Nets carry 64 features at x2; a conv to 3 x 2^2 channels and a pixel shuffle finish.
    assert x4["upsampler.head.weight"].shape == [64, 64, 4, 4] and x4["refiner.encode1.conv1.weight"].shape == [32, 64, 3, 3]
    assert x4["to_pixels.weight"].shape == [12, 64, 3, 3]
    counts = {scale: sum(int(np.prod(p.shape)) for p in nets.build(NAME, scale=scale).parameters()) for scale in (2, 3, 4)}
    assert counts == {2: 1_284_598, 3: 1_286_326, 4: 1_406_812}  # those of the ncnn release's files


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_any_size_comes_out_scale_times_larger(scale):
    net = nets.build(NAME, scale=scale)
    for height, width in [(1, 2), (7, 5), (21, 18)]:  # smaller than the padding, odd, not a multiple of 4
        with paddle.no_grad():
            out = net(paddle.rand([1, 3, height, width]))
        assert out.shape == [1, 3, height * scale, width * scale]


def test_x4_adds_the_nearest_upsampled_input():
    net = nets.build(NAME, scale=4)
    net.to_pixels.weight.set_value(paddle.zeros_like(net.to_pixels.weight))
    net.to_pixels.bias.set_value(paddle.zeros_like(net.to_pixels.bias))
    image = paddle.rand([1, 3, 5, 6])
    with paddle.no_grad():
        np.testing.assert_array_equal(net(image).numpy(), F.interpolate(image, scale_factor=4, mode="nearest").numpy())


def test_the_refiner_corrects_the_centre_of_the_upsampled_picture():
    """With a silent refiner, the x2 result is the upsampler's result without its 20-pixel border, cropped to size."""
    paddle.seed(0)
    net = nets.build(NAME)
    head = net.refiner.head
    head.weight.set_value(paddle.zeros_like(head.weight))
    head.bias.set_value(paddle.zeros_like(head.bias))
    image = paddle.rand([1, 3, 9, 12])
    with paddle.no_grad():
        padded = paddle.to_tensor(np.pad(image.numpy(), ((0, 0), (0, 0), (18, 19), (18, 18)), mode="reflect"))
        want = net.upsampler(padded)[:, :, 20:38, 20:44]
        np.testing.assert_allclose(net(image).numpy(), want.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("widths", [(3, 2, 1, 4), (5, 7, 9, 11), (0, 13, 6, 0)])
def test_reflect_pad_mirrors_like_numpy_at_any_width(widths):
    """Wider than the picture (4 x 3 here) too: the mirror continues periodically."""
    top, bottom, left, right = widths
    image = paddle.rand([2, 3, 4, 3])
    want = np.pad(image.numpy(), ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")
    np.testing.assert_array_equal(reflect_pad(image, top, bottom, left, right).numpy(), want)
    single = paddle.rand([1, 3, 1, 1])  # nothing to mirror: the pixel repeats
    assert np.all(reflect_pad(single, 2, 3, 4, 5).numpy() == single.numpy())


def test_other_scales_are_refused():
    with pytest.raises(ValueError, match="enlarges by 2, 3 or 4, not 5"):
        nets.build(NAME, scale=5)
