"""SRVGGNetCompact: Real-ESRGAN's small VGG-style super-resolution network (realesr-animevideov3).

A plain stack at input resolution: a 3x3 conv to `num_feat` channels and a
PReLU, `num_conv` more (conv, PReLU) pairs, and a last conv to
out_nc * upscale^2 channels, which a pixel shuffle turns into the upscaled
residual; the nearest-upsampled input is added to it. Parameter names follow
the original module list, ``body.<i>``: even indices are convolutions, odd
ones PReLUs, the last index the final convolution.

``scale`` below ``upscale`` resamples the result bicubically by scale/upscale
(half-pixel centres, edge pixels repeated): this is how Real-ESRGAN's ncnn
release serves x2 and x3 with the x4 animevideov3 weights. Pixel shuffle,
residual and resampling are all linear, so the network computes them together
as one 3x3 convolution at input resolution and a pixel shuffle by ``scale``
(``bicubic_tail_kernel``), instead of building the x4 image only to resample it.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture


def nearest_upsample(x, factor: int):
    """Nearest-neighbour upsampling of NCHW `x` by an integer factor (exportable, exact).

    A per-channel transposed convolution with a kernel of ones and stride
    `factor` copies each pixel into its factor x factor block: 5x faster in
    oneDNN than repeating rows and columns (0.005 s against 0.026 s for 256² -> 1024²).
    """
    channels = x.shape[1]
    ones = paddle.ones([channels, 1, factor, factor], dtype=x.dtype)
    return F.conv2d_transpose(x, ones, stride=factor, groups=channels)


def _cubic(distance: float, a: float = -0.75) -> float:
    """Keys' cubic convolution weight (a = -0.75, as Paddle, PyTorch and ncnn use)."""
    d = abs(distance)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return (((d - 5) * d + 8) * d - 4) * a
    return 0.0


def bicubic_phases(upscale: int, scale: int) -> np.ndarray:
    """[scale, 3, upscale]: the weight of x`upscale` pixel ``upscale * (i + dp - 1) + s``
    in x`scale` output pixel ``scale * i + phase`` of a bicubic resample by scale/upscale
    (half-pixel centres), away from the image edges."""
    weights = np.zeros((scale, 3, upscale))
    for phase in range(scale):
        source = (phase + 0.5) * upscale / scale - 0.5
        floor = math.floor(source)
        for offset in range(floor - 1, floor + 3):
            block, sub = divmod(offset, upscale)
            if not -1 <= block <= 1:
                raise ValueError(f"a resample by {scale}/{upscale} reaches beyond the neighbouring input pixels")
            weights[phase, block + 1, sub] += _cubic(source - offset)
    return weights


def bicubic_tail_kernel(channels: int, upscale: int, scale: int) -> np.ndarray:
    """The 3x3 convolution [channels * scale², channels * (upscale² + 1), 3, 3] that maps
    (last conv's output, input image) to the pixel-shuffled (by `scale`) bicubic resample of
    ``pixel_shuffle(last, upscale) + nearest_upsample(image, upscale)``."""
    phases = bicubic_phases(upscale, scale)  # [phase, dp, sub]
    # separable: out[(a, b)] takes last[(s, t)] at (dp, dq) with phases[a, dp, s] * phases[b, dq, t]
    per_colour = np.einsum("ais,bjt->abstij", phases, phases).reshape(scale * scale, upscale * upscale, 3, 3)
    residual = per_colour.sum(axis=1)  # the nearest-upsampled input repeats one value over every (s, t)
    kernel = np.zeros((channels * scale * scale, channels * (upscale * upscale + 1), 3, 3), dtype=np.float32)
    for c in range(channels):
        rows = slice(c * scale * scale, (c + 1) * scale * scale)
        kernel[rows, c * upscale * upscale : (c + 1) * upscale * upscale] = per_colour
        kernel[rows, channels * upscale * upscale + c] = residual
    return kernel


