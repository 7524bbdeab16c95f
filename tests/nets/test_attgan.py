"""AttGAN's and STGAN's generators against PaddlePaddle/models' PaddleCV/gan (``core/nets/attgan.py``).

No reference fingerprint exists for AttGAN or STGAN (nor StarGAN): PaddleGAN's own repository, where
the manifests of ``shared/reference`` come from, has none of them, and the published archives are not
on this machine. As in ``test_stargan.py``, ``tests/paddlecv_layouts/attgan_G.json`` and
``stgan_G.json`` (written by ``derive_attribute_layouts.py`` from static-graph programs built by the
library's naming rules, without ``core``) must map variable for variable, shape for shape, onto our
state dicts through ``paddlecv_name_table`` at the published configurations; and the script's
static-graph twins, run at tiny widths with seeded values, must give the pictures ours give.

STGAN's twin also runs as release v1.5 had it (STU output plus the encoder features, encoder slope
0.01): ours with ``stu_residual=True, encoder_slope=0.01`` must match that one, and differ from the
final code's picture, since the published file cannot say which of the two it was trained with.
"""
from __future__ import annotations

import numpy as np
import paddle
import pytest

from core import nets, weights
from core.nets import attgan
from core.nets.celeba_labels import CELEBA_ATTRIBUTES, attribute_condition, flip_attribute, stgan_difference
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.nets.test_stargan import LAYOUTS, assert_layout_maps, derive_in_subprocess, load_layout, load_twin

TINY = {"c_dim": 13, "dim": 4, "max_dim": 32}  # widths 4, 8, 16, 32, 32: the cap is met
TWIN = {"image_size": 64, "g_base_dims": 4, "max_dim": 32}
TINY_STGAN = {**TINY, "stu_layers": 4}
V1_5 = {"stu_residual": True, "encoder_slope": 0.01}

PUBLISHED = {"attgan_G": "attgan_celeba_128", "stgan_G": "stgan_celeba_128"}


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    directory = tmp_path_factory.mktemp("paddlecv_attgan")
    derive_in_subprocess(directory, {
        "twin_attgan": ("attgan", TWIN),
        "twin_stgan": ("stgan", TWIN),
        "twin_stgan_v1_5": ("stgan", {**TWIN, "v1_5": True}),
    })
    return directory


def _pictures(batch=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    image = paddle.to_tensor(rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32))
    labels = rng.integers(0, 2, (batch, len(CELEBA_ATTRIBUTES))).astype(np.float32)
    return image, labels


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("manifest_name", sorted(PUBLISHED))
def test_every_library_variable_maps_onto_our_network_at_the_published_configuration(manifest_name):
    manifest = load_layout(manifest_name)
    network = nets.network(PUBLISHED[manifest_name])
    with paddle.LazyGuard():
        net = nets.build(network.name)
    assert_layout_maps(net, manifest, attgan.paddlecv_name_table(**network.config))
    library = manifest["config"]
    assert (network.config["c_dim"], network.config["dim"], network.config["n_layers"]) == (
        library["c_dim"], library["g_base_dims"], library["n_layers"])
    assert list(CELEBA_ATTRIBUTES) == manifest["attributes"] and len(CELEBA_ATTRIBUTES) == 13
    shapes = {name: shape for name, shape, _ in manifest["variables"]}
    assert shapes["generator_Genc4_w"] == [1024, 512, 4, 4]  # MAX_DIM caps the encoder at 1024
    assert shapes["generator_Gdec0_w"] == [1024 + 13, 1024, 4, 4]  # conv2d_transpose: [in, out, k, k]
    assert shapes["generator_Gdec4_b"] == [3] and "generator_Gdec4_norm_w" not in shapes
    if manifest_name == "attgan_G":
        assert shapes["generator_Gdec1_w"] == [1024 + 512 + 13, 512, 4, 4]  # one shortcut, one injection
        assert shapes["generator_Gdec2_w"] == [512, 256, 4, 4]
        assert sum(int(np.prod(s)) for s in shapes.values()) == 43_467_011
    else:
        assert shapes["generator_GRU0_deconv2d_w"] == [1024 + 13, 512, 4, 4]  # innermost features + difference
        assert shapes["generator_GRU1_deconv2d_w"] == [512 + 13, 256, 4, 4]  # kept state + difference
        assert shapes["generator_GRU3_info_w"] == [64, 128, 3, 3]
        assert shapes["generator_Gdec3_w"] == [256 + 128 + 13, 128, 4, 4]  # four shortcuts, four injections
        assert sum(int(np.prod(s)) for s in shapes.values()) == 75_006_579


