"""First Order Motion Model: PaddleGAN's layout and numbers (shared/reference fom_vox_256 and
fom_vox_mobile_256), the motion the reference numbers can't see, relative keypoints, a tiny network."""
import dataclasses
import inspect

import numpy as np
import paddle
import pytest

from core import weights
from core.nets import first_order as fo
from core.registry import NETWORKS, WEIGHTS
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

VARIANTS = {"fom_vox_256": {}, "fom_vox_mobile_256": fo.MOBILE_CONFIG}
# Small enough for a 64x64 image: 64 -> 16 after the anti-alias step, 3 hourglass levels.
TINY = dict(kp_block_expansion=8, kp_max_features=32, kp_num_blocks=3, block_expansion=8, max_features=32,
            num_bottleneck_blocks=2, motion_block_expansion=8, motion_max_features=32, motion_num_blocks=3)


def tiny(seed=0, **overrides):
    paddle.seed(seed)
    net = fo.FirstOrderMotion(**{**TINY, **overrides})
    net.eval()
    return net


def image(seed, size=64):
    return paddle.to_tensor(np.random.default_rng(seed).random((1, 3, size, size), dtype=np.float32))


@pytest.fixture(scope="module", params=list(VARIANTS))
def reference(request):
    """(manifest, our network of that configuration with the recipe's weights)."""
    manifest = load_manifest(request.param)
    net = fo.FirstOrderMotion(**VARIANTS[request.param])
    apply_recipe(net, manifest)
    return manifest, net


# ---------------------------------------------------------------- PaddleGAN's layout and numbers


def test_layout_is_paddlegan_s(reference):
    manifest, net = reference
    assert_same_layout(net, manifest)
    assert sum(int(np.prod(p.shape)) for p in net.parameters()) == manifest["total_params"]
    # The manifest's PaddleGAN config, translated, is the configuration we register.
    defaults = {k: p.default for k, p in inspect.signature(fo.FirstOrderMotion).parameters.items()}
    translated = fo.from_paddlegan_config(manifest["config"])
    assert {**defaults, **translated} == {**defaults, **VARIANTS[manifest["name"]]}


def test_fingerprint_matches_paddlegan(reference):
    manifest, net = reference
    source, driving = recipe_inputs(manifest)
    with paddle.no_grad():
        value, jacobian, prediction = net(paddle.to_tensor(source), paddle.to_tensor(driving))
    assert_fingerprint({"kp_driving.value": value, "kp_driving.jacobian": jacobian, "prediction": prediction}, manifest)


def test_registered_with_its_configurations_and_checkpoints():
    for name, config in VARIANTS.items():
        entry = NETWORKS.get(name)
        assert entry.architecture == "first_order_motion" and dict(entry.config) == config
    assert NETWORKS.get("first_order_motion").default_weights == "first_order_motion.vox"
    assert NETWORKS.get("fom_vox_mobile_256").default_weights == "first_order_motion.vox_mobile"
    full, mobile = WEIGHTS.get("first_order_motion.vox"), WEIGHTS.get("first_order_motion.vox_mobile")
    assert (full.architecture, full.filename, full.key) == ("fom_vox_256", "vox-cpk.pdparams", None)
    assert (mobile.architecture, mobile.filename, mobile.key) == ("fom_vox_mobile_256", "vox-mobile.pdparams", None)
    for spec in (full, mobile):
        assert spec.url == f"https://paddlegan.bj.bcebos.com/applications/first_order_model/{spec.filename}"
        assert "non-commercial" in spec.licence and "'generator.'" in spec.source_note
    assert weights.network_config(mobile)["mobile_net"] is True


