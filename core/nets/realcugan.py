"""Real-CUGAN: bilibili's anime super-resolution (the UpCunet x2/x3/x4 cascades, SE variant).

Two U-Nets in a cascade, both built of unpadded ("valid") 3x3 convolutions, so every
stage eats a border and the skips are cropped to fit:

- the upsampler (a shallow U-Net: one 2x2-stride downsampling) ends in a transposed
  convolution that enlarges by 2 (x2, x4) or 3 (x3);
- the refiner (a deeper U-Net: two downsamplings) reads the upsampler's result and
  returns a correction added to its centre.

x4 makes both U-Nets x2 networks of 64 features and ends in a 3x3 convolution to
3 x 2^2 channels and a pixel shuffle, plus the nearest-upsampled input (a residual).
Squeeze-and-excitation blocks (global mean, a ReLU and a sigmoid layer) weight the
channels of the inner levels by statistics of the whole padded picture.

The network pads its input itself, as the original does: reflected by the border the
convolutions consume (18, 14 and 19 pixels for x2, x3 and x4), plus a few rows and
columns at the bottom and right to make the sides divisible by the downsamplings
(2; 4 for x3), and crops the result to exactly `scale` times the input. Any size works;
the reflection repeats itself for pictures smaller than the border.

Input and output are RGB in [0, 1]; the output is not clipped.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

_LEAKY_SLOPE = 0.1
_SE_REDUCTION = 8
# Borders the valid convolutions eat inside each U-Net: the shallow U-Net's skip loses 4 pixels a
# side to the two convs of its middle level; the deep U-Net's loses 4 at the middle level and 16
# at the top; the upsampler's x2 result is 20 pixels a side larger than the refiner's.
_SHALLOW_SKIP_CROP = 4
_DEEP_SKIP_CROPS = (16, 4)
_CASCADE_CROP = 20
# scale: (reflected border on every side, the multiple both sides are padded up to)
_PADDING = {2: (18, 2), 3: (14, 4), 4: (19, 2)}
# The upsampler's transposed convolution for each enlargement: (kernel, stride, padding).
_UPSAMPLER_HEADS = {2: (4, 2, 3), 3: (5, 3, 2)}


def crop_border(x, border: int):
    """`x` without `border` pixels on each side (NCHW)."""
    return x[:, :, border:-border, border:-border]


class SkipCrop(nn.Layer):
    """``crop_border`` of a U-Net's skip connection as a layer (no parameters), so that the exported copy can
    replace it (``core.export.realcugan_exportable``)."""

    def __init__(self, border: int):
        super().__init__()
        self.border = border

    def forward(self, x):
        return crop_border(x, self.border)


def reflect_pad(x, top: int, bottom: int, left: int, right: int):
    """Mirror padding (the edge pixel not repeated) of any width, also wider than the picture.

    Paddle's reflect padding stops at one pixel less than the side; padding in steps
    continues the mirror periodically, like numpy's ``np.pad(..., mode="reflect")``.
    A side of one pixel has nothing to mirror: it is repeated.
    """
    for axis, (before, after) in ((2, (top, bottom)), (3, (left, right))):
        while before > 0 or after > 0:
            size = x.shape[axis]
            if size == 1:
                widths = [0, 0, before, after] if axis == 2 else [before, after, 0, 0]
                x = F.pad(x, widths, mode="replicate")
                break
            step_before, step_after = min(before, size - 1), min(after, size - 1)
            widths = [0, 0, step_before, step_after] if axis == 2 else [step_before, step_after, 0, 0]
            x = F.pad(x, widths, mode="reflect")
            before, after = before - step_before, after - step_after
    return x


class ReflectPad(nn.Layer):
    """``reflect_pad`` as a member, so that an exported copy can swap it for a form whose widths and loop
    do not depend on Python ints of the picture's size (``core.export.realcugan_exportable``)."""

    def forward(self, x, top, bottom, left, right):
        return reflect_pad(x, top, bottom, left, right)


def spatial_size(x):
    """(height, width): ints when running, tensors read at run time when traced for export."""
    if paddle.in_dynamic_mode():
        return x.shape[2], x.shape[3]
    size = paddle.shape(x)
    return size[2], size[3]


