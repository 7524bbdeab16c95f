import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from core import nets
from core.nets.srvgg import nearest_upsample

NAME = "srvgg_compact"
TINY = {"num_feat": 8, "num_conv": 2}


def test_parameter_names_follow_the_original_module_list():
    shapes = {k: v.shape for k, v in nets.build(NAME).state_dict().items()}
    # 17 (conv, PReLU) pairs, then the last conv to 3 colours x 4^2 for the pixel shuffle.
    assert len(shapes) == 17 * 3 + 2
    assert shapes["body.0.weight"] == [64, 3, 3, 3] and shapes["body.1._weight"] == [64]
    assert shapes["body.33._weight"] == [64] and shapes["body.34.weight"] == [48, 64, 3, 3]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_odd_sizes_come_out_scale_times_larger(scale):
    net = nets.build(NAME, scale=None if scale == 4 else scale, **TINY)
    assert net.scale == scale
    with paddle.no_grad():
        out = net(paddle.rand([2, 3, 7, 5]))
    assert out.shape == [2, 3, 7 * scale, 5 * scale]


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("size", [(8, 8), (7, 5), (1, 3)])
def test_smaller_scales_resample_the_x4_result_bicubically(scale, size):
    """The folded tail (one conv at input resolution) equals resampling the x4 image, edges included."""
    paddle.seed(1)
    x4 = nets.build(NAME, **TINY)
    small = nets.build(NAME, scale=scale, **TINY)
    small.set_state_dict(x4.state_dict())
    image = paddle.rand([2, 3, *size])
    with paddle.no_grad():
        big = x4(image).astype("float64")  # a float64 reference: the two paths sum in different orders
        want = F.interpolate(big, size=[size[0] * scale, size[1] * scale], mode="bicubic", align_corners=False)
        got = small(image)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=2e-6 * float(big.abs().max()))


def test_the_folded_resample_kernel_is_an_interpolation():
    """Each output phase's weights sum to one (a flat image stays flat) and x4 -> x4 would be the identity."""
    from core.nets.srvgg import bicubic_phases

    for scale in (1, 2, 3):
        np.testing.assert_allclose(bicubic_phases(4, scale).sum(axis=(1, 2)), 1.0, atol=1e-12)
    identity = bicubic_phases(4, 4)
    assert all(identity[a, 1, a] == 1.0 and identity[a].sum() == 1.0 for a in range(4))


def test_zero_body_leaves_the_nearest_upsampled_input():
    net = nets.build(NAME, **TINY)
    last = net.body[-1]
    last.weight.set_value(paddle.zeros_like(last.weight))
    last.bias.set_value(paddle.zeros_like(last.bias))
    image = paddle.rand([1, 3, 5, 6])
    with paddle.no_grad():
        np.testing.assert_array_equal(net(image).numpy(), F.interpolate(image, scale_factor=4, mode="nearest").numpy())
    np.testing.assert_array_equal(nearest_upsample(image, 3).numpy(), F.interpolate(image, scale_factor=3, mode="nearest").numpy())


def test_scales_above_the_network_upscale_are_refused():
    with pytest.raises(ValueError, match="resamples its x4 result down, not to x5"):
        nets.build(NAME, scale=5, **TINY)
