import numpy as np
import paddle
import pytest

from core import nets
from core.nets.stylegan2 import upfirdn2d
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

# A 32x32 generator with 8 channels per level and 16-d latents: milliseconds per call.
TINY = dict(size=32, style_dim=16, n_mlp=2, narrow=1 / 64)


def tiny_generator(noise_strength=0.0):
    paddle.seed(3)
    net = nets.build("stylegan2_256", **TINY)
    if noise_strength:
        for name, param in net.named_parameters():
            if name.endswith("noise.weight"):
                param.set_value(paddle.full([1], noise_strength))
    return net


def latents(count, seed, dim=TINY["style_dim"]):
    return paddle.to_tensor(np.random.default_rng(seed).standard_normal((count, dim)).astype("float32"))


def images_equal(a, b):
    return np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", ["stylegan2_ffhq_config_f_1024", "stylegan2_animeface_512", "stylegan2_256"])
def test_layout_matches_manifest(name):
    manifest = load_manifest(name)
    assert_same_layout(nets.build(name), manifest)


@pytest.mark.parametrize("name", ["stylegan2_ffhq_config_f_1024", "stylegan2_256"])
def test_fingerprint_matches_reference(name):
    manifest = load_manifest(name)
    net = nets.build(name)
    apply_recipe(net, manifest)
    (z,) = recipe_inputs(manifest)
    with paddle.no_grad():
        image, latent = net([paddle.to_tensor(z)], truncation=1.0, randomize_noise=False, input_is_latent=False)
    assert latent is None
    assert_fingerprint({"output": image}, manifest)


def test_fixed_noise_is_deterministic_and_random_noise_is_not():
    net = tiny_generator(noise_strength=0.5)
    z = latents(2, seed=0)
    with paddle.no_grad():
        first, _ = net([z], randomize_noise=False)
        second, _ = net([z], randomize_noise=False)
        noisy, _ = net([z], randomize_noise=True)
    assert first.shape == [2, 3, 32, 32]
    assert images_equal(first, second)
    assert not images_equal(first, noisy)


def test_zero_truncation_collapses_to_the_mean_latent():
    net = tiny_generator()
    mean = net.mean_latent(256)
    assert mean.shape == [1, TINY["style_dim"]]
    assert np.array_equal(mean.numpy(), net.mean_latent(256).numpy()), "mean_latent must not depend on the global RNG"
    with paddle.no_grad():
        a, _ = net([latents(1, seed=1)], truncation=0.0, truncation_latent=mean, randomize_noise=False)
        b, _ = net([latents(1, seed=2)], truncation=0.0, truncation_latent=mean, randomize_noise=False)
        half, _ = net([latents(1, seed=1)], truncation=0.5, truncation_latent=mean, randomize_noise=False)
        from_mean, _ = net([mean], input_is_latent=True, randomize_noise=False)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    np.testing.assert_allclose(a.numpy(), from_mean.numpy(), atol=1e-6)
    assert not np.allclose(a.numpy(), half.numpy(), atol=1e-4)


def test_style_mixing_switches_styles_at_the_inject_index():
    net = tiny_generator()
    z_a, z_b = latents(1, seed=4), latents(1, seed=5)
    inject = 3
    with paddle.no_grad():
        only_a, _ = net([z_a], randomize_noise=False)
        only_b, _ = net([z_b], randomize_noise=False)
        mixed, latent = net([z_a, z_b], inject_index=inject, return_latents=True, randomize_noise=False)
        w_a, w_b = net.get_latent(z_a), net.get_latent(z_b)
        by_layers, _ = net([net.mix_latents(w_a, w_b, range(inject, net.n_latent))], input_is_latent=True, randomize_noise=False)
    assert latent.shape == [1, net.n_latent, TINY["style_dim"]]
    np.testing.assert_allclose(latent[:, :inject].numpy(), w_a.unsqueeze(1).tile([1, inject, 1]).numpy(), atol=1e-6)
    np.testing.assert_allclose(latent[:, inject:].numpy(), w_b.unsqueeze(1).tile([1, net.n_latent - inject, 1]).numpy(), atol=1e-6)
    assert not np.allclose(mixed.numpy(), only_a.numpy(), atol=1e-4)
    assert not np.allclose(mixed.numpy(), only_b.numpy(), atol=1e-4)
    np.testing.assert_allclose(by_layers.numpy(), mixed.numpy(), atol=1e-6)