@pytest.mark.parametrize("model", ["attgan", "stgan"])
def test_the_registered_checkpoint_is_the_manifests_archive(model):
    manifest = load_layout(f"{model}_G")
    spec = weights.spec(f"{model}.celeba")
    network = nets.network(f"{model}_celeba_128")
    assert spec.architecture == network.name and network.default_weights == spec.name
    assert nets.network(model).default_weights == spec.name
    assert spec.url == manifest["weight_url"] and spec.key is None and spec.filename.endswith(".pdparams")
    assert spec.archive.format == "paddle_persistables" and spec.archive.member == manifest["archive_member"]
    assert spec.archive.table() == attgan.paddlecv_name_table(**network.config)
    assert spec.licence.startswith("Apache-2.0")


def test_the_manifests_are_what_the_derive_script_writes(derived):
    for name in PUBLISHED:
        assert (derived / f"{name}.json").read_text() == (LAYOUTS / f"{name}.json").read_text(), name


def test_the_stgan_table_is_attgans_plus_the_units():
    plain = attgan.paddlecv_name_table(**TINY)
    units = attgan.paddlecv_name_table(**TINY_STGAN)
    assert set(plain) < set(units) and all(units[k] == v for k, v in plain.items())
    assert {k for k in units if k not in plain} == {
        f"generator_GRU{i}_{part}_{wb}" for i in range(4) for part in ("deconv2d", "reset_gate", "update_gate", "info")
        for wb in "wb"}
    assert attgan.paddlecv_name_table(stu_layers=None) == attgan.paddlecv_name_table(stu_layers=4)  # the stgan factory's default


# ---------------------------------------------------------------- computation


def test_attgan_gives_the_library_graphs_picture(derived):
    paddle.seed(0)
    net = nets.build("attgan", **TINY)
    io = load_twin(net, derived / "twin_attgan.npz", attgan.paddlecv_name_table(**TINY))
    ours = net(paddle.to_tensor(io["input:input"]), paddle.to_tensor(io["input:label_trg_"])).numpy()
    assert io["output"].shape == (2, 3, 64, 64) and float(io["output"].std()) > 0.05
    np.testing.assert_allclose(ours, io["output"], atol=2e-5, rtol=0)


@pytest.mark.parametrize("twin, variant", [("twin_stgan", {}), ("twin_stgan_v1_5", V1_5)])
def test_stgan_gives_the_library_graphs_picture(derived, twin, variant):
    paddle.seed(0)
    net = nets.build("stgan", **TINY, **variant)
    io = load_twin(net, derived / f"{twin}.npz", attgan.paddlecv_name_table(**TINY_STGAN))
    image, source, target = (paddle.to_tensor(io[f"input:{k}"]) for k in ("input", "label_org_", "label_trg_"))
    ours = net(image, source, target).numpy()
    assert io["output"].shape == (2, 3, 64, 64) and float(io["output"].std()) > 0.05
    np.testing.assert_allclose(ours, io["output"], atol=2e-5, rtol=0)
    # The other version's code on the same weights gives another picture: the choice matters.
    other = nets.build("stgan", **TINY, **({} if variant else V1_5))
    other.set_state_dict(net.state_dict())
    other.eval()
    assert float(np.abs(other(image, source, target).numpy() - ours).max()) > 1e-3


@pytest.mark.parametrize("model", ["attgan", "stgan"])
def test_pictures_come_out_in_range_and_the_condition_matters(model):
    paddle.seed(0)
    net = nets.build(model, **TINY)
    image, labels = _pictures()
    source = paddle.to_tensor(attribute_condition(labels))
    edited = paddle.to_tensor(attribute_condition(flip_attribute(labels, "Male", CELEBA_ATTRIBUTES),
                                                  edited=[CELEBA_ATTRIBUTES.index("Male")]))
    run = (lambda target: net(image, target)) if model == "attgan" else (lambda target: net(image, source, target))
    out = run(source)
    assert out.shape == [2, 3, 32, 32] and float(out.abs().max()) <= 1.0
    assert float((run(edited) - out).abs().max()) > 1e-4


def test_stgan_sees_only_the_difference():
    paddle.seed(0)
    net = nets.build("stgan", **TINY)
    image, labels = _pictures()
    source = paddle.to_tensor(attribute_condition(labels))
    zero = paddle.zeros_like(source)
    same = net(image, source, source).numpy()
    np.testing.assert_allclose(same, net(image, zero, zero).numpy(), atol=1e-6)
    np.testing.assert_allclose(same, net.forward_difference(image, zero).numpy(), atol=1e-6)
    target = paddle.to_tensor(attribute_condition(flip_attribute(labels, "Eyeglasses", CELEBA_ATTRIBUTES)))
    moved = net(image, source, target).numpy()
    np.testing.assert_allclose(moved, net(image, source + 0.25, target + 0.25).numpy(), atol=1e-5)
    np.testing.assert_allclose(moved, net.forward_difference(image, target - source).numpy(), atol=1e-6)
    assert np.abs(moved - same).max() > 1e-4


