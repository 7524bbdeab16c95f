import numpy as np
import paddle
import pytest

from core import nets, weights
from core.nets.rrdb import pixel_unshuffle
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import assert_network_matches_reference

NAME = "realsr_rrdb_x4"
TINY = {"nf": 8, "nb": 1, "gc": 4}


def test_rrdb_matches_reference():
    assert_network_matches_reference(NAME)


def test_odd_sizes_upscale_by_four():
    net = nets.build(NAME, **TINY)
    with paddle.no_grad():
        out = net(paddle.rand([2, 3, 13, 17]))
    assert out.shape == [2, 3, 52, 68]


@pytest.mark.parametrize("scale", [1, 2])
def test_smaller_scales_unshuffle_first(scale):
    net = nets.build(NAME, scale=scale, **TINY)
    # The stem sees the input folded into channels: 3 * (4 / scale)^2.
    assert net.conv_first.weight.shape[1] == 3 * (4 // scale) ** 2
    with paddle.no_grad():
        out = net(paddle.rand([1, 3, 8, 12]))
    assert out.shape == [1, 3, 8 * scale, 12 * scale]


def test_pixel_unshuffle_inverts_pixel_shuffle():
    x = paddle.rand([1, 3, 6, 4])
    folded = pixel_unshuffle(x, 2)
    assert folded.shape == [1, 12, 3, 2]
    np.testing.assert_array_equal(paddle.nn.functional.pixel_shuffle(folded, 2).numpy(), x.numpy())


def test_block_count_is_configurable():
    # Real-ESRGAN's x4plus-anime model is this network with 6 blocks.
    names = nets.build(NAME, nb=6, nf=8, gc=4).state_dict()
    assert "RRDB_trunk.5.RDB3.conv5.weight" in names and "RRDB_trunk.6.RDB1.conv1.weight" not in names


def test_weight_specs():
    default = weights.spec("realsr_df2k_jpeg")
    assert default.url.endswith("/applications/DF2K_JPEG.pdparams") and default.key is None
    assert nets.network(NAME).default_weights == default.name == "rrdb_x4.realsr_df2k_jpeg"
    for name in ("esrgan_x4", "esrgan_psnr_x4", "realsr_df2k", "realsr_dped"):
        spec = weights.spec(name)
        assert spec.architecture == nets.network(NAME).architecture == "rrdb_x4" and spec.key == "generator"
        assert spec.url == f"https://paddlegan.bj.bcebos.com/models/{name}.pdparams"


@pytest.mark.parametrize("key", ["generator", None])
def test_published_layout_loads_strictly(key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, key, TINY, tmp_path, monkeypatch, registered)
