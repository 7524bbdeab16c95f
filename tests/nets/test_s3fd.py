"""S3FD: PaddleGAN's layout and numbers (shared/reference face_s3fd), priors, decoding, suppression."""
import numpy as np
import paddle
import pytest

from core.nets import s3fd as sf
from core.registry import NETWORKS, WEIGHTS
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

# Map sizes of the six levels for a 128x128 input (fc7's map is 128/32 + 4 wide).
MAP_SIZES_128 = (32, 16, 8, 8, 4, 2)


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("face_s3fd")


@pytest.fixture(scope="module")
def recipe_net(manifest):
    net = sf.s3fd()
    apply_recipe(net, manifest)
    return net


def test_layout_is_paddlegan_s(manifest):
    net = sf.s3fd()
    assert_same_layout(net, manifest)
    assert sum(int(np.prod(p.shape)) for p in net.parameters()) == manifest["total_params"]
    # The L2Norm scales start at S3FD's values (the checkpoint overwrites them).
    for name, scale in sf.L2NORM_SCALES.items():
        assert np.all(getattr(net, f"{name}_norm").weight.numpy() == scale)


def test_fingerprint_matches_paddlegan(manifest, recipe_net):
    (image,) = recipe_inputs(manifest)
    with paddle.no_grad():
        outputs = recipe_net(paddle.to_tensor(image))
    assert len(outputs) == 12
    shapes = [list(o.shape) for o in outputs]
    assert shapes[0::2] == [[1, 2, s, s] for s in MAP_SIZES_128]
    assert shapes[1::2] == [[1, 4, s, s] for s in MAP_SIZES_128]
    assert_fingerprint({f"out{i}": o for i, o in enumerate(outputs)}, manifest)


def test_first_level_background_is_the_max_of_three(manifest, recipe_net):
    (image,) = recipe_inputs(manifest)
    with paddle.no_grad():
        outputs = recipe_net(paddle.to_tensor(image))
        # conv3_3's normalised features, recomputed through the trunk, then the 4-channel head.
        h = paddle.to_tensor(image)
        for prefix, _, count in sf.VGG_STAGES[:3]:
            for k in range(1, count + 1):
                h = paddle.nn.functional.relu(getattr(recipe_net, f"{prefix}_{k}")(h))
            if prefix != "conv3":
                h = paddle.nn.functional.max_pool2d(h, 2, 2)
        raw = recipe_net.conv3_3_norm_mbox_conf(recipe_net.conv3_3_norm(h)).numpy()
    assert raw.shape == (1, 4, 32, 32)
    np.testing.assert_allclose(outputs[0].numpy()[0, 0], raw[0, :3].max(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(outputs[0].numpy()[0, 1], raw[0, 3], rtol=1e-6, atol=1e-7)


def test_registered_with_its_configuration_and_checkpoint():
    assert NETWORKS.get("face_s3fd").architecture == "s3fd"
    assert NETWORKS.get("s3fd").default_weights == "s3fd.paddlegan"
    assert NETWORKS.get("face_s3fd").default_weights == "s3fd.paddlegan"
    published = WEIGHTS.get("s3fd.paddlegan")
    assert published.architecture == "s3fd" and published.key is None
    assert published.filename == "s3fd_paddle.pdparams"
    assert published.url == "https://paddlegan.bj.bcebos.com/models/s3fd_paddle.pdparams"
    with pytest.raises(TypeError):
        sf.s3fd(width=2)


def test_checkpoint_roundtrip(tmp_path, monkeypatch, registered):
    # No width parameter: the full network (~90 MB file in tmp_path).
    assert_checkpoint_roundtrip("face_s3fd", None, {}, tmp_path, monkeypatch, registered)


def test_input_is_bgr_minus_the_caffe_mean():
    image = np.zeros((6, 10, 3), np.uint8)
    image[2, 7] = (200, 50, 10)  # R, G, B
    x = sf.to_network_input(image)
    assert x.shape == (1, 3, 6, 10) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, :, 2, 7], [10 - 104, 50 - 117, 200 - 123])
    np.testing.assert_array_equal(x[0, :, 0, 0], [-104, -117, -123])
    with pytest.raises(ValueError, match="RGB"):
        sf.to_network_input(np.zeros((6, 10), np.uint8))


