"""First Order Motion Model (Siarohin et al., NeurIPS 2019) in PaddleGAN's parameter layout.

The model animates one source image with the motion of a driving video, in three parts:

- a keypoint detector (``kp_detector``): an hourglass U-Net on the image shrunk 4x (a Gaussian
  blur, then every 4th pixel) predicts one heatmap per keypoint; a softmax (temperature 0.1)
  over each heatmap gives a probability map whose expected position is the keypoint (x, y in
  [-1, 1]), and the same weights average a 2x2 "jacobian" (the local affine motion) per keypoint;
- a dense motion network (``generator.dense_motion_network``): around every keypoint the motion
  from the driving frame to the source is the first-order Taylor expansion
  ``T(z) = kp_s + J_s J_d^-1 (z - kp_d)``; the source warped by each of those motions (and by the
  identity, for the background), with Gaussian bumps at the keypoints, feed a second hourglass
  that predicts soft masks mixing the motions into one dense flow, and an occlusion map;
- an occlusion-aware generator (``generator``): an encoder takes the source to features at 1/4
  size, the flow warps them, the occlusion map dims what the source can't show, and a residual
  bottleneck and decoder paint the frame (a sigmoid: RGB in [0, 1]).

``FirstOrderMotion`` holds the two networks as ``generator`` (registered first) and
``kp_detector``, so its state dict names are PaddleGAN's checkpoint names under those two
prefixes. PaddleGAN's file holds ``{'generator': {...}, 'kp_detector': {...}}``: its checkpoints
declare ``prefix_keys`` so the loader reads those two dicts under the two prefixes. ``mobile_net=True`` gives PaddleGAN's light
variant (depthwise-separable blocks, 3x3 heads, a 3-tap anti-alias blur). Both are built for
inference as PaddleGAN's predictor builds them (``inference=True``: the flow turns into the
identity near the border of the feature map, and the full model's occlusion map is 1 there).

Images are RGB floats in [0, 1], NCHW, 256x256 for the published checkpoints. Keypoints are
``Keypoints(value [N, K, 2], jacobian [N, K, 2, 2])``. ``normalize_kp`` (numpy) is the predictor's
"relative motion" step: the driving frame's keypoints move the source's keypoints by how far they
moved since the first driving frame (optionally rescaled by the ratio of the keypoints' convex hull
areas).

Licence: treat the weights as non-commercial. The original code was CC BY-NC 4.0 when PaddleGAN
ported it (its files point to that licence and warn against commercial use); the original
repository moved to MIT in June 2023, which says nothing new about the published checkpoints.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

NUM_KP = 10
IMAGE_SIZE = 256
KP_VARIANCE = 0.01  # variance of the Gaussian bumps around keypoints (in [-1, 1] units)
BORDER = 5  # inference: feature-map pixels near the border where the flow fades to identity


class Keypoints(NamedTuple):
    """Keypoints of a batch: positions [N, K, 2] (x, y in [-1, 1]) and jacobians [N, K, 2, 2] (or None)."""

    value: object
    jacobian: object = None


# ====================================================================== grids and kernels


@functools.lru_cache(maxsize=32)
def coordinate_grid(height: int, width: int) -> np.ndarray:
    """[H, W, 2] float32: (x, y) of every pixel, from -1 at the first pixel to 1 at the last (align_corners)."""
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)
    x = np.float32(2) * (x / np.float32(width - 1)) - np.float32(1)
    y = np.float32(2) * (y / np.float32(height - 1)) - np.float32(1)
    grid = np.stack([np.broadcast_to(x[None, :], (height, width)), np.broadcast_to(y[:, None], (height, width))], -1)
    grid.setflags(write=False)
    return grid


@paddle.jit.not_to_static
def _grid_tensor(height: int, width: int):
    return paddle.to_tensor(np.ascontiguousarray(coordinate_grid(height, width)))


def anti_alias_kernel(scale: float, mobile_net: bool = False) -> tuple[np.ndarray, int]:
    """(2-D Gaussian [k, k] summing to 1, k) of the blur before subsampling by 1/scale.

    sigma = (1/scale - 1) / 2 and k = 2 * round(4 sigma) + 1 (13 taps at scale 1/4);
    PaddleGAN's mobile variant uses sigma 0.25 and 3 taps whatever the scale.
    """
    if mobile_net:
        sigma, size = 0.25, 3
    else:
        sigma = (1.0 / scale - 1.0) / 2.0
        size = 2 * round(sigma * 4) + 1
    taps = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    one_d = np.exp(-(taps**2) / (2.0 * sigma**2 + 1e-9))
    kernel = np.outer(one_d, one_d)
    return (kernel / kernel.sum()).astype(np.float32), size


# OpenCV 4's GaussianBlur with a 9x9 window and sigma 0 (what PaddleGAN calls) uses its bit-exact
# kernel: the sigma-1.7 Gaussian in 1/256 steps.
BORDER_BLUR_TAPS = np.array([4, 13, 30, 51, 60, 51, 30, 13, 4], np.float64) / 256.0


@functools.lru_cache(maxsize=32)
def border_fade(height: int, width: int, border: int = BORDER) -> np.ndarray:
    """[H, W] float32: 1 inside, 0 within `border` pixels of the edge, smoothed by ``BORDER_BLUR_TAPS``
    in both directions (as OpenCV's ``GaussianBlur(mask, (9, 9), 0)`` smooths it)."""
    inside = np.zeros((height, width), np.float64)
    inside[border:height - border, border:width - border] = 1.0
    taps = BORDER_BLUR_TAPS
    radius = len(taps) // 2
    padded = np.pad(inside, radius)  # zeros: the 1-region stays `border` >= radius pixels inside
    rows = sum(taps[i] * padded[:, i:i + width] for i in range(len(taps)))
    out = sum(taps[i] * rows[i:i + height, :] for i in range(len(taps)))
    out = out.astype(np.float32)
    out.setflags(write=False)
    return out


@paddle.jit.not_to_static
def _fade_tensor(height: int, width: int):
    return paddle.to_tensor(np.ascontiguousarray(border_fade(height, width, BORDER)))


# ====================================================================== blocks


def _norm(channels: int):
    return nn.BatchNorm2D(channels)


class AntiAliasDownsample(nn.Layer):
    """A Gaussian blur (buffer ``weight``, one kernel per channel), then every (1/scale)-th pixel."""

    def __init__(self, channels: int, scale: float, mobile_net: bool = False):
        super().__init__()
        inverse = 1.0 / scale
        if abs(inverse - round(inverse)) > 1e-9:
            raise ValueError(f"anti-alias scale {scale} is not 1/integer")
        self.step = int(round(inverse))
        kernel, size = anti_alias_kernel(scale, mobile_net)
        self.before = size // 2
        self.after = self.before - 1 if size % 2 == 0 else self.before
        self.channels = channels
        self.register_buffer("weight", paddle.to_tensor(np.tile(kernel[None, None], (channels, 1, 1, 1))))

    def forward(self, x):
        if self.step == 1:
            return x
        x = F.pad(x, [self.before, self.after, self.before, self.after], mode="constant", value=0.0)
        x = F.conv2d(x, self.weight, groups=self.channels)
        return x[:, :, ::self.step, ::self.step]


class DownBlock(nn.Layer):
    """3x3 conv, batch norm, ReLU, 2x2 average pool (``conv``, ``norm``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, 3, padding=1)
        self.norm = _norm(out_channels)

    def forward(self, x):
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class MobileDownBlock(nn.Layer):
    """Depthwise 3x3 (``conv``, ``norm``), pointwise 1x1 (``conv1``, ``norm1``), each with ReLU, then a 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, in_channels, 3, padding=1, groups=in_channels, bias_attr=False)
        self.norm = _norm(in_channels)
        self.conv1 = nn.Conv2D(in_channels, out_channels, 1, bias_attr=False)
        self.norm1 = _norm(out_channels)

    def forward(self, x):
        x = F.relu(self.norm(self.conv(x)))
        x = F.relu(self.norm1(self.conv1(x)))
        return F.avg_pool2d(x, 2)