# ---------------------------------------------------------------- conditions


def _infer_py_attgan_target(labels, column):
    """infer.py's steps for one AttGAN edit, spelled out: flip, resolve conflicts, ((x*2)-1)*0.5, the edited one *2.0."""
    flipped = flip_attribute(labels, CELEBA_ATTRIBUTES[column], CELEBA_ATTRIBUTES)
    target = ((flipped * 2) - 1) * 0.5
    target[:, column] = target[:, column] * 2.0
    return target


def test_attgan_conditions_are_infer_pys_and_test_int_sets_the_edits_strength():
    _, labels = _pictures(batch=3)
    for column in range(len(CELEBA_ATTRIBUTES)):
        flipped = flip_attribute(labels, CELEBA_ATTRIBUTES[column], CELEBA_ATTRIBUTES)
        np.testing.assert_array_equal(attribute_condition(flipped, edited=[column]), _infer_py_attgan_target(labels, column))
    np.testing.assert_array_equal(attribute_condition(labels), (labels * 2 - 1) * 0.5)  # the trainers' thres_int
    column = CELEBA_ATTRIBUTES.index("Blond_Hair")
    flipped = flip_attribute(labels, "Blond_Hair", CELEBA_ATTRIBUTES)
    strong = attribute_condition(flipped, edited=[column], test_int=1.5)
    np.testing.assert_array_equal(strong[:, column], (flipped[:, column] * 2 - 1) * 1.5)
    others = [i for i in range(13) if i != column]
    np.testing.assert_array_equal(strong[:, others], attribute_condition(flipped)[:, others])
    # test_int equal to thres_int is no emphasis at all.
    np.testing.assert_array_equal(attribute_condition(flipped, edited=[column], test_int=0.5), attribute_condition(flipped))

    paddle.seed(0)
    net = nets.build("attgan", **TINY)
    image, _ = _pictures(batch=3)
    pictures = [net(image, paddle.to_tensor(attribute_condition(flipped, edited=[column], test_int=t))).numpy()
                for t in (0.5, 1.0, 1.5)]
    assert np.abs(pictures[1] - pictures[0]).max() > 1e-4 and np.abs(pictures[2] - pictures[1]).max() > 1e-4


def test_stgan_differences_are_infer_pys_and_test_int_scales_the_change():
    _, labels = _pictures(batch=3)
    column = CELEBA_ATTRIBUTES.index("Bangs")
    flipped = flip_attribute(labels, "Bangs", CELEBA_ATTRIBUTES)
    # infer.py: both sides ((x*2)-1)*0.5, no doubling for STGAN: +-1 where an attribute changes.
    library = ((flipped * 2) - 1) * 0.5 - ((labels * 2) - 1) * 0.5
    difference = stgan_difference(labels, flipped)
    np.testing.assert_array_equal(difference, library)
    np.testing.assert_array_equal(difference, flipped - labels)
    assert set(np.unique(difference)) <= {-1.0, 0.0, 1.0} and np.all(np.abs(difference[:, column]) == 1)
    strong = stgan_difference(labels, flipped, edited=[column], test_int=1.0)
    np.testing.assert_array_equal(strong[:, column], (flipped[:, column] * 2 - 1) * 1.0 - (labels[:, column] * 2 - 1) * 0.5)
    np.testing.assert_array_equal(np.delete(strong, column, 1), np.delete(difference, column, 1))
    np.testing.assert_array_equal(stgan_difference(labels, labels), np.zeros_like(labels))


# ---------------------------------------------------------------- construction


def test_constructions_the_networks_refuse():
    with pytest.raises(ValueError, match="stu_layers must be 0 or n_layers - 1 = 4"):
        nets.build("stgan", **TINY, stu_layers=3)
    with pytest.raises(ValueError, match="STU kernel must be odd"):
        nets.build("stgan", **TINY, stu_kernel=4)
    net = nets.build("attgan", **TINY)
    with pytest.raises(ValueError, match="multiples of 32"):
        net(paddle.zeros([1, 3, 48, 48]), paddle.zeros([1, 13]))
    with pytest.raises(ValueError, match=r"\[N, 13\]"):
        net(paddle.zeros([1, 3, 32, 32]), paddle.zeros([1, 5]))
    shallow = nets.build("stgan", **TINY, n_layers=3)  # STUs follow the depth
    assert len(shallow.stu) == 2 and shallow(paddle.zeros([1, 3, 8, 8]), paddle.zeros([1, 13]), paddle.zeros([1, 13])).shape == [1, 3, 8, 8]
    assert len(nets.build("attgan", **TINY).stu) == 0


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize("model", ["attgan", "stgan"])
def test_published_layout_loads_strictly(model, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(model, None, TINY, tmp_path, monkeypatch, registered)
