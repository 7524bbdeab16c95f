import numpy as np
import paddle
import pytest

from core import nets
from core.nets.dcgan import OMNIART_EYE_COLOURS
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs


def _trainable(net) -> int:
    return sum(int(np.prod(p.shape)) for p in net.parameters() if not p.stop_gradient)


def test_generator_matches_paddlegan_dcgenerator_reference():
    manifest = load_manifest("dcgan_mnist")
    net = nets.build("dcgan_mnist")
    assert_same_layout(net, manifest)
    assert _trainable(net) == manifest["trainable_params"]
    apply_recipe(net, manifest)
    (z,) = recipe_inputs(manifest)  # [1, 100, 1, 1]
    assert_fingerprint({"output": net(paddle.to_tensor(z))}, manifest)


@pytest.mark.parametrize("name, size, parameters, first_slots", [
    ("dcgan_faces_64", 64, 3_576_704, ["model.0.weight", "model.1.weight", "model.1.bias", "model.1._mean", "model.1._variance", "model.3.weight"]),
    # The dropout keeps slot 3, as in omniart-eye-generator's torch network.
    ("cond_dcgan_eyes_128", 128, 12_917_632, ["model.0.weight", "model.1.weight", "model.1.bias", "model.1._mean", "model.1._variance", "model.4.weight"]),
])
def test_configurations_have_the_imported_layouts(name, size, parameters, first_slots):
    net = nets.build(name)
    net.eval()
    assert _trainable(net) == parameters
    assert list(net.state_dict())[:6] == first_slots
    n_class = net.n_class
    first = net.state_dict()["model.0.weight"]
    assert first.shape == [100 + n_class, 64 * size // 8, 4, 4]
    z = paddle.randn([2, 100])
    out = net(z, paddle.to_tensor([0, n_class - 1]) if n_class else None)
    assert out.shape == [2, 3, size, size] and float(out.abs().max()) <= 1


def test_latents_with_or_without_their_1x1_map_give_the_same_picture():
    paddle.seed(0)
    net = nets.build("dcgan", ngf=8, size=16)
    net.eval()
    z = paddle.randn([3, 100])
    np.testing.assert_array_equal(net(z).numpy(), net(z.reshape([3, 100, 1, 1])).numpy())


def test_the_conditional_generator_takes_a_class_or_class_weights():
    paddle.seed(0)
    net = nets.build("dcgan", ngf=8, size=16, n_class=8, dropout=0.2)
    net.eval()
    z = paddle.randn([2, 100])
    by_id = net(z, paddle.to_tensor([2, 5]))
    one_hot = paddle.nn.functional.one_hot(paddle.to_tensor([2, 5]), 8)
    np.testing.assert_array_equal(net(z, condition=one_hot).numpy(), by_id.numpy())  # dropout: identity in eval
    assert float((net(z, paddle.to_tensor([3, 5])) - by_id).abs().max()) > 0  # the class changes the picture
    halfway = net(z, condition=0.5 * one_hot + 0.5 * paddle.nn.functional.one_hot(paddle.to_tensor([3, 3]), 8))
    assert halfway.shape == [2, 3, 16, 16]
    with pytest.raises(ValueError, match="needs class_id"):
        net(z)
    with pytest.raises(ValueError, match=r"class_id must be in 0\.\.7"):
        net(z, paddle.to_tensor([0, 8]))
    with pytest.raises(ValueError, match="unconditional"):
        nets.build("dcgan", ngf=8, size=16)(z, paddle.to_tensor([0, 1]))


def test_sizes_must_be_powers_of_two():
    assert nets.build("dcgan", ngf=4, size=8)(paddle.randn([1, 100])).shape == [1, 3, 8, 8]
    for size in (4, 48):
        with pytest.raises(ValueError, match="power of two"):
            nets.build("dcgan", size=size)


def test_the_eye_colours_are_omniarts_eight():
    assert len(OMNIART_EYE_COLOURS) == nets.network("cond_dcgan_eyes_128").config["n_class"] == 8