class UpBlock(nn.Layer):
    """Nearest 2x upsampling, 3x3 conv, batch norm, ReLU (``conv``, ``norm``).

    The upsampling is an ``nn.Upsample`` sublayer (no parameters) so that ``core.export.upsample_free``
    can replace it for export."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2D(in_channels, out_channels, 3, padding=1)
        self.norm = _norm(out_channels)

    def forward(self, x):
        return F.relu(self.norm(self.conv(self.upsample(x))))


class MobileUpBlock(nn.Layer):
    """Nearest 2x upsampling, depthwise 3x3 (``conv``, ``norm``) and pointwise 1x1 (``conv1``, ``norm1``), each with ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2D(in_channels, in_channels, 3, padding=1, groups=in_channels, bias_attr=False)
        self.conv1 = nn.Conv2D(in_channels, out_channels, 1, bias_attr=False)
        self.norm = _norm(in_channels)
        self.norm1 = _norm(out_channels)

    def forward(self, x):
        x = F.relu(self.norm(self.conv(self.upsample(x))))
        return F.relu(self.norm1(self.conv1(x)))


class SameBlock(nn.Layer):
    """Conv (no bias in the mobile variant), batch norm, ReLU, same resolution (``conv``, ``norm``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                              weight_attr=nn.initializer.KaimingUniform(), bias_attr=None if bias else False)
        self.norm = _norm(out_channels)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class ResBlock(nn.Layer):
    """Pre-activation residual block: (norm, ReLU, 3x3 conv) twice, plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2D(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2D(channels, channels, 3, padding=1)
        self.norm1 = _norm(channels)
        self.norm2 = _norm(channels)

    def forward(self, x):
        y = self.conv1(F.relu(self.norm1(x)))
        y = self.conv2(F.relu(self.norm2(y)))
        return y + x


class MobileResBlock(nn.Layer):
    """Inverted residual: norm+ReLU, 1x1 expand x2 (norm), depthwise 3x3 (norm, ReLU), 1x1 project (norm), plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        wide = channels * 2
        self.conv_pw = nn.Conv2D(channels, wide, 1, bias_attr=False)
        self.conv_dw = nn.Conv2D(wide, wide, 3, padding=1, groups=wide, bias_attr=False)
        self.conv_pw_linear = nn.Conv2D(wide, channels, 1, bias_attr=False)
        self.norm1 = _norm(channels)
        self.norm_pw = _norm(wide)
        self.norm_dw = _norm(wide)
        self.norm_pw_linear = _norm(channels)

    def forward(self, x):
        y = self.norm_pw(self.conv_pw(F.relu(self.norm1(x))))
        y = F.relu(self.norm_dw(self.conv_dw(y)))
        y = self.norm_pw_linear(self.conv_pw_linear(y))
        return y + x


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2**level)


class HourglassEncoder(nn.Layer):
    def __init__(self, block_expansion, in_channels, num_blocks, max_features, mobile_net):
        super().__init__()
        block = MobileDownBlock if mobile_net else DownBlock
        self.down_blocks = nn.LayerList([
            block(in_channels if i == 0 else _width(block_expansion, max_features, i),
                  _width(block_expansion, max_features, i + 1))
            for i in range(num_blocks)
        ])

    def forward(self, x):
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Layer):
    def __init__(self, block_expansion, in_channels, num_blocks, max_features, mobile_net):
        super().__init__()
        block = MobileUpBlock if mobile_net else UpBlock
        blocks = []
        for i in reversed(range(num_blocks)):
            skip_factor = 1 if i == num_blocks - 1 else 2  # all but the deepest also take the skip features
            blocks.append(block(skip_factor * _width(block_expansion, max_features, i + 1),
                                _width(block_expansion, max_features, i)))
        self.up_blocks = nn.LayerList(blocks)
        self.out_channels = block_expansion + in_channels

    def forward(self, outs):
        x = outs[-1]
        for i, block in enumerate(self.up_blocks):
            x = paddle.concat([block(x), outs[-2 - i]], axis=1)
        return x


class Hourglass(nn.Layer):
    """U-Net: `num_blocks` down blocks, as many up blocks, each up block's output concatenated with
    the encoder's features of that size (the last with the input itself), so the output has
    block_expansion + in_channels channels at the input's size."""

    def __init__(self, block_expansion, in_channels, num_blocks=3, max_features=256, mobile_net=False):
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_channels, num_blocks, max_features, mobile_net)
        self.decoder = HourglassDecoder(block_expansion, in_channels, num_blocks, max_features, mobile_net)
        self.out_channels = self.decoder.out_channels

    def forward(self, x):
        return self.decoder(self.encoder(x))


