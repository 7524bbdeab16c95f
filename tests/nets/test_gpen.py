import numpy as np
import paddle
import pytest

from core import nets, weights
from core.nets import gpen as gpen_module
from core.nets.gpen import EqualLinearOutIn
from core.nets.stylegan2 import EqualLinear
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import (apply_recipe, assert_fingerprint, assert_matches, assert_same_layout, load_manifest, recipe_input,
                             recipe_inputs, recipe_weights)

CONFIGS = ["gpen512_face_enhance", "gpen_ffhq256"]
# Narrow 512x512 and 256x256 variants with 16-d latents: a fraction of a second per call.
TINY = {
    "gpen512_face_enhance": dict(narrow=1 / 32, style_dim=16, n_mlp=2),
    "gpen_ffhq256": dict(narrow=1 / 16, style_dim=16, n_mlp=2),
}

# References from PaddleGAN's own classes (ppgan/models/generators/gpen.py:GPEN and generator_gpen.py:
# GPENGenerator at commit 094a2eb, with the StyleGANv2Generator, ConvLayer and EqualLinear(_gpen) they import),
# run at sizes a test can afford: filled by ``apply_unit_recipe`` (positions in their state_dict order, which
# is ours) and run on recipe input 0. The manifests' 0.02 amplitude shrinks the signal some 50x per
# equalized layer, so their output is mostly the last biases; at unit amplitude, the scale equalized
# layers are made for, every path shows (a swapped SFT half or a dropped learning-rate multiplier fails).
# GPEN(size=16, style_dim=16, n_mlp=2): the 512 configuration's class (Paddle-layout linears, full width).
PADDLEGAN_GPEN_16 = {
    "shape": [1, 3, 16, 16], "mean": 27.052468768631417, "std": 147.07342067164393, "l2": 4144.194015646919,
    "first8": [-17.321828842163086, -30.138690948486328, -40.49321746826172, -49.325218200683594, -56.43564987182617,
               -61.680198669433594, -65.02040100097656, -66.55204010009766],
    "at_16_evenly_spaced_indices": {
        "indices": [0, 51, 102, 153, 204, 255, 306, 357, 409, 460, 511, 562, 613, 664, 715, 767],
        "values": [-17.321828842163086, -98.73341369628906, -155.82749938964844, -147.13223266601562, -80.1484603881836,
                   -8.436315536499023, 204.89244079589844, 367.37945556640625, 362.54339599609375, 201.3963623046875,
                   26.662010192871094, -45.68032455444336, -80.13715362548828, -80.32067108154297, -51.366661071777344,
                   -6.140554904937744]},
}
# GPENGenerator(32, 16, 2, channel_multiplier=1, narrow=0.0625): the 256 configuration's class ([out, in] linears).
PADDLEGAN_GPEN_GENERATOR_32 = {
    "shape": [1, 3, 32, 32], "mean": -3.97609656661128, "std": 2.995205866214229, "l2": 275.9094228445343,
    "first8": [-2.3401613235473633, -2.8455963134765625, -3.0003178119659424, -3.097827196121216, -3.13802170753479,
               -3.1686933040618896, -3.1898534297943115, -3.201420307159424],
    "at_16_evenly_spaced_indices": {
        "indices": [0, 204, 409, 614, 818, 1023, 1228, 1433, 1637, 1842, 2047, 2252, 2456, 2661, 2866, 3071],
        "values": [-2.3401613235473633, -5.236419677734375, -5.0336480140686035, -4.999445915222168, -5.117412090301514,
                   -2.3776373863220215, -7.88818359375, -7.663147926330566, -7.525077819824219, -7.930850505828857,
                   -3.6206932067871094, 0.08541858196258545, -0.06816726922988892, -0.07274162769317627,
                   -0.04363933205604553, -0.5679208636283875]},
}


