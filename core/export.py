"""Graph rewrites for static-graph export: layers replaced by equal-valued ones that export cleanly.

Paddle 3.3's oneDNN predictor cannot run interpolation ops (their ``scale``
attribute is one it cannot convert), so a network exported for
``core.runtime.build_engine`` must not contain any. Each rewrite here computes
the same function as the layer it replaces, up to float rounding:

- ``nearest_double_then_conv``: nearest 2x upsampling + a 3x3 convolution
  folded into one stride-2 4x4 transposed convolution (also 2.25x fewer
  multiplications and no upsampled tensor in memory); ``ExportableRRDB`` /
  ``exportable_super_resolution`` apply it to the x4 RRDBNet.
- ``NearestDouble`` / ``BilinearDouble``: 2x ``nn.Upsample`` as repeats and
  weighted sums; ``upsample_free`` swaps them into a copy of any network.

Callers keep the original network to run in dygraph when no fast path verifies.
This module depends on paddle, numpy and the network definitions only.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

# ---------------------------------------------------------------- nearest 2x + 3x3 conv -> transposed conv


def _pair(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value, value]


def nearest_double_then_conv(conv: nn.Conv2D) -> nn.Conv2DTranspose:
    """One stride-2 transposed convolution equal to ``conv(nearest 2x upsampling(x))`` for a 3x3, padding 1 `conv`.

    Each output pixel of the pair sees a 2x2 patch of low-resolution pixels
    whose weights are sums of the 3x3 taps that fall on the same pixel, so
    the 3x3 kernel folds into a 4x4 kernel applied with stride 2 and padding 1:
    the same function with 2.25x fewer multiplications and no upsampled
    tensor in memory (sums of taps round differently: ~1e-6 relative).
    """
    if list(conv.weight.shape[2:]) != [3, 3] or _pair(conv._stride) != [1, 1] or _pair(conv._padding) != [1, 1]:
        raise ValueError("only a 3x3 convolution with stride 1 and padding 1 folds into the upsampling")
    if conv._groups != 1 or _pair(conv._dilation) != [1, 1] or conv._padding_mode != "zeros":
        raise ValueError("only a dense, undilated, zero-padded convolution folds into the upsampling")
    # fold[t, d]: does 3x3 tap d reach low-resolution offset t (4 offsets, -1 .. 2 around the pixel)?
    fold = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], np.float64)
    weight = conv.weight.numpy().astype(np.float64)  # (out, in, 3, 3)
    folded = np.einsum("ad,oidc,bc->ioab", fold, weight, fold)  # transposed-conv layout: (in, out, 4, 4)
    out_channels, in_channels = weight.shape[:2]
    transposed = nn.Conv2DTranspose(in_channels, out_channels, 4, stride=2, padding=1, bias_attr=conv.bias is not None)
    transposed.weight.set_value(folded.astype(np.float32))
    if conv.bias is not None:
        transposed.bias.set_value(conv.bias.numpy())
    return transposed


class ExportableRRDB(nn.Layer):
    """An x4 ``RRDBNet`` as Paddle 3.3's predictors can run it, computing the same function.

    The oneDNN predictor cannot run interpolation ops (an attribute it cannot
    convert), and a nearest upsampling followed by a convolution is cheaper as
    one transposed convolution anyway (``nearest_double_then_conv``); every
    other layer is the network's own, shared, not copied (``build_engine``
    exports a copy of the whole).
    """

    def __init__(self, net):
        super().__init__()
        if net.unshuffle != 1:
            raise ValueError("only the x4 RRDBNet (no input unshuffle) has an exportable form")
        self.net = net
        self.upconvs = nn.LayerList([nearest_double_then_conv(net.upconv1), nearest_double_then_conv(net.upconv2)])

    def forward(self, x):
        net = self.net
        features = net.conv_first(x)
        features = features + net.trunk_conv(net.RRDB_trunk(features))
        for upconv in self.upconvs:
            features = net.lrelu(upconv(features))
        return net.conv_last(net.lrelu(net.HRconv(features)))


def exportable_super_resolution(net: nn.Layer) -> nn.Layer:
    """The form of a super-resolution network to export: ``ExportableRRDB`` for an x4 RRDBNet, else `net` itself.

    RRDBNet at scale 2 or 1 unshuffles its input first and keeps its
    interpolations; other networks are exported as they are.
    """
    # Imported here so that this module loads without the network registry.
    from core.nets.rrdb import RRDBNet

    return ExportableRRDB(net) if isinstance(net, RRDBNet) and net.unshuffle == 1 else net


# ---------------------------------------------------------------- 2x nn.Upsample -> repeats and weighted sums


def _double_width_linear(x):
    # Half-pixel bilinear 2x along the width: out[2i] = .75 x[i] + .25 x[i-1],
    # out[2i+1] = .75 x[i] + .25 x[i+1], edges repeated (Paddle clamps them the same way).
    padded = F.pad(x, [1, 1, 0, 0], mode="replicate")
    even = 0.75 * x + 0.25 * padded[:, :, :, :-2]
    odd = 0.75 * x + 0.25 * padded[:, :, :, 2:]
    return paddle.stack([even, odd], axis=-1).reshape([0, 0, 0, -1])


class BilinearDouble(nn.Layer):
    """``Upsample(scale_factor=2, mode="bilinear")`` (align_corners False) without an interp op."""

    def forward(self, x):
        x = _double_width_linear(x)
        return _double_width_linear(x.transpose([0, 1, 3, 2])).transpose([0, 1, 3, 2])


class NearestDouble(nn.Layer):
    """``Upsample(scale_factor=2, mode="nearest")`` without an interp op."""

    def forward(self, x):
        return paddle.repeat_interleave(paddle.repeat_interleave(x, 2, axis=2), 2, axis=3)


def _interp_free_equivalent(upsample: nn.Upsample) -> Optional[nn.Layer]:
    doubles = upsample.size is None and upsample.scale_factor in (2, 2.0, [2, 2], (2, 2), [2.0, 2.0], (2.0, 2.0))
    if not doubles or upsample.data_format not in (None, "NCHW"):
        return None
    if upsample.mode == "nearest":
        return NearestDouble()
    if upsample.mode == "bilinear" and not upsample.align_corners and upsample.align_mode == 0:
        return BilinearDouble()
    return None


def upsample_free(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose 2x nearest/bilinear nn.Upsample layers are replaced by equal-valued reshapes.

    Returns `layer` itself when it has none to replace.
    """
    targets = [name for name, sub in layer.named_sublayers()
               if isinstance(sub, nn.Upsample) and _interp_free_equivalent(sub) is not None]
    if not targets:
        return layer
    layer = copy.deepcopy(layer)
    for name in targets:
        *path, last = name.split(".")
        parent = layer
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, last, _interp_free_equivalent(getattr(parent, last)))
    return layer


class FirstOutput(nn.Layer):
    """Only the first output of a network that returns several (the picture of U-GAT-IT, without its
    CAM logits and heatmap): what is exported, and what runs in dygraph alike."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[0]
