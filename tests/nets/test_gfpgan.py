import numpy as np
import paddle
import pytest

from core import nets, weights
from core.checkpoints.gfpgan import CHECKPOINT_KEY
from core.export import FirstOutput
from core.nets import gfpgan as gfpgan_module
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.nets.test_gpen import apply_unit_recipe
from tests.reference import assert_matches, assert_same_layout, load_manifest, recipe_input

NAME = "gfpgan_v1_512"
# 512x512 at 1/16 width (the U-Net half that) with 16-d styles: a fraction of a second per call.
TINY_512 = dict(narrow=1 / 16, num_style_feat=16, num_mlp=2)
# 32x32 at 1/8 width: the configuration of the PaddleGAN reference below.
TINY_32 = dict(out_size=32, num_style_feat=16, num_mlp=2, narrow=1 / 8)

# PaddleGAN's own GFPGANv1 (ppgan/models/generators/gfpganv1_arch.py at commit 094a2eb) built as
# GFPGANv1(out_size=32, num_style_feat=16, channel_multiplier=1, num_mlp=2, narrow=0.125, sft_half=True,
# different_w=True, input_is_latent=True), filled by ``apply_unit_recipe`` (the manifests' recipe at unit
# amplitude, see test_gpen; positions in its state_dict order, which is ours) and run on recipe input 0 of
# shape [1, 3, 32, 32] with its default randomize_noise=False. The manifest gfpgan_v1_512 records the layout
# only. (At full size, 512x512, under the manifests' own recipe, ours and PaddleGAN's agree to 9e-9 with an
# output std of 4.7e-3: too slow for a unit test.)
_SAMPLES = [0, 204, 409, 614, 818, 1023, 1228, 1433, 1637, 1842, 2047, 2252, 2456, 2661, 2866, 3071]
PADDLEGAN_32 = {
    "image": {
        "shape": [1, 3, 32, 32], "mean": -1.4228238471550867, "std": 2.518249326380537, "l2": 160.31336388516345,
        "first8": [-1.572295069694519, -1.8501336574554443, -1.9865182638168335, -2.011857271194458, -1.9218173027038574,
                   -1.7784608602523804, -1.5827184915542603, -1.3278532028198242],
        "at_16_evenly_spaced_indices": {"indices": _SAMPLES, "values": [
            -1.572295069694519, -1.3997334241867065, -1.056818962097168, -1.0944292545318604, -1.649935245513916,
            -1.933127999305725, -6.079030513763428, -4.851215362548828, -4.62250280380249, -6.635410308837891,
            -6.307778358459473, 1.012211561203003, 1.0138815641403198, 0.9060587286949158, 1.1313518285751343,
            0.9954853057861328]},
    },
    "rgb_32": {
        "shape": [1, 3, 32, 32], "mean": 1.5030441938433796, "std": 1.0461713007564672, "l2": 101.50029106726129,
        "first8": [2.7165167331695557, 2.715240478515625, 2.70706844329834, 2.7037692070007324, 2.7030978202819824,
                   2.702697277069092, 2.702214241027832, 2.7017762660980225],
        "at_16_evenly_spaced_indices": {"indices": _SAMPLES, "values": [
            2.7165167331695557, 2.715585470199585, 2.689814329147339, 2.7141382694244385, 2.695250988006592,
            2.660226821899414, 1.6705411672592163, 1.6486817598342896, 1.676476001739502, 1.6517155170440674,
            1.6591517925262451, 0.14979934692382812, 0.14237844944000244, 0.15992259979248047, 0.14198625087738037,
            0.18812859058380127]},
    },
}


def tiny_512(seed=3, noise_weight=0.0):
    paddle.seed(seed)
    net = nets.build(NAME, **TINY_512)
    if noise_weight:
        for conv in [net.stylegan_decoder.style_conv1, *net.stylegan_decoder.style_convs]:
            conv.weight.set_value(paddle.full([1], noise_weight))
    return net


def face(size, seed, batch=1):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.uniform(-1, 1, (batch, 3, size, size)).astype("float32"))


def test_layout_and_order_match_manifest():
    manifest = load_manifest(NAME)
    with paddle.LazyGuard():  # no initialisation: the 76 M-parameter layout in a fraction of a second
        net = nets.build(NAME)
    assert_same_layout(net, manifest)
    assert list(net.state_dict()) == [entry[0] for entry in manifest["state_dict"]]
    # The decoder is frozen while PaddleGAN trains GFPGAN (fix_decoder): every parameter loads all the same.
    assert manifest["trainable_params"] < manifest["total_params"]


def test_matches_paddlegan_at_32_pixels():
    net = nets.build(NAME, **TINY_32)
    apply_unit_recipe(net)  # the noise buffers are overwritten too
    with paddle.no_grad():
        image, rgbs = net(paddle.to_tensor(recipe_input([1, 3, 32, 32], 0)))
    assert_matches("image", image.numpy(), PADDLEGAN_32["image"])
    assert_matches("rgb_32", rgbs[-1].numpy(), PADDLEGAN_32["rgb_32"])


