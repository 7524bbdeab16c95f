"""LESRCNN: lightweight enhanced super-resolution CNN (PaddleGAN's ``LESRCNNGenerator`` layout).

Structure (Tian et al. 2020): after subtracting the dataset mean, a 3x3 stem
feeds eight "information extraction" stages, each a 3x3 conv + ReLU and a 1x1
conv whose output is added to the running sum. The stem's activation and the
final sum are upsampled by one shared pixel-shuffle block and added, four 3x3
conv + ReLU layers refine the result and a 3x3 conv returns to RGB, plus the mean.

Parameter names follow PaddleGAN (``conv1.0.weight`` ... ``conv17_4.0.weight``,
``upsample.up.body.<i>``) so its checkpoints load.
"""
from __future__ import annotations

import math

import paddle
import paddle.nn as nn

from core.registry import architecture

# DIV2K RGB mean in [0, 1], subtracted on the way in and added back on the way out.
DIV2K_MEAN_RGB = (0.4488, 0.4371, 0.4040)

# Eight extraction stages; names of their 3x3 and 1x1 convolutions in the checkpoint.
_STAGE_NAMES = [(f"conv{2 * i}", f"conv{2 * i + 1}") for i in range(1, 9)]
_REFINE_NAMES = ["conv17_1", "conv17_2", "conv17_3", "conv17_4"]


class MeanShift(nn.Layer):
    """Frozen 1x1 conv adding (sign=+1) or subtracting (sign=-1) a per-channel mean.

    A conv rather than a constant so the checkpoint's ``shifter`` entries load.
    """

    def __init__(self, mean_rgb, sign: int):
        super().__init__()
        identity = paddle.eye(3).reshape([3, 3, 1, 1])
        offset = paddle.to_tensor([sign * m for m in mean_rgb], dtype="float32")
        self.shifter = nn.Conv2D(
            3,
            3,
            1,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.Assign(identity), trainable=False),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Assign(offset), trainable=False),
        )

    def forward(self, x):
        return self.shifter(x)


def _conv(in_channels, out_channels, kernel_size, relu: bool):
    # Wrapped in Sequential because the checkpoint names every conv "<name>.0.weight".
    layers = [nn.Conv2D(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias_attr=False)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PixelShuffleUpsampler(nn.Layer):
    """x2 / x4 / x8 by repeated (3x3 conv to 4C, pixel shuffle 2); x3 by one conv to 9C and shuffle 3."""

    def __init__(self, channels: int, scale: int, groups: int = 1):
        super().__init__()
        if scale in (2, 4, 8):
            steps = [2] * int(math.log2(scale))
        elif scale == 3:
            steps = [3]
        else:
            raise ValueError(f"LESRCNN upsamples by 2, 3, 4 or 8, not {scale}")
        layers = []
        for factor in steps:
            layers += [nn.Conv2D(channels, factor * factor * channels, 3, 1, 1, groups=groups), nn.PixelShuffle(factor)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class ScaleSelectingUpsampler(nn.Layer):
    """One upsampler (``up``), or with ``multi_scale`` one per scale (``up2``, ``up3``, ``up4``)."""

    def __init__(self, channels: int, scale: int, multi_scale: bool, groups: int = 1):
        super().__init__()
        self.multi_scale = multi_scale
        if multi_scale:
            self.up2 = PixelShuffleUpsampler(channels, 2, groups)
            self.up3 = PixelShuffleUpsampler(channels, 3, groups)
            self.up4 = PixelShuffleUpsampler(channels, 4, groups)
        else:
            self.up = PixelShuffleUpsampler(channels, scale, groups)

    def forward(self, x, scale: int):
        if not self.multi_scale:
            return self.up(x)
        if scale not in (2, 3, 4):
            raise ValueError(f"a multi-scale LESRCNN upsamples by 2, 3 or 4, not {scale}")
        return getattr(self, f"up{scale}")(x)


class LESRCNNGenerator(nn.Layer):
    def __init__(self, scale: int = 4, multi_scale: bool = False, group: int = 1, features: int = 64):
        super().__init__()
        self.scale = scale
        self.sub_mean = MeanShift(DIV2K_MEAN_RGB, sign=-1)
        self.add_mean = MeanShift(DIV2K_MEAN_RGB, sign=+1)
        # The stem has no ReLU of its own: its raw output starts the running sum.
        self.conv1 = _conv(3, features, 3, relu=False)
        for wide_name, narrow_name in _STAGE_NAMES:
            setattr(self, wide_name, _conv(features, features, 3, relu=True))
            setattr(self, narrow_name, _conv(features, features, 1, relu=False))
        for name in _REFINE_NAMES:
            setattr(self, name, _conv(features, features, 3, relu=True))
        self.conv18 = _conv(features, 3, 3, relu=False)
        self.ReLU = nn.ReLU()
        self.upsample = ScaleSelectingUpsampler(features, scale, multi_scale, group)

    def forward(self, x, scale: int | None = None):
        scale = self.scale if scale is None else scale
        stem = self.conv1(self.sub_mean(x))
        stem_activation = self.ReLU(stem)
        running = stem
        activation = stem_activation
        for wide_name, narrow_name in _STAGE_NAMES:
            running = running + getattr(self, narrow_name)(getattr(self, wide_name)(activation))
            activation = self.ReLU(running)
        # Both branches go through the same upsampler weights.
        merged = self.upsample(activation, scale) + self.upsample(stem_activation, scale)
        out = self.ReLU(merged)
        for name in _REFINE_NAMES:
            out = getattr(self, name)(out)
        return self.add_mean(self.conv18(out))


@architecture("lesrcnn_x4", "LESRCNN x4 lightweight super-resolution", default_weights="lesrcnn_x4.div2k")
def lesrcnn_x4(scale=4, multi_scale=False, group=1, features=64):
    return LESRCNNGenerator(scale=scale, multi_scale=multi_scale, group=group, features=features)
