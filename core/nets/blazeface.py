"""BlazeFace: the front-camera face detector (128x128 input), in PaddleGAN's parameter layout.

The network is a small single-shot detector. A 5x5 stride-2 stem takes the image to 64x64;
"BlazeBlocks" (a 3x3 depthwise conv, a 1x1 pointwise conv, a residual shortcut, ReLU) take it
to 16x16 with 88 channels (``backbone1``) and then to 8x8 with 96 channels (``backbone2``).
Two heads per scale read those maps: 2 anchors per cell at 16x16 and 6 per cell at 8x8, 896
anchors in all. ``forward`` returns the raw outputs, as PaddleGAN's network does:

- regressors [N, 896, 16]: per anchor, the box centre offset (x, y), its size (w, h) and six
  keypoints (x, y), all in input pixels relative to the anchor;
- scores [N, 896, 1]: logits of "a face".

The weights trained by Google (MediaPipe's ``face_detection_short_range.tflite``) were converted
to TensorFlow Lite, whose stride-2 convolutions pad the 'SAME' way: nothing before and the rest
after when the padding is odd. This network pads explicitly before unpadded stride-2
convolutions, which gives the same numbers (PaddleGAN does the same).

The input is RGB scaled to [-1, 1] (``x / 127.5 - 1``) at 128x128. The second half of this
file holds the numpy helpers around the network (preparing the input, the anchors, decoding,
weighted non-maximum suppression), so that a face pipeline can use them without paddle.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

INPUT_SIZE = 128
NUM_ANCHORS = 896
NUM_COORDS = 16  # box centre and size (4) + 6 keypoints (x, y)
NUM_KEYPOINTS = 6
# MediaPipe's keypoint order; "right" is the person's right (on the left of a frontal photo).
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")

# (input channels, output channels, stride) of each BlazeBlock: backbone1 ends at 16x16, 88 channels.
BACKBONE1_BLOCKS = (
    (24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1), (42, 48, 2),
    (48, 56, 1), (56, 64, 1), (64, 72, 1), (72, 80, 1), (80, 88, 1),
)
BACKBONE2_BLOCKS = ((88, 96, 2), (96, 96, 1), (96, 96, 1), (96, 96, 1), (96, 96, 1))
STEM_CHANNELS = 24
ANCHORS_PER_CELL_16 = 2  # at 16x16 (stride 8)
ANCHORS_PER_CELL_8 = 6  # at 8x8 (stride 16)


def tflite_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's 'SAME' convolution along one axis of `size`.

    The output has ceil(size / stride) positions; any odd padding goes after, not before.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x, kernel: int, stride: int):
    """`x` (NCHW) padded with zeros as TensorFlow's 'SAME' would, for an unpadded convolution next."""
    top, bottom = tflite_same_padding(x.shape[2], kernel, stride)
    left, right = tflite_same_padding(x.shape[3], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, [left, right, top, bottom], mode="constant", value=0.0, data_format="NCHW")