def test_the_published_two_network_file_loads_strictly_through_the_loader(tmp_path, monkeypatch, registered):
    """PaddleGAN saves {'generator': {...}, 'kp_detector': {...}}: the spec's prefix_keys make them our two prefixes."""
    from core import models
    from core.errors import CheckpointMismatch

    source_net = tiny(seed=1, mobile_net=True)
    own = source_net.state_dict()
    nested = {prefix: {name[len(prefix) + 1:]: own[name] for name in own if name.startswith(prefix + ".")}
              for prefix in ("generator", "kp_detector")}
    real = weights.spec("first_order_motion.vox_mobile")
    spec = registered(WEIGHTS, "first_order_motion.test_tiny", dataclasses.replace(
        real, name="first_order_motion.test_tiny", aliases=(), filename="vox-tiny.pdparams", url=None,
        net_overrides=TINY))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    paddle.save({**nested, "epoch": 7}, str(tmp_path / spec.filename))  # 'epoch' is left out

    target = models.create(spec.name, pretrained=True)
    a, b = image(3), image(4)
    with paddle.no_grad():
        for ours, theirs in zip(target(a, b), source_net(a, b)):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    paddle.save({"generator": nested["generator"]}, str(tmp_path / spec.filename))
    with pytest.raises(CheckpointMismatch, match="no 'kp_detector' entry"):
        models.create(spec.name, pretrained=True)


# ---------------------------------------------------------------- what the reference numbers can't see
# With the recipe's small weights the encoder's features are nearly constant over the image, so
# the fingerprint barely depends on the flow: these check the motion itself.


def test_sparse_motions_are_first_order_taylor_expansions():
    motion = tiny().generator.dense_motion_network
    rng = np.random.default_rng(0)
    k, h, w = fo.NUM_KP, 5, 7
    kp_s = rng.uniform(-0.5, 0.5, (1, k, 2)).astype(np.float32)
    kp_d = rng.uniform(-0.5, 0.5, (1, k, 2)).astype(np.float32)
    jac_s = (np.eye(2) + rng.normal(0, 0.2, (1, k, 2, 2))).astype(np.float32)
    jac_d = (np.eye(2) + rng.normal(0, 0.2, (1, k, 2, 2))).astype(np.float32)
    got = motion.sparse_motions(1, h, w, fo.Keypoints(paddle.to_tensor(kp_d), paddle.to_tensor(jac_d)),
                                fo.Keypoints(paddle.to_tensor(kp_s), paddle.to_tensor(jac_s))).numpy()
    grid = fo.coordinate_grid(h, w)
    assert got.shape == (1, k + 1, h, w, 2)
    np.testing.assert_array_equal(got[0, 0], grid)  # the background does not move
    affine = jac_s[0] @ np.linalg.inv(jac_d[0])  # [k, 2, 2]
    want = kp_s[0, :, None, None] + np.einsum("kij,khwj->khwi", affine, grid[None] - kp_d[0, :, None, None])
    np.testing.assert_allclose(got[0, 1:], want, atol=2e-6)
    # (x, y): x runs along the columns, from -1 at the first to 1 at the last.
    assert grid[0, 0].tolist() == [-1, -1] and grid[0, -1].tolist() == [1, -1] and grid[-1, 0].tolist() == [-1, 1]


def test_keypoints_where_they_were_give_the_identity_flow_and_warp():
    net = tiny()
    source = image(0)
    with paddle.no_grad():
        kp = net.detect_keypoints(source)
        motion = net.generator.dense_motion_network(source, kp, kp)
        flow = motion["deformation"].numpy()
        np.testing.assert_allclose(flow[0], fo.coordinate_grid(16, 16), atol=2e-6)
        np.testing.assert_allclose(motion["mask"].numpy().sum(axis=1), 1.0, atol=1e-5)
        # Warping by the identity (faded to the identity at the border, too) changes nothing.
        features = paddle.to_tensor(np.random.default_rng(1).random((1, 4, 16, 16), dtype=np.float32))
        warped = net.generator._warp(features, motion["deformation"])
        np.testing.assert_allclose(warped.numpy(), features.numpy(), atol=1e-5)


