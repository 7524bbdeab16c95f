"""S3FD: the single-shot scale-invariant face detector, in PaddleGAN's parameter layout.

S3FD (Zhang et al., "S3FD: Single Shot Scale-invariant Face Detector", 2017) is a VGG-16 trunk
with SSD heads. PaddleGAN's face utilities (First Order Motion's face cropping, Wav2Lip's face
finder) run it on whole frames; this file is weight-compatible with their checkpoint
(``s3fd_paddle.pdparams``, a flat state dict).

The network, for an input of H x W (any size; a multiple of 128 keeps every map whole):

- VGG-16: ``conv1_*`` .. ``conv5_*`` (3x3 convolutions and ReLU, a 2x2 max pool after each
  stage); the heads read conv3_3 (H/4), conv4_3 (H/8) and conv5_3 (H/16), each through an
  ``L2Norm`` (per-position channel L2 normalisation times a learnt per-channel scale, initially
  10, 8 and 5);
- ``fc6`` (3x3, padding 3, which widens the map by 4 cells) and ``fc7`` (1x1) at H/32 + 4;
- ``conv6_1``/``conv6_2`` and ``conv7_1``/``conv7_2`` (1x1 then 3x3 stride 2): two smaller maps.

Six detection levels, each a 3x3 classification head (2 channels: background, face) and a 3x3
regression head (4 channels), one anchor per cell. The first level's classifier has 4 channels:
3 background scores and a face score; the background is their maximum ("max-out background
label", which lowers false positives from the many small anchors). ``forward`` returns the 12
raw maps in PaddleGAN's order: cls, reg of conv3_3, conv4_3, conv5_3, fc7, conv6_2, conv7_2.

The second half of the file is plain numpy: the input preparation, the prior boxes, decoding
and non-maximum suppression, as PaddleGAN's ``sfd`` detector does them.
"""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# VGG-16 stages: (name prefix, output channels, convolutions); a 2x2 max pool follows each.
VGG_STAGES = (("conv1", 64, 2), ("conv2", 128, 2), ("conv3", 256, 3), ("conv4", 512, 3), ("conv5", 512, 3))
# The feature maps the heads read, with their channels and (for the L2-normalised ones) initial scale.
L2NORM_SCALES = {"conv3_3": 10.0, "conv4_3": 8.0, "conv5_3": 5.0}
HEAD_SOURCES = (("conv3_3_norm", 256), ("conv4_3_norm", 512), ("conv5_3_norm", 512),
                ("fc7", 1024), ("conv6_2", 512), ("conv7_2", 256))
MAXOUT_BACKGROUND = 3  # background channels of the first level's classifier
NUM_LEVELS = len(HEAD_SOURCES)