class BlazeBlock(nn.Layer):
    """Depthwise 3x3 then pointwise 1x1 convolution, plus a shortcut, then ReLU.

    With stride 2 the shortcut is a 2x2 max pool; when the block widens, the shortcut's extra
    channels are zeros. Parameters: ``convs.0`` (depthwise), ``convs.1`` (pointwise).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if stride not in (1, 2) or out_channels < in_channels:
            raise ValueError(f"BlazeBlock({in_channels}, {out_channels}, stride={stride}) is not a BlazeFace block")
        self.stride = stride
        self.extra_channels = out_channels - in_channels
        # Stride 1: 'SAME' is a symmetric padding of 1; stride 2 pads in forward (see pad_same).
        self.convs = nn.Sequential(
            nn.Conv2D(in_channels, in_channels, 3, stride=stride, padding=1 if stride == 1 else 0, groups=in_channels),
            nn.Conv2D(in_channels, out_channels, 1),
        )

    def forward(self, x):
        if self.stride == 2:
            branch = self.convs(pad_same(x, 3, 2))
            shortcut = F.max_pool2d(x, kernel_size=2, stride=2)
        else:
            branch = self.convs(x)
            shortcut = x
        if self.extra_channels:
            # A pad list as long as twice the rank pads every axis from the first: here channels only.
            shortcut = F.pad(shortcut, [0, 0, 0, self.extra_channels, 0, 0, 0, 0], mode="constant", value=0.0)
        return F.relu(branch + shortcut)


class BlazeFace(nn.Layer):
    """BlazeFace front model: [N, 3, 128, 128] in [-1, 1] -> (regressors [N, 896, 16], scores [N, 896, 1])."""

    def __init__(self):
        super().__init__()
        self.backbone1 = nn.Sequential(
            nn.Conv2D(3, STEM_CHANNELS, 5, stride=2, padding=0),  # padded 'SAME' in forward
            nn.ReLU(),
            *[BlazeBlock(i, o, s) for i, o, s in BACKBONE1_BLOCKS],
        )
        self.backbone2 = nn.Sequential(*[BlazeBlock(i, o, s) for i, o, s in BACKBONE2_BLOCKS])
        features_16, features_8 = BACKBONE1_BLOCKS[-1][1], BACKBONE2_BLOCKS[-1][1]
        self.classifier_8 = nn.Conv2D(features_16, ANCHORS_PER_CELL_16, 1)
        self.classifier_16 = nn.Conv2D(features_8, ANCHORS_PER_CELL_8, 1)
        self.regressor_8 = nn.Conv2D(features_16, ANCHORS_PER_CELL_16 * NUM_COORDS, 1)
        self.regressor_16 = nn.Conv2D(features_8, ANCHORS_PER_CELL_8 * NUM_COORDS, 1)

    @staticmethod
    def _per_anchor(head_output, values_per_anchor: int):
        """[N, A*k, H, W] -> [N, H*W*A, k]: anchors ordered by row, column, then anchor in the cell."""
        return paddle.reshape(head_output.transpose([0, 2, 3, 1]), [0, -1, values_per_anchor])

    def forward(self, x):
        x = pad_same(x, 5, 2)
        features_16 = self.backbone1(x)  # [N, 88, 16, 16]
        features_8 = self.backbone2(features_16)  # [N, 96, 8, 8]
        scores = paddle.concat(
            [self._per_anchor(self.classifier_8(features_16), 1), self._per_anchor(self.classifier_16(features_8), 1)],
            axis=1,
        )
        regressors = paddle.concat(
            [
                self._per_anchor(self.regressor_8(features_16), NUM_COORDS),
                self._per_anchor(self.regressor_16(features_8), NUM_COORDS),
            ],
            axis=1,
        )
        return regressors, scores


@architecture(
    "blazeface",
    "BlazeFace front-camera face detector, 128x128 (PaddleGAN layout)",
    default_weights="blazeface.mediapipe_short_range",
    configurations={"face_blazeface": ({}, "blazeface.mediapipe_short_range")},
)
def blazeface(**overrides):
    """BlazeFace front model (no constructor arguments: the layout is fixed by its weights)."""
    if overrides:
        raise TypeError(f"blazeface takes no arguments, got {sorted(overrides)}")
    return BlazeFace()


# ==================================================================================== helpers
# Plain numpy around the network: input preparation, anchors, decoding and suppression.
# Coordinates are fractions of the square 128x128 input (0..1), x before y.

DEFAULT_MIN_SCORE = 0.75  # PaddleGAN's threshold on the sigmoid score
DEFAULT_IOU_THRESHOLD = 0.3  # detections overlapping more than this are merged
SCORE_CLIP = 100.0  # logits are clipped before the sigmoid (MediaPipe's score_clipping_thresh)
# Regressor units: input pixels, scaled by the anchor size (1.0) over the input size.
BOX_SCALE = float(INPUT_SIZE)


class Letterbox(NamedTuple):
    """Where an image sits inside the square it was padded to: offsets and side, in image pixels."""

    left: int
    top: int
    side: int


def letterbox_square(image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """`image` (H, W, C) centred on a black square (MediaPipe keeps the aspect ratio this way).

    Resize the square to 128x128 next; ``to_image_pixels`` maps detections back.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    square[top:top + height, left:left + width] = image
    return square, Letterbox(left, top, side)


def to_image_pixels(points: np.ndarray, letterbox: Letterbox) -> np.ndarray:
    """Coordinates in 0..1 of the letterboxed square ([..., 2] points, or [..., 4] boxes x0,y0,x1,y1) -> image pixels."""
    points = np.asarray(points, dtype=np.float64)
    offset = np.array([letterbox.left, letterbox.top], dtype=np.float64)
    if points.shape[-1] == 4:
        offset = np.tile(offset, 2)
    return points * letterbox.side - offset


def to_network_input(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 image (128, 128, 3) -> the network's input [1, 3, 128, 128], float32 in [-1, 1]."""
    image = np.asarray(image)
    if image.shape != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(f"BlazeFace takes a {INPUT_SIZE}x{INPUT_SIZE} RGB image, got an array of shape {image.shape}")
    scaled = image.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None])


