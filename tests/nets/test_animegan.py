import paddle

from core import nets
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

NAME = "animeganv2_hayao"
TINY = {"ngf": 4}


def test_animegan_matches_reference():
    manifest = load_manifest(NAME)
    net = nets.build(NAME)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    assert_fingerprint({"output": net(paddle.to_tensor(image))}, manifest)


def test_sides_round_up_to_a_multiple_of_four():
    net = nets.build(NAME, **TINY)
    out = net(paddle.rand([2, 3, 70, 90]) * 2 - 1)
    assert out.shape == [2, 3, 72, 92]


def test_published_layout_loads_strictly(tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, "netG", TINY, tmp_path, monkeypatch, registered)
