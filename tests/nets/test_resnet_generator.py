import numpy as np
import paddle
import pytest

from core import nets, weights
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

NAME = "cyclegan_resnet9_horse2zebra"
TINY = {"ngf": 4, "n_blocks": 2}


def test_resnet9_matches_reference():
    manifest = load_manifest(NAME)
    net = nets.build(NAME)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    assert_fingerprint({"output": net(paddle.to_tensor(image))}, manifest)


def test_sides_round_up_to_a_multiple_of_four():
    # Stride-2 convolutions round each side up, the transposed ones double it: 70 -> 35 -> 18 -> 72.
    net = nets.build(NAME, **TINY)
    out = net(paddle.rand([2, 3, 70, 90]) * 2 - 1)
    assert out.shape == [2, 3, 72, 92]
    assert float(out.abs().max()) <= 1.0


def test_variants_build_and_run_deterministically_in_eval():
    net = nets.build(NAME, ngf=4, n_blocks=1, padding_type="zero", use_dropout=True, norm_type="batch")
    names = set(net.state_dict())
    # Batch norm drops the conv biases; dropout shifts the block's second conv to slot 5 (zero padding: no pad layers).
    assert "model.1.bias" not in names and "model.2._mean" in names
    assert "model.10.conv_block.4.weight" in names
    image = paddle.rand([1, 3, 16, 16])
    np.testing.assert_array_equal(net(image).numpy(), net(image).numpy())


def test_weight_specs_name_both_directions():
    horse = weights.spec("cyclegan_horse2zebra")
    zebra = weights.spec("cyclegan_zebra2horse")
    assert horse.filename == zebra.filename and (horse.key, zebra.key) == ("netG_A", "netG_B")
    assert weights.spec("cyclegan_cityscapes_photo2label").key == "netG_A"
    assert weights.spec("cyclegan_cityscapes_label2photo").key == "netG_B"
    assert (horse.name, zebra.name) == ("cyclegan_resnet9.horse2zebra", "cyclegan_resnet9.zebra2horse")
    # pretrained=True means horse -> zebra, the default this network declares.
    assert nets.network(NAME).default_weights == "cyclegan_resnet9.horse2zebra"
    assert weights.default_spec(NAME).name == "cyclegan_resnet9.horse2zebra"


@pytest.mark.parametrize("key", ["netG_A", None])
def test_published_layout_loads_strictly(key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, key, TINY, tmp_path, monkeypatch, registered)