def test_keypoint_is_the_expected_position_under_the_heatmap():
    net = tiny()
    detector = net.kp_detector

    class Peak(paddle.nn.Layer):
        """Heatmap logits with one sharp peak per keypoint: keypoint i at row i, column (3 i + 1) mod 10."""

        def forward(self, features):
            n, _, h, w = features.shape
            logits = np.zeros((n, fo.NUM_KP, h - 6, w - 6), np.float32)
            for i in range(fo.NUM_KP):
                logits[:, i, i, (3 * i + 1) % 10] = 10.0  # / temperature 0.1: the rest weighs e^-100
            return paddle.to_tensor(logits)

    detector.kp = Peak()
    with paddle.no_grad():
        value, jacobian = detector(image(0))
    grid = fo.coordinate_grid(10, 10)  # 64 -> 16 -> 10x10 heatmaps (7x7 head, no padding)
    want = np.stack([grid[i, (3 * i + 1) % 10] for i in range(fo.NUM_KP)])
    np.testing.assert_allclose(value.numpy()[0], want, atol=1e-6)
    # A fresh detector's jacobian head is zero weights with bias (1, 0, 0, 1): the identity.
    np.testing.assert_allclose(jacobian.numpy()[0], np.broadcast_to(np.eye(2), (fo.NUM_KP, 2, 2)), atol=1e-6)


def test_border_fade_is_opencv_s_gaussian_blur():
    fade = fo.border_fade(64, 48)
    assert fade.shape == (64, 48) and fade.dtype == np.float32
    assert np.all(fade[:1] == 0) and np.all(fade[:, :1] == 0) and np.all(fade[12:-12, 12:-12] > 0.999999)
    cv2 = pytest.importorskip("cv2")
    inside = np.zeros((64, 48), np.float32)
    inside[5:-5, 5:-5] = 1.0
    np.testing.assert_allclose(fade, cv2.GaussianBlur(inside, (9, 9), 0.0, borderType=cv2.BORDER_ISOLATED), atol=1e-6)


def test_anti_alias_downsampling():
    kernel, size = fo.anti_alias_kernel(0.25)
    assert size == 13 and kernel.shape == (13, 13) and abs(kernel.sum() - 1) < 1e-6
    assert fo.anti_alias_kernel(0.25, mobile_net=True)[1] == 3
    down = fo.AntiAliasDownsample(3, 0.25)
    flat = paddle.full([1, 3, 64, 64], 0.5)
    out = down(flat).numpy()
    assert out.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(out[:, :, 2:-2, 2:-2], 0.5, atol=1e-6)  # zero padding shows only at the edge


# ---------------------------------------------------------------- relative motion


def test_convex_hull_area():
    square = [[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0], [0.5, 1.5]]  # inner and edge points too
    assert fo.convex_hull_area(square) == pytest.approx(4.0)
    assert fo.convex_hull_area([[0, 0], [1, 1], [2, 2]]) == 0.0
    assert fo.convex_hull_area([[0, 0], [1, 0]]) == 0.0
    spatial = pytest.importorskip("scipy.spatial")
    points = np.random.default_rng(0).normal(size=(10, 2))
    assert fo.convex_hull_area(points) == pytest.approx(spatial.ConvexHull(points).volume, rel=1e-12)


def _keypoints(rng, scale=0.3):
    return fo.Keypoints(rng.uniform(-scale, scale, (1, fo.NUM_KP, 2)).astype(np.float32),
                        (np.eye(2) + rng.normal(0, 0.1, (1, fo.NUM_KP, 2, 2))).astype(np.float32))


def test_relative_motion_from_where_it_started_is_the_source():
    rng = np.random.default_rng(0)
    source, driving = _keypoints(rng), _keypoints(rng)
    for adapt in (False, True):
        out = fo.normalize_kp(source, driving, driving, relative=True, adapt_movement_scale=adapt)
        np.testing.assert_allclose(out.value, source.value, atol=1e-7)
        np.testing.assert_allclose(out.jacobian, source.jacobian, atol=1e-5)
    absolute = fo.normalize_kp(source, driving, _keypoints(rng), relative=False, adapt_movement_scale=True)
    np.testing.assert_array_equal(absolute.value, driving.value)
    np.testing.assert_array_equal(absolute.jacobian, driving.jacobian)
    # Paddle tensors and PaddleGAN-style dicts are accepted too.
    as_dict = {"value": paddle.to_tensor(driving.value), "jacobian": paddle.to_tensor(driving.jacobian)}
    out = fo.normalize_kp(source, as_dict, as_dict, relative=True, adapt_movement_scale=False)
    np.testing.assert_allclose(out.value, source.value, atol=1e-7)