def apply_unit_recipe(net):
    """The manifests' recipe at amplitude 1: entry k of state_dict() (every parameter, and every buffer
    named ``noise``) of n elements gets sin(0.37 i + k), i = 0..n-1; then eval mode."""
    params = {name for name, _ in net.named_parameters()}
    for k, (name, tensor) in enumerate(net.state_dict().items()):
        if name in params or "noise" in name:
            n = int(np.prod(tensor.shape))
            tensor.set_value(np.sin(0.37 * np.arange(n, dtype=np.float64) + k).astype("float32").reshape(tensor.shape))
    net.eval()


def tiny(name, seed=3, noise_weight=0.0):
    paddle.seed(seed)
    net = nets.build(name, **TINY[name])
    if noise_weight:
        for param_name, param in net.named_parameters():
            if param_name.endswith("noise.weight"):
                param.set_value(paddle.full([1], noise_weight))
    return net


def face(size, seed):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.uniform(-1, 1, (1, 3, size, size)).astype("float32"))


@pytest.mark.parametrize("name", CONFIGS)
def test_layout_and_order_match_manifest(name):
    manifest = load_manifest(name)
    with paddle.LazyGuard():  # no initialisation: the 71 M-parameter layout in a fraction of a second
        net = nets.build(name)
    assert_same_layout(net, manifest)
    # Same order too: the recipe fills entries by position, and the tiny reference below relies on it.
    assert list(net.state_dict()) == [entry[0] for entry in manifest["state_dict"]]


def test_gpen_ffhq256_matches_reference():
    manifest = load_manifest("gpen_ffhq256")
    net = nets.build("gpen_ffhq256")
    # The recipe also overwrites the generator's fixed noise buffers; GPEN never reads them
    # (the encoder's features take their place), so they are filled as PaddleGAN's file was and left unused.
    assert any(name.startswith("generator.noises.") for name in recipe_weights(manifest))
    apply_recipe(net, manifest)
    (x,) = recipe_inputs(manifest)
    with paddle.no_grad():
        image, latent = net(paddle.to_tensor(x))
    assert latent is None
    assert_fingerprint({"output": image}, manifest)


@pytest.mark.parametrize("name, overrides, reference", [
    ("gpen512_face_enhance", dict(size=16, style_dim=16, n_mlp=2), PADDLEGAN_GPEN_16),
    ("gpen_ffhq256", dict(size=32, style_dim=16, n_mlp=2, narrow=0.0625), PADDLEGAN_GPEN_GENERATOR_32),
])
def test_small_variants_match_paddlegan_at_unit_scale(name, overrides, reference):
    net = nets.build(name, **overrides)
    apply_unit_recipe(net)
    size = overrides["size"]
    with paddle.no_grad():
        image, _ = net(paddle.to_tensor(recipe_input([1, 3, size, size], 0)))
    assert_matches("output", image.numpy(), reference)


@pytest.mark.parametrize("name", CONFIGS)
def test_restores_a_face_at_full_size_and_the_face_matters(name):
    size = gpen_module.INPUT_SIZE[name]
    net = tiny(name, noise_weight=0.5)
    a, b = face(size, 0), face(size, 1)
    with paddle.no_grad():
        out_a, latent = net(a)
        again, _ = net(a)
        out_b, _ = net(b)
    assert latent is None
    assert out_a.shape == [1, 3, size, size]
    assert np.isfinite(out_a.numpy()).all()
    np.testing.assert_array_equal(out_a.numpy(), again.numpy())  # no random noise: the encoder gives it
    assert np.abs(out_a.numpy() - out_b.numpy()).mean() > 1e-3


def test_encoder_features_and_latent_both_reach_the_decoder():
    net = tiny("gpen_ffhq256", noise_weight=0.5)
    x = face(256, 2)
    with paddle.no_grad():
        z, features = net.encode(x)
        full, _ = net(x)
        without_features, _ = net.generator([z], noise=[paddle.zeros_like(f) for f in features])
        other_z, _ = net.generator([paddle.zeros_like(z)], noise=features)
    # One map per resolution, 4x4 up to 256x256, as wide as the decoder level it joins.
    assert [f.shape[2] for f in features] == [4, 8, 16, 32, 64, 128, 256]
    assert [f.shape[1] for f in features] == [net.generator.channels[f.shape[2]] for f in features]
    assert not np.allclose(full.numpy(), without_features.numpy(), atol=1e-4)
    assert not np.allclose(full.numpy(), other_z.numpy(), atol=1e-4)


