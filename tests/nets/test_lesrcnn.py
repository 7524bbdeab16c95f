import numpy as np
import paddle
import pytest

from core import nets, weights
from core.nets.lesrcnn import DIV2K_MEAN_RGB
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import assert_network_matches_reference

NAME = "lesrcnn_x4"
TINY = {"features": 8}


def test_lesrcnn_matches_reference():
    assert_network_matches_reference(NAME)


def test_odd_sizes_upscale_by_four():
    net = nets.build(NAME, **TINY)
    with paddle.no_grad():
        out = net(paddle.rand([2, 3, 13, 17]))
    assert out.shape == [2, 3, 52, 68]


def test_mean_shift_is_frozen_and_subtracts_the_div2k_mean():
    net = nets.build(NAME, **TINY)
    assert all(p.stop_gradient for p in net.sub_mean.parameters())
    assert all(p.stop_gradient for p in net.add_mean.parameters())
    image = paddle.rand([1, 3, 4, 4])
    shifted = net.sub_mean(image).numpy()
    expected = image.numpy() - np.array(DIV2K_MEAN_RGB, dtype="float32").reshape([1, 3, 1, 1])
    np.testing.assert_allclose(shifted, expected, atol=1e-6)
    np.testing.assert_allclose(net.add_mean(net.sub_mean(image)).numpy(), image.numpy(), atol=1e-6)


def test_multi_scale_variant_picks_the_upsampler_per_call():
    net = nets.build(NAME, multi_scale=True, **TINY)
    names = set(net.state_dict())
    assert {"upsample.up2.body.0.weight", "upsample.up3.body.0.weight", "upsample.up4.body.2.weight"} <= names
    image = paddle.rand([1, 3, 5, 7])
    with paddle.no_grad():
        for scale in (2, 3, 4):
            assert net(image, scale=scale).shape == [1, 3, 5 * scale, 7 * scale]


def test_weight_spec():
    spec = weights.spec("lesrcnn_x4")
    assert spec.name == "lesrcnn_x4.div2k" and spec.architecture == NAME and spec.key == "generator"
    assert spec.url == "https://paddlegan.bj.bcebos.com/models/lesrcnn_x4.pdparams"


@pytest.mark.parametrize("key", ["generator", None])
def test_published_layout_loads_strictly(key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, key, TINY, tmp_path, monkeypatch, registered)