def test_returns_the_image_and_the_unet_rgb_pyramid():
    net = tiny_512()
    x = face(512, 0)
    with paddle.no_grad():
        image, rgbs = net(x)
        alone, none = net(x, return_rgb=False)
        first = FirstOutput(net)(x)
    assert image.shape == [1, 3, 512, 512]
    assert [r.shape for r in rgbs] == [[1, 3, s, s] for s in (8, 16, 32, 64, 128, 256, 512)]
    assert none == []
    assert gfpgan_module.IMAGE_OUTPUT == 0
    # The pyramid is a side output: the image does not depend on asking for it, and it is not the image.
    np.testing.assert_array_equal(alone.numpy(), image.numpy())
    np.testing.assert_array_equal(first.numpy(), image.numpy())
    assert not np.allclose(rgbs[-1].numpy(), image.numpy(), atol=1e-3)


def test_the_degraded_face_matters_and_restoring_is_deterministic():
    net = tiny_512(noise_weight=0.5)
    with paddle.no_grad():
        a, _ = net(face(512, 1))
        again, _ = net(face(512, 1))
        b, _ = net(face(512, 2))
        noisy, _ = net(face(512, 1), randomize_noise=True)
    assert np.isfinite(a.numpy()).all()
    np.testing.assert_array_equal(a.numpy(), again.numpy())  # fixed noise maps, as PaddleGAN's default
    assert np.abs(a.numpy() - b.numpy()).mean() > 1e-3
    assert not np.allclose(a.numpy(), noisy.numpy(), atol=1e-4)


def test_latent_and_sft_conditions_both_steer_the_decoder():
    net = tiny_512()
    decoder = net.stylegan_decoder
    with paddle.no_grad():
        latent, conditions, _ = net.encode(face(512, 3))
        image = decoder(latent, conditions)
        identity = [paddle.ones_like(c) if i % 2 == 0 else paddle.zeros_like(c) for i, c in enumerate(conditions)]
        without_sft = decoder(latent, identity)
        other_latent = decoder(paddle.zeros_like(latent), conditions)
    # different_w: one w per decoder layer; sft_half: conditions as wide as half of each decoder level.
    assert latent.shape == [1, decoder.num_latent, TINY_512["num_style_feat"]]
    assert len(conditions) == 2 * 7
    assert [c.shape[1] for c in conditions[::2]] == [decoder.channels[2**level] // 2 for level in range(3, 10)]
    assert not np.allclose(image.numpy(), without_sft.numpy(), atol=1e-4)
    assert not np.allclose(image.numpy(), other_latent.numpy(), atol=1e-4)


def test_output_is_not_squashed_apps_clip():
    # No tanh or clip at the end: "about [-1, 1]" only once trained; gfpgan_enhance.py clips
    # (out * 0.5 + 0.5) to [0, 1]. A large RGB bias goes straight through.
    assert gfpgan_module.INPUT_RANGE == gfpgan_module.OUTPUT_RANGE == (-1.0, 1.0)
    assert gfpgan_module.INPUT_CHANNEL_ORDER == "RGB" and gfpgan_module.INPUT_SIZE == 512
    net = tiny_512()
    x = face(512, 5)
    with paddle.no_grad():
        before = net(x)[gfpgan_module.IMAGE_OUTPUT].numpy()
        net.stylegan_decoder.to_rgbs[-1].bias.set_value(net.stylegan_decoder.to_rgbs[-1].bias + 5.0)
        after = net(x)[gfpgan_module.IMAGE_OUTPUT].numpy()
    np.testing.assert_allclose(after - before, 5.0, atol=1e-4)
    assert after.max() > 1.0


def test_batch_entries_are_restored_independently():
    paddle.seed(0)
    net = nets.build(NAME, **TINY_32)
    x = face(32, 6, batch=3)
    with paddle.no_grad():
        batch, _ = net(x)
        single, _ = net(x[1:2])
    np.testing.assert_allclose(batch[1:2].numpy(), single.numpy(), atol=1e-5)


def test_weight_spec():
    manifest = load_manifest(NAME)
    spec = weights.spec(NAME)
    assert spec.name == "gfpgan.v1_512" and spec.architecture == NAME
    assert spec.key == manifest["checkpoint_key"] == CHECKPOINT_KEY == "net_g_ema"
    assert spec.url == manifest["weight_url"] == "https://paddlegan.bj.bcebos.com/models/GFPGAN.pdparams"
    assert "Apache-2.0" in spec.licence and "non-commercial" in spec.licence
    assert nets.network(NAME).architecture == "gfpgan"
    # The registered configuration is PaddleGAN's inference one (gfpgan_enhance.py).
    config = dict(nets.network(NAME).config)
    expected = {key: value for key, value in manifest["config"].items() if key not in ("decoder_load_path", "fix_decoder")}
    assert {key: (list(v) if isinstance(v, tuple) else v) for key, v in config.items()} == expected


@pytest.mark.parametrize("key", ["net_g_ema", None])
def test_published_layout_loads_strictly(key, tmp_path, monkeypatch, registered):
    # GFPGAN.pdparams nests the network under net_g_ema (beside net_g); a flat file is accepted too.
    assert_checkpoint_roundtrip(NAME, key, TINY_32, tmp_path, monkeypatch, registered)
