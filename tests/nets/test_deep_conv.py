import numpy as np
import paddle
import pytest

from core import nets
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs


def test_unconditional_generator_matches_reference():
    manifest = load_manifest("wgan_mnist")
    net = nets.build("wgan_mnist")
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (z,) = recipe_inputs(manifest)
    assert_fingerprint({"output": net(paddle.to_tensor(z))}, manifest)


def test_conditional_generator_matches_reference():
    manifest = load_manifest("cond_dcgan_mnist")
    net = nets.build("cond_dcgan_mnist")
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (z,) = recipe_inputs(manifest)
    # The manifest's second input: class_id = [3].
    out = net(paddle.to_tensor(z), paddle.to_tensor([3], dtype="int64"))
    assert_fingerprint({"output": out}, manifest)


def test_critic_scores_each_image():
    critic = nets.build("digits_critic", n_class=10, norm=False)
    scores = critic(paddle.zeros([5, 1, 28, 28]), paddle.arange(5))
    assert scores.shape == [5, 1]


def test_minibatch_std_feature_tells_a_collapsed_batch_from_a_varied_one():
    paddle.seed(0)
    critic = nets.build("digits_critic", ndf=8, minibatch_std=4)
    critic.eval()
    assert critic.head.weight.shape == [(16 + 1) * 7 * 7, 1]  # one extra feature plane
    varied = paddle.rand([8, 1, 28, 28]) * 2 - 1
    collapsed = paddle.concat([varied[:1]] * 8)
    features = critic.features(varied)
    std = critic._group_std(features)[:, 0]
    # Sample i sits in group member i % 2 of [4 groups, 2 members]; each member's plane is
    # the mean over features of the standard deviation across the 4 groups.
    want = np.sqrt(features.numpy().reshape(4, 2, -1).var(axis=0) + 1e-8).mean(axis=1)
    np.testing.assert_allclose(std.numpy()[:, 0, 0], np.tile(want, 4), rtol=1e-5)
    assert float(std.min()) > 0.01 and float(std.max()) == float(std.min(axis=[1, 2]).max())  # constant planes
    assert float(critic._group_std(critic.features(collapsed)).max()) < 1e-3
    assert critic(paddle.rand([6, 1, 28, 28])).shape == [6, 1]  # 6 % 4 != 0: one group of the whole batch


def test_a_layer_norm_critic_scores_each_sample_apart_from_its_batch():
    """In training, batch norm makes a sample's score depend on the rest of its batch; layer norm does not."""
    paddle.seed(0)
    batch = paddle.rand([8, 1, 28, 28]) * 2 - 1
    for norm, alone in (("layer", True), ("batch", False)):
        critic = nets.build("digits_critic", ndf=8, norm=norm)
        critic.train()
        gap = float((critic(batch)[:3] - critic(batch[:3])).abs().max())
        assert (gap < 1e-5) if alone else (gap > 1e-3), (norm, gap)
    with pytest.raises(ValueError, match="'batch', 'layer' or 'none'"):
        nets.build("digits_critic", norm="instance")


def test_a_three_convolution_critic_gives_each_head_feature_most_of_the_digit():
    paddle.seed(2)
    shallow, deep = (nets.build("digits_critic", ndf=8, norm="none", depth=depth) for depth in (2, 3))
    # Depth 2 keeps the parameter names and shapes that checkpoints before the option hold.
    assert {n: p.shape for n, p in shallow.named_parameters()} == {
        "features.0.weight": [8, 1, 4, 4], "features.0.bias": [8], "features.2.weight": [16, 8, 4, 4],
        "features.2.bias": [16], "head.weight": [16 * 7 * 7, 1], "head.bias": [1]}
    assert deep.features(paddle.zeros([2, 1, 28, 28])).shape == [2, 32, 4, 4]
    assert deep(paddle.zeros([3, 1, 28, 28])).shape == [3, 1]

    def window(critic, position):
        """Height and width of the pixels that move one head feature (channel 0 at ``position``)."""
        image = paddle.rand([1, 1, 28, 28])
        image.stop_gradient = False
        (grad,) = paddle.grad(critic.features(image)[0, 0, position, position], image)
        rows, cols = np.nonzero(np.abs(grad.numpy()[0, 0]) > 0)
        return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1

    assert window(shallow, 3) == (10, 10)  # a stroke's worth: the head must combine 49 of them
    assert window(deep, 1) == (18, 18)  # most of a digit (MNIST's fill the central 20x20)
    with pytest.raises(ValueError, match="depth must be 2 or 3"):
        nets.build("digits_critic", depth=4)


def test_sample_norm_is_a_one_group_group_norm_with_a_double_backward():
    from core.nets.deep_conv import SampleNorm

    paddle.seed(1)
    x = paddle.randn([4, 6, 5, 5]) * 3 + 1
    norm = SampleNorm(6)
    norm.weight.set_value(paddle.rand([6]))
    norm.bias.set_value(paddle.rand([6]))
    group_norm = paddle.nn.GroupNorm(1, 6)
    group_norm.weight.set_value(norm.weight)
    group_norm.bias.set_value(norm.bias)
    np.testing.assert_allclose(norm(x).numpy(), group_norm(x).numpy(), atol=1e-5)
    # A gradient penalty differentiates the input gradient again (Paddle's group_norm cannot).
    x.stop_gradient = False
    (grad,) = paddle.grad((norm(x) ** 3).sum(), x, create_graph=True)
    (grad ** 2).sum().backward()
    assert norm.weight.grad is not None and float(norm.weight.grad.abs().sum()) > 0