class SqueezeExcite(nn.Layer):
    """Channel weights from the global mean of each channel: ReLU(linear), then sigmoid(linear)."""

    def __init__(self, channels: int, reduction: int = _SE_REDUCTION):
        super().__init__()
        self.squeeze = nn.Linear(channels, channels // reduction)
        self.excite = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        weights = F.sigmoid(self.excite(F.relu(self.squeeze(x.mean(axis=[2, 3])))))
        return x * weights.unsqueeze([2, 3])


class ValidConvPair(nn.Layer):
    """Two unpadded 3x3 convolutions with LeakyReLU(0.1) (4 pixels fewer per side), optionally SE."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, squeeze_excite: bool):
        super().__init__()
        self.conv1 = nn.Conv2D(in_channels, mid_channels, 3)
        self.conv2 = nn.Conv2D(mid_channels, out_channels, 3)
        self.se = SqueezeExcite(out_channels) if squeeze_excite else None

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), _LEAKY_SLOPE)
        x = F.leaky_relu(self.conv2(x), _LEAKY_SLOPE)
        return self.se(x) if self.se is not None else x


def _down(channels: int) -> nn.Conv2D:
    return nn.Conv2D(channels, channels, 2, stride=2)


def _up(channels: int) -> nn.Conv2DTranspose:
    return nn.Conv2DTranspose(channels, channels, 2, stride=2)


class ShallowUNet(nn.Layer):
    """Real-CUGAN's first U-Net: one level down, then a transposed convolution enlarging by `upscale`."""

    def __init__(self, in_channels: int, out_channels: int, upscale: int):
        super().__init__()
        kernel, stride, padding = _UPSAMPLER_HEADS[upscale]
        self.encode = ValidConvPair(in_channels, 32, 64, squeeze_excite=False)
        self.down = _down(64)
        self.middle = ValidConvPair(64, 128, 64, squeeze_excite=True)
        self.up = _up(64)
        self.merge = nn.Conv2D(64, 64, 3)
        self.head = nn.Conv2DTranspose(64, out_channels, kernel, stride=stride, padding=padding)
        self.skip_crop = SkipCrop(_SHALLOW_SKIP_CROP)

    def forward(self, x):
        top = self.encode(x)
        middle = self.middle(F.leaky_relu(self.down(top), _LEAKY_SLOPE))
        joined = self.skip_crop(top) + F.leaky_relu(self.up(middle), _LEAKY_SLOPE)
        return self.head(F.leaky_relu(self.merge(joined), _LEAKY_SLOPE))


class DeepUNet(nn.Layer):
    """Real-CUGAN's second U-Net: two levels down and back, at the resolution it is given."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.encode1 = ValidConvPair(in_channels, 32, 64, squeeze_excite=False)
        self.down1 = _down(64)
        self.encode2 = ValidConvPair(64, 64, 128, squeeze_excite=True)
        self.down2 = _down(128)
        self.bottom = ValidConvPair(128, 256, 128, squeeze_excite=True)
        self.up2 = _up(128)
        self.decode2 = ValidConvPair(128, 64, 64, squeeze_excite=True)
        self.up1 = _up(64)
        self.merge = nn.Conv2D(64, 64, 3)
        self.head = nn.Conv2D(64, out_channels, 3)
        self.skip_crop1, self.skip_crop2 = (SkipCrop(crop) for crop in _DEEP_SKIP_CROPS)

    def forward(self, x):
        level1 = self.encode1(x)
        level2 = self.encode2(F.leaky_relu(self.down1(level1), _LEAKY_SLOPE))
        level3 = self.bottom(F.leaky_relu(self.down2(level2), _LEAKY_SLOPE))
        level2 = self.decode2(self.skip_crop2(level2) + F.leaky_relu(self.up2(level3), _LEAKY_SLOPE))
        level1 = self.skip_crop1(level1) + F.leaky_relu(self.up1(level2), _LEAKY_SLOPE)
        return self.head(F.leaky_relu(self.merge(level1), _LEAKY_SLOPE))


class RealCUGAN(nn.Layer):
    def __init__(self, scale: int = 2, in_nc: int = 3, out_nc: int = 3):
        super().__init__()
        if scale not in _PADDING:
            raise ValueError(f"Real-CUGAN enlarges by 2, 3 or 4, not {scale}")
        self.scale = scale
        self.border, self.multiple = _PADDING[scale]
        # How far an output pixel sees, in input pixels (the border the valid convolutions eat), for tiling:
        # counting each convolution's reach would miss that the inner levels work at 1/2 and 1/4 resolution.
        self.receptive_radius = self.border + -self.border % self.multiple  # windows then keep the downsampling grid
        # x4: both U-Nets work on 64 features at x2, and a pixel shuffle makes the last x2.
        features = 64 if scale == 4 else out_nc
        self.upsampler = ShallowUNet(in_nc, features, 3 if scale == 3 else 2)
        self.refiner = DeepUNet(features, features)
        self.to_pixels = nn.Conv2D(64, out_nc * 4, 3) if scale == 4 else None
        self.pad = ReflectPad()
        self.nearest = nn.Upsample(scale_factor=4, mode="nearest") if scale == 4 else None

    def _short_of_multiple(self, size):
        """Rows (or columns) to add so that `size` divides by the downsampling multiple (int or tensor)."""
        return (self.multiple - size % self.multiple) % self.multiple

    def forward(self, x):
        height, width = spatial_size(x)
        extra_rows, extra_columns = self._short_of_multiple(height), self._short_of_multiple(width)
        padded = self.pad(x, self.border, self.border + extra_rows, self.border, self.border + extra_columns)
        upscaled = self.upsampler(padded)
        result = self.refiner(upscaled) + crop_border(upscaled, _CASCADE_CROP)
        if self.to_pixels is not None:
            result = F.pixel_shuffle(crop_border(self.to_pixels(result), 1), 2)
        result = result[:, :, : height * self.scale, : width * self.scale]
        if self.to_pixels is not None:
            result = result + self.nearest(x)
        return result


@architecture("realcugan", "Real-CUGAN: bilibili's anime super-resolution, two U-Nets in a cascade (x2, x3, x4)",
              default_weights="realcugan.conservative_x2")
def realcugan(scale=2, in_nc=3, out_nc=3):
    return RealCUGAN(scale=scale, in_nc=in_nc, out_nc=out_nc)