def _conv_stack(channels: int, out_channels: int, padding: int, relu: bool, last_bias=None, zero_weights=False):
    """Three 3x3 convs (the mobile heads): channels -> channels -> channels -> out_channels, with a ReLU
    after each of the first two where `relu` (then the convs sit at Sequential indices 0, 2, 4)."""
    layers = []
    for i in range(3):
        out = out_channels if i == 2 else channels
        weight_attr = nn.initializer.Constant(0.0) if zero_weights else nn.initializer.KaimingUniform()
        bias_attr = None
        if i == 2 and last_bias is not None:
            bias_attr = paddle.ParamAttr(initializer=nn.initializer.Assign(np.asarray(last_bias, np.float32)))
        layers.append(nn.Conv2D(channels, out, 3, padding=padding, weight_attr=weight_attr, bias_attr=bias_attr))
        if relu and i < 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _check_keypoints(kp) -> Keypoints:
    if isinstance(kp, dict):
        kp = Keypoints(kp["value"], kp.get("jacobian"))
    elif not isinstance(kp, Keypoints):
        kp = Keypoints(*kp)
    return kp


# ====================================================================== keypoint detector


class HeatmapAverages(nn.Layer):
    """Averages under each keypoint's heatmap [N, K, H*W]: of the coordinate grid (the keypoint, [N, K, 2]) and of
    the jacobian maps [N, K, 4, H*W] (or None). A layer without parameters, so that the exported copy can replace
    it (``core.export.HeatmapAveragesByMatmul``)."""

    def forward(self, heatmap, height: int, width: int, maps=None):
        n, k = heatmap.shape[0], heatmap.shape[1]
        # The values are small differences of large sums: summing over both spatial axes at once (not over h*w
        # flattened) keeps PaddleGAN's float32 rounding.
        grid = _grid_tensor(height, width).reshape([1, 1, height, width, 2])
        value = (heatmap.reshape([n, k, height, width, 1]) * grid).sum(axis=(2, 3))
        if maps is None:
            return value, None
        return value, (heatmap.unsqueeze(2) * maps).sum(axis=-1).reshape([n, k, 2, 2])


