import numpy as np
import paddle

from core import nets, weights
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

NAME = "pix2pix_unet256_facades"
TINY = {"ngf": 4, "num_downs": 5}  # 32x32 inputs reach 1x1


def test_unet256_matches_reference():
    manifest = load_manifest(NAME)
    net = nets.build(NAME)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    assert_fingerprint({"output": net(paddle.to_tensor(image))}, manifest)


def test_eval_normalises_with_batch_statistics_like_paddlegan():
    # PaddleGAN's batch norm uses the batch's own statistics in eval mode, so an
    # image's result depends on its batch mates and the running averages are unused.
    net = nets.build(NAME, **TINY)
    first, second = paddle.rand([1, 3, 32, 32]), paddle.rand([1, 3, 32, 32])
    alone = net(first)
    assert alone.shape == [1, 3, 32, 32]
    together = net(paddle.concat([first, second]))[:1]
    assert not np.allclose(alone.numpy(), together.numpy(), atol=1e-4)
    for name, tensor in net.state_dict().items():
        if name.endswith(("_mean", "_variance")):
            tensor.set_value(paddle.rand(tensor.shape) + 0.5)
    np.testing.assert_allclose(net(first).numpy(), alone.numpy(), atol=1e-6)


def test_dropout_variant_is_deterministic_in_eval():
    net = nets.build(NAME, ngf=4, num_downs=6, use_dropout=True)
    # Dropout only follows the extra widest levels, after their up-path norm.
    assert any(isinstance(layer, paddle.nn.Dropout) for layer in net.sublayers())
    image = paddle.rand([1, 3, 64, 64])
    np.testing.assert_array_equal(net(image).numpy(), net(image).numpy())


def test_weight_specs():
    assert weights.spec("pix2pix_facades").filename == "Pixel2Pixel_facades.pdparams"
    assert weights.spec("pix2pix_cityscapes").key == "netG"


def test_published_layout_loads_strictly(tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, "netG", TINY, tmp_path, monkeypatch, registered)
