"""Graph rewrites for static-graph export: layers replaced by equal-valued ones that export cleanly.

Paddle 3.3's oneDNN predictor cannot run interpolation ops (their ``scale``
attribute is one it cannot convert), so a network exported for
``core.runtime.build_engine`` must not contain any. Each rewrite here computes
the same function as the layer it replaces, up to float rounding:

- ``nearest_double_then_conv``: nearest 2x upsampling + a 3x3 convolution
  folded into one stride-2 4x4 transposed convolution (also 2.25x fewer
  multiplications and no upsampled tensor in memory); ``ExportableRRDB`` /
  ``exportable_super_resolution`` apply it to the x4 RRDBNet.
- ``NearestDouble`` / ``BilinearDouble``: 2x ``nn.Upsample`` as transposed
  convolutions of each channel plane (by ones, by the bilinear taps);
  ``upsample_free`` swaps them into a copy of any network.
- ``resize_bilinear`` / ``warp_by_flow`` / ``ExportableFlowPyramid``: bilinear
  resizes as gathers and flow warping with sizes read at run time, for the
  video networks' SPyNet; ``exportable_video_upscaler`` wraps PP-MSVSR and
  BasicVSR++ for one clip of a fixed length (their Python loops over frames
  unroll) and any frame size.
- ``double_space_trilinear`` / ``exportable_remaster``: DeepRemaster's trilinear
  2x (in space) as weighted sums, and its attention reshaped by run-time shapes:
  any block length, frame size and number of references.
- ``BatchStatisticsNorm`` / ``batch_statistics_explicit``: a batch norm on the batch's own statistics in eval
  mode (pix2pix) as reductions, which oneDNN's passes would otherwise fold into unused running statistics.
- ``ReflectPadByConcat`` / ``reflect_pads_as_concat``: fixed-width reflection pads (CycleGAN, U-GAT-IT,
  photo2cartoon) as border slices concatenated: Paddle's pad3d kernel cost CycleGAN 14 % of its time.
- ``InstanceLayerNormByMoments``: U-GAT-IT's and photo2cartoon's blended instance/layer norms from one pass of
  per-channel moments.
- ``OneGroupNorm``: AnimeGANv2's one-group group norms as pooled moments (Paddle's group-norm kernel is plain).
- ``translation_exportable``: what the translation networks need (those above that apply).
- ``realcugan_exportable``: Real-CUGAN's mirror padding of any width as gathers of indices computed at run time
  (``MirrorPadByGather``), its x4 nearest residual as ``NearestRepeat`` and its squeeze-and-excitation means by
  pooling (``SqueezeExciteByPooling``).
- ``BlurByDepthwiseConv`` / ``blurs_by_depthwise_conv``: StyleGAN2's FIR blurs (StyleGAN2, GFPGAN, GPEN) as
  depthwise convolutions; ``face_restorer_exportable`` adds ``upsample_free`` for GFPGAN and GPEN.
- ``normalised_convs_folded``: DeOldify's and SPADE's spectrally / weight-normalised convolutions as plain ones
  holding the normalised weights (constant in eval mode); ``spade_exportable`` adds SPADE's label-map resizes as
  gathers and its batch norms as depthwise convolutions (``BatchNormAsDepthwiseConv``).

Callers keep the original network to run in dygraph when no fast path verifies.
This module depends on paddle, numpy and the network definitions only.
"""
from __future__ import annotations

import copy
import sys
from typing import Callable, Optional

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
    if isinstance(net, _imported_classes("core.nets.realcugan", "RealCUGAN")):
        return realcugan_exportable(net)
    rrdb = _imported_classes("core.nets.rrdb", "RRDBNet")
    return ExportableRRDB(net) if isinstance(net, rrdb) and net.unshuffle == 1 else net


# ---------------------------------------------------------------- Real-CUGAN: mirror padding of run-time widths


def _mirror_indices(size, before, after):
    """For an axis of `size` padded by `before` and `after` (ints or run-time tensors), the source index of
    each position under numpy's "reflect" padding, continued periodically (a side of 1 is repeated)."""
    positions = paddle.arange(-before, size + after, dtype="int64")
    period = paddle.maximum(2 * (paddle.to_tensor(size, dtype="int64") - 1), paddle.to_tensor(1, dtype="int64"))
    folded = paddle.remainder(positions, period)
    return paddle.where(folded > size - 1, period - folded, folded)


class MirrorPadByGather(nn.Layer):
    """Real-CUGAN's ``ReflectPad`` (any width, wider than the picture too) as two gathers of computed
    indices: no loop over the picture's size, so one exported graph serves every tile size."""

    def forward(self, x, top, bottom, left, right):
        size = paddle.shape(x)
        x = paddle.gather(x, _mirror_indices(size[2], top, bottom), axis=2)
        return paddle.gather(x, _mirror_indices(size[3], left, right), axis=3)


_CHANNEL_BLOCK = 16  # one AVX-512 vector of float32


def _each_channel_transposed(x, kernel, stride: int, padding: int = 0):
    """`x` [B, C, H, W] with every channel plane put through one transposed convolution by `kernel` [1, 1, k, k].

    A depthwise transposed convolution has no oneDNN kernel, and one-channel pictures run at a few GMAC/s: the
    channels go in blocks of 16 (or the largest power of two dividing C) through a block-diagonal kernel, 16x the
    multiplications on zeros but vectorised (AnimeGANv2 5 % faster than one-channel pictures)."""
    channels = x.shape[1]  # a Python int in the exported graph: the layers before fix it
    block = _CHANNEL_BLOCK
    while channels % block:
        block //= 2
    size = kernel.shape[-1]
    diagonal = paddle.eye(block, dtype=x.dtype).reshape([block, block, 1, 1]) * kernel.reshape([1, 1, size, size])
    planes = F.conv2d_transpose(x.reshape([-1, block, 0, 0]), diagonal, stride=stride, padding=padding)
    return planes.reshape([-1, channels, 0, 0])