class KeypointDetector(nn.Layer):
    """Keypoints and their jacobians from an image (PaddleGAN's ``KPDetector``).

    Sublayers: ``predictor`` (hourglass), ``kp`` (heatmap head), ``jacobian`` (jacobian head),
    ``down`` (anti-alias subsampling, a buffer). The heads have no padding: at 256x256 with
    scale 1/4 the heatmaps are 58x58.
    """

    def __init__(self, block_expansion=32, num_kp=NUM_KP, num_channels=3, max_features=1024, num_blocks=5,
                 temperature=0.1, estimate_jacobian=True, scale_factor=0.25, mobile_net=False):
        super().__init__()
        self.predictor = Hourglass(block_expansion, num_channels, num_blocks, max_features, mobile_net)
        features = self.predictor.out_channels
        identity = [1.0, 0.0, 0.0, 1.0] * num_kp
        if mobile_net:
            self.kp = _conv_stack(features, num_kp, padding=0, relu=False)
        else:
            self.kp = nn.Conv2D(features, num_kp, 7, padding=0)
        if not estimate_jacobian:
            self.jacobian = None
        elif mobile_net:
            self.jacobian = _conv_stack(features, 4 * num_kp, padding=0, relu=False, last_bias=identity, zero_weights=True)
        else:
            # Starts at the identity: zero weights, bias (1, 0, 0, 1) per keypoint.
            bias = paddle.ParamAttr(initializer=nn.initializer.Assign(np.asarray(identity, np.float32)))
            self.jacobian = nn.Conv2D(features, 4 * num_kp, 7, padding=0,
                                      weight_attr=nn.initializer.Constant(0.0), bias_attr=bias)
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, scale_factor, mobile_net)
        self.averages = HeatmapAverages()

    def forward(self, image) -> Keypoints:
        x = self.down(image) if self.scale_factor != 1 else image
        features = self.predictor(x)
        logits = self.kp(features)
        n, k, h, w = logits.shape
        heatmap = F.softmax(logits.reshape([n, k, h * w]) / self.temperature, axis=2)
        maps = None if self.jacobian is None else self.jacobian(features).reshape([n, k, 4, h * w])
        return Keypoints(*self.averages(heatmap, h, w, maps))


# ====================================================================== dense motion


def keypoint_gaussians(value, height: int, width: int, variance: float):
    """[N, K, H, W]: exp(-|z - kp|^2 / (2 variance)) at every pixel z of the [-1, 1] grid."""
    n, k = value.shape[0], value.shape[1]
    grid = _grid_tensor(height, width).reshape([1, 1, height, width, 2])
    diff = grid - value.reshape([n, k, 1, 1, 2])
    return paddle.exp(-0.5 * (diff**2).sum(-1) / variance)


