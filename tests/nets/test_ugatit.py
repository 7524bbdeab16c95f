import paddle

from core import nets, weights
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

NAME = "ugatit_light_selfie2anime"
TINY = {"ngf": 4, "n_blocks": 1}


def test_ugatit_light_matches_reference():
    manifest = load_manifest(NAME)
    net = nets.build(NAME)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    output, cam_logit, heatmap = net(paddle.to_tensor(image))
    assert_fingerprint({"output": output, "cam_logit": cam_logit, "heatmap": heatmap}, manifest)


def test_light_model_takes_any_size():
    net = nets.build(NAME, **TINY)
    output, cam_logit, heatmap = net(paddle.rand([2, 3, 70, 90]) * 2 - 1)
    assert output.shape == [2, 3, 72, 92]
    assert cam_logit.shape == [2, 2]
    assert heatmap.shape == [2, 1, 18, 23]


def test_full_model_flattens_an_img_size_map():
    net = nets.build(NAME, ngf=4, n_blocks=1, light=False, img_size=32)
    assert net.FC[0].weight.shape == [8 * 8 * 16, 16]
    output, _, heatmap = net(paddle.rand([1, 3, 32, 32]))
    assert output.shape == [1, 3, 32, 32] and heatmap.shape == [1, 1, 8, 8]


def test_weight_spec_is_the_selfie_to_anime_direction():
    assert weights.spec("ugatit_selfie2anime").key == "genA2B"


def test_published_layout_loads_strictly(tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, "genA2B", TINY, tmp_path, monkeypatch, registered)