def test_adapt_movement_scale_is_the_root_of_the_hull_area_ratio():
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32)
    pad = np.zeros((fo.NUM_KP - 4, 2), np.float32)  # inner points: no effect on the hull
    source_value = np.concatenate([0.4 * corners, pad])[None]  # a square of side 0.8: area 0.64
    initial_value = np.concatenate([0.1 * corners, pad])[None]  # side 0.2: area 0.04, so the scale is 4
    eye = np.broadcast_to(np.eye(2, dtype=np.float32), (1, fo.NUM_KP, 2, 2))
    shift = np.float32([0.01, -0.02])
    source, initial = fo.Keypoints(source_value, eye), fo.Keypoints(initial_value, eye)
    driving = fo.Keypoints(initial_value + shift, eye)
    out = fo.normalize_kp(source, driving, initial, relative=True, adapt_movement_scale=True)
    np.testing.assert_allclose(out.value, source_value + 4 * shift, atol=1e-6)
    plain = fo.normalize_kp(source, driving, initial, relative=True, adapt_movement_scale=False)
    np.testing.assert_allclose(plain.value, source_value + shift, atol=1e-6)


# ---------------------------------------------------------------- a tiny network end to end


@pytest.mark.parametrize("mobile", [False, True])
def test_tiny_network_animates_a_64_pixel_face(mobile):
    net = tiny(mobile_net=mobile)
    source, driving = image(0), image(1)
    with paddle.no_grad():
        value, jacobian, prediction = net(source, driving)
        kp_source, kp_driving = net.detect_keypoints(source), net.detect_keypoints(driving)
        relative = fo.normalize_kp(kp_source, kp_driving, kp_driving, relative=True, adapt_movement_scale=True)
        animated = net.animate(source, kp_source, relative)  # relative motion from where it started: no motion
        direct = net.animate(source, kp_source, kp_driving)
        maps = net.generator(source, kp_driving, kp_source, return_maps=True)
    assert value.shape == [1, fo.NUM_KP, 2] and jacobian.shape == [1, fo.NUM_KP, 2, 2]
    assert prediction.shape == [1, 3, 64, 64] and animated.shape == [1, 3, 64, 64]
    for frame in (prediction, animated):
        array = frame.numpy()
        assert np.all((array >= 0) & (array <= 1)) and np.isfinite(array).all()  # a sigmoid
    assert np.all(np.abs(value.numpy()) <= 1)
    np.testing.assert_array_equal(value.numpy(), kp_driving.value.numpy())
    np.testing.assert_allclose(direct.numpy(), prediction.numpy(), atol=1e-6)
    np.testing.assert_allclose(maps["prediction"].numpy(), prediction.numpy(), atol=1e-6)
    assert maps["occlusion_map"].shape == [1, 1, 16, 16] and maps["deformed"].shape == [1, 3, 64, 64]


def test_one_source_animates_a_batch_of_driving_frames():
    net = tiny()
    source, frames = image(0), paddle.concat([image(1), image(2)])
    with paddle.no_grad():
        kp_source, kp_frames = net.detect_keypoints(source), net.detect_keypoints(frames)
        first = fo.Keypoints(kp_frames.value[:1], kp_frames.jacobian[:1])
        second = fo.Keypoints(kp_frames.value[1:], kp_frames.jacobian[1:])
        batch = net.animate(source, kp_source, fo.normalize_kp(kp_source, kp_frames, first))
        alone = net.animate(source, kp_source, fo.normalize_kp(kp_source, second, first))
    assert batch.shape == [2, 3, 64, 64]
    np.testing.assert_allclose(batch.numpy()[1:], alone.numpy(), atol=1e-5)


def test_tiny_network_exports_with_to_static():
    net = tiny(mobile_net=True)
    source, driving = image(0), image(1)
    with paddle.no_grad():
        eager = [t.numpy() for t in net(source, driving)]
    spec = [paddle.static.InputSpec([1, 3, 64, 64], "float32", name) for name in ("source", "driving")]
    static = paddle.jit.to_static(net, input_spec=spec, full_graph=True)
    with paddle.no_grad():
        for ours, want in zip(static(source, driving), eager):
            np.testing.assert_allclose(ours.numpy(), want, atol=1e-5)