class DenseMotionNetwork(nn.Layer):
    """Soft masks that mix the K keypoint motions (and the identity) into one flow, and an occlusion map.

    Sublayers: ``hourglass`` (input (K+1) * (C+1) channels at 1/4 size), ``mask``, ``occlusion``,
    ``down``.
    """

    def __init__(self, block_expansion=64, num_blocks=5, max_features=1024, num_kp=NUM_KP, num_channels=3,
                 estimate_occlusion_map=True, scale_factor=0.25, kp_variance=KP_VARIANCE, mobile_net=False):
        super().__init__()
        self.hourglass = Hourglass(block_expansion, (num_kp + 1) * (num_channels + 1), num_blocks, max_features, mobile_net)
        features = self.hourglass.out_channels
        if mobile_net:
            self.mask = _conv_stack(features, num_kp + 1, padding=1, relu=True)
            self.occlusion = _conv_stack(features, 1, padding=1, relu=True) if estimate_occlusion_map else None
        else:
            self.mask = nn.Conv2D(features, num_kp + 1, 7, padding=3)
            self.occlusion = nn.Conv2D(features, 1, 7, padding=3) if estimate_occlusion_map else None
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        if scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, scale_factor, mobile_net)

    def sparse_motions(self, n: int, h: int, w: int, kp_driving: Keypoints, kp_source: Keypoints):
        """[N, K+1, H, W, 2]: where each driving-frame pixel comes from in the source, per keypoint (identity first)."""
        k = self.num_kp
        identity = _grid_tensor(h, w).reshape([1, 1, h, w, 2])
        offset = identity - kp_driving.value.reshape([n, k, 1, 1, 2])
        if kp_driving.jacobian is not None:
            affine = paddle.matmul(kp_source.jacobian, paddle.linalg.inv(kp_driving.jacobian)).reshape([n, k, 1, 1, 4])
            x, y = offset[..., 0], offset[..., 1]
            offset = paddle.stack([affine[..., 0] * x + affine[..., 1] * y,
                                   affine[..., 2] * x + affine[..., 3] * y], axis=-1)
        motions = offset + kp_source.value.reshape([n, k, 1, 1, 2])
        return paddle.concat([identity.expand([n, 1, h, w, 2]), motions], axis=1)

    def forward(self, source, kp_driving: Keypoints, kp_source: Keypoints) -> dict:
        if self.scale_factor != 1:
            source = self.down(source)
        n, c, h, w = source.shape
        k = self.num_kp
        bumps = keypoint_gaussians(kp_driving.value, h, w, self.kp_variance) - \
            keypoint_gaussians(kp_source.value, h, w, self.kp_variance)
        bumps = paddle.concat([paddle.zeros([n, 1, h, w], bumps.dtype), bumps], axis=1).unsqueeze(2)

        motions = self.sparse_motions(n, h, w, kp_driving, kp_source)
        repeated = source.unsqueeze(1).expand([n, k + 1, c, h, w]).reshape([n * (k + 1), c, h, w])
        warped = F.grid_sample(repeated, motions.reshape([n * (k + 1), h, w, 2]), mode="bilinear",
                               padding_mode="zeros", align_corners=True).reshape([n, k + 1, c, h, w])

        features = self.hourglass(paddle.concat([bumps, warped], axis=2).reshape([n, (k + 1) * (c + 1), h, w]))
        mask = F.softmax(self.mask(features), axis=1)
        flow = (motions.transpose([0, 1, 4, 2, 3]) * mask.unsqueeze(2)).sum(axis=1).transpose([0, 2, 3, 1])
        out = {"sparse_deformed": warped, "mask": mask, "deformation": flow}
        if self.occlusion is not None:
            out["occlusion_map"] = F.sigmoid(self.occlusion(features))
        return out


# ====================================================================== generator