class L2Norm(nn.Layer):
    """Each position's channel vector divided by its L2 norm (+1e-10), times a learnt per-channel scale."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.eps = 1e-10
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(scale))

    def forward(self, x):
        norm = paddle.sqrt(paddle.sum(x * x, axis=1, keepdim=True)) + self.eps
        return x / norm * self.weight.reshape([1, -1, 1, 1])


class S3FD(nn.Layer):
    """S3FD: [N, 3, H, W] (BGR minus the mean, see ``to_network_input``) -> 12 raw maps.

    Per level i (0..5): classification logits [N, 2, Hi, Wi] (background, face), then box
    regression [N, 4, Hi, Wi] (dx, dy, dw, dh against the level's prior boxes).
    """

    def __init__(self):
        super().__init__()
        in_channels = 3
        for prefix, channels, count in VGG_STAGES:
            for k in range(1, count + 1):
                setattr(self, f"{prefix}_{k}", nn.Conv2D(in_channels, channels, 3, padding=1))
                in_channels = channels
        self.fc6 = nn.Conv2D(512, 1024, 3, padding=3)
        self.fc7 = nn.Conv2D(1024, 1024, 1)
        self.conv6_1 = nn.Conv2D(1024, 256, 1)
        self.conv6_2 = nn.Conv2D(256, 512, 3, stride=2, padding=1)
        self.conv7_1 = nn.Conv2D(512, 128, 1)
        self.conv7_2 = nn.Conv2D(128, 256, 3, stride=2, padding=1)
        channels_of = {"conv3_3": 256, "conv4_3": 512, "conv5_3": 512}
        for name, scale in L2NORM_SCALES.items():
            setattr(self, f"{name}_norm", L2Norm(channels_of[name], scale))
        for level, (source, channels) in enumerate(HEAD_SOURCES):
            classes = MAXOUT_BACKGROUND + 1 if level == 0 else 2
            setattr(self, f"{source}_mbox_conf", nn.Conv2D(channels, classes, 3, padding=1))
            setattr(self, f"{source}_mbox_loc", nn.Conv2D(channels, 4, 3, padding=1))

    def forward(self, x):
        features = {}
        h = x
        for prefix, _, count in VGG_STAGES:
            for k in range(1, count + 1):
                h = F.relu(getattr(self, f"{prefix}_{k}")(h))
            features[f"{prefix}_{count}"] = h  # conv3_3, conv4_3, conv5_3 are read below
            h = F.max_pool2d(h, kernel_size=2, stride=2)
        h = F.relu(self.fc6(h))
        h = F.relu(self.fc7(h))
        features["fc7"] = h
        h = F.relu(self.conv6_2(F.relu(self.conv6_1(h))))
        features["conv6_2"] = h
        h = F.relu(self.conv7_2(F.relu(self.conv7_1(h))))
        features["conv7_2"] = h
        for name in L2NORM_SCALES:
            features[f"{name}_norm"] = getattr(self, f"{name}_norm")(features[name])

        outputs = []
        for level, (source, _) in enumerate(HEAD_SOURCES):
            scores = getattr(self, f"{source}_mbox_conf")(features[source])
            if level == 0:
                background = paddle.max(scores[:, :MAXOUT_BACKGROUND], axis=1, keepdim=True)
                scores = paddle.concat([background, scores[:, MAXOUT_BACKGROUND:]], axis=1)
            outputs.append(scores)
            outputs.append(getattr(self, f"{source}_mbox_loc")(features[source]))
        return outputs


@architecture(
    "s3fd",
    "S3FD face detector (PaddleGAN layout; used by First Order Motion and Wav2Lip)",
    default_weights="s3fd.paddlegan",
    configurations={"face_s3fd": ({}, "s3fd.paddlegan")},
)
def s3fd(**overrides):
    """S3FD (no constructor arguments: the layout is fixed by its weights)."""
    if overrides:
        raise TypeError(f"s3fd takes no arguments, got {sorted(overrides)}")
    return S3FD()


# ==================================================================================== helpers
# Plain numpy around the network. Boxes are (x0, y0, x1, y1) in pixels of the network input
# unless said otherwise.

# Per-channel mean of the training images in B, G, R order (Caffe's VGG convention); the network
# takes BGR minus this mean, unscaled (0..255 range).
BGR_MEAN = (104.0, 117.0, 123.0)
VARIANCES = (0.1, 0.2)  # SSD's encoding: centre offsets in 0.1 anchor sizes, log sizes in 0.2
CANDIDATE_SCORE = 0.05  # anchors scoring above this are decoded and enter suppression
NMS_IOU = 0.3  # a detection overlapping a better one by more than this is dropped
DEFAULT_THRESHOLD = 0.5  # PaddleGAN keeps faces scoring above this


def level_stride(level: int) -> int:
    """The stride PaddleGAN assigns to detection level `level` (0..5): 4, 8, ..., 128 pixels."""
    return 2 ** (level + 2)


def level_anchor_size(level: int) -> int:
    """The (square) prior box side of level `level`: 4 strides, 16, 32, ..., 512 pixels."""
    return 4 * level_stride(level)


def to_network_input(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 image (H, W, 3) -> the network's input [1, 3, H, W] float32: BGR minus ``BGR_MEAN``.

    S3FD was trained in Caffe on BGR images with the mean subtracted and no scaling; PaddleGAN's
    First Order Motion reverses its RGB frames to BGR before detection, as this does.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"S3FD takes an RGB image (H, W, 3), got an array of shape {image.shape}")
    bgr = image[..., ::-1].astype(np.float32) - np.array(BGR_MEAN, dtype=np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def prior_boxes(level: int, height: int, width: int) -> np.ndarray:
    """The priors of a level's [height, width] map, [height * width, 4] as (x centre, y centre, w, h) in pixels.

    Row by row (x fastest), the order of the map's flattened cells. The cell (row, col) is
    centred at (stride/2 + col*stride, stride/2 + row*stride), even where the map reaches past the
    image (fc7's map is 4 cells wider than the image / 32, as PaddleGAN's network makes it).
    """
    stride, size = level_stride(level), level_anchor_size(level)
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    centres_x = stride / 2 + xs.reshape(-1) * stride
    centres_y = stride / 2 + ys.reshape(-1) * stride
    sizes = np.full(centres_x.shape, float(size))
    return np.stack([centres_x, centres_y, sizes, sizes], axis=1).astype(np.float64)


def decode(loc: np.ndarray, priors: np.ndarray, variances=VARIANCES) -> np.ndarray:
    """Regressions [N, 4] (dx, dy, dw, dh) on priors [N, 4] (cx, cy, w, h) -> boxes [N, 4] (x0, y0, x1, y1).

    Centre = prior centre + d * variances[0] * prior size; size = prior size * exp(d * variances[1]).
    """
    loc = np.asarray(loc, dtype=np.float64).reshape(-1, 4)
    priors = np.asarray(priors, dtype=np.float64).reshape(-1, 4)
    centres = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    return np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, best score first.

    Take the best remaining box and drop every remaining one overlapping it by more than `iou`.
    Overlaps count pixels inclusively (a box from x0 to x1 is x1 - x0 + 1 wide), as PaddleGAN's
    S3FD suppression does.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        intersection = width * height
        union = areas[best] + areas[rest] - intersection
        overlap = np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def _one_image_maps(raw_outputs) -> list[np.ndarray]:
    """The 12 raw maps of one image as numpy [C, H, W] (a leading batch axis of 1 is dropped)."""
    maps = [np.asarray(o.numpy() if hasattr(o, "numpy") else o, dtype=np.float64) for o in raw_outputs]
    if len(maps) != 2 * NUM_LEVELS:
        raise ValueError(f"S3FD has {2 * NUM_LEVELS} raw outputs (cls, reg per level), got {len(maps)}")
    for i, array in enumerate(maps):
        if array.ndim == 4:
            if array.shape[0] != 1:
                raise ValueError(f"output {i} holds {array.shape[0]} images; pass one image's outputs (o[i:i+1])")
            maps[i] = array = array[0]
        channels = 2 if i % 2 == 0 else 4
        if array.ndim != 3 or array.shape[0] != channels:
            raise ValueError(f"output {i}: expected [1, {channels}, H, W], got shape {array.shape}")
    return maps


def candidates(raw_outputs, min_score: float = CANDIDATE_SCORE):
    """Every prior whose face probability exceeds `min_score`, decoded: (boxes [N, 4], scores [N]).

    Boxes are in pixels of the network input, levels in order, each level's cells row by row.
    """
    maps = _one_image_maps(raw_outputs)
    all_boxes, all_scores = [], []
    for level in range(NUM_LEVELS):
        logits, loc = maps[2 * level], maps[2 * level + 1]
        # Softmax over (background, face): the face probability is a sigmoid of their difference.
        face = 1.0 / (1.0 + np.exp(np.clip(logits[0] - logits[1], -700, 700)))
        _, height, width = loc.shape
        face = face.reshape(-1)
        chosen = np.flatnonzero(face > min_score)
        priors = prior_boxes(level, height, width)[chosen]
        all_boxes.append(decode(loc.reshape(4, -1).T[chosen], priors))
        all_scores.append(face[chosen])
    return np.concatenate(all_boxes).reshape(-1, 4), np.concatenate(all_scores)


def detect(raw_outputs, image_height: int, image_width: int, threshold: float = DEFAULT_THRESHOLD,
           network_size: tuple[int, int] | None = None):
    """The faces in one image's raw outputs: (boxes [N, 4] as x0, y0, x1, y1 in pixels, scores [N]), best first.

    As PaddleGAN: priors scoring above 0.05 are decoded, suppressed at IoU 0.3, and those scoring
    above `threshold` (0.5) are kept. Boxes are clipped to the image.

    image_height, image_width: the image the boxes are for. network_size: (height, width) of the
    network's input when it was a resized copy of that image (boxes are scaled back); by default
    the network saw the image itself.
    """
    boxes, scores = candidates(raw_outputs)
    keep = nms(boxes, scores, NMS_IOU)
    boxes, scores = boxes[keep], scores[keep]
    confident = scores > threshold
    boxes, scores = boxes[confident], scores[confident]
    if network_size is not None:
        net_height, net_width = network_size
        boxes = boxes * np.array([image_width / net_width, image_height / net_height] * 2)
    boxes = np.clip(boxes, 0.0, np.array([image_width, image_height] * 2, dtype=np.float64))
    return boxes.reshape(-1, 4), scores