def anchors(input_size: int = INPUT_SIZE, strides=(8, 16, 16, 16), anchors_per_layer: int = 2,
            offset: float = 0.5) -> np.ndarray:
    """The detector's anchors [896, 4] as (x centre, y centre, width, height), fractions of the input.

    MediaPipe's SSD anchor rule for the front model, with a fixed anchor size of 1: layers that
    share a stride share a grid, and each such layer adds `anchors_per_layer` anchors per cell
    (one per aspect ratio, 1.0, plus one interpolated scale). Anchors follow the grids in stride
    order, each grid row by row, all anchors of a cell together: 512 at 16x16, then 384 at 8x8,
    which is the order of the network's outputs.
    """
    rows = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        layers_here = 1
        while layer + layers_here < len(strides) and strides[layer + layers_here] == stride:
            layers_here += 1
        cells = math.ceil(input_size / stride)
        per_cell = anchors_per_layer * layers_here
        for y in range(cells):
            for x in range(cells):
                rows.extend([((x + offset) / cells, (y + offset) / cells, 1.0, 1.0)] * per_cell)
        layer += layers_here
    return np.array(rows, dtype=np.float32)


def _one_image(array, width: int, what: str) -> np.ndarray:
    """An output of one image as [896, width]: a leading batch axis of 1 is dropped."""
    array = np.asarray(array.numpy() if hasattr(array, "numpy") else array, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 1 and width == 1:
        array = array[:, None]
    if array.shape != (NUM_ANCHORS, width):
        raise ValueError(f"{what}: expected one image's [{NUM_ANCHORS}, {width}], got shape {array.shape}")
    return array


def decode(raw_boxes, raw_scores, anchor_boxes: np.ndarray | None = None, min_score: float = DEFAULT_MIN_SCORE):
    """The network's raw outputs of one image -> the anchors that hold a face, before suppression.

    Returns (boxes [N, 4] as x0, y0, x1, y1; keypoints [N, 6, 2] as x, y; scores [N]), all
    coordinates as fractions of the network input, scores as probabilities >= `min_score`.
    """
    regressors = _one_image(raw_boxes, NUM_COORDS, "raw boxes").astype(np.float64)
    logits = _one_image(raw_scores, 1, "raw scores")[:, 0].astype(np.float64)
    anchor_boxes = anchors() if anchor_boxes is None else np.asarray(anchor_boxes, dtype=np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    regressors, anchor_boxes, scores = regressors[keep], anchor_boxes[keep], scores[keep]

    centre, size = anchor_boxes[:, None, :2], anchor_boxes[:, None, 2:]
    # Pairs (x, y): the box centre, the box size, then the six keypoints.
    pairs = regressors.reshape(-1, NUM_COORDS // 2, 2) / BOX_SCALE * size
    box_centre, box_size = pairs[:, 0] + centre[:, 0], pairs[:, 1]
    boxes = np.concatenate([box_centre - box_size / 2, box_centre + box_size / 2], axis=1)
    keypoints = pairs[:, 2:] + centre
    return boxes, keypoints, scores


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (x0, y0, x1, y1) with each of `boxes` [M, 4]."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(high - low, 0.0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = DEFAULT_IOU_THRESHOLD):
    """BlazeFace's weighted non-maximum suppression: each face is the score-weighted mean of its cluster.

    Repeatedly take the best remaining detection and every remaining one whose box overlaps it by
    more than `iou_threshold` (itself included); the face's box and keypoints are their
    score-weighted mean, its score their mean score (as PaddleGAN does). Faces come best first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    remaining = np.argsort(-scores, kind="stable")
    kept_boxes, kept_keypoints, kept_scores = [], [], []
    while remaining.size:
        overlapping = box_iou(boxes[remaining[0]], boxes[remaining]) > iou_threshold
        overlapping[0] = True  # the best one always leaves, even a degenerate box (IoU 0 with itself)
        cluster, remaining = remaining[overlapping], remaining[~overlapping]
        weights = scores[cluster]
        if not weights.sum() > 0:  # all-zero scores: nothing to weigh by, keep the best one as it is
            cluster, weights = cluster[:1], np.ones(1)
        kept_boxes.append(np.average(boxes[cluster], axis=0, weights=weights))
        kept_keypoints.append(np.average(keypoints[cluster], axis=0, weights=weights))
        kept_scores.append(scores[cluster].mean())
    return (
        np.array(kept_boxes).reshape(-1, 4),
        np.array(kept_keypoints).reshape(-1, NUM_KEYPOINTS, 2),
        np.array(kept_scores),
    )


def detect(raw_boxes, raw_scores, min_score: float = DEFAULT_MIN_SCORE,
           iou_threshold: float = DEFAULT_IOU_THRESHOLD):
    """``decode`` then ``weighted_nms``: the faces in one image's raw outputs, best first."""
    return weighted_nms(*decode(raw_boxes, raw_scores, min_score=min_score), iou_threshold=iou_threshold)
