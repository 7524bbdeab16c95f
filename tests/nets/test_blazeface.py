"""BlazeFace: PaddleGAN's layout and numbers (shared/reference face_blazeface), anchors, decoding, suppression."""
import numpy as np
import paddle
import pytest

from core.nets import blazeface as bf
from core.registry import NETWORKS, WEIGHTS
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("face_blazeface")


def test_layout_is_paddlegan_s(manifest):
    net = bf.blazeface()
    assert_same_layout(net, manifest)
    assert sum(int(np.prod(p.shape)) for p in net.parameters()) == manifest["total_params"]


def test_fingerprint_matches_paddlegan(manifest):
    net = bf.blazeface()
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    with paddle.no_grad():
        regressors, scores = net(paddle.to_tensor(image))
    assert_fingerprint({"out0": regressors, "out1": scores}, manifest)


def test_images_of_a_batch_are_independent(manifest):
    net = bf.blazeface()
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    pair = np.concatenate([image, -image])
    with paddle.no_grad():
        batch = [t.numpy() for t in net(paddle.to_tensor(pair))]
        second = [t.numpy() for t in net(paddle.to_tensor(-image))]
    assert batch[0].shape == (2, 896, 16) and batch[1].shape == (2, 896, 1)
    for together, alone in zip(batch, second):
        np.testing.assert_allclose(together[1:], alone, rtol=1e-5, atol=1e-6)


def test_registered_with_its_configuration_and_checkpoints():
    assert NETWORKS.get("face_blazeface").architecture == "blazeface"
    assert NETWORKS.get("blazeface").default_weights == "blazeface.mediapipe_short_range"
    published = WEIGHTS.get("blazeface.paddlegan")
    assert published.architecture == "blazeface" and published.key is None
    assert published.url == "https://paddlegan.bj.bcebos.com/models/blazeface.pdparams"
    imported = WEIGHTS.get("blazeface.mediapipe_short_range")
    assert imported.packaged.converter == "tflite_blazeface" and imported.packaged.version == "0.10.21"
    with pytest.raises(TypeError):
        bf.blazeface(width=2)


def test_tensorflow_same_padding():
    assert bf.tflite_same_padding(128, 5, 2) == (1, 2)  # the stem: 128 -> 64
    assert bf.tflite_same_padding(64, 3, 2) == (0, 1)  # a stride-2 block: 64 -> 32
    assert bf.tflite_same_padding(64, 3, 1) == (1, 1)
    assert bf.tflite_same_padding(16, 1, 1) == (0, 0)


def test_anchors_follow_the_outputs_order():
    anchors = bf.anchors()
    assert anchors.shape == (896, 4) and anchors.dtype == np.float32
    assert np.all(anchors[:, 2:] == 1.0)
    fine, coarse = anchors[:512], anchors[512:]
    # 16x16 grid, 2 anchors a cell, row by row (x varies fastest), centres at (i + 0.5) / 16.
    cells16 = fine[::2, :2]
    assert np.array_equal(fine[::2], fine[1::2])
    grid16 = (np.arange(16) + 0.5) / 16
    assert np.allclose(cells16[:, 0], np.tile(grid16, 16)) and np.allclose(cells16[:, 1], np.repeat(grid16, 16))
    # 8x8 grid, 6 anchors a cell.
    cells8 = coarse.reshape(64, 6, 4)
    assert np.all(cells8 == cells8[:, :1])
    grid8 = (np.arange(8) + 0.5) / 8
    assert np.allclose(cells8[:, 0, 0], np.tile(grid8, 8)) and np.allclose(cells8[:, 0, 1], np.repeat(grid8, 8))


def _raw_outputs(faces: dict[int, tuple[float, np.ndarray]]):
    """Raw outputs with background logits everywhere but at the given anchors: {anchor: (logit, 16 regressors)}."""
    regressors = np.zeros((1, 896, 16), np.float32)
    logits = np.full((1, 896, 1), -8.0, np.float32)
    for anchor, (logit, values) in faces.items():
        regressors[0, anchor] = values
        logits[0, anchor, 0] = logit
    return regressors, logits