class OcclusionAwareGenerator(nn.Layer):
    """The frame: the source's features warped by the dense flow, dimmed by the occlusion map, decoded.

    Sublayers in PaddleGAN's order: ``dense_motion_network``, ``first``, ``down_blocks``,
    ``up_blocks``, ``bottleneck`` (``r0``...), ``final``.
    """

    def __init__(self, num_channels=3, num_kp=NUM_KP, block_expansion=64, max_features=512, num_down_blocks=2,
                 num_bottleneck_blocks=6, estimate_occlusion_map=True, dense_motion_params: Optional[dict] = None,
                 inference=True, mobile_net=False):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                                                           estimate_occlusion_map=estimate_occlusion_map,
                                                           mobile_net=mobile_net, **dense_motion_params)
        else:
            self.dense_motion_network = None
        if mobile_net:
            self.first = nn.Sequential(SameBlock(num_channels, num_channels, 3, bias=False),
                                       SameBlock(num_channels, num_channels, 3, bias=False),
                                       SameBlock(num_channels, block_expansion, 3, bias=False))
        else:
            self.first = SameBlock(num_channels, block_expansion, 7)
        down, up = (MobileDownBlock, MobileUpBlock) if mobile_net else (DownBlock, UpBlock)
        self.down_blocks = nn.LayerList([
            down(_width(block_expansion, max_features, i), _width(block_expansion, max_features, i + 1))
            for i in range(num_down_blocks)
        ])
        self.up_blocks = nn.LayerList([
            up(_width(block_expansion, max_features, num_down_blocks - i),
               _width(block_expansion, max_features, num_down_blocks - i - 1))
            for i in range(num_down_blocks)
        ])
        residual = MobileResBlock if mobile_net else ResBlock
        bottleneck_channels = _width(block_expansion, max_features, num_down_blocks)
        self.bottleneck = nn.Sequential(*[(f"r{i}", residual(bottleneck_channels)) for i in range(num_bottleneck_blocks)])
        if mobile_net:
            self.final = _conv_stack(block_expansion, num_channels, padding=1, relu=True)
        else:
            self.final = nn.Conv2D(block_expansion, num_channels, 7, padding=3)
        self.inference = inference
        self.mobile_net = mobile_net

    def _warp(self, x, flow):
        """Sample `x` at `flow` ([N, h, w, 2] in [-1, 1], resized to x's size if needed)."""
        h, w = x.shape[2], x.shape[3]
        if flow.shape[1] != h or flow.shape[2] != w:
            flow = F.interpolate(flow.transpose([0, 3, 1, 2]), size=(h, w), mode="bilinear",
                                 align_corners=False).transpose([0, 2, 3, 1])
        if self.inference:
            fade = _fade_tensor(h, w).reshape([1, h, w, 1])
            flow = fade * flow + (1 - fade) * _grid_tensor(h, w).reshape([1, h, w, 2])
        return F.grid_sample(x, flow, mode="bilinear", padding_mode="zeros", align_corners=True)

    def forward(self, source, kp_driving, kp_source, return_maps: bool = False):
        """The predicted frame [N, C, H, W] in [0, 1]; with `return_maps`, a dict with the motion maps too."""
        kp_driving, kp_source = _check_keypoints(kp_driving), _check_keypoints(kp_source)
        x = self.first(source)
        for block in self.down_blocks:
            x = block(x)
        maps = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source, kp_driving, kp_source)
            maps.update(motion)
            x = self._warp(x, motion["deformation"])
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                h, w = x.shape[2], x.shape[3]
                if occlusion.shape[2] != h or occlusion.shape[3] != w:
                    occlusion = F.interpolate(occlusion, size=(h, w), mode="bilinear", align_corners=False)
                if self.inference and not self.mobile_net:
                    inside = np.zeros((1, 1, h, w), bool)
                    inside[:, :, BORDER:h - BORDER, BORDER:w - BORDER] = True
                    occlusion = paddle.where(paddle.to_tensor(inside), occlusion, paddle.ones_like(occlusion))
                x = x * occlusion
            if return_maps:
                maps["deformed"] = self._warp(source, motion["deformation"])
        x = self.bottleneck(x)
        for block in self.up_blocks:
            x = block(x)
        prediction = F.sigmoid(self.final(x))
        if return_maps:
            maps["prediction"] = prediction
            return maps
        return prediction


# ====================================================================== the pair


