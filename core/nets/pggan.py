"""Progressive growing of GANs (Karras et al. 2018) for small single-channel images: 4x4 up to 32x32.

Both networks hold every resolution's layers from the start; ``stage`` (0 for 4x4, 1 for 8x8, ... 3 for
32x32) says how far they are grown and ``alpha`` (0 to 1) how far the newest resolution is faded in:

- the generator at stage s draws ``alpha * to_rgb[s](block_s(up(h))) + (1 - alpha) * up(to_rgb[s-1](h))``,
  where h is stage s-1's features and ``up`` a nearest-neighbour 2x upsampling: at alpha 0 it is the
  previous stage's image upsampled, at alpha 1 the new block's alone;
- the critic at stage s reads ``alpha * block_s(from_rgb[s](x)) + (1 - alpha) * from_rgb[s-1](down(x))``
  into its lower blocks, ``down`` being a 2x2 average.

As in the paper: equalized learning rate (weights drawn from N(0, 1) and multiplied at run time by He's
constant gain / sqrt(fan in), so that Adam moves every layer at the same pace), pixel-wise feature
normalisation after each of the generator's convolutions and on the latent, leaky ReLU 0.2, a linear
``to_rgb`` output (no tanh), and the minibatch standard deviation appended as one feature map in the
critic's last (4x4) block. Widths are one per resolution (``channels``, 4x4 first), so a CPU-sized model is
a choice of four numbers. Every op of the critic has a double backward in Paddle (no Flatten, no norm
layers), so it takes the gradient penalty.
"""
from __future__ import annotations

import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

HE_GAIN = math.sqrt(2.0)
LEAK = 0.2
# 4x4, 8x8, 16x16, 32x32: a CPU-sized model (the paper's 32x32 networks: 512 at every resolution). docs/training.md
# gives the time per image of these and of wider ones.
DEFAULT_CHANNELS = (64, 64, 32, 16)


def resolution(stage: int) -> int:
    """The side of the images at ``stage`` (0: 4x4, 1: 8x8, ...)."""
    return 4 * 2**stage


class EqualizedConv2D(nn.Layer):
    """A convolution whose weights are N(0, 1) and scaled by gain / sqrt(fan in) at every call."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, padding: int = 0, gain: float = HE_GAIN):
        super().__init__()
        self.padding = padding
        self.scale = gain / math.sqrt(in_channels * kernel * kernel)
        self.weight = self.create_parameter([out_channels, in_channels, kernel, kernel],
                                            default_initializer=nn.initializer.Normal(0.0, 1.0))
        self.bias = self.create_parameter([out_channels], is_bias=True, default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Layer):
    """A dense layer with the same run-time scaling (weights stored [in, out], as paddle.nn.Linear)."""

    def __init__(self, in_features: int, out_features: int, gain: float = HE_GAIN):
        super().__init__()
        self.scale = gain / math.sqrt(in_features)
        self.weight = self.create_parameter([in_features, out_features], default_initializer=nn.initializer.Normal(0.0, 1.0))
        self.bias = self.create_parameter([out_features], is_bias=True, default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x, epsilon: float = 1e-8):
    """Each pixel's feature vector divided by its root mean square over the channels (axis 1)."""
    return x * paddle.rsqrt((x * x).mean(axis=1, keepdim=True) + epsilon)


