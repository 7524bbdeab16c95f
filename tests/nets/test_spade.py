import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from core import nets, weights
from core.nets.spade import SPADE, SpectralNormConv2D, paddlecv_name_table, semantic_input, settle_spectral_norms
from core.nets.spade_labels import CITYSCAPES_LABEL_NC, CITYSCAPES_LABELS, PHOTOPEN_LABEL_NC
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import REPO_ROOT, assert_same_layout, load_manifest

CITYSCAPES, PHOTOPEN = "spade_cityscapes", "photopen_spade"
TINY = {"ngf": 2, "nhidden": 8}  # full label counts, narrow layers
LAYOUTS = REPO_ROOT / "tests" / "paddlecv_layouts"
DERIVE = LAYOUTS / "derive_spade_layout.py"


def _lazy(name, **overrides):
    with paddle.LazyGuard():  # no initialisation: layouts of the full networks in a fraction of a second
        return nets.build(name, **overrides)


def _count(net, trainable_only=False):
    return sum(int(np.prod(p.shape)) for p in net.parameters() if not (trainable_only and p.stop_gradient))


def _derive_script():
    spec = importlib.util.spec_from_file_location("derive_spade_layout", DERIVE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spectral_convs(net):
    return [layer for layer in net.sublayers() if isinstance(layer, SpectralNormConv2D)]


# ---------------------------------------------------------------- layouts


def test_photopen_has_paddlegans_layout_and_configuration():
    manifest = load_manifest(PHOTOPEN)
    net = _lazy(PHOTOPEN)
    assert_same_layout(net, manifest)
    assert (_count(net), _count(net, True)) == (manifest["total_params"], manifest["trainable_params"])
    config = dict(nets.network(PHOTOPEN).config)
    assert config.pop("flavour") == "photopen" and config == manifest["config"]
    assert net.output_size == (256, 256) and net.semantic_nc == PHOTOPEN_LABEL_NC + 1 == 14
    assert {layer.update for layer in _spectral_convs(net)} == {"hook"}
    spec = weights.spec("spade.photopen")
    assert (spec.architecture, spec.key) == (PHOTOPEN, manifest["checkpoint_key"])
    assert manifest["weight_url"].startswith(spec.url + " ")


def test_every_paddlecv_variable_maps_onto_spade_cityscapes():
    layout = json.loads((LAYOUTS / "spade_G.json").read_text())
    net = _lazy(CITYSCAPES)
    table = paddlecv_name_table(**nets.network(CITYSCAPES).config)
    ours = {name: list(t.shape) for name, t in net.state_dict().items()}
    variables = {name: shape for name, shape, _ in layout["variables"]}
    assert len(variables) == len(layout["variables"]) == 252
    assert set(variables) == set(table), sorted(set(variables) ^ set(table))[:6]
    assert sorted(table.values()) == sorted(ours)  # one library variable per parameter, none left over
    wrong = [(name, shape, ours[table[name]]) for name, shape in variables.items() if ours[table[name]] != shape]
    assert not wrong, wrong[:5]
    assert {dtype for _, _, dtype in layout["variables"]} == {"float32"}
    assert layout["total_elements"] == sum(int(np.prod(s)) for s in ours.values())

    config = layout["config"]
    assert net.output_size == (config["crop_height"], config["crop_width"]) == (512, 1024)
    assert net.semantic_nc == config["label_nc"] + (not config["no_instance"]) == len(layout["labels"]) == 37
    assert tuple(layout["labels"][: len(CITYSCAPES_LABELS)]) == CITYSCAPES_LABELS
    assert {layer.update for layer in _spectral_convs(net)} == {"op"}
    spec = weights.spec("spade.cityscapes")
    assert (spec.url, spec.archive.member) == (layout["weight_url"], layout["archive_member"])
    assert spec.archive.format == "paddle_persistables" and spec.archive.table() == table


def test_the_layout_file_is_what_the_derive_script_writes():
    derive = _derive_script()
    assert (LAYOUTS / "spade_G.json").read_text() == derive.dumps(derive.derive())


def test_spade_cityscapes_computes_what_the_librarys_static_graph_infers(tmp_path):
    """A narrow copy of the library's call sequence runs on Paddle's static graph (the real spectral_norm op,
    batch_norm in test mode, resize_nearest) with seeded variables; ours, loaded through the name table, gives
    the same images."""
    out = tmp_path / "twin.npz"
    env = {**os.environ, "FLAGS_enable_pir_api": "0"}
    done = subprocess.run([sys.executable, str(DERIVE), "--twin", str(out), "--config",
                           json.dumps({"ngf": 2, "nhidden": 8, "crop_height": 32, "crop_width": 64})],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    twin = np.load(out)
    net = nets.build(CITYSCAPES, ngf=2, nhidden=8, crop_size=64)  # aspect ratio 2: 32 x 64
    table = paddlecv_name_table(**nets.network(CITYSCAPES).config)
    state = net.state_dict()
    library = {key[len("var:"):]: twin[key] for key in twin.files if key.startswith("var:")}
    assert sorted(table[name] for name in library) == sorted(state)
    for name, value in library.items():
        state[table[name]].set_value(paddle.to_tensor(value))

    # Our input builder gives the library reader's input: one-hot labels, then the instance map's edges.
    seg = semantic_input(twin["labels"], CITYSCAPES_LABEL_NC, instances=twin["instances"])
    np.testing.assert_array_equal(seg.numpy(), np.concatenate([twin["input_label"], twin["input_ins"]], axis=1))
    image = net(seg).numpy()
    assert image.shape == twin["output"].shape == (2, 3, 32, 64) and twin["output"].std() > 0.1
    np.testing.assert_allclose(image, twin["output"], atol=2e-5)

    for layer in _spectral_convs(net):  # the dygraph hook's eval semantics would not reproduce it
        layer.update = "hook"
    assert np.abs(net(seg).numpy() - twin["output"]).max() > 1e-2


# ---------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name, label_nc, size", [(PHOTOPEN, PHOTOPEN_LABEL_NC, 256), (CITYSCAPES, CITYSCAPES_LABEL_NC, 128)])
def test_a_label_map_gives_an_image_of_the_configured_shape(name, label_nc, size):
    # PhotoPen at its 256 x 256; Cityscapes at its 1:2 aspect, an eighth of its 512 x 1024 (checked above).
    paddle.seed(0)
    net = nets.build(name, crop_size=size, **TINY)
    settle_spectral_norms(net)  # random stored vectors would give the hook's eval arbitrary sigmas
    height, width = net.output_size
    labels = np.random.default_rng(0).integers(0, label_nc, (2, height // 16, width // 16)).repeat(16, 1).repeat(16, 2)
    image = net(semantic_input(labels, label_nc)).numpy()
    assert image.shape == (2, 3, height, width) == (2, 3, size // (1 if name == PHOTOPEN else 2), size)
    assert np.isfinite(image).all() and np.abs(image).max() <= 1 and image.std() > 0.05
    with pytest.raises(ValueError, match=f"label map \\[N, {label_nc + 1}, H, W\\]"):
        net(paddle.zeros([1, label_nc, height, width]))


@pytest.mark.parametrize("flavour", ["paddlecv", "photopen"])
def test_the_label_map_drives_the_image_where_it_changed(flavour):
    paddle.seed(1)
    net = nets.build("spade", flavour=flavour, semantic_nc=5, crop_size=128, **TINY)
    settle_spectral_norms(net)
    labels = np.zeros((1, 128, 128), np.int64)
    labels[:, 64:, :] = 1  # ground below sky
    changed = labels.copy()
    changed[:, 8:40, 8:40] = 3  # a square in the top-left corner
    before = net(semantic_input(labels, 4)).numpy()
    after = net(semantic_input(changed, 4)).numpy()
    difference = np.abs(after - before).mean(axis=(0, 1))
    assert difference.max() > 0.05  # another map, another image
    near = difference[0:48, 0:48].mean()
    far = difference[80:, 80:].mean()
    assert near > 5 * far, (near, far)  # the change stays around the square (the low-resolution blocks blur it)


def test_one_spade_layer_changes_only_within_its_kernels_reach():
    paddle.seed(2)
    layer = SPADE(4, 3, norm="batch", kernel_size=3, nhidden=8, flavour="paddlecv")
    layer.eval()
    x, seg = paddle.randn([1, 4, 16, 16]), paddle.zeros([1, 3, 16, 16])
    seg[:, 0] = 1
    edited = seg.clone()
    edited[:, :, 6:9, 6:9] = paddle.to_tensor([0.0, 1.0, 0.0]).reshape([1, 3, 1, 1])
    moved = (layer(x, edited) - layer(x, seg)).abs().sum(axis=[0, 1]).numpy() > 0
    rows, cols = np.nonzero(moved)
    # Two 3x3 convs (shared, then gamma/beta): two pixels around the edited 3x3 block at most.
    assert moved.any() and rows.min() >= 4 and rows.max() <= 10 and cols.min() >= 4 and cols.max() <= 10


def _power_iteration(matrix, u, v, iterations, unit):
    for _ in range(iterations):
        v = unit(matrix.T @ u)
        u = unit(matrix @ v)
    return u @ matrix @ v


@pytest.mark.parametrize("update, iterations", [("op", 1), ("hook", 0)])
def test_spectral_norm_at_inference_divides_by_sigma_from_the_stored_vectors(update, iterations):
    paddle.seed(3)
    conv = SpectralNormConv2D(3, 5, 3, bias=True, update=update)
    conv.eval()
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=5).astype(np.float32), rng.normal(size=27).astype(np.float32)  # as stored: not unit
    conv.weight_u.set_value(paddle.to_tensor(u))
    conv.weight_v.set_value(paddle.to_tensor(v))
    weight = conv.weight_orig.numpy()
    matrix = weight.reshape(5, -1).astype(np.float64)
    eps = 1e-12
    unit = (lambda a: a / (np.linalg.norm(a) + eps)) if update == "op" else (lambda a: a / max(np.linalg.norm(a), eps))
    sigma = _power_iteration(matrix, u.astype(np.float64), v.astype(np.float64), iterations, unit)
    np.testing.assert_allclose(float(conv.sigma()), sigma, rtol=1e-5)
    if hasattr(paddle._C_ops, "spectral_norm"):  # Paddle's own kernel: the static op; 0 iterations = the hook in eval
        kernel = paddle._C_ops.spectral_norm(conv.weight_orig, conv.weight_u, conv.weight_v, 0, iterations, eps)
        np.testing.assert_allclose(kernel.numpy(), weight / sigma, rtol=1e-5, atol=1e-7)
    x = paddle.randn([1, 3, 8, 8])
    expected = F.conv2d(x, paddle.to_tensor((weight / sigma).astype(np.float32)), conv.bias, padding=1)
    np.testing.assert_allclose(conv(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(conv.weight_u.numpy(), u)  # inference never writes the vectors
    np.testing.assert_array_equal(conv.weight_v.numpy(), v)

    conv.train()
    conv(x)
    if update == "op":  # the op copies u and v: training leaves them as stored too
        np.testing.assert_array_equal(conv.weight_u.numpy(), u)
    else:  # the hook writes its iteration back
        v1 = unit(matrix.T @ u)
        np.testing.assert_allclose(conv.weight_v.numpy(), v1, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(conv.weight_u.numpy(), unit(matrix @ v1), rtol=1e-5, atol=1e-7)

    settle_spectral_norms(conv, iterations=50)  # converged vectors: sigma is the largest singular value
    conv.eval()
    np.testing.assert_allclose(float(conv.sigma()), np.linalg.svd(matrix, compute_uv=False)[0], rtol=1e-3)


def test_semantic_input_is_one_hot_labels_then_edges():
    labels = np.array([[[0, 0, 2], [0, 0, 2], [1, 1, 1]]])
    seg = semantic_input(labels, 3).numpy()
    assert seg.shape == (1, 4, 3, 3)
    np.testing.assert_array_equal(seg[0, :3].argmax(axis=0), labels[0])
    np.testing.assert_array_equal(seg[0, 3], [[0, 1, 1], [1, 1, 1], [1, 1, 1]])  # a pixel by a different 4-neighbour
    same = np.zeros((1, 3, 3), np.int64)
    np.testing.assert_array_equal(semantic_input(labels, 3, instances=same).numpy()[0, 3], np.zeros((3, 3)))
    assert semantic_input(labels, 3, edges=False).shape == [1, 3, 3, 3]
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.2"):
        semantic_input(labels + 1, 3)


def test_variants_and_refusals():
    most = nets.build("spade", num_upsampling_layers="most", crop_size=128, **TINY)
    assert most.output_size == (128, 128) and (most.sh, most.sw) == (1, 1) and hasattr(most, "up_4")
    assert most(paddle.zeros([1, 14, 128, 128])).shape == [1, 3, 128, 128]
    assert nets.build("spade", num_upsampling_layers="more", crop_size=64, **TINY).output_size == (64, 64)
    instance = nets.build("spade", norm_G="spectralspadeinstance3x3", crop_size=32, **TINY)
    assert "head_0.spade_0.param_free_norm.scale" in instance.state_dict()
    with pytest.raises(ValueError, match="flavour"):
        nets.build("spade", flavour="nvlabs")
    with pytest.raises(ValueError, match="norm_G"):
        nets.build("spade", norm_G="spectralinstance")
    with pytest.raises(ValueError, match="PaddleCV's SPADE has batch norm"):
        nets.build(CITYSCAPES, norm_G="spectralspadeinstance3x3", **TINY)
    with pytest.raises(NotImplementedError, match="VAE"):
        nets.build("spade", use_vae=True)
    with pytest.raises(ValueError, match="5 upsamplings"):
        paddlecv_name_table(num_upsampling_layers="more")


# ---------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name, key", [(PHOTOPEN, "net_gen"), (CITYSCAPES, None)])
def test_published_layout_loads_strictly(name, key, tmp_path, monkeypatch, registered):
    # PhotoPen: PaddleGAN's nested .pdparams; Cityscapes: the flat file the persistables converter writes.
    assert_checkpoint_roundtrip(name, key, TINY, tmp_path, monkeypatch, registered)
