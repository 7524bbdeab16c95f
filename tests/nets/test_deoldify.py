import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from core import nets, weights
from core.nets.deoldify import ResNetEncoder, SpectralNormState, WeightNormConv2D
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

TINY = {"backbone": "resnet18", "encoder_width": 8, "decoder_width": 16}


@pytest.mark.parametrize("name", ["deoldify_stable", "deoldify_artistic"])
def test_layout_matches_reference(name):
    # LazyGuard skips parameter initialisation: the 218 M-parameter layout is checked in under a second.
    with paddle.LazyGuard():
        net = nets.build(name)
    assert_same_layout(net, load_manifest(name))


def _fingerprint(name, overwrite_running_stats=False):
    manifest = load_manifest(name)
    net = nets.build(name)
    apply_recipe(net, manifest)
    if overwrite_running_stats:
        _apply_recipe_to_running_stats(net, manifest)
    (image,) = recipe_inputs(manifest)
    with paddle.no_grad():
        out = net(paddle.to_tensor(image))
    assert_fingerprint({"output": out}, manifest)


def _apply_recipe_to_running_stats(net, manifest):
    """The recipe's sine values for the batch-norm running mean/variance entries too.

    The stable manifest was recorded this way, although its recipe text says they
    keep their defaults: with them, every recorded value matches; without, 14 of
    the 12,288 saturated outputs differ (negative variances give NaN, which the
    following ReLUs turn into 0, so the decoder's last upsampling goes silent).
    """
    own = net.state_dict()
    for k, (name, shape, _) in enumerate(manifest["state_dict"]):
        if name.endswith(("_mean", "_variance")):
            n = int(np.prod(shape))
            values = 0.02 * np.sin(0.37 * np.arange(n, dtype=np.float64) + k)
            own[name].set_value(paddle.to_tensor(values.astype("float32").reshape(shape)))


@pytest.mark.slow
def test_artistic_matches_reference():
    _fingerprint("deoldify_artistic")


@pytest.mark.slow
def test_stable_matches_reference():
    _fingerprint("deoldify_stable", overwrite_running_stats=True)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_encoder_matches_paddle_vision_resnet(backbone):
    # PaddleGAN's encoder is paddle.vision's ResNet without its pooling head (basic and bottleneck blocks).
    import paddle.vision.models as models

    paddle.seed(5)
    vision = getattr(models, backbone)(num_classes=0, with_pool=False)
    ours = ResNetEncoder(backbone)
    stage_index = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}
    renamed = {}
    for name, tensor in vision.state_dict().items():
        head, rest = name.split(".", 1)
        renamed[f"{stage_index[head]}.{rest}"] = tensor
    assert set(renamed) == set(ours.state_dict())
    ours.set_state_dict(renamed)
    vision.eval()
    ours.eval()
    image = paddle.rand([1, 3, 64, 64])
    with paddle.no_grad():
        features, skips = ours(image)
        np.testing.assert_allclose(features.numpy(), vision(image).numpy(), rtol=1e-5, atol=1e-5)
    assert [s.shape[-1] for s in skips] == [32, 16, 8, 4]


@pytest.mark.parametrize("power_iters", [0, 1])
def test_spectral_norm_matches_paddle_op(power_iters):
    # Paddle's SpectralNorm layer runs the spectral_norm op PaddleGAN uses; PaddleGAN passes 0 iterations in eval.
    paddle.seed(3)
    reference = paddle.nn.SpectralNorm([6, 4, 3, 3], dim=0, power_iters=power_iters)
    ours = SpectralNormState(6, 36)
    # Unnormalised vectors, as the recipe (and a trained checkpoint) may hold them.
    ours.weight_u.set_value(reference.weight_u * 3.0)
    ours.weight_v.set_value(reference.weight_v * 0.5)
    reference.weight_u.set_value(ours.weight_u)
    reference.weight_v.set_value(ours.weight_v)
    weight = paddle.randn([6, 4, 3, 3])
    ours.train() if power_iters else ours.eval()
    np.testing.assert_allclose(ours(weight).numpy(), reference(weight).numpy(), rtol=1e-5, atol=1e-6)
    # The op never writes its vectors back.
    np.testing.assert_array_equal(ours.weight_u.numpy(), reference.weight_u.numpy())


def test_weight_norm_conv_matches_paddle_weight_norm():
    paddle.seed(4)
    conv = paddle.nn.utils.weight_norm(paddle.nn.Conv2D(5, 8, 1))
    ours = WeightNormConv2D(5, 8)
    ours.set_state_dict(conv.state_dict())
    x = paddle.randn([2, 5, 6, 7])
    np.testing.assert_allclose(ours(x).numpy(), conv(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["deoldify_stable", "deoldify_artistic"])
def test_tiny_variant_keeps_size_and_range(name):
    net = nets.build(name, **TINY)
    with paddle.no_grad():
        # 34x50 halves to odd sizes inside the encoder: decoder maps are resized to each skip.
        for height, width in ((32, 48), (34, 50)):
            out = net(paddle.rand([2, 3, height, width]) * 2 - 1)
            assert out.shape == [2, 3, height, width]
            assert float(out.abs().max()) <= 3.0


def test_tiny_variant_trains_with_power_iteration():
    net = nets.build("deoldify_stable", **TINY)
    net.train()
    image = paddle.rand([2, 3, 32, 32])
    loss = F.mse_loss(net(image), paddle.zeros_like(image))
    loss.backward()
    grad = net.layers[11][0].weight_orig.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    # Power iteration reads the stored vectors and leaves them alone; they get no gradient.
    assert net.layers[11][0].spectral_norm.weight_u.grad is None


def test_self_attention_sits_in_the_second_decoder_block():
    names = set(nets.build("deoldify_artistic", **TINY).state_dict())
    assert "layers.5.conv2.3.gamma" in names
    assert not any(".gamma" in n for n in names if not n.startswith("layers.5."))


def test_weight_specs():
    stable, artistic = weights.spec("deoldify_stable"), weights.spec("deoldify_artistic")
    assert (stable.name, artistic.name) == ("deoldify.stable", "deoldify.artistic")
    assert (stable.architecture, stable.key) == ("deoldify_stable", None)
    assert (artistic.architecture, artistic.key) == ("deoldify_artistic", None)
    assert stable.url == "https://paddlegan.bj.bcebos.com/applications/DeOldify_stable.pdparams"
    assert artistic.url == "https://paddlegan.bj.bcebos.com/applications/DeOldify_art.pdparams"


@pytest.mark.parametrize("name", ["deoldify_stable", "deoldify_artistic"])
def test_published_layout_loads_strictly(name, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(name, None, TINY, tmp_path, monkeypatch, registered)