def test_priors_follow_the_maps_row_by_row():
    assert [sf.level_stride(i) for i in range(6)] == [4, 8, 16, 32, 64, 128]
    assert [sf.level_anchor_size(i) for i in range(6)] == [16, 32, 64, 128, 256, 512]
    priors = sf.prior_boxes(1, 2, 3)  # stride 8, size 32
    expected = [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    np.testing.assert_array_equal(priors[:, :2], expected)
    assert np.all(priors[:, 2:] == 32)


def test_decode_uses_the_ssd_variances():
    prior = np.array([[40.0, 60.0, 16.0, 16.0]])
    np.testing.assert_allclose(sf.decode(np.zeros((1, 4)), prior), [[32, 52, 48, 68]])
    # dx = 2.5 moves the centre 2.5 * 0.1 * 16 = 4 px; dw = ln(2) / 0.2 doubles the width.
    loc = np.array([[2.5, -5.0, np.log(2.0) / 0.2, 0.0]])
    cx, cy, w, h = 44.0, 52.0, 32.0, 16.0
    np.testing.assert_allclose(sf.decode(loc, prior), [[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[10, 10, 50, 50], [12, 10, 52, 50], [80, 80, 120, 120]], np.float64)
    scores = np.array([0.8, 0.9, 0.7])
    np.testing.assert_array_equal(sf.nms(boxes, scores, 0.3), [1, 2])
    # Pixels count inclusively: [0, 0, 9, 9] and [5, 0, 14, 9] are 10x10 boxes sharing 5x10, IoU 1/3.
    pair = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], np.float64)
    assert len(sf.nms(pair, np.array([0.9, 0.8]), 0.3)) == 1
    assert len(sf.nms(pair, np.array([0.9, 0.8]), 0.34)) == 2
    assert sf.nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def _raw_outputs(faces: dict[tuple[int, int, int], tuple[float, tuple]]):
    """Raw maps of a 128x128 input, background everywhere but at {(level, row, col): (face prob, loc)}."""
    outputs = []
    for level, size in enumerate(MAP_SIZES_128):
        cls = np.zeros((1, 2, size, size), np.float32)
        cls[0, 0] = 10.0  # background logit: face probability ~2e-9
        reg = np.zeros((1, 4, size, size), np.float32)
        for (lv, row, col), (prob, loc) in faces.items():
            if lv == level:
                cls[0, 0, row, col] = 0.0
                cls[0, 1, row, col] = np.log(prob / (1 - prob))  # softmax gives prob
                reg[0, :, row, col] = loc
        outputs += [cls, reg]
    return outputs


def test_detect_decodes_a_single_strong_anchor():
    # Level 1 (stride 8, prior 32 px), row 5, column 9: prior centre (76, 44).
    loc = (1.5625, -3.125, np.log(1.5) / 0.2, 0.0)  # centre +5 px, -10 px (0.1 * 32 px units); width 48
    outputs = _raw_outputs({(1, 5, 9): (0.97, loc), (0, 3, 3): (0.3, (0, 0, 0, 0))})
    boxes, scores = sf.detect(outputs, 128, 128)
    assert boxes.shape == (1, 4)
    np.testing.assert_allclose(boxes[0], [81 - 24, 34 - 16, 81 + 24, 34 + 16], atol=1e-4)
    np.testing.assert_allclose(scores, [0.97], rtol=1e-5)
    # The weaker face (0.3 > 0.05) is a candidate, dropped by the final cut unless it is lowered.
    candidates, candidate_scores = sf.candidates(outputs)
    assert len(candidates) == 2
    np.testing.assert_allclose(sorted(candidate_scores), [0.3, 0.97], rtol=1e-5)
    assert len(sf.detect(outputs, 128, 128, threshold=0.2)[0]) == 2
    # Batch tensors of one image are accepted, as the network returns them.
    paddle_outputs = [paddle.to_tensor(o) for o in outputs]
    np.testing.assert_allclose(sf.detect(paddle_outputs, 128, 128)[0], boxes)


def test_detect_merges_overlapping_anchors_and_maps_boxes_back():
    # Two neighbouring stride-4 cells predicting nearly the same face: one survives, the better.
    outputs = _raw_outputs({(0, 10, 10): (0.9, (0, 0, 0, 0)), (0, 10, 11): (0.95, (-2.5, 0, 0, 0))})
    boxes, scores = sf.detect(outputs, 128, 128)
    assert len(boxes) == 1
    np.testing.assert_allclose(scores, [0.95], rtol=1e-5)
    np.testing.assert_allclose(boxes[0], [34, 34, 50, 50], atol=1e-4)  # both decode to centre (42, 42)
    # The network saw a 128x128 copy of a 256x512 image: boxes scale back, and clip to the image.
    edge = _raw_outputs({(2, 0, 0): (0.9, (0, 0, 0, 0))})  # prior centre (8, 8), 64 px: reaches -24
    scaled, _ = sf.detect(edge, 256, 512, network_size=(128, 128))
    np.testing.assert_allclose(scaled[0], [0, 0, 40 * 4, 40 * 2], atol=1e-4)
    empty_boxes, empty_scores = sf.detect(_raw_outputs({}), 128, 128)
    assert empty_boxes.shape == (0, 4) and empty_scores.shape == (0,)
    with pytest.raises(ValueError, match="12 raw outputs"):
        sf.detect(outputs[:10], 128, 128)
