"""DeOldify colorization generator (PaddleGAN's ``deoldify.build_model`` layout).

A fastai-style dynamic U-Net: a ResNet encoder (without pooling head), batch
norm + ReLU, a two-conv middle, four decoder blocks that upsample by a blurred
pixel shuffle and merge one encoder skip each (self-attention in the second),
a final x2 pixel shuffle back to input size, the input image concatenated, one
residual block, a 1x1 conv to 3 channels and a sigmoid scaled to (-3, 3).

Two published variants:

* ``stable``: ResNet-101 encoder, "wide" decoder blocks (one conv each, width 1024).
* ``artistic``: ResNet-34 encoder, "deep" decoder blocks (two convs each, widths
  derived from the skip channels times 1.5).

Almost every decoder conv is spectrally normalised. PaddleGAN uses Paddle's
``spectral_norm`` op, which differs from PyTorch's: the stored ``weight_u`` /
``weight_v`` vectors are never updated, training runs one power iteration from
them on every call, and eval runs none, so the weight is divided by
``u . (W v)`` with u and v exactly as stored. ``SpectralNormState`` reproduces
that. The encoder skips are taken after the stem ReLU and after ResNet stages
1-3 (where PaddleGAN hooks them), so input sides must be even (PaddleGAN's
predictor feeds a square of render_factor * 16 pixels).

Parameter names follow PaddleGAN (``layers.<i>.*``; ``weight_orig``,
``spectral_norm.weight_u/v``, ``layer.bias`` for spectral-norm convs;
``weight_g``/``weight_v`` for the weight-normalised conv), so its checkpoints load.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# ---------------------------------------------------------------- ResNet encoder

_RESNET_DEPTHS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


class BasicBlock(nn.Layer):
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2D(in_channels, planes, 3, stride=stride, padding=1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = nn.Conv2D(planes, planes, 3, padding=1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(planes)
        self.relu = nn.ReLU()
        self.downsample = _shortcut(in_channels, planes, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class BottleneckBlock(nn.Layer):
    """1x1 reduce, 3x3 (carrying the stride, as in Paddle's ResNet), 1x1 expand x4."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2D(in_channels, planes, 1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = nn.Conv2D(planes, planes, 3, stride=stride, padding=1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(planes)
        self.conv3 = nn.Conv2D(planes, out_channels, 1, bias_attr=False)
        self.bn3 = nn.BatchNorm2D(out_channels)
        self.relu = nn.ReLU()
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _shortcut(in_channels: int, out_channels: int, stride: int):
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2D(in_channels, out_channels, 1, stride=stride, bias_attr=False), nn.BatchNorm2D(out_channels)
    )


class ResNetEncoder(nn.Sequential):
    """ResNet without its pooling head: stem conv, bn, relu, max-pool, then four stages (indices 0-7).

    ``forward`` returns the deepest features and the four U-Net skips, finest
    first: the stem activation (1/2 size) and stages 1-3 (1/4, 1/8, 1/16).
    """

    def __init__(self, backbone: str = "resnet101", width: int = 64):
        if backbone not in _RESNET_DEPTHS:
            raise ValueError(f"unknown backbone {backbone!r}; known: {', '.join(_RESNET_DEPTHS)}")
        kind, depths = _RESNET_DEPTHS[backbone]
        block = BottleneckBlock if kind == "bottleneck" else BasicBlock
        stages, in_channels = [], width
        for index, depth in enumerate(depths):
            planes = width * 2**index
            stride = 1 if index == 0 else 2
            blocks = []
            for b in range(depth):
                blocks.append(block(in_channels, planes, stride if b == 0 else 1))
                in_channels = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        super().__init__(
            nn.Conv2D(3, width, 7, stride=2, padding=3, bias_attr=False),
            nn.BatchNorm2D(width),
            nn.ReLU(),
            nn.MaxPool2D(kernel_size=3, stride=2, padding=1),
            *stages,
        )
        self.skip_channels = [width] + [width * 2**i * block.expansion for i in range(3)]
        self.out_channels = in_channels

    def forward(self, x):
        conv, bn, relu, pool, stage1, stage2, stage3, stage4 = list(self.children())
        stem = relu(bn(conv(x)))
        s1 = stage1(pool(stem))
        s2 = stage2(s1)
        s3 = stage3(s2)
        return stage4(s3), [stem, s1, s2, s3]


