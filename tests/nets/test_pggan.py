"""PGGAN's networks: shapes at every stage, the fades' two ends, equalized learning rate, pixel norm and the
minibatch standard deviation."""
import math

import numpy as np
import paddle
import pytest

from core import nets
from core.nets.pggan import EqualizedConv2D, EqualizedLinear, downsample, minibatch_std, pixel_norm, resolution, upsample
from core.train.sampling import draw

TINY = dict(channels=(8, 8, 4, 4))


def tiny_pair(seed=0):
    paddle.seed(seed)
    return nets.build("pggan", latent_dim=16, **TINY), nets.build("pggan_critic", **TINY)


def latent(n=6, dim=16, seed=0):
    return paddle.to_tensor(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def perturbed(layer):
    """A context in which every parameter of ``layer`` is replaced by other values."""

    class Swap:
        def __enter__(self):
            self.saved = [p.numpy().copy() for p in layer.parameters()]
            for p in layer.parameters():
                p.set_value(paddle.full_like(p, 0.37))

        def __exit__(self, *exc):
            for p, value in zip(layer.parameters(), self.saved):
                p.set_value(paddle.to_tensor(value))

    return Swap()


def test_shapes_at_every_stage_and_fade():
    g, d = tiny_pair()
    z = latent()
    for stage in range(4):
        side = resolution(stage)
        for alpha in (0.0, 0.5, 1.0):
            images = g.generate(z, stage, alpha)
            assert images.shape == [6, 1, side, side]
            assert d.score(images, stage, alpha).shape == [6, 1]
    assert g(z).shape == [6, 1, 32, 32] and g.size == 32  # built fully grown
    assert d(paddle.zeros([4, 1, 32, 32])).shape == [4, 1]
    at_8 = nets.build("pggan", latent_dim=16, stage=1, alpha=0.5, **TINY)
    assert at_8(z).shape == [6, 1, 8, 8] and at_8.size == 8
    with pytest.raises(ValueError, match="reads 8x8"):
        d.score(paddle.zeros([4, 1, 16, 16]), 1, 1.0)
    for stage, alpha in ((4, 1.0), (-1, 1.0), (2, 1.5)):
        with pytest.raises(ValueError, match="stage|alpha"):
            g.generate(z, stage, alpha)


def test_the_sampling_side_draws_it_like_any_digit_generator():
    g, _ = tiny_pair()
    images, labels = draw(g, seed=3, count=5)
    assert images.shape == (5, 1, 32, 32) and len(labels) == 5
    assert nets.network("pggan").architecture == "pggan" and not nets.build("pggan", **TINY).training


def test_generator_fade_runs_from_the_upsampled_previous_stage_to_the_new_block():
    g, _ = tiny_pair(1)
    z = latent(seed=1)
    with paddle.no_grad():
        for stage in (1, 2, 3):
            previous = g.generate(z, stage - 1, 1.0)
            start, end, middle = (g.generate(z, stage, a) for a in (0.0, 1.0, 0.25))
            # alpha 0: the previous stage's image, each pixel repeated 2x2.
            np.testing.assert_array_equal(start.numpy(), previous.numpy().repeat(2, axis=2).repeat(2, axis=3))
            np.testing.assert_allclose(middle.numpy(), 0.25 * end.numpy() + 0.75 * start.numpy(), rtol=1e-5, atol=1e-6)
            # alpha 1: the new block alone (the previous to_rgb takes no part); alpha 0: the new block takes none.
            with perturbed(g.to_rgb[stage - 1]):
                np.testing.assert_array_equal(g.generate(z, stage, 1.0).numpy(), end.numpy())
                assert not np.allclose(g.generate(z, stage, 0.0).numpy(), start.numpy())
            with perturbed(g.blocks[stage]), perturbed(g.to_rgb[stage]):
                np.testing.assert_array_equal(g.generate(z, stage, 0.0).numpy(), start.numpy())
                assert not np.allclose(g.generate(z, stage, 1.0).numpy(), end.numpy())


def test_critic_fade_reads_the_downsampled_image_at_alpha_0_and_the_new_block_at_alpha_1():
    _, d = tiny_pair(2)
    x = paddle.to_tensor(np.random.default_rng(2).uniform(-1, 1, (8, 1, 32, 32)).astype(np.float32))
    with paddle.no_grad():
        for stage in (1, 2, 3):
            images = x if stage == 3 else paddle.to_tensor(x.numpy().reshape(8, 1, resolution(stage), 32 // resolution(stage),
                                                                              resolution(stage), -1).mean(axis=(3, 5)))
            start, end = d.score(images, stage, 0.0), d.score(images, stage, 1.0)
            np.testing.assert_allclose(start.numpy(), d.score(downsample(images), stage - 1, 1.0).numpy(), rtol=1e-5, atol=1e-6)
            with perturbed(d.from_rgb[stage - 1]):
                np.testing.assert_array_equal(d.score(images, stage, 1.0).numpy(), end.numpy())
            with perturbed(d.blocks[stage]), perturbed(d.from_rgb[stage]):
                np.testing.assert_array_equal(d.score(images, stage, 0.0).numpy(), start.numpy())
                assert not np.allclose(d.score(images, stage, 1.0).numpy(), end.numpy())


def test_equalized_learning_rate_stores_unit_weights_and_scales_them_by_hes_constant_at_run_time():
    paddle.seed(0)
    narrow, wide = EqualizedConv2D(4, 64, 3, padding=1), EqualizedConv2D(256, 64, 3, padding=1)
    for layer, fan_in in ((narrow, 36), (wide, 2304)):
        assert layer.scale == pytest.approx(math.sqrt(2) / math.sqrt(fan_in))
        assert float(layer.weight.std()) == pytest.approx(1.0, abs=0.1)  # the same N(0, 1) whatever the fan-in
        assert float(layer.bias.abs().max()) == 0.0
    x = paddle.randn([2, 4, 8, 8])
    manual = paddle.nn.functional.conv2d(x, narrow.weight * narrow.scale, narrow.bias, padding=1)
    np.testing.assert_allclose(narrow(x).numpy(), manual.numpy(), rtol=1e-6)
    # He's constant keeps the output's variance at gain^2 times the input's, for any fan-in.
    dense = EqualizedLinear(512, 512)
    inputs = paddle.randn([256, 512])
    out = dense(inputs)
    assert float(out.var()) == pytest.approx(2.0, rel=0.1)
    # The stored weight's gradient carries the scale too, so Adam's step (about lr on every stored weight) moves
    # each layer's effective weights by lr * scale: the same relative change for a narrow and a wide layer.
    out.sum().backward()
    want = dense.scale * inputs.numpy().sum(axis=0)[:, None].repeat(512, axis=1)
    np.testing.assert_allclose(dense.weight.grad.numpy(), want, rtol=1e-4, atol=1e-4)
    g, d = tiny_pair()
    assert g.to_rgb[0].scale == pytest.approx(1 / math.sqrt(8))  # linear outputs: gain 1
    assert d.blocks[0][2].scale == pytest.approx(1 / math.sqrt(8))


def test_pixel_norm_gives_each_pixel_a_unit_feature_vector():
    x = paddle.randn([3, 16, 5, 5]) * 7 + 2
    normed = pixel_norm(x)
    np.testing.assert_allclose((normed**2).mean(axis=1).numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(pixel_norm(3 * x).numpy(), normed.numpy(), rtol=1e-5, atol=1e-6)  # scale-free
    # The generator's features are normalised after every convolution: its 4x4 features have unit RMS per pixel.
    g, _ = tiny_pair()
    h = g._block(0, pixel_norm(latent()))
    np.testing.assert_allclose((h**2).mean(axis=1).numpy(), 1.0, rtol=1e-4)


def test_minibatch_std_appends_the_group_spread_and_tells_a_collapsed_batch_from_a_varied_one():
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32))
    out = minibatch_std(x, 4)
    assert out.shape == [8, 4, 4, 4]
    np.testing.assert_array_equal(out[:, :3].numpy(), x.numpy())
    # Sample i belongs to column i % 2 of [4 groups, 2 columns].
    want = np.sqrt(x.numpy().reshape(4, 2, -1).var(axis=0) + 1e-8).mean(axis=1)
    np.testing.assert_allclose(out[:, 3].numpy().reshape(8, -1), np.tile(want, 4)[:, None].repeat(16, axis=1), rtol=1e-5)
    collapsed = paddle.concat([x[:1]] * 8)
    assert float(minibatch_std(collapsed, 4)[:, 3].max()) < 1e-3
    assert minibatch_std(x[:6], 4).shape == [6, 4, 4, 4]  # 6 % 4 != 0: the whole batch is one group
    # The critic appends it in its last (4x4) block only.
    _, d = tiny_pair()
    assert d.blocks[0][0].weight.shape[1] == 8 + 1
    assert nets.build("pggan_critic", minibatch_std=0, **TINY).blocks[0][0].weight.shape[1] == 8


