"""photo2cartoon generator (PaddleGAN ``ResnetUGATITP2CGenerator`` layout).

A U-GAT-IT variant from minivision's photo2cartoon: hourglass modules after the
stem and before the head, and decoder blocks whose AdaLIN affine parameters
blend a "style" vector (from the class-activation features, as in U-GAT-IT)
with a "content" vector (the pooled output of the matching encoder block),
with learned per-channel blend weights. ``forward`` returns
``(image, cam_logit, heatmap)``.

Sides must be multiples of 16 (each hourglass pools four times by 2 at full
resolution and adds the upsampled result back onto its skips).
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture
from core.nets.ugatit import InstanceLayerNorm, class_activation


def _instance_norm(channels: int) -> nn.InstanceNorm2D:
    """Instance norm without affine parameters (none appear in the checkpoint)."""
    return nn.InstanceNorm2D(channels, weight_attr=False, bias_attr=False)


def _reflect_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Layer]:
    """Reflection padding then an unpadded, bias-free convolution (same size at stride 1)."""
    pad = kernel_size // 2
    return [nn.Pad2D([pad] * 4, mode="reflect"), nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, bias_attr=False)]


class ConvBlock(nn.Layer):
    """Three pre-activated 3x3 convolutions (C/2, C/4, C/4 channels) concatenated, plus a skip.

    The skip is a 1x1 projection only when the channel counts differ.
    """

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.project_skip = dim_in != dim_out

        def pre_activated(cin, cout):
            return nn.Sequential(_instance_norm(cin), nn.ReLU(), *_reflect_conv(cin, cout, 3))

        self.conv_block1 = pre_activated(dim_in, dim_out // 2)
        self.conv_block2 = pre_activated(dim_out // 2, dim_out // 4)
        self.conv_block3 = pre_activated(dim_out // 4, dim_out // 4)
        if self.project_skip:
            self.conv_skip = nn.Sequential(_instance_norm(dim_in), nn.ReLU(), nn.Conv2D(dim_in, dim_out, 1, bias_attr=False))

    def forward(self, x):
        first = self.conv_block1(x)
        second = self.conv_block2(first)
        third = self.conv_block3(second)
        skip = self.conv_skip(x) if self.project_skip else x
        return skip + paddle.concat([first, second, third], axis=1)


class HourGlassBlock(nn.Layer):
    """Four 2x average-pool levels down and nearest 2x upsamplings back, with a ConvBlock skip per level."""

    levels = 4

    def __init__(self, channels: int):
        super().__init__()
        # Checkpoint names: ConvBlockskip1..4 (skips), ConvBlock1..4 (down), ConvBlock5 (bottom), ConvBlock6..9 (up).
        for i in range(self.levels):
            setattr(self, f"ConvBlockskip{i + 1}", ConvBlock(channels, channels))
        for i in range(2 * self.levels + 1):
            setattr(self, f"ConvBlock{i + 1}", ConvBlock(channels, channels))
        # A layer, not F.interpolate: the exported copy swaps it for an interp-free equal (core.export.upsample_free).
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        skips = []
        for i in range(self.levels):
            skips.append(getattr(self, f"ConvBlockskip{i + 1}")(x))
            x = getattr(self, f"ConvBlock{i + 1}")(F.avg_pool2d(x, 2))
        x = getattr(self, f"ConvBlock{self.levels + 1}")(x)
        for i in range(self.levels):
            x = getattr(self, f"ConvBlock{self.levels + 2 + i}")(x)
            x = self.upsample(x) + skips[self.levels - 1 - i]
        return x


class HourGlass(nn.Layer):
    """Hourglass with a 3-channel side output (``Conv1``).

    use_res: return x + Conv2(features) + Conv3(side output); otherwise return the
    3-channel side output itself (the generator's last hourglass).
    """

    def __init__(self, dim_in: int, dim_out: int, use_res: bool = True):
        super().__init__()
        self.use_res = use_res
        self.HG = nn.Sequential(
            HourGlassBlock(dim_in),
            ConvBlock(dim_out, dim_out),
            nn.Conv2D(dim_out, dim_out, 1, bias_attr=False),
            _instance_norm(dim_out),
            nn.ReLU(),
        )
        self.Conv1 = nn.Conv2D(dim_out, 3, 1)
        if use_res:
            self.Conv2 = nn.Conv2D(dim_out, dim_out, 1)
            self.Conv3 = nn.Conv2D(3, dim_out, 1)

    def forward(self, x):
        features = self.HG(x)
        side = self.Conv1(features)
        if not self.use_res:
            return side
        return x + self.Conv2(features) + self.Conv3(side)


class EncoderResnetBlock(nn.Layer):
    """x + [reflect-pad conv, IN, relu, reflect-pad conv, IN](x), no affine, no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            *_reflect_conv(channels, channels, 3),
            _instance_norm(channels),
            nn.ReLU(),
            *_reflect_conv(channels, channels, 3),
            _instance_norm(channels),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class SoftAdaLIN(nn.Layer):
    """AdaLIN whose gamma/beta blend style and content predictions per channel.

    gamma = (1 - w_gamma) * s_gamma(style) + w_gamma * c_gamma(content), same for beta;
    w_gamma and w_beta start at 0 (style only).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = InstanceLayerNorm(channels, adaptive=True)
        zero = nn.initializer.Constant(0.0)
        self.w_gamma = self.create_parameter([1, channels], default_initializer=zero)
        self.w_beta = self.create_parameter([1, channels], default_initializer=zero)

        def two_layer():
            return nn.Sequential(nn.Linear(channels, channels, bias_attr=False), nn.ReLU(), nn.Linear(channels, channels, bias_attr=False))

        self.c_gamma = two_layer()
        self.c_beta = two_layer()
        self.s_gamma = nn.Linear(channels, channels, bias_attr=False)
        self.s_beta = nn.Linear(channels, channels, bias_attr=False)

    def forward(self, x, content, style):
        gamma = (1.0 - self.w_gamma) * self.s_gamma(style) + self.w_gamma * self.c_gamma(content)
        beta = (1.0 - self.w_beta) * self.s_beta(style) + self.w_beta * self.c_beta(content)
        return self.norm(x, gamma, beta)


class SoftAdaLINResnetBlock(nn.Layer):
    def __init__(self, channels: int):
        super().__init__()
        self.pad1 = nn.Pad2D([1, 1, 1, 1], mode="reflect")
        self.conv1 = nn.Conv2D(channels, channels, 3, bias_attr=False)
        self.norm1 = SoftAdaLIN(channels)
        self.relu1 = nn.ReLU()
        self.pad2 = nn.Pad2D([1, 1, 1, 1], mode="reflect")
        self.conv2 = nn.Conv2D(channels, channels, 3, bias_attr=False)
        self.norm2 = SoftAdaLIN(channels)

    def forward(self, x, content, style):
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), content, style))
        out = self.norm2(self.conv2(self.pad2(out)), content, style)
        return x + out


class ResnetUGATITP2CGenerator(nn.Layer):
    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, img_size: int = 256, n_blocks: int = 4, light: bool = True):
        super().__init__()
        if n_blocks < 4:
            # The decoder reads encoder features counting down from the fourth (see forward).
            raise ValueError("photo2cartoon needs n_blocks >= 4")
        self.n_blocks = n_blocks
        self.light = light
        width = ngf * 4  # after two downsamplings

        down = [*_reflect_conv(input_nc, ngf, 7), _instance_norm(ngf), nn.ReLU()]
        down += [HourGlass(ngf, ngf), HourGlass(ngf, ngf)]
        for channels in (ngf, ngf * 2):
            down += [*_reflect_conv(channels, channels * 2, 3, stride=2), _instance_norm(channels * 2), nn.ReLU()]
        self.DownBlock = nn.Sequential(*down)
        for i in range(n_blocks):
            setattr(self, f"EncodeBlock{i + 1}", EncoderResnetBlock(width))

        self.gap_fc = nn.Linear(width, 1, bias_attr=False)
        self.gmp_fc = nn.Linear(width, 1, bias_attr=False)
        self.conv1x1 = nn.Conv2D(width * 2, width, 1)
        self.relu = nn.ReLU()

        mlp_inputs = width if light else (img_size // 4) ** 2 * width
        self.FC = nn.Sequential(
            nn.Linear(mlp_inputs, width, bias_attr=False),
            nn.ReLU(),
            nn.Linear(width, width, bias_attr=False),
            nn.ReLU(),
        )
        for i in range(n_blocks):
            setattr(self, f"DecodeBlock{i + 1}", SoftAdaLINResnetBlock(width))

        up = []
        for channels in (width, width // 2):
            up += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                *_reflect_conv(channels, channels // 2, 3),
                InstanceLayerNorm(channels // 2, adaptive=False),
                nn.ReLU(),
            ]
        # The last hourglass hands a 3-channel image to the 7x7 head.
        up += [HourGlass(ngf, ngf), HourGlass(ngf, ngf, use_res=False)]
        up += [*_reflect_conv(3, output_nc, 7), nn.Tanh()]
        self.UpBlock = nn.Sequential(*up)

    def forward(self, x):
        batch = x.shape[0]
        features = self.DownBlock(x)
        content = []
        for i in range(self.n_blocks):
            features = getattr(self, f"EncodeBlock{i + 1}")(features)
            content.append(F.adaptive_avg_pool2d(features, 1).reshape([batch, -1]))

        cam_logit, weighted = class_activation(features, self.gap_fc, self.gmp_fc)
        features = self.relu(self.conv1x1(weighted))
        heatmap = paddle.sum(features, axis=1, keepdim=True)

        style = F.adaptive_avg_pool2d(features, 1) if self.light else features
        style = self.FC(style.reshape([batch, -1]))

        for i in range(self.n_blocks):
            # Decoder block i takes the content of encoder block 4 - i (mirror order for 4 blocks).
            # PaddleGAN counts from a fixed 4, not from n_blocks (more blocks wrap around to
            # the last encoder features through negative indices); kept for equal results.
            features = getattr(self, f"DecodeBlock{i + 1}")(features, content[3 - i], style)
        return self.UpBlock(features), cam_logit, heatmap


@architecture("ugatit_p2c", "photo2cartoon's U-GAT-IT generator, aligned face photo -> cartoon (PaddleGAN layout)",
              default_weights="ugatit_p2c.photo2cartoon",
              configurations={"photo2cartoon_genA2B": ({}, "ugatit_p2c.photo2cartoon")})
def ugatit_p2c(**overrides):
    config = dict(input_nc=3, output_nc=3, ngf=32, img_size=256, n_blocks=4, light=True)
    config.update(overrides)
    return ResnetUGATITP2CGenerator(**config)