def test_decode_places_boxes_and_keypoints_on_their_anchor():
    anchors = bf.anchors()
    anchor = 512 + 6 * (3 * 8 + 5)  # 8x8 grid, row 3, column 5: centre (5.5/8, 3.5/8)
    assert np.allclose(anchors[anchor, :2], (5.5 / 8, 3.5 / 8))
    # In input pixels: centre moved by (+6.4, -12.8), size 32 x 48, keypoints at 2 px steps.
    values = np.array([6.4, -12.8, 32.0, 48.0] + [2.0 * k for k in range(12)], np.float32)
    regressors, logits = _raw_outputs({anchor: (2.0, values), 10: (0.5, values)})  # sigmoid(0.5) < 0.75
    boxes, keypoints, scores = bf.decode(regressors, logits, anchors)
    assert boxes.shape == (1, 4) and keypoints.shape == (1, 6, 2)
    cx, cy = 5.5 / 8 + 6.4 / 128, 3.5 / 8 - 12.8 / 128
    np.testing.assert_allclose(boxes[0], [cx - 16 / 128, cy - 24 / 128, cx + 16 / 128, cy + 24 / 128], atol=1e-6)
    expected_keypoints = np.array([5.5 / 8, 3.5 / 8]) + np.arange(12).reshape(6, 2) * 2.0 / 128
    np.testing.assert_allclose(keypoints[0], expected_keypoints, atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)
    # Huge logits are clipped, not overflowed; a lower threshold lets the weak anchor in.
    regressors, logits = _raw_outputs({anchor: (1e4, values), 10: (0.5, values)})
    with np.errstate(all="raise"):
        assert len(bf.decode(regressors, logits, min_score=0.6)[2]) == 2
    with pytest.raises(ValueError, match="896"):
        bf.decode(np.zeros((1, 10, 16)), np.zeros((1, 10, 1)))


def test_weighted_nms_merges_a_cluster_by_score_and_keeps_separate_faces():
    boxes = np.array([[0.10, 0.10, 0.30, 0.30], [0.12, 0.10, 0.32, 0.30], [0.60, 0.60, 0.80, 0.80]])
    keypoints = np.stack([np.full((6, 2), 0.2), np.full((6, 2), 0.3), np.full((6, 2), 0.7)])
    scores = np.array([0.9, 0.8, 0.95])
    kept_boxes, kept_keypoints, kept_scores = bf.weighted_nms(boxes, keypoints, scores)
    assert len(kept_boxes) == 2
    np.testing.assert_allclose(kept_scores, [0.95, 0.85])  # best first; a merged face has the mean score
    np.testing.assert_allclose(kept_boxes[0], boxes[2])
    np.testing.assert_allclose(kept_boxes[1], (0.9 * boxes[0] + 0.8 * boxes[1]) / 1.7)
    np.testing.assert_allclose(kept_keypoints[1], np.full((6, 2), (0.9 * 0.2 + 0.8 * 0.3) / 1.7))
    # Separate boxes stay apart; a degenerate box (IoU 0 even with itself) still leaves the loop.
    degenerate = np.array([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]])
    assert len(bf.weighted_nms(degenerate, np.zeros((2, 6, 2)), np.array([0.9, 0.8]))[0]) == 2
    empty = bf.weighted_nms(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0))
    assert [a.shape for a in empty] == [(0, 4), (0, 6, 2), (0,)]


def test_detect_merges_neighbouring_anchors_into_one_face():
    values = np.array([0, 0, 40, 40] + [0] * 12, np.float32)
    # Both anchors of one 16x16 cell and the next cell's: heavily overlapping boxes, one face.
    regressors, logits = _raw_outputs({40: (3.0, values), 41: (2.0, values), 42: (2.5, values), 300: (4.0, values)})
    boxes, keypoints, scores = bf.detect(regressors, logits)
    assert len(boxes) == 2
    np.testing.assert_allclose(boxes[0], bf.decode(*_raw_outputs({300: (4.0, values)}))[0][0], atol=1e-7)


def test_input_preparation_and_coordinates_back_to_the_image():
    image = np.zeros((60, 100, 3), np.uint8)
    square, letterbox = bf.letterbox_square(image + 200)
    assert square.shape == (100, 100, 3) and letterbox == bf.Letterbox(left=0, top=20, side=100)
    assert square[19].max() == 0 and square[20].min() == 200 and square[80].max() == 0
    # The square's point (0.5, 0.3) is pixel (50, 30 - 20) of the image; boxes map both corners.
    np.testing.assert_allclose(bf.to_image_pixels(np.array([0.5, 0.3]), letterbox), [50, 10])
    np.testing.assert_allclose(bf.to_image_pixels(np.array([0.1, 0.2, 0.5, 0.8]), letterbox), [10, 0, 50, 60])

    pixels = np.zeros((128, 128, 3), np.uint8)
    pixels[0, 0] = (255, 0, 127)
    x = bf.to_network_input(pixels)
    assert x.shape == (1, 3, 128, 128) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, -1.0, 127 / 127.5 - 1], atol=1e-7)
    with pytest.raises(ValueError, match="128x128"):
        bf.to_network_input(np.zeros((64, 64, 3), np.uint8))