# ---------------------------------------------------------------- normalised convolutions


class SpectralNormState(nn.Layer):
    """Divides a weight by its spectral norm estimate, as Paddle's ``spectral_norm`` op does (dim 0).

    ``weight_u`` / ``weight_v`` are read, never written: in training each call
    runs `power_iters` iterations from them; in eval it runs none, so sigma is
    ``u . (W v)`` with the stored, unnormalised vectors.
    """

    def __init__(self, rows: int, cols: int, power_iters: int = 1, eps: float = 1e-12):
        super().__init__()
        self.power_iters = power_iters
        self.eps = eps
        normal = nn.initializer.Normal(0.0, 1.0)
        self.weight_u = self.create_parameter([rows], default_initializer=normal)
        self.weight_v = self.create_parameter([cols], default_initializer=normal)
        self.weight_u.stop_gradient = True
        self.weight_v.stop_gradient = True

    def forward(self, weight):
        matrix = weight.reshape([weight.shape[0], -1])
        u = self.weight_u.reshape([-1, 1])
        v = self.weight_v.reshape([-1, 1])
        if self.training and self.power_iters > 0:
            # The op's gradient treats u and v as constants: iterate on a detached matrix.
            fixed = matrix.detach()
            for _ in range(self.power_iters):
                v = paddle.matmul(fixed, u, transpose_x=True)
                v = v / (paddle.sqrt(paddle.sum(v * v)) + self.eps)
                u = paddle.matmul(fixed, v)
                u = u / (paddle.sqrt(paddle.sum(u * u)) + self.eps)
        sigma = paddle.sum(u * paddle.matmul(matrix, v))
        return weight / sigma


class ConvBias(nn.Layer):
    """Holds the optional bias of a normalised conv (the checkpoint calls this sub-layer ``layer``)."""

    def __init__(self, channels: int, enabled: bool):
        super().__init__()
        self.bias = self.create_parameter([channels], is_bias=True) if enabled else None


