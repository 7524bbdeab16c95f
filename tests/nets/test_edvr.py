import paddle
import pytest

from core import nets, weights
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import assert_network_matches_reference, load_manifest

NAME = "edvr_l_w_tsa_srx4"
TINY = {"nf": 8, "groups": 2, "front_RBs": 1, "back_RBs": 1}


def test_edvr_matches_reference():
    assert_network_matches_reference(NAME)


def test_centre_frame_is_upscaled_by_four():
    net = nets.build("edvr", **TINY)
    with paddle.no_grad():
        assert net(paddle.rand([2, 5, 3, 16, 20])).shape == [2, 3, 64, 80]


def test_without_tsa_a_1x1_conv_merges_the_aligned_frames():
    net = nets.build("edvr", w_TSA=False, **TINY)
    assert net.state_dict()["TSAModule.weight"].shape == [8, 5 * 8, 1, 1]
    with paddle.no_grad():
        assert net(paddle.rand([1, 5, 3, 8, 12])).shape == [1, 3, 32, 48]


def test_frame_count_and_size_are_checked():
    net = nets.build("edvr", **TINY)
    with pytest.raises(ValueError, match="5 frames"):
        net(paddle.rand([1, 3, 3, 16, 16]))
    with pytest.raises(ValueError, match="divisible by 4"):
        net(paddle.rand([1, 5, 3, 18, 16]))


def test_a_frozen_offset_branch_still_trains_on_cpu():
    # Paddle's CPU DeformConv2D backward crashes on a mask without gradient; ModulatedDeformConv2D copes.
    net = nets.build("edvr", **TINY)
    net.train()
    frozen = ("conv_first", "feature_extractor", "fea_L", "PCDModule.PCD_Align_L3_offset", "PCDModule.PCD_Align_L3_dcn.conv")
    for name, p in net.named_parameters():
        p.stop_gradient = name.startswith(frozen)
    net(paddle.rand([1, 5, 3, 16, 16])).mean().backward()
    assert net.PCDModule.PCD_Align_L3_dcn.dcn.weight.grad is not None
    assert net.PCDModule.PCD_Align_L3_dcn.conv_offset_mask.weight.grad is None


def test_weight_spec():
    spec = weights.spec("edvr.l_w_tsa_srx4")
    assert spec.architecture == NAME and spec.key == "generator" and spec.licence == "Apache-2.0 (PaddleGAN)"
    assert spec.url == load_manifest(NAME)["weight_url"]
    assert nets.network(NAME).default_weights == "edvr.l_w_tsa_srx4"


@pytest.mark.parametrize("key", ["generator", None])
def test_published_layout_loads_strictly(key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip("edvr", key, TINY, tmp_path, monkeypatch, registered)