def downsample(x):
    """2x2 average pooling as a reshape and a sum (double backward for the gradient penalty; a CPU training step
    about 15 % faster than with a mean, whose backward is slow, and a little faster than with avg_pool2d)."""
    n, c, h, w = x.shape
    return x.reshape([n, c, h // 2, 2, w // 2, 2]).sum(axis=[3, 5]) * 0.25


def upsample(x):
    """Nearest-neighbour 2x upsampling."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def minibatch_std(x, group: int):
    """``x`` with one more feature map: per group of ``group`` samples (sample i in group i % (N / group), as in
    Karras et al.'s code), the standard deviation of each feature over the group, averaged over features and
    pixels. A batch smaller than ``group``, or not divisible by it, is one group."""
    n, c, h, w = x.shape
    group = group if n % group == 0 else n
    grouped = x.reshape([group, -1, c, h, w])
    centred = grouped - grouped.mean(axis=0, keepdim=True)
    std = ((centred * centred).mean(axis=0) + 1e-8).sqrt().mean(axis=[1, 2, 3])  # one per group column
    planes = std.reshape([1, -1, 1, 1, 1]).expand([group, -1, 1, h, w]).reshape([n, 1, h, w])
    return paddle.concat([x, planes], axis=1)


def _lrelu(x):
    return F.leaky_relu(x, LEAK)


def _check_growth(stage, alpha, stages: int) -> tuple[int, float]:
    stage, alpha = int(stage), float(alpha)
    if not 0 <= stage < stages:
        raise ValueError(f"stage must be 0 (4x4) to {stages - 1} ({resolution(stages - 1)}x{resolution(stages - 1)}), not {stage}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie between 0 and 1, not {alpha}")
    return stage, alpha


class PGGANGenerator(nn.Layer):
    """Latent (N, latent_dim) -> images (N, image_channels, 4 * 2**stage, same) in about [-1, 1] (linear output).

    ``forward(z)`` draws at the generator's own ``stage`` and ``alpha`` (by default fully grown); ``generate(z,
    stage, alpha)`` at any other.
    """

    def __init__(self, latent_dim: int = 128, channels=DEFAULT_CHANNELS, image_channels: int = 1, stage: int | None = None,
                 alpha: float = 1.0):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be one positive width per resolution, 4x4 first; got {channels}")
        self.latent_dim = latent_dim
        self.channels = channels
        self.image_channels = image_channels
        self.stages = len(channels)
        self.stage, self.alpha = _check_growth(self.stages - 1 if stage is None else stage, alpha, self.stages)
        first = channels[0]
        # 4x4: the latent to a 4x4 map (the paper's 4x4 convolution of a 1x1 input), then a 3x3 convolution.
        blocks = [nn.LayerList([EqualizedLinear(latent_dim, first * 16), EqualizedConv2D(first, first, 3, padding=1)])]
        for before, after in zip(channels, channels[1:]):
            blocks.append(nn.LayerList([EqualizedConv2D(before, after, 3, padding=1), EqualizedConv2D(after, after, 3, padding=1)]))
        self.blocks = nn.LayerList(blocks)
        self.to_rgb = nn.LayerList([EqualizedConv2D(c, image_channels, 1, gain=1.0) for c in channels])

    @property
    def size(self) -> int:
        return resolution(self.stage)

    def _block(self, index: int, h):
        first, second = self.blocks[index]
        if index == 0:
            h = pixel_norm(_lrelu(first(h)).reshape([-1, self.channels[0], 4, 4]))
        else:
            h = pixel_norm(_lrelu(first(upsample(h))))
        return pixel_norm(_lrelu(second(h)))

    def generate(self, z, stage: int | None = None, alpha: float | None = None):
        stage, alpha = _check_growth(self.stage if stage is None else stage, self.alpha if alpha is None else alpha, self.stages)
        h = pixel_norm(z)
        previous = None
        for index in range(stage + 1):
            previous, h = h, self._block(index, h)
        image = self.to_rgb[stage](h)
        if stage > 0 and alpha < 1.0:
            image = alpha * image + (1.0 - alpha) * upsample(self.to_rgb[stage - 1](previous))
        return image

    def forward(self, z):
        return self.generate(z)


class PGGANCritic(nn.Layer):
    """Images at a stage's resolution -> one Wasserstein score each (N, 1); the mirror of the generator."""

    def __init__(self, channels=DEFAULT_CHANNELS, image_channels: int = 1, minibatch_std: int = 4, stage: int | None = None,
                 alpha: float = 1.0):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be one positive width per resolution, 4x4 first; got {channels}")
        self.channels = channels
        self.stages = len(channels)
        self.minibatch_std = minibatch_std
        self.stage, self.alpha = _check_growth(self.stages - 1 if stage is None else stage, alpha, self.stages)
        self.from_rgb = nn.LayerList([EqualizedConv2D(image_channels, c, 1) for c in channels])
        first = channels[0]
        blocks = [nn.LayerList([EqualizedConv2D(first + (1 if minibatch_std else 0), first, 3, padding=1),
                                EqualizedLinear(first * 16, first),  # the paper's 4x4 convolution without padding
                                EqualizedLinear(first, 1, gain=1.0)])]
        for lower, upper in zip(channels, channels[1:]):
            blocks.append(nn.LayerList([EqualizedConv2D(upper, upper, 3, padding=1), EqualizedConv2D(upper, lower, 3, padding=1)]))
        self.blocks = nn.LayerList(blocks)

    def _block(self, index: int, h):
        if index == 0:
            conv, dense, out = self.blocks[0]
            if self.minibatch_std:
                h = minibatch_std(h, self.minibatch_std)
            h = _lrelu(conv(h))
            return out(_lrelu(dense(h.reshape([h.shape[0], -1]))))  # reshape, not Flatten: double backward
        first, second = self.blocks[index]
        return downsample(_lrelu(second(_lrelu(first(h)))))

    def score(self, images, stage: int | None = None, alpha: float | None = None):
        stage, alpha = _check_growth(self.stage if stage is None else stage, self.alpha if alpha is None else alpha, self.stages)
        side = resolution(stage)
        if tuple(images.shape[2:]) != (side, side):
            raise ValueError(f"the critic at stage {stage} reads {side}x{side} images, not {tuple(images.shape[2:])}")
        h = self._block(stage, _lrelu(self.from_rgb[stage](images)))
        if stage > 0 and alpha < 1.0:
            h = alpha * h + (1.0 - alpha) * _lrelu(self.from_rgb[stage - 1](downsample(images)))
        for index in range(stage - 1, -1, -1):
            h = self._block(index, h)
        return h

    def forward(self, images):
        return self.score(images)


@architecture("pggan", "Progressively grown generator (Karras et al. 2018), 4x4 to 32x32, drawable at any stage and fade",
              default_weights="pggan.digits")
def pggan(latent_dim=128, channels=DEFAULT_CHANNELS, image_channels=1, stage=None, alpha=1.0, **kw):
    return PGGANGenerator(latent_dim=latent_dim, channels=channels, image_channels=image_channels, stage=stage, alpha=alpha, **kw)


@architecture("pggan_critic", "Progressively grown critic (Karras et al. 2018), with the minibatch standard deviation")
def pggan_critic(channels=DEFAULT_CHANNELS, image_channels=1, minibatch_std=4, stage=None, alpha=1.0, **kw):
    return PGGANCritic(channels=channels, image_channels=image_channels, minibatch_std=minibatch_std, stage=stage, alpha=alpha, **kw)