class FirstOrderMotion(nn.Layer):
    """Keypoint detector and generator together, with PaddleGAN's checkpoint names under
    ``generator.`` and ``kp_detector.`` (the generator registered first).

    Constructor arguments are the flat form of PaddleGAN's config (``from_paddlegan_config``):
    common (num_kp, num_channels, estimate_jacobian, mobile_net), the detector's (``kp_*``,
    temperature), the generator's (block_expansion, max_features, num_down_blocks,
    num_bottleneck_blocks, estimate_occlusion_map) and the dense motion network's (``motion_*``).
    """

    def __init__(self, num_kp=NUM_KP, num_channels=3, estimate_jacobian=True, mobile_net=False, temperature=0.1,
                 kp_block_expansion=32, kp_max_features=1024, kp_num_blocks=5, kp_scale_factor=0.25,
                 block_expansion=64, max_features=512, num_down_blocks=2, num_bottleneck_blocks=6,
                 estimate_occlusion_map=True, motion_block_expansion=64, motion_max_features=1024,
                 motion_num_blocks=5, motion_scale_factor=0.25, kp_variance=KP_VARIANCE, inference=True):
        super().__init__()
        self.generator = OcclusionAwareGenerator(
            num_channels=num_channels, num_kp=num_kp, block_expansion=block_expansion, max_features=max_features,
            num_down_blocks=num_down_blocks, num_bottleneck_blocks=num_bottleneck_blocks,
            estimate_occlusion_map=estimate_occlusion_map, inference=inference, mobile_net=mobile_net,
            dense_motion_params=dict(block_expansion=motion_block_expansion, max_features=motion_max_features,
                                     num_blocks=motion_num_blocks, scale_factor=motion_scale_factor,
                                     kp_variance=kp_variance))
        self.kp_detector = KeypointDetector(
            block_expansion=kp_block_expansion, num_kp=num_kp, num_channels=num_channels,
            max_features=kp_max_features, num_blocks=kp_num_blocks, temperature=temperature,
            estimate_jacobian=estimate_jacobian, scale_factor=kp_scale_factor, mobile_net=mobile_net)
        self.num_kp = num_kp

    def detect_keypoints(self, image) -> Keypoints:
        """Keypoints(value [N, K, 2], jacobian [N, K, 2, 2] or None) of images [N, C, H, W] in [0, 1]."""
        return self.kp_detector(image)

    def animate(self, source, kp_source, kp_driving):
        """The source [N, C, H, W] moved from `kp_source` to `kp_driving` (Keypoints, tuples or dicts;
        numpy or paddle): the frames [N, C, H, W] in [0, 1]. One source (N = 1) with its keypoints
        drives a batch of B driving keypoints too: B frames."""
        kp_source, kp_driving = _as_paddle_keypoints(kp_source), _as_paddle_keypoints(kp_driving)
        frames = kp_driving.value.shape[0]
        if source.shape[0] == 1 and frames > 1:
            source = source.expand([frames] + list(source.shape[1:]))
            kp_source = Keypoints(*(None if t is None else t.expand([frames] + list(t.shape[1:])) for t in kp_source))
        return self.generator(source, kp_driving, kp_source)

    def forward(self, source, driving):
        """(kp_driving.value [N, K, 2], kp_driving.jacobian [N, K, 2, 2], prediction [N, C, H, W]),
        the driving frame's keypoints applied to the source as they are (no relative motion)."""
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        prediction = self.generator(source, kp_driving, kp_source)
        return kp_driving.value, kp_driving.jacobian, prediction


class KeypointArrays(nn.Layer):
    """images [N, C, H, W] -> (value [N, K, 2], jacobian [N, K, 2, 2]): the detector with plain tensors in
    and out, for the fast path (a static graph returns no named tuples). Without estimated jacobians
    the second output is the identity, which the generator then ignores."""

    def __init__(self, fom: FirstOrderMotion):
        super().__init__()
        self.fom = fom

    def forward(self, image):
        kp = self.fom.kp_detector(image)
        if kp.jacobian is not None:
            return kp.value, kp.jacobian
        return kp.value, paddle.eye(2).reshape([1, 1, 2, 2]).expand([kp.value.shape[0], kp.value.shape[1], 2, 2])


class AnimateArrays(nn.Layer):
    """(sources [N, C, H, W], their keypoints' value and jacobian, the driving keypoints' value and
    jacobian) -> frames [N, C, H, W] in [0, 1]: the generator with plain tensors, one source per
    frame (repeat a source for a batch of driving frames), for the fast path."""

    def __init__(self, fom: FirstOrderMotion):
        super().__init__()
        self.fom = fom

    def forward(self, source, kp_value, kp_jacobian, driving_value, driving_jacobian):
        if self.fom.kp_detector.jacobian is None:
            kp_jacobian = driving_jacobian = None
        return self.fom.generator(source, Keypoints(driving_value, driving_jacobian), Keypoints(kp_value, kp_jacobian))


def _as_paddle_keypoints(kp) -> Keypoints:
    kp = _check_keypoints(kp)

    def tensor(v):
        if v is None or isinstance(v, paddle.Tensor):
            return v
        return paddle.to_tensor(np.asarray(v, dtype=np.float32))

    return Keypoints(tensor(kp.value), tensor(kp.jacobian))


