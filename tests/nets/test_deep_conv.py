import paddle

from core import nets
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs


def test_unconditional_generator_matches_reference():
    manifest = load_manifest("wgan_mnist")
    net = nets.create("wgan_mnist")
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (z,) = recipe_inputs(manifest)
    assert_fingerprint({"output": net(paddle.to_tensor(z))}, manifest)


def test_conditional_generator_matches_reference():
    manifest = load_manifest("cond_dcgan_mnist")
    net = nets.create("cond_dcgan_mnist")
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (z,) = recipe_inputs(manifest)
    # The manifest's second input: class_id = [3].
    out = net(paddle.to_tensor(z), paddle.to_tensor([3], dtype="int64"))
    assert_fingerprint({"output": out}, manifest)


def test_critic_scores_each_image():
    critic = nets.create("digits_critic", n_class=10, norm=False)
    scores = critic(paddle.zeros([5, 1, 28, 28]), paddle.arange(5))
    assert scores.shape == [5, 1]