def test_the_critic_takes_a_gradient_penalty_mid_fade():
    g, d = tiny_pair()
    with paddle.no_grad():
        fake = g.generate(latent(8), 2, 0.4)
    real = paddle.rand([8, 1, 16, 16]) * 2 - 1
    mixed = 0.3 * real + 0.7 * fake
    mixed.stop_gradient = False
    grad = paddle.grad(d.score(mixed, 2, 0.4).sum(), mixed, create_graph=True)[0]
    penalty = ((grad.reshape([8, -1]).norm(p=2, axis=1) - 1) ** 2).mean()
    penalty.backward()
    used = [d.from_rgb[2], d.from_rgb[1], d.blocks[2], d.blocks[1], d.blocks[0]]
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for layer in used for p in layer.parameters()
               if len(p.shape) > 1)
    assert all(p.grad is None for p in d.from_rgb[3].parameters())  # not grown yet: no gradient at all


def test_upsample_and_downsample_are_nearest_and_box():
    x = paddle.arange(16, dtype="float32").reshape([1, 1, 4, 4])
    np.testing.assert_array_equal(upsample(x).numpy()[0, 0], x.numpy()[0, 0].repeat(2, 0).repeat(2, 1))
    np.testing.assert_allclose(downsample(x).numpy()[0, 0], [[2.5, 4.5], [10.5, 12.5]])