class NearestRepeat(nn.Layer):
    """``Upsample(scale_factor=k, mode="nearest")`` for an integer k without an interp op: a stride-k transposed
    convolution of each channel plane by a k x k kernel of ones, which oneDNN runs; ``repeat_interleave``, the form
    before, is a plain CPU kernel (9 % of photo2cartoon's time)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return _each_channel_transposed(x, paddle.ones([1, 1, self.factor, self.factor], dtype=x.dtype), self.factor)


class SqueezeExciteByPooling(nn.Layer):
    """Real-CUGAN's squeeze-and-excitation block with its channel means by global average pooling: oneDNN runs
    the mean reduction over H and W with its reference kernel (15 % of the network's time)."""

    def __init__(self, block: nn.Layer):
        super().__init__()
        self.squeeze, self.excite = block.squeeze, block.excite  # shared

    def forward(self, x):
        weights = F.sigmoid(self.excite(F.relu(self.squeeze(_channel_means(x).squeeze([2, 3])))))
        return x * weights.unsqueeze([2, 3])


class CropByConv(nn.Layer):
    """A border crop of every channel as a depthwise 3x3 convolution dilated by the border, whose only non-zero
    tap is the centre's (exact: one product by 1). Sliced, the crop came out in oneDNN's plain layout, and its sum
    with the other branch, in the channels-last one, ran on a generic kernel: 27 % of Real-CUGAN's time went to
    those reorders and adds; a convolution's output is laid out as the other's, and the add fuses into it."""

    def __init__(self, border: int):
        super().__init__()
        self.border = border

    def forward(self, x):
        channels = x.shape[1]  # a Python int in the exported graph: the layers before fix it
        kernel = np.zeros((channels, 1, 3, 3), np.float32)
        kernel[:, :, 1, 1] = 1.0
        return F.conv2d(x, paddle.to_tensor(kernel), dilation=self.border, groups=channels)


def realcugan_exportable(net: nn.Layer) -> nn.Layer:
    """A copy of a ``RealCUGAN`` whose padding is ``MirrorPadByGather``, whose x4 nearest residual is repeats, whose
    squeeze-and-excitation means are pooled and whose skip crops are ``CropByConv``."""
    from core.nets.realcugan import ReflectPad, SkipCrop, SqueezeExcite

    net = _replace_sublayers(net, lambda sub: isinstance(sub, ReflectPad), lambda sub: MirrorPadByGather())
    net = _replace_sublayers(net, lambda sub: isinstance(sub, SqueezeExcite), SqueezeExciteByPooling)
    net = _replace_sublayers(net, lambda sub: isinstance(sub, SkipCrop), lambda sub: CropByConv(sub.border))
    nearest_by_integer = lambda sub: (isinstance(sub, nn.Upsample) and sub.mode == "nearest" and sub.size is None  # noqa: E731
                                      and isinstance(sub.scale_factor, int))
    return _replace_sublayers(net, nearest_by_integer, lambda sub: NearestRepeat(sub.scale_factor))


# ---------------------------------------------------------------- 2x nn.Upsample -> transposed convolutions


_BILINEAR_DOUBLE_TAPS = np.array([0.25, 0.75, 0.75, 0.25], np.float32)


def _edges_repeated(x):
    """`x` padded by one pixel on each side, its edge pixels repeated (bilinear's clamp), by slices + concat."""
    x = paddle.concat([x[:, :, :1], x, x[:, :, -1:]], axis=2)
    return paddle.concat([x[:, :, :, :1], x, x[:, :, :, -1:]], axis=3)


class BilinearDouble(nn.Layer):
    """``Upsample(scale_factor=2, mode="bilinear")`` (align_corners False) without an interp op: the edges repeated,
    then a stride-2 transposed convolution of each channel plane by the outer product of (1/4, 3/4, 3/4, 1/4),
    cropped by 3 (out[2i] = 3/4 x[i] + 1/4 x[i-1], out[2i+1] = 3/4 x[i] + 1/4 x[i+1] on each axis). An earlier
    form, weighted sums interleaved by stack + reshape with replicate pad3d, spent 20 % of AnimeGANv2's time there."""

    def forward(self, x):
        kernel = paddle.to_tensor(np.outer(_BILINEAR_DOUBLE_TAPS, _BILINEAR_DOUBLE_TAPS)[None, None])
        return _each_channel_transposed(_edges_repeated(x), kernel, stride=2, padding=3)


class NearestDouble(NearestRepeat):
    """``Upsample(scale_factor=2, mode="nearest")`` without an interp op."""

    def __init__(self):
        super().__init__(2)


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
    return _replace_sublayers(layer, lambda sub: isinstance(sub, nn.Upsample) and _interp_free_equivalent(sub) is not None,
                              _interp_free_equivalent)


class BlurByDepthwiseConv(nn.Layer):
    """StyleGAN2's FIR ``Blur`` (non-negative pads) as one depthwise convolution with the pads as its own: the
    network filters the channel planes as a batch of one-channel pictures, which oneDNN runs at a few GMAC/s
    (GFPGAN 25 % faster this way)."""

    def __init__(self, blur: nn.Layer):
        super().__init__()
        self.register_buffer("kernel", blur.kernel, persistable=False)  # shared, as the blur holds it
        self.pad = blur.pad

    def forward(self, x):
        before, after = self.pad
        channels = x.shape[1]  # a Python int in the exported graph: the layers before fix it
        kernel_h, kernel_w = self.kernel.shape
        # conv2d correlates; the flipped kernel makes it upfirdn2d's true convolution
        kernel = paddle.flip(self.kernel, [0, 1]).reshape([1, 1, kernel_h, kernel_w]).tile([channels, 1, 1, 1])
        return F.conv2d(x, kernel, padding=[before, after, before, after], groups=channels)


def blurs_by_depthwise_conv(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose StyleGAN2 ``Blur`` layers (non-negative pads) are ``BlurByDepthwiseConv``; `layer`
    itself when it has none."""
    blurs = _imported_classes("core.nets.stylegan2", "Blur")  # () matches nothing
    return _replace_sublayers(layer, lambda sub: isinstance(sub, blurs) and min(sub.pad) >= 0, BlurByDepthwiseConv)


def face_restorer_exportable(layer: nn.Layer) -> nn.Layer:
    """GFPGAN's and GPEN's exported copy: no interp ops, blurs as depthwise convolutions."""
    return blurs_by_depthwise_conv(upsample_free(layer))


def _channel_means(x):
    """The mean of each channel of each picture, [B, C, 1, 1]: by global average pooling, which oneDNN runs many
    times faster than a mean reduction over H and W (with nearest 2x as ``NearestRepeat``: U-GAT-IT 29 % faster,
    photo2cartoon 26 %)."""
    return F.adaptive_avg_pool2d(x, 1)


class BatchStatisticsNorm(nn.Layer):
    """``nn.BatchNorm(trainable_statistics=True)`` in eval mode, spelled out: normalise by the batch's own mean and
    (biased) variance, then scale and shift. oneDNN's passes fold a batch norm into the running statistics it
    carries, which such a network never reads (pix2pix off by 100 % of its range); reductions are left alone."""

    def __init__(self, norm: nn.BatchNorm):
        super().__init__()
        self.weight, self.bias = norm.weight, norm.bias
        self.epsilon = norm._epsilon

    def forward(self, x):
        mean = _channel_means(x).mean(axis=0, keepdim=True)
        centred = x - mean
        variance = _channel_means(centred * centred).mean(axis=0, keepdim=True)  # not ** 2: oneDNN has no pow kernel
        scale = self.weight.reshape([1, -1, 1, 1]) / paddle.sqrt(variance + self.epsilon)
        return centred * scale + self.bias.reshape([1, -1, 1, 1])


def _normalises_by_the_batch(layer: nn.Layer) -> bool:
    return isinstance(layer, nn.BatchNorm) and getattr(layer, "_trainable_statistics", False) \
        and not getattr(layer, "_use_global_stats", False) and getattr(layer, "_data_layout", "NCHW") == "NCHW"


def batch_statistics_explicit(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose batch norms on the batch's statistics are ``BatchStatisticsNorm`` (equal values);
    `layer` itself when it has none."""
    return _replace_sublayers(layer, _normalises_by_the_batch, BatchStatisticsNorm)


# ---------------------------------------------------------------- fixed reflection pads -> slices + concat


def _reflected_along(x, axis: int, before: int, after: int):
    """`x` padded along `axis` by its reflection (edge pixel not repeated), `before` and `after` wide: the border
    slices, flipped, on either side. Like pad3d's "reflect", each width must be less than the side."""
    parts = [x]
    if before:
        edge = paddle.slice(x, [axis], [1], [before + 1])
        parts.insert(0, paddle.flip(edge, [axis]) if before > 1 else edge)
    if after:
        edge = paddle.slice(x, [axis], [-after - 1], [-1])
        parts.append(paddle.flip(edge, [axis]) if after > 1 else edge)
    return paddle.concat(parts, axis=axis) if len(parts) > 1 else x


def _pad_widths(pad: nn.Pad2D) -> list:
    """A Pad2D's widths (left, right, top, bottom): ``padding`` in Paddle 3, ``_pad`` in Paddle 2.6."""
    return pad.padding if hasattr(pad, "padding") else pad._pad


class ReflectPadByConcat(nn.Layer):
    """``nn.Pad2D(mode="reflect")`` (NCHW, fixed widths) as slices and concatenations, which oneDNN runs as memory
    copies: CycleGAN's exported graph 25 % faster than with pad3d (its 20 pads had cost 14 % of the time; two
    gathers of mirrored indices, the other form tried, still cost 15 %)."""

    def __init__(self, pad: nn.Pad2D):
        super().__init__()
        self.left, self.right, self.top, self.bottom = (int(width) for width in _pad_widths(pad))

    def forward(self, x):
        return _reflected_along(_reflected_along(x, 2, self.top, self.bottom), 3, self.left, self.right)


def _is_fixed_reflect_pad(layer: nn.Layer) -> bool:
    return (isinstance(layer, nn.Pad2D) and layer._mode == "reflect" and layer._data_format == "NCHW"
            and len(_pad_widths(layer)) == 4 and all(isinstance(width, int) for width in _pad_widths(layer)))


def reflect_pads_as_concat(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose fixed-width reflection ``nn.Pad2D`` layers are ``ReflectPadByConcat``;
    `layer` itself when it has none."""
    return _replace_sublayers(layer, _is_fixed_reflect_pad, ReflectPadByConcat)


def _replace_sublayers(layer: nn.Layer, matches: Callable, replacement: Callable) -> nn.Layer:
    targets = [name for name, sub in layer.named_sublayers() if matches(sub)]
    if not targets:
        return layer
    layer = copy.deepcopy(layer)
    for name in targets:
        *path, last = name.split(".")
        parent = layer
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, last, replacement(getattr(parent, last)))
    return layer


def _constant_conv(weight, bias, padding: int) -> nn.Layer:
    """A plain Conv1D/2D holding `weight` (and `bias`, or none) as its parameters."""
    out_channels, in_channels, *kernel = weight.shape
    make = nn.Conv1D if len(kernel) == 1 else nn.Conv2D
    conv = make(in_channels, out_channels, kernel[0], padding=padding, bias_attr=None if bias is not None else False)
    conv.weight.set_value(weight)
    if bias is not None:
        conv.bias.set_value(bias)
    return conv


def _imported_classes(module: str, *names: str) -> tuple:
    """The classes `names` of `module` if it has been imported, else none: no layer of a class can exist before
    its module is imported, and a Space ships only its own networks' modules."""
    loaded = sys.modules.get(module)
    return tuple(getattr(loaded, name) for name in names) if loaded is not None else ()


def _folded_normalised_conv(layer: nn.Layer) -> nn.Layer:
    spade_spectral = _imported_classes("core.nets.spade", "SpectralNormConv2D")
    deoldify_spectral = _imported_classes("core.nets.deoldify", "SpectralConv")

    with paddle.no_grad():
        if isinstance(layer, spade_spectral):
            # SPADE's: in eval the divisor comes from the stored vectors alone (the static-graph op's one power
            # iteration from the stored u, or the hook's stored u and v), the same at every call.
            layer.eval()
            return _constant_conv(layer.weight_orig / layer.sigma(), layer.bias, layer.padding)
        if isinstance(layer, deoldify_spectral):
            # In eval mode the spectral norm runs no power iteration: W / sigma is a constant.
            layer.spectral_norm.eval()
            return _constant_conv(layer.spectral_norm(layer.weight_orig), layer.layer.bias, layer.padding)
        rows = F.normalize(layer.weight_v.reshape([layer.weight_v.shape[0], -1]), axis=1)
        weight = rows.reshape(layer.weight_v.shape) * layer.weight_g.reshape([-1, 1, 1, 1])
        return _constant_conv(weight, layer.bias, layer.padding)


def normalised_convs_folded(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` (in eval mode) whose spectrally and weight-normalised convolutions (DeOldify's, SPADE's)
    are plain convolutions holding the normalised weights. Exported as they are, every call recomputes each weight
    and oneDNN meets convolutions whose filters are run-time values, which it neither pre-packs nor fuses."""
    kinds = (_imported_classes("core.nets.deoldify", "SpectralConv", "WeightNormConv2D")
             + _imported_classes("core.nets.spade", "SpectralNormConv2D"))
    return _replace_sublayers(layer, lambda sub: isinstance(sub, kinds), _folded_normalised_conv)


def _nearest_indices(in_size, out_size):
    """Paddle's nearest resize (align_corners off): output i reads input floor(i * in / out)."""
    return paddle.floor(paddle.arange(out_size, dtype="float32") * (in_size / out_size)).astype("int64")


class NearestResizeByGather(nn.Layer):
    """SPADE's ``NearestResize`` of a label map as two gathers (no interp op)."""

    def forward(self, x, size):
        height, width = x.shape[2], x.shape[3]
        x = paddle.gather(x, _nearest_indices(height, int(size[0])), axis=2)
        return paddle.gather(x, _nearest_indices(width, int(size[1])), axis=3)


class BatchNormAsDepthwiseConv(nn.Layer):
    """An eval-mode ``BatchNorm2D`` (running statistics; with or without a stored scale and shift) as the per-channel
    scale and shift it computes, a depthwise 1x1 convolution (the scale folded in float64). SPADE normalises the
    main path by such a norm and multiplies it by the label map's modulation: oneDNN ran the norm in the plain
    layout and the product with the channels-last modulation on a generic kernel (0.7-1.4 s a call on
    Cityscapes' 128x512x1024 maps); a convolution's output is laid out as the other's. A norm without scale and
    shift (PhotoPen's) also no longer trips Paddle 3.3's passes, which read the scale's shape."""

    def __init__(self, norm: nn.BatchNorm2D):
        super().__init__()
        deviation = np.sqrt(norm._variance.numpy().astype(np.float64) + norm._epsilon)
        scale = (norm.weight.numpy().astype(np.float64) if norm.weight is not None else 1.0) / deviation
        shift = (norm.bias.numpy().astype(np.float64) if norm.bias is not None else 0.0) \
            - norm._mean.numpy().astype(np.float64) * scale
        self.channels = len(deviation)
        self.weight = self.create_parameter([self.channels, 1, 1, 1])
        self.weight.set_value(scale.reshape(self.channels, 1, 1, 1).astype(np.float32))
        self.bias = self.create_parameter([self.channels], is_bias=True)
        self.bias.set_value(np.broadcast_to(shift, (self.channels,)).astype(np.float32))

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, groups=self.channels)


def batch_norms_as_depthwise_convs(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose eval-mode ``BatchNorm2D`` layers (NCHW) are ``BatchNormAsDepthwiseConv``; `layer`
    itself when it has none."""
    return _replace_sublayers(layer, lambda sub: isinstance(sub, nn.BatchNorm2D) and not sub.training
                              and sub._data_format == "NCHW", BatchNormAsDepthwiseConv)


def spade_exportable(layer: nn.Layer) -> nn.Layer:
    """SPADE's exported copy (for a label map of a fixed size): spectral convolutions folded, the label map's
    resizes as gathers, the 2x upsamplings as repeats, batch norms as depthwise convolutions."""
    from core.nets.spade import NearestResize

    layer = batch_norms_as_depthwise_convs(upsample_free(normalised_convs_folded(layer)))
    return _replace_sublayers(layer, lambda sub: isinstance(sub, NearestResize), lambda sub: NearestResizeByGather())


# ---------------------------------------------------------------- U-GAT-IT's instance-layer norms -> one pass of moments


class InstanceLayerNormByMoments(nn.Layer):
    """U-GAT-IT's ``InstanceLayerNorm`` (also photo2cartoon's) computed from per-channel moments: the layer's mean
    and variance follow from the channels' (mean of the means; mean of the variances plus the means' spread), and
    the blend of both norms with the affine is one scale and shift per channel. Five passes over the map instead
    of about sixteen; its pow and the second pair of reductions had cost U-GAT-IT 39 % of its time. Unbiased
    variances, as the network's."""

    def __init__(self, norm: nn.Layer):
        super().__init__()
        self.norm = norm  # its rho (and gamma, beta), shared

    def forward(self, x, gamma=None, beta=None):
        norm = self.norm
        size = paddle.shape(x)
        pixels = paddle.cast(size[2] * size[3], x.dtype)
        values = pixels * paddle.cast(size[1], x.dtype)
        channel_mean = _channel_means(x)
        centred = x - channel_mean
        channel_spread = _channel_means(centred * centred)  # biased variance of each channel
        layer_mean = channel_mean.mean(axis=1, keepdim=True)
        offset = channel_mean - layer_mean
        layer_spread = (channel_spread + offset * offset).mean(axis=1, keepdim=True)
        instance_scale = norm.rho / paddle.sqrt(channel_spread * (pixels / (pixels - 1)) + norm.eps)
        layer_scale = (1 - norm.rho) / paddle.sqrt(layer_spread * (values / (values - 1)) + norm.eps)
        # rho * (x - channel_mean) * instance_scale' + (1 - rho) * (x - layer_mean) * layer_scale', as x * a + b
        scale = instance_scale + layer_scale
        shift = -(instance_scale * channel_mean + layer_scale * layer_mean)
        if norm.adaptive:
            gamma, beta = gamma.unsqueeze([2, 3]), beta.unsqueeze([2, 3])
        else:
            gamma, beta = norm.gamma, norm.beta
        return x * (scale * gamma) + (shift * gamma + beta)


def instance_layer_norms_by_moments(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose ``InstanceLayerNorm`` layers are ``InstanceLayerNormByMoments``; `layer` itself when
    it has none."""
    norms = _imported_classes("core.nets.ugatit", "InstanceLayerNorm")
    if not norms or not paddle.__version__.startswith("3."):
        # Paddle 2.6's predictor ran this copy to all zeros for a batch of two at a size other than the one it was
        # verified on (tests/core/test_export.py::test_translation_fast_paths_serve_any_size, compat suite).
        return layer
    return _replace_sublayers(layer, lambda sub: isinstance(sub, norms), InstanceLayerNormByMoments)


class OneGroupNorm(nn.Layer):
    """``nn.GroupNorm(1, C)`` (AnimeGANv2's norm: a layer norm over C, H, W with a per-channel affine) spelled out:
    the picture's mean from the channels' means, its biased variance by a second pass over the centred map, both
    by global average pooling. Paddle's group-norm kernel is a plain CPU kernel: this form made AnimeGANv2 21 %
    faster, as exact against float64 (8.8e-6 of the output's range; dygraph 3.0e-6, the kernel's copy 7.1e-6)."""

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.weight, self.bias = norm.weight, norm.bias
        self.epsilon = norm._epsilon

    def forward(self, x):
        centred = x - _channel_means(x).mean(axis=1, keepdim=True)
        variance = _channel_means(centred * centred).mean(axis=1, keepdim=True)
        scale = paddle.rsqrt(variance + self.epsilon)
        if self.weight is not None:
            scale = scale * self.weight.reshape([1, -1, 1, 1])
        out = centred * scale
        return out if self.bias is None else out + self.bias.reshape([1, -1, 1, 1])


def one_group_norms_spelled_out(layer: nn.Layer) -> nn.Layer:
    """A copy of `layer` whose one-group ``nn.GroupNorm`` layers are ``OneGroupNorm``; `layer` itself when it has
    none."""
    return _replace_sublayers(layer, lambda sub: isinstance(sub, nn.GroupNorm) and sub._num_groups == 1
                              and sub._data_format == "NCHW", OneGroupNorm)


def translation_exportable(layer: nn.Layer) -> nn.Layer:
    """The image-to-image networks' exported copy: no interp ops, no batch norm on batch statistics, reflection
    pads as concatenations, instance-layer norms from one pass of moments, one-group norms spelled out."""
    layer = reflect_pads_as_concat(batch_statistics_explicit(upsample_free(layer)))
    return one_group_norms_spelled_out(instance_layer_norms_by_moments(layer))


class HeatmapAveragesByMatmul(nn.Layer):
    """First Order Motion's ``HeatmapAverages`` as matrix products over the flattened heatmap: oneDNN ran the
    broadcast 5-D product it replaces with its reference kernel (about 9 ms of the keypoint detector's run)."""

    def forward(self, heatmap, height: int, width: int, maps=None):
        from core.nets.first_order import _grid_tensor

        n, k = heatmap.shape[0], heatmap.shape[1]
        value = paddle.matmul(heatmap, _grid_tensor(height, width).reshape([height * width, 2]))
        if maps is None:
            return value, None
        jacobian = paddle.matmul(maps.reshape([n * k, 4, height * width]), heatmap.reshape([n * k, height * width, 1]))
        return value, jacobian.reshape([n, k, 2, 2])


def keypoint_detector_exportable(layer: nn.Layer) -> nn.Layer:
    """First Order Motion's keypoint detector as exported: no interp ops, heatmap averages by matrix products."""
    averages = _imported_classes("core.nets.first_order", "HeatmapAverages")  # () matches nothing
    return _replace_sublayers(upsample_free(layer), lambda sub: isinstance(sub, averages),
                              lambda sub: HeatmapAveragesByMatmul())


class FirstOutput(nn.Layer):
    """Only the first output of a network that returns several (the picture of U-GAT-IT, without its
    CAM logits and heatmap): what is exported, and what runs in dygraph alike."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[0]


# ---------------------------------------------------------------- resizes and warps at run-time sizes
# The video networks read sizes from `x.shape` in Python; a graph exported with a dynamic H/W sees -1
# there, so the rewrites below take sizes from ``paddle.shape`` and resample by gathers, not interp ops.


def _linear_along(x, axis: int, in_size, out_size, ratio, align_corners: bool):
    """Linear resampling of `x` along `axis` (`in_size` samples, a tensor) to `out_size`, Paddle's interp rule
    (align_mode 0): source = ratio * (i + 0.5) - 0.5 (half-pixel) or ratio * i, clamped at 0;
    the right neighbour clamped at the last sample."""
    i = paddle.arange(out_size, dtype="float32")
    source = ratio * i if align_corners else ratio * (i + 0.5) - 0.5
    source = paddle.clip(source, min=0.0)
    left = paddle.floor(source)
    weight = source - left
    left = left.astype("int64")
    right = paddle.minimum(left + 1, (in_size - 1).astype("int64"))
    shape = [1] * len(x.shape)
    shape[axis] = -1
    weight = weight.reshape(shape)
    return paddle.gather(x, left, axis=axis) * (1.0 - weight) + paddle.gather(x, right, axis=axis) * weight


def resize_bilinear(x, size=None, scale: Optional[int] = None, align_corners: bool = False):
    """``F.interpolate(x, size=size or scale_factor=scale, mode="bilinear", align_corners=...)`` on NCHW,
    as two gathers per axis; `size` may hold tensors (run-time sizes)."""
    shape = paddle.shape(x)
    out = x
    for axis in (2, 3):
        in_size = shape[axis]
        out_size = in_size * scale if scale is not None else size[axis - 2]
        if isinstance(out_size, int):
            out_size = paddle.full([], out_size, dtype=in_size.dtype)
        in_f, out_f = in_size.astype("float32"), out_size.astype("float32")
        if align_corners:
            ratio = (in_f - 1.0) / paddle.maximum(out_f - 1.0, paddle.ones_like(out_f))
        else:  # a scale factor gives Paddle's ratio 1 / scale exactly; a size, in / out
            ratio = 1.0 / scale if scale is not None else in_f / out_f
        out = _linear_along(out, axis, in_size, out_size, ratio, align_corners)
    return out


def warp_by_flow(x, flow, padding_mode: str = "zeros"):
    """``core.nets.basicvsr.flow_warp`` with the frame size read at run time (same expression order)."""
    shape = paddle.shape(x)
    h, w = shape[2], shape[3]
    grid_y, grid_x = paddle.meshgrid(paddle.arange(h, dtype="float32"), paddle.arange(w, dtype="float32"))
    # Frames are at least 64 pixels a side (the flow pyramid's minimum), so max(w - 1, 1) is w - 1.
    sample_x = 2.0 * (grid_x + flow[:, 0]) / (w - 1).astype("float32") - 1.0
    sample_y = 2.0 * (grid_y + flow[:, 1]) / (h - 1).astype("float32") - 1.0
    grid = paddle.stack([sample_x, sample_y], axis=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


class ExportableFlowPyramid(nn.Layer):
    """A SPyNet (``core.nets.basicvsr.FlowPyramid``) with its resizes as gathers and its sizes read at run time.

    The network resizes frames to multiples of 32 only when they are not; here they always are,
    which is exact when the size is already one (ratio 1: every sample lands on a pixel, and the
    flow is rescaled by 1).
    """

    def __init__(self, spynet):
        super().__init__()
        self.spynet = spynet

    def _coarse_to_fine(self, ref, supp):
        net = self.spynet
        refs = [(ref - net.mean) / net.std]
        supps = [(supp - net.mean) / net.std]
        for _ in range(net.levels - 1):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2))
        flow = paddle.zeros_like(refs[-1][:, :2])
        for level, (r, s) in enumerate(zip(refs[::-1], supps[::-1])):
            if level:
                flow = resize_bilinear(flow, scale=2, align_corners=True) * 2.0
            warped = warp_by_flow(s, flow, padding_mode="border")
            flow = flow + net.refine(level, paddle.concat([r, warped, flow], axis=1))
        return flow

    def forward(self, ref, supp):
        shape = paddle.shape(ref)
        h, w = shape[2], shape[3]
        h_up, w_up = (h + 31) // 32 * 32, (w + 31) // 32 * 32
        ref = resize_bilinear(ref, size=[h_up, w_up])
        supp = resize_bilinear(supp, size=[h_up, w_up])
        flow = resize_bilinear(self._coarse_to_fine(ref, supp), size=[h, w])
        return paddle.concat([flow[:, :1] * (w.astype("float32") / w_up.astype("float32")),
                              flow[:, 1:] * (h.astype("float32") / h_up.astype("float32"))], axis=1)


def _clip_flows(spynet, frames: list):
    """``core.nets.basicvsr.bidirectional_flows`` for one clip given as a list of [1, 3, H, W] frames:
    (forward, backward) lists of [1, 2, H, W] flows."""
    earlier, later = paddle.concat(frames[:-1], axis=0), paddle.concat(frames[1:], axis=0)
    backward = spynet(earlier, later)
    forward = spynet(later, earlier)
    t = len(frames)
    return [forward[i : i + 1] for i in range(t - 1)], [backward[i : i + 1] for i in range(t - 1)]


def _x4_residual_base(lr):
    return resize_bilinear(lr, scale=4)


class ExportableMSVSR(nn.Layer):
    """``core.nets.msvsr.MSVSR`` for one clip [1, T, 3, H, W] of a fixed T, H and W read at run time:
    the same computation with interpolations as gathers (SPyNet and the x4 bilinear base) and no
    Python reads of H/W. Every layer is the network's own, shared."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.flow = ExportableFlowPyramid(net.spynet)

    def _local_fusion(self, spatial, flows_forward, flows_backward):
        net, t = self.net, len(spatial)
        zeros = paddle.zeros_like(spatial[0])
        fused = []
        for i in range(t):
            current = spatial[i]
            aligned = []
            for neighbour, flows in ((i + 1, flows_backward), (i - 1, flows_forward)):
                if 0 <= neighbour < t:
                    flow = flows[min(i, neighbour)]
                    condition = paddle.concat([warp_by_flow(spatial[neighbour], flow), current], axis=1)
                    aligned.append(net.stage1_align(spatial[neighbour], condition, flow)[0])
                else:
                    aligned.append(zeros)
            fused.append(net.stage1_blocks(paddle.concat([current] + aligned, axis=1)))
        return fused

    def _propagate(self, name, backward, current_feats, branches, flows, priors=None):
        net = self.net
        align, backbone = net.deform_align[name], net.backbone[name]
        t = len(current_feats)
        frames = range(t - 1, -1, -1) if backward else range(t)
        out, used = [None] * t, {}
        feat_prop = paddle.zeros_like(current_feats[0])
        for step, frame in enumerate(frames):
            current = current_feats[frame]
            if step > 0:
                flow = flows[frame] if backward else flows[frame - 1]
                if priors is None:
                    condition = paddle.concat([warp_by_flow(feat_prop, flow), current], axis=1)
                    feat_prop, offset, mask = align(feat_prop, condition, flow)
                    used[frame] = (offset, mask)
                else:
                    feat_prop = align(feat_prop, current, flow, *priors[frame])
            feat = paddle.concat([current] + [b[frame] for b in branches.values()] + [feat_prop], axis=1)
            feat_prop = feat_prop + backbone(feat)
            out[frame] = feat_prop
        return out, used

    def forward(self, lqs):
        from core.nets.msvsr import STAGE2, STAGE3, _lrelu

        net = self.net
        t = lqs.shape[1]
        frames = [lqs[:, i] for i in range(t)]
        features = net.feat_extract(paddle.concat(frames, axis=0))
        spatial = [features[i : i + 1] for i in range(t)]
        flows_forward, flows_backward = _clip_flows(self.flow, frames)

        branches = {"stage1": self._local_fusion(spatial, flows_forward, flows_backward)}
        priors = {}
        for name, backward in STAGE2:
            flows = flows_backward if backward else flows_forward
            branches[name], priors[name] = self._propagate(name, backward, spatial, branches, flows)

        aux_feats = []
        for i in range(t):  # MSVSR._auxiliary, without the auxiliary images' output
            low = net.aux_reconstruction(paddle.concat([spatial[i]] + [b[i] for b in branches.values()], axis=1))
            mid = _lrelu(net.aux_upsample1(low))
            high = _lrelu(net.aux_upsample2(mid))
            image = net.aux_conv_last(high) + _x4_residual_base(frames[i])
            down = net.aux_block_down1(paddle.concat([image, high], axis=1))
            down = net.aux_block_down2(paddle.concat([down, mid], axis=1))
            aux_feats.append(net.aux_fusion(paddle.concat([down, low], axis=1)))
        for (name, backward), (stage2_name, _) in zip(STAGE3, STAGE2):
            flows = flows_backward if backward else flows_forward
            branches[name], _ = self._propagate(name, backward, aux_feats, branches, flows, priors[stage2_name])

        later = [b for name, b in branches.items() if name != "stage1"]
        outputs = []
        for i in range(t):  # MSVSR._reconstruct
            local = branches["stage1"][i]
            hr = net.reconstruction(paddle.concat([spatial[i], local] + [b[i] for b in later], axis=1))
            hr = _lrelu(net.upsample1(hr))
            hr = _lrelu(net.upsample2(hr))
            if not net.only_last:
                hr = _lrelu(net.conv_hr(hr))
            hr = net.conv_last(hr) + _x4_residual_base(frames[i])
            local_head = _lrelu(net.aux_upsample2(_lrelu(net.aux_upsample1(local))))
            outputs.append(net.hybrid_conv_last(local_head) + hr)
        return paddle.stack(outputs, axis=1)


class ExportableBasicVSRPlusPlus(nn.Layer):
    """``core.nets.basicvsr.BasicVSRPlusPlus`` for one clip [1, T, 3, H, W] of a fixed T, H and W read
    at run time (see ``ExportableMSVSR``)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.flow = ExportableFlowPyramid(net.spynet)

    def _propagate(self, name, backward, spatial, branches, flows):
        net = self.net
        align = getattr(net, f"deform_align_{name}")
        backbone = getattr(net, f"backbone_{name}")
        t = len(spatial)
        frames = list(range(t - 1, -1, -1)) if backward else list(range(t))

        def flow_into(frame):
            return flows[frame] if backward else flows[frame - 1]

        history = []
        feat_prop = paddle.zeros_like(spatial[0])
        for step, frame in enumerate(frames):
            current = spatial[frame]
            if step > 0:
                flow_n1 = flow_into(frame)
                cond_n1 = warp_by_flow(feat_prop, flow_n1)
                if step > 1:
                    feat_n2 = history[-2]
                    flow_n2 = flow_n1 + warp_by_flow(flow_into(frames[step - 1]), flow_n1)
                    cond_n2 = warp_by_flow(feat_n2, flow_n2)
                else:
                    feat_n2, flow_n2 = paddle.zeros_like(feat_prop), paddle.zeros_like(flow_n1)
                    cond_n2 = paddle.zeros_like(cond_n1)
                condition = paddle.concat([cond_n1, current, cond_n2], axis=1)
                feat_prop = align(paddle.concat([feat_prop, feat_n2], axis=1), condition, flow_n1, flow_n2)
            feat = paddle.concat([current] + [b[frame] for b in branches.values()] + [feat_prop], axis=1)
            feat_prop = feat_prop + backbone(feat)
            history.append(feat_prop)
        return history[::-1] if backward else history

    def forward(self, lqs):
        from core.nets.basicvsr import _PLUS_PLUS_BRANCHES, _lrelu

        net = self.net
        t = lqs.shape[1]
        frames = [lqs[:, i] for i in range(t)]
        features = net.feat_extract(paddle.concat(frames, axis=0))
        spatial = [features[i : i + 1] for i in range(t)]
        flows_forward, flows_backward = _clip_flows(self.flow, frames)
        branches = {}
        for name, backward in _PLUS_PLUS_BRANCHES:
            branches[name] = self._propagate(name, backward, spatial, branches,
                                             flows_backward if backward else flows_forward)
        outputs = []
        for i in range(t):  # _X4Head._to_image
            feat = net.reconstruction(paddle.concat([spatial[i]] + [b[i] for b in branches.values()], axis=1))
            out = _lrelu(net.upsample1(feat))
            out = _lrelu(net.upsample2(out))
            out = net.conv_last(_lrelu(net.conv_hr(out)))
            outputs.append(out + _x4_residual_base(frames[i]))
        return paddle.stack(outputs, axis=1)


def exportable_video_upscaler(net: nn.Layer) -> nn.Layer:
    """The form of a clip network to export for one clip of a fixed length: PP-MSVSR and BasicVSR++
    wrapped (``ExportableMSVSR``, ``ExportableBasicVSRPlusPlus``); ValueError for others."""
    from core.nets.basicvsr import BasicVSRPlusPlus
    from core.nets.msvsr import MSVSR

    if isinstance(net, MSVSR):
        return ExportableMSVSR(net)
    if isinstance(net, BasicVSRPlusPlus):
        return ExportableBasicVSRPlusPlus(net)
    raise ValueError(f"no exportable form for {type(net).__name__}")


# ---------------------------------------------------------------- DeepRemaster


def _double_width_linear_5d(x):
    # Half-pixel bilinear 2x along the width of [B, C, T, H, W] (time untouched): out[2i] = .75 x[i] + .25 x[i-1],
    # out[2i+1] = .75 x[i] + .25 x[i+1], edges repeated (Paddle clamps them the same way).
    padded = F.pad(x, [1, 1, 0, 0, 0, 0], mode="replicate", data_format="NCDHW")
    even = 0.75 * x + 0.25 * padded[:, :, :, :, :-2]
    odd = 0.75 * x + 0.25 * padded[:, :, :, :, 2:]
    return paddle.stack([even, odd], axis=-1).reshape([0, 0, 0, 0, -1])


def double_space_trilinear(x):
    """DeepRemaster's trilinear resize to [T, 2H, 2W] (align_corners False) without an interp op:
    in time the ratio is 1 (every sample on a frame), in space a half-pixel bilinear 2x."""
    x = _double_width_linear_5d(x)
    return _double_width_linear_5d(x.transpose([0, 1, 2, 4, 3])).transpose([0, 1, 2, 4, 3])


class _RemasterUpsample(nn.Layer):
    """``deepremaster.Upsample`` with ``double_space_trilinear`` (its own layers, shared)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return F.elu(self.layer.bn(self.layer.conv3d(double_space_trilinear(x))))


class _RemasterUpsampleConcat(nn.Layer):
    """``deepremaster.UpsampleConcat`` with ``double_space_trilinear``."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, skip):
        return self.layer.conv3d(paddle.concat([double_space_trilinear(x), skip], axis=1))


class _RemasterAttention(nn.Layer):
    """``deepremaster.SourceReferenceAttention`` reshaping back by the run-time shape of its source."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, source, reference):
        layer = self.layer
        query = layer.query_conv(source).flatten(2).transpose([0, 2, 1])
        key = layer.key_conv(reference).flatten(2)
        attention = F.softmax(paddle.bmm(query, key), axis=-1)
        value = layer.value_conv(reference).flatten(2)
        read = paddle.reshape(paddle.bmm(value, attention.transpose([0, 2, 1])), paddle.shape(source))
        return layer.gamma * read + source, attention


def exportable_remaster(net: nn.Layer) -> nn.Layer:
    """A copy of a DeepRemaster network (restorer or colorizer) whose trilinear upsamplings and
    attention reshapes run at any T, H and W without interp ops or Python-read sizes."""
    from core.nets.deepremaster import SourceReferenceAttention, Upsample, UpsampleConcat

    swaps = {Upsample: _RemasterUpsample, UpsampleConcat: _RemasterUpsampleConcat,
             SourceReferenceAttention: _RemasterAttention}
    targets = [name for name, sub in net.named_sublayers() if type(sub) in swaps]
    net = copy.deepcopy(net)
    for name in targets:
        *path, last = name.split(".")
        parent = net
        for part in path:
            parent = getattr(parent, part)
        original = getattr(parent, last)
        setattr(parent, last, swaps[type(original)](original))
    return net