class SpectralConv(nn.Layer):
    """Conv1D/2D (stride 1, 'same' padding) with a spectrally normalised weight."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool, ndim: int = 2):
        super().__init__()
        shape = [out_channels, in_channels] + [kernel_size] * ndim
        self.weight_orig = self.create_parameter(shape, default_initializer=nn.initializer.KaimingNormal())
        cols = in_channels * kernel_size**ndim
        self.spectral_norm = SpectralNormState(out_channels, cols)
        self.layer = ConvBias(out_channels, bias)
        self.padding = (kernel_size - 1) // 2
        self.ndim = ndim

    def forward(self, x):
        weight = self.spectral_norm(self.weight_orig)
        conv = F.conv1d if self.ndim == 1 else F.conv2d
        return conv(x, weight, self.layer.bias, padding=self.padding)


class WeightNormConv2D(nn.Layer):
    """Conv2D with weight = g * v / ||v|| per output channel (``paddle.nn.utils.weight_norm``, dim 0)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1):
        super().__init__()
        self.weight_v = self.create_parameter(
            [out_channels, in_channels, kernel_size, kernel_size], default_initializer=nn.initializer.KaimingNormal()
        )
        self.weight_g = self.create_parameter([out_channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([out_channels], is_bias=True)
        self.padding = (kernel_size - 1) // 2

    def forward(self, x):
        rows = F.normalize(self.weight_v.reshape([self.weight_v.shape[0], -1]), axis=1)
        weight = rows.reshape(self.weight_v.shape) * self.weight_g.reshape([-1, 1, 1, 1])
        return F.conv2d(x, weight, self.bias, padding=self.padding)


class SelfAttention(nn.Layer):
    """SAGAN self-attention over all positions, with a learnt gate ``gamma`` (starts at 0)."""

    def __init__(self, channels: int):
        super().__init__()
        self.query = SpectralConv(channels, channels // 8, 1, bias=False, ndim=1)
        self.key = SpectralConv(channels, channels // 8, 1, bias=False, ndim=1)
        self.value = SpectralConv(channels, channels, 1, bias=False, ndim=1)
        self.gamma = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        shape = x.shape
        flat = x.reshape([shape[0], shape[1], -1])
        query, key, value = self.query(flat), self.key(flat), self.value(flat)
        # attention[b, i, j]: weight of position i for output position j (softmax over i).
        attention = F.softmax(paddle.bmm(query.transpose([0, 2, 1]), key), axis=1)
        out = self.gamma * paddle.bmm(value, attention) + flat
        return out.reshape(shape)


def conv_block(in_channels, out_channels, kernel_size=3, relu=True, batch_norm=True, bias=None, self_attention=False):
    """[spectral conv, ReLU?, BatchNorm?, self-attention?] in PaddleGAN's order (indices are names).

    The conv has a bias only when no batch norm follows, unless `bias` says otherwise.
    """
    bias = (not batch_norm) if bias is None else bias
    layers = [SpectralConv(in_channels, out_channels, kernel_size, bias=bias)]
    if relu:
        layers.append(nn.ReLU())
    if batch_norm:
        layers.append(nn.BatchNorm2D(out_channels))
    if self_attention:
        layers.append(SelfAttention(out_channels))
    return nn.Sequential(*layers)


class BlurredPixelShuffle(nn.Layer):
    """x2 upsampling: conv to 4x channels, ReLU, pixel shuffle, then a 2x2 box blur.

    The blur (replicate-pad left/top by one, 2x2 average, stride 1) keeps the
    size and suppresses the checkerboard of the shuffle; PaddleGAN always applies it.
    """

    def __init__(self, conv: nn.Sequential):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        x = F.pixel_shuffle(F.relu(self.conv(x)), 2)
        return F.avg_pool2d(F.pad(x, [1, 0, 1, 0], mode="replicate"), kernel_size=2, stride=1)


# ---------------------------------------------------------------- decoder blocks


def _match_size(up, skip):
    # Odd encoder sizes make the upsampled map one pixel larger than the skip.
    if list(up.shape[-2:]) != list(skip.shape[-2:]):
        up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
    return up


class WideUnetBlock(nn.Layer):
    """Stable decoder block: upsample to n_out/2, concat the normalised skip, one conv to n_out/2."""

    def __init__(self, up_channels: int, skip_channels: int, n_out: int, self_attention: bool):
        super().__init__()
        half = n_out // 2
        self.shuf = BlurredPixelShuffle(conv_block(up_channels, half * 4, kernel_size=1, relu=False))
        self.bn = nn.BatchNorm2D(skip_channels)
        self.conv = conv_block(half + skip_channels, half, self_attention=self_attention)
        self.out_channels = half

    def forward(self, up_in, skip):
        up = _match_size(self.shuf(up_in), skip)
        return self.conv(F.relu(paddle.concat([up, self.bn(skip)], axis=1)))


class DeepUnetBlock(nn.Layer):
    """Artistic decoder block: upsample to half the channels, concat the skip, two convs."""

    def __init__(self, up_channels: int, skip_channels: int, final: bool, nf_factor: float, self_attention: bool):
        super().__init__()
        half = up_channels // 2
        self.shuf = BlurredPixelShuffle(conv_block(up_channels, half * 4, kernel_size=1, relu=False))
        self.bn = nn.BatchNorm2D(skip_channels)
        merged = half + skip_channels
        width = int((merged // 2 if final else merged) * nf_factor)
        self.conv1 = conv_block(merged, width)
        self.conv2 = conv_block(width, width, self_attention=self_attention)
        self.out_channels = width

    def forward(self, up_in, skip):
        up = _match_size(self.shuf(up_in), skip)
        return self.conv2(self.conv1(F.relu(paddle.concat([up, self.bn(skip)], axis=1))))


class ConcatInput(nn.Layer):
    """Appends the network input to the features (fastai's dense MergeLayer)."""

    def forward(self, x, image):
        return paddle.concat([x, image], axis=1)


class ResidualBlock(nn.Layer):
    """x + conv(conv(x)): two biased spectral convs with ReLU, no norm."""

    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.LayerList([conv_block(channels, channels, batch_norm=False) for _ in range(2)])

    def forward(self, x):
        return x + self.layers[1](self.layers[0](x))


class SigmoidRange(nn.Layer):
    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x):
        return F.sigmoid(x) * (self.high - self.low) + self.low


# ---------------------------------------------------------------- the generator


class DeOldify(nn.Layer):
    """Input: normalised RGB (ImageNet mean/std), even sides. Output: RGB in (-3, 3), same size.

    ``layers`` positions are the checkpoint's prefixes: 0 encoder, 1 bn, 2 relu,
    3 middle convs, 4-7 decoder blocks, 8 final x2 upsampling, 9 input concat,
    10 residual block, 11 1x1 head, 12 sigmoid range.
    """

    def __init__(
        self,
        model_type: str = "stable",
        backbone: str = "resnet101",
        nf_factor: float = 2,
        encoder_width: int = 64,
        decoder_width: int = 512,
        n_classes: int = 3,
        y_range=(-3.0, 3.0),
    ):
        super().__init__()
        if model_type not in ("stable", "artistic"):
            raise ValueError(f"model_type must be 'stable' or 'artistic', not {model_type!r}")
        encoder = ResNetEncoder(backbone, encoder_width)
        bottom = encoder.out_channels
        middle = nn.Sequential(conv_block(bottom, bottom * 2), conv_block(bottom * 2, bottom))

        blocks, channels = [], bottom
        skip_channels = list(reversed(encoder.skip_channels))
        for i, skip in enumerate(skip_channels):
            final = i == len(skip_channels) - 1
            attention = i == 1  # at 1/8 of the input size
            if model_type == "stable":
                width = int(decoder_width * nf_factor)
                block = WideUnetBlock(channels, skip, width // 2 if final else width, attention)
            else:
                block = DeepUnetBlock(channels, skip, final, nf_factor, attention)
            blocks.append(block)
            channels = block.out_channels

        upsample = BlurredPixelShuffle(nn.Sequential(WeightNormConv2D(channels, channels * 4)))
        merged = channels + 3
        self.layers = nn.LayerList(
            [
                encoder,
                nn.BatchNorm2D(bottom),
                nn.ReLU(),
                middle,
                *blocks,
                upsample,
                ConcatInput(),
                ResidualBlock(merged),
                conv_block(merged, n_classes, kernel_size=1, relu=False, batch_norm=False),
                SigmoidRange(*y_range),
            ]
        )

    def forward(self, image):
        layers = self.layers
        x, skips = layers[0](image)
        x = layers[3](layers[2](layers[1](x)))
        for position, skip in zip(range(4, 8), reversed(skips)):
            x = layers[position](x, skip)
        x = layers[9](layers[8](x), image)
        return layers[12](layers[11](layers[10](x)))


# The two published models are two configurations of one U-Net family.
@architecture(
    "deoldify", "DeOldify colorizer: a ResNet U-Net with self-attention (PaddleGAN layout)", default_weights="deoldify.stable",
    configurations={
        "deoldify_stable": ({"model_type": "stable", "backbone": "resnet101", "nf_factor": 2}, "deoldify.stable"),
        "deoldify_artistic": ({"model_type": "artistic", "backbone": "resnet34", "nf_factor": 1.5}, "deoldify.artistic"),
    },
)
def deoldify(model_type="stable", backbone="resnet101", nf_factor=2, **overrides):
    return DeOldify(model_type=model_type, backbone=backbone, nf_factor=nf_factor, **overrides)
