"""AnimeGANv2 generator (PaddleGAN ``AnimeGenerator`` layout).

Encoder (A, B: two stride-2 steps), a bottleneck of inverted-residual blocks (C),
two bilinear 2x upsamplings (D, E) and a 1x1 head with tanh. Every convolution
is followed by a one-group GroupNorm (layer norm over C, H, W) and LeakyReLU(0.2).

Two details of the published network that change its numbers, kept on purpose:
- the bottleneck blocks' first 1x1 convolution pads by one pixel, and their
  depthwise 3x3 convolution does not pad, so the size is preserved but the
  normalisation also sees the zero border;
- the bottleneck blocks have no skip connection (PaddleGAN's block computes
  the sum and then returns the body's output).

Sides: each side of length L comes out as 4 * ceil(L / 4) (PaddleGAN's
predictor first resizes to multiples of 32).
"""
from __future__ import annotations

import paddle.nn as nn

from core.registry import architecture


class ConvNormLReLU(nn.Layer):
    """conv (no bias by default) -> one-group GroupNorm -> LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1, bias: bool = False):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride, padding, bias_attr=bias)
        self.norm = nn.GroupNorm(1, out_channels)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.lrelu(self.norm(self.conv(x)))


class InvertedBottleneck(nn.Layer):
    """1x1 expand (padded by 1) -> depthwise 3x3 (unpadded) -> 1x1 project; no skip (see module doc)."""

    def __init__(self, in_channels: int, expansion: float, out_channels: int):
        super().__init__()
        hidden = round(expansion * in_channels)
        self.body = nn.Sequential(
            ConvNormLReLU(in_channels, hidden, kernel_size=1),
            nn.Conv2D(hidden, hidden, 3, padding=0, groups=hidden, bias_attr=True),
            nn.GroupNorm(1, hidden),
            nn.LeakyReLU(0.2),
            nn.Conv2D(hidden, out_channels, 1, bias_attr=False),
            nn.GroupNorm(1, out_channels),
        )

    def forward(self, x):
        return self.body(x)


class AnimeGenerator(nn.Layer):
    """`ngf` scales every width (PaddleGAN's network is ngf=32: 32/64/128/256 channels)."""

    def __init__(self, ngf: int = 32):
        super().__init__()
        c1, c2, c4, c8 = ngf, ngf * 2, ngf * 4, ngf * 8
        self.A = nn.Sequential(ConvNormLReLU(3, c1, 7, padding=3), ConvNormLReLU(c1, c2, stride=2), ConvNormLReLU(c2, c2))
        self.B = nn.Sequential(ConvNormLReLU(c2, c4, stride=2), ConvNormLReLU(c4, c4), ConvNormLReLU(c4, c4))
        self.C = nn.Sequential(
            InvertedBottleneck(c4, 2, c8),
            InvertedBottleneck(c8, 2, c8),
            InvertedBottleneck(c8, 2, c8),
            InvertedBottleneck(c8, 2, c8),
            ConvNormLReLU(c8, c4),
        )
        self.D = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), ConvNormLReLU(c4, c4), ConvNormLReLU(c4, c4))
        self.E = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear"),
            ConvNormLReLU(c4, c2),
            ConvNormLReLU(c2, c2),
            ConvNormLReLU(c2, c1, 7, padding=3),
        )
        self.out = nn.Sequential(nn.Conv2D(c1, 3, 1, bias_attr=False), nn.Tanh())

    def forward(self, x):
        for stage in (self.A, self.B, self.C, self.D, self.E, self.out):
            x = stage(x)
        return x


@architecture("animeganv2", "AnimeGANv2 generator, photo -> anime style (PaddleGAN layout)",
              default_weights="animeganv2.hayao", configurations={"animeganv2_hayao": ({}, "animeganv2.hayao")})
def animeganv2(**overrides):
    config = dict(ngf=32)
    config.update(overrides)
    return AnimeGenerator(**config)