def _edge_subpixel_sources(channels: int, upscale: int, edge_sub: int, axis: str) -> list[int]:
    """Channel indices that fill a padding row (axis "row") or column with the x`upscale`
    image's edge line: every sub-row (or sub-column) takes sub-position `edge_sub`'s value."""
    sources = []
    for c in range(channels):
        for s in range(upscale):
            for t in range(upscale):
                s2, t2 = (edge_sub, t) if axis == "row" else (s, edge_sub)
                sources.append(c * upscale * upscale + s2 * upscale + t2)
    return sources


class SRVGGNetCompact(nn.Layer):
    def __init__(self, in_nc: int = 3, out_nc: int = 3, num_feat: int = 64, num_conv: int = 16, upscale: int = 4, scale: Optional[int] = None):
        super().__init__()
        self.upscale = upscale
        self.scale = upscale if scale is None else scale
        if not 1 <= self.scale <= upscale:
            raise ValueError(f"SRVGGNetCompact resamples its x{upscale} result down, not to x{self.scale}")
        # The bicubic resample reaches one input pixel beyond the convolutions (tiling context).
        self.extra_reach = 1 if self.scale != upscale else 0
        layers = [nn.Conv2D(in_nc, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2D(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2D(num_feat, out_nc * upscale * upscale, 3, 1, 1))
        self.body = nn.LayerList(layers)
        if self.scale != upscale:
            # Constants kept as numpy, not parameters or buffers: checkpoints hold only the body,
            # and the exported graph embeds them as values.
            self._tail = bicubic_tail_kernel(out_nc, upscale, self.scale)
            self._edges = {
                (axis, side): np.array(_edge_subpixel_sources(out_nc, upscale, sub, axis), dtype=np.int64)
                for axis in ("row", "column")
                for side, sub in (("first", 0), ("last", upscale - 1))
            }

    def forward(self, x):
        features = x
        for layer in self.body:
            features = layer(features)
        if self.scale == self.upscale:
            return F.pixel_shuffle(features, self.upscale) + nearest_upsample(x, self.upscale)
        return self._resampled_tail(features, x)

    def _resampled_tail(self, features, x):
        """The bicubic resample of the x`upscale` result, computed at input resolution.

        The resample repeats the x`upscale` image's edge pixels beyond it. One padding line
        around `features` reproduces that: each of its sub-pixels holds the adjacent edge
        sub-line (the only sub-pixels of the padding the resample reads are those next to
        the image). The input's nearest upsampling repeats its edges by replicate padding.
        """
        edges = {key: paddle.to_tensor(sources) for key, sources in self._edges.items()}
        rows = [paddle.index_select(features[:, :, :1], edges["row", "first"], axis=1), features,
                paddle.index_select(features[:, :, -1:], edges["row", "last"], axis=1)]
        padded = paddle.concat(rows, axis=2)
        columns = [paddle.index_select(padded[:, :, :, :1], edges["column", "first"], axis=1), padded,
                   paddle.index_select(padded[:, :, :, -1:], edges["column", "last"], axis=1)]
        padded = paddle.concat(columns, axis=3)
        image = F.pad(x, [1, 1, 1, 1], mode="replicate")
        out = F.conv2d(paddle.concat([padded, image], axis=1), paddle.to_tensor(self._tail))
        return F.pixel_shuffle(out, self.scale)


@architecture("srvgg_compact", "SRVGGNetCompact: Real-ESRGAN's compact VGG-style x4 super-resolution (animevideov3), x2/x3 by resampling",
              default_weights="srvgg_compact.animevideov3_x4")
def srvgg_compact(in_nc=3, out_nc=3, num_feat=64, num_conv=16, upscale=4, scale=None):
    return SRVGGNetCompact(in_nc=in_nc, out_nc=out_nc, num_feat=num_feat, num_conv=num_conv, upscale=upscale, scale=scale)