def from_paddlegan_config(config: dict) -> dict:
    """Our constructor arguments from a PaddleGAN FOM config (``common_params``, ``kp_detector_cfg``,
    ``generator_cfg`` with ``dense_motion_params``), e.g. a reference manifest's ``config``."""
    common = config.get("common_params", {})
    kp = config.get("kp_detector_cfg", {})
    gen = dict(config.get("generator_cfg", {}))
    motion = gen.pop("dense_motion_params", {})
    args = {key: common[key] for key in ("num_kp", "num_channels", "estimate_jacobian") if key in common}
    mobile = {bool(part.get("mobile_net", False)) for part in (kp, gen)}
    if len(mobile) != 1:
        raise ValueError("the detector and the generator must both be mobile or both not")
    args["mobile_net"] = mobile.pop()
    for key, ours in (("temperature", "temperature"), ("block_expansion", "kp_block_expansion"),
                      ("max_features", "kp_max_features"), ("num_blocks", "kp_num_blocks"),
                      ("scale_factor", "kp_scale_factor")):
        if key in kp:
            args[ours] = kp[key]
    for key in ("block_expansion", "max_features", "num_down_blocks", "num_bottleneck_blocks", "estimate_occlusion_map"):
        if key in gen:
            args[key] = gen[key]
    for key in ("block_expansion", "max_features", "num_blocks", "scale_factor", "kp_variance"):
        if key in motion:
            args["kp_variance" if key == "kp_variance" else f"motion_{key}"] = motion[key]
    return args


# ====================================================================== relative motion (numpy)


def convex_hull_area(points) -> float:
    """Area of the convex hull of 2-D points [P, 2] (monotone chain, then the shoelace formula); 0 when degenerate."""
    pts = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 2), axis=0)  # sorted by x, then y
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(sequence):
        chain = []
        for p in sequence:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain[:-1]

    hull = np.array(half(pts) + half(pts[::-1]))
    if len(hull) < 3:
        return 0.0
    x, y = hull[:, 0], hull[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _numpy_keypoints(kp) -> Keypoints:
    kp = _check_keypoints(kp)

    def array(v):
        if v is None:
            return None
        return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float32)

    return Keypoints(array(kp.value), array(kp.jacobian))


def normalize_kp(kp_source, kp_driving, kp_driving_initial, relative: bool = True, adapt_movement_scale: bool = True,
                 use_relative_jacobian: Optional[bool] = None) -> Keypoints:
    """The keypoints to drive the generator with, as PaddleGAN's predictor computes them (numpy).

    relative: the driving keypoints' displacement since the first driving frame, added to the
        source's keypoints (else the driving keypoints as they are);
    adapt_movement_scale: that displacement scaled by sqrt(hull area(source) / hull area(first
        driving frame)), the areas of the keypoints' convex hulls in the first image of each batch
        (1 where the first frame's hull is degenerate);
    use_relative_jacobian (default: `relative`): with relative motion, jacobian
        J_d J_d0^-1 J_s instead of J_d.

    Keypoints may be Keypoints, (value, jacobian) tuples or dicts, numpy or paddle; the result is numpy.
    """
    source, driving, initial = (_numpy_keypoints(k) for k in (kp_source, kp_driving, kp_driving_initial))
    if use_relative_jacobian is None:
        use_relative_jacobian = relative
    scale = 1.0
    if adapt_movement_scale:
        driving_area = convex_hull_area(initial.value[0])
        if driving_area > 0:
            scale = float(np.sqrt(convex_hull_area(source.value[0])) / np.sqrt(driving_area))
    if not relative:
        return driving
    value = (driving.value - initial.value) * np.float32(scale) + source.value
    jacobian = driving.jacobian
    if use_relative_jacobian and driving.jacobian is not None:
        jacobian = np.matmul(np.matmul(driving.jacobian, np.linalg.inv(initial.jacobian)), source.jacobian)
    return Keypoints(value.astype(np.float32), None if jacobian is None else np.asarray(jacobian, np.float32))


# ====================================================================== registry

MOBILE_CONFIG = {
    "mobile_net": True,
    "kp_max_features": 256,
    "block_expansion": 32,
    "max_features": 256,
    "motion_block_expansion": 32,
    "motion_max_features": 256,
}


@architecture(
    "first_order_motion",
    "First Order Motion Model: keypoint detector + occlusion-aware generator (PaddleGAN layout)",
    default_weights="first_order_motion.vox",
    configurations={
        "fom_vox_256": ({}, "first_order_motion.vox"),
        "fom_vox_mobile_256": (dict(MOBILE_CONFIG), "first_order_motion.vox_mobile"),
    },
)
def first_order_motion(**config):
    """FOM for 256x256 faces (VoxCeleb); arguments as ``FirstOrderMotion``'s."""
    return FirstOrderMotion(**config)