def test_tiny_variant_takes_a_batch_and_explicit_noise():
    net = tiny_generator(noise_strength=0.5)
    z = latents(3, seed=6)
    noise = net.make_noise()
    assert [list(n.shape) for n in noise] == [list(getattr(net.noises, f"noise_{i}").shape) for i in range(net.num_layers)]
    with paddle.no_grad():
        image, latent = net([z], noise=noise, return_latents=True)
        again, _ = net([z], noise=noise)
    assert image.shape == [3, 3, 32, 32]
    assert latent.shape == [3, net.n_latent, TINY["style_dim"]]
    assert images_equal(image, again)


def _naive_upfirdn(x, kernel, up, down, pad):
    """Per-definition upfirdn2d on a 2-D array: zero insertion, pad/crop, true convolution, decimation."""
    h, w = x.shape
    up_x = np.zeros((h * up, w * up))
    up_x[::up, ::up] = x
    before, after = pad
    padded = np.pad(up_x, ((max(before, 0), max(after, 0)),) * 2)
    padded = padded[max(-before, 0) : padded.shape[0] - max(-after, 0), max(-before, 0) : padded.shape[1] - max(-after, 0)]
    kh, kw = kernel.shape
    flipped = kernel[::-1, ::-1]
    out = np.array(
        [[np.sum(padded[i : i + kh, j : j + kw] * flipped) for j in range(padded.shape[1] - kw + 1)] for i in range(padded.shape[0] - kh + 1)]
    )
    return out[::down, ::down]


@pytest.mark.parametrize("up, down, pad", [(2, 1, (2, 1)), (1, 2, (1, 1)), (2, 2, (-1, 2))])
def test_upfirdn2d_follows_its_definition(up, down, pad):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 5)).astype("float32")
    kernel = rng.standard_normal((3, 4)).astype("float32")  # asymmetric: the flip matters
    ours = upfirdn2d(paddle.to_tensor(x), paddle.to_tensor(kernel), up=up, down=down, pad=pad).numpy()
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(ours[n, c], _naive_upfirdn(x[n, c], kernel, up, down, pad), atol=1e-5)


def test_published_layout_checkpoint_loads(tmp_path, monkeypatch, registered):
    # PaddleGAN publishes StyleGAN2 generators as flat state dicts (noise buffers included).
    assert_checkpoint_roundtrip("stylegan2_256", None, TINY, tmp_path, monkeypatch, registered)


def test_batch_entries_are_generated_independently():
    net = tiny_generator(noise_strength=0.5)
    z = latents(3, seed=8)
    with paddle.no_grad():
        batch, _ = net([z], randomize_noise=False)
        single, _ = net([z[1:2]], randomize_noise=False)
    np.testing.assert_allclose(batch[1:2].numpy(), single.numpy(), atol=1e-5)


def test_concat_variant_fits_gpen_and_takes_feature_noise():
    # GPEN-512 wraps this generator (is_concat=True) under the prefix "generator.".
    manifest = load_manifest("gpen512_face_enhance")
    prefix = "generator."
    entries = [[name[len(prefix) :], shape, kind] for name, shape, kind in manifest["state_dict"] if name.startswith(prefix)]
    generator_part = dict(manifest, state_dict=entries)
    assert_same_layout(nets.build("stylegan2_animeface_512", is_concat=True), generator_part)

    paddle.seed(3)
    net = nets.build("stylegan2_256", is_concat=True, **TINY)
    # One feature map per resolution (4, 8, 16, 32), as wide as that level.
    features = [paddle.randn([2, net.channels[2**level], 2**level, 2**level]) for level in range(2, net.log_size + 1)]
    with paddle.no_grad():
        image, _ = net([latents(2, seed=9)], noise=features)
    assert image.shape == [2, 3, 32, 32]


class _TruncatedSampler(paddle.nn.Layer):
    """z -> image with fixed noise, the form an application exports."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, z, mean_w):
        return self.generator([z], truncation=0.7, truncation_latent=mean_w, randomize_noise=False)[0]


def test_static_graph_with_any_batch_size_matches_dygraph():
    sampler = _TruncatedSampler(tiny_generator(noise_strength=0.5))
    sampler.eval()
    mean_w = sampler.generator.mean_latent(64)
    static = paddle.jit.to_static(
        _TruncatedSampler(tiny_generator(noise_strength=0.5)),
        input_spec=[
            paddle.static.InputSpec([None, TINY["style_dim"]], "float32"),  # any batch size
            paddle.static.InputSpec([1, TINY["style_dim"]], "float32"),
        ],
        full_graph=True,
    )
    static.eval()
    for batch in (1, 3):
        z = latents(batch, seed=10 + batch)
        with paddle.no_grad():
            np.testing.assert_allclose(static(z, mean_w).numpy(), sampler(z, mean_w).numpy(), atol=1e-5)