def test_output_is_not_squashed_apps_clip():
    # No tanh or clip at the end: the image is "about [-1, 1]" only when trained, and PaddleGAN's
    # face_enhance.py clips (out * 0.5 + 0.5) to [0, 1]. A large RGB bias goes straight through.
    assert gpen_module.INPUT_RANGE == gpen_module.OUTPUT_RANGE == (-1.0, 1.0)
    assert gpen_module.INPUT_CHANNEL_ORDER == "RGB" and gpen_module.IMAGE_OUTPUT == 0
    net = tiny("gpen_ffhq256")
    x = face(256, 3)
    with paddle.no_grad():
        before = net(x)[gpen_module.IMAGE_OUTPUT].numpy()
        net.generator.to_rgbs[-1].bias.set_value(net.generator.to_rgbs[-1].bias + 5.0)
        after = net(x)[gpen_module.IMAGE_OUTPUT].numpy()
    np.testing.assert_allclose(after - before, 5.0, atol=1e-4)
    assert after.max() > 1.0


def test_batch_entries_are_restored_independently():
    net = tiny("gpen_ffhq256", noise_weight=0.5)
    batch = paddle.concat([face(256, 4), face(256, 5)])
    with paddle.no_grad():
        both, _ = net(batch)
        second, _ = net(batch[1:])
    np.testing.assert_allclose(both[1:].numpy(), second.numpy(), atol=1e-5)


def test_out_in_linear_computes_the_same_as_paddle_layout():
    paddle.seed(0)
    for activate, lr_mul in [(False, 1.0), (True, 0.01)]:
        layer = EqualLinear(6, 4, bias_init=0.5, lr_mul=lr_mul, activate=activate)
        twin = EqualLinearOutIn(6, 4, lr_mul=lr_mul, activate=activate)
        assert twin.weight.shape == [4, 6]
        twin.weight.set_value(layer.weight.t())
        twin.bias.set_value(layer.bias)
        x = paddle.randn([3, 6])
        np.testing.assert_allclose(twin(x).numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)
    # Only the 256 configuration (PaddleGAN's GPENGenerator) stores its linears as [out, in]; they start
    # as the Paddle-layout ones do (style modulations with bias 1, the rest with bias 0).
    for name, expected in [("gpen_ffhq256", EqualLinearOutIn), ("gpen512_face_enhance", EqualLinear)]:
        net = tiny(name)
        assert {type(sub) for sub in net.sublayers() if isinstance(sub, EqualLinear)} == {expected}
        for param_name, param in net.named_parameters():
            if param_name.endswith(".bias") and (".style." in param_name or "modulation" in param_name):
                assert np.all(param.numpy() == (1.0 if "modulation" in param_name else 0.0)), (name, param_name)


def test_weight_specs():
    big = weights.spec("gpen512_face_enhance")
    assert big.name == "gpen.face_enhance_512" and big.architecture == "gpen512_face_enhance" and big.key is None
    assert big.url == "https://paddlegan.bj.bcebos.com/models/GPEN-512.pdparams"
    assert "non-commercial" in big.licence + big.source_note
    small = weights.spec("gpen_ffhq256")
    assert small.name == "gpen.ffhq_256" and small.architecture == "gpen_ffhq256" and small.key is None
    assert small.url == "https://paddlegan.bj.bcebos.com/models/gpen-ffhq-256-generator.pdparams"
    for name in CONFIGS:
        manifest = load_manifest(name)
        spec = weights.spec(name)
        assert spec.url == manifest["weight_url"] and spec.key == manifest["checkpoint_key"]
        assert nets.network(name).architecture == "gpen"


@pytest.mark.parametrize("name", CONFIGS)
def test_published_layout_loads_strictly(name, tmp_path, monkeypatch, registered):
    # Both files are flat state dicts (face_enhance.py and gpen_predictor.py load them as they are).
    assert_checkpoint_roundtrip(name, None, TINY[name], tmp_path, monkeypatch, registered)
