"""U-GAT-IT generator (PaddleGAN ``ResnetUGATITGenerator`` layout).

Encoder (7x7 stem, two stride-2 steps, residual blocks), then a class-activation
map: global average- and max-pooled features are scored by two one-output
linear layers (``cam_logit``), and the same weights re-weight the feature maps,
which a 1x1 convolution fuses (their channel sum is the ``heatmap``). A small MLP
turns the fused features into per-channel gamma/beta that drive the decoder's
AdaILN residual blocks; two nearest 2x upsamplings with ILN and a 7x7 head
with tanh give the image. ``forward`` returns ``(image, cam_logit, heatmap)``.

The "light" model feeds the MLP the spatial average of the features; the full
model flattens the whole map, which fixes the input size to ``img_size``.

Also home of `InstanceLayerNorm`, shared with photo2cartoon.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture
from core.nets.resnet_generator import ResnetBlock, make_norm


class InstanceLayerNorm(nn.Layer):
    """A learned per-channel blend (``rho``) of instance norm and layer norm.

    adaptive=True (AdaILN): the affine gamma/beta come from the caller, one
    vector per sample; only ``rho`` is a parameter (starts at 0.9).
    adaptive=False (ILN): ``rho`` (starts at 0), ``gamma`` (1) and ``beta`` (0)
    are parameters. Variances are unbiased, as in the reference.
    """

    def __init__(self, channels: int, adaptive: bool, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.adaptive = adaptive
        shape = [1, channels, 1, 1]
        constant = nn.initializer.Constant
        self.rho = self.create_parameter(shape, default_initializer=constant(0.9 if adaptive else 0.0))
        if not adaptive:
            self.gamma = self.create_parameter(shape, default_initializer=constant(1.0))
            self.beta = self.create_parameter(shape, default_initializer=constant(0.0))

    def _normalise(self, x, axes):
        mean = paddle.mean(x, axes, keepdim=True)
        var = paddle.var(x, axes, keepdim=True)
        return (x - mean) / paddle.sqrt(var + self.eps)

    def forward(self, x, gamma=None, beta=None):
        blended = self.rho * self._normalise(x, [2, 3]) + (1 - self.rho) * self._normalise(x, [1, 2, 3])
        if self.adaptive:
            return blended * gamma.unsqueeze([2, 3]) + beta.unsqueeze([2, 3])
        return blended * self.gamma + self.beta


class AdaILNResnetBlock(nn.Layer):
    """x + [reflect pad, 3x3 conv, AdaILN, relu, reflect pad, 3x3 conv, AdaILN](x)."""

    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        self.pad1 = nn.Pad2D(padding=[1, 1, 1, 1], mode="reflect")
        self.conv1 = nn.Conv2D(channels, channels, 3, bias_attr=bias)
        self.norm1 = InstanceLayerNorm(channels, adaptive=True)
        self.relu1 = nn.ReLU()
        self.pad2 = nn.Pad2D(padding=[1, 1, 1, 1], mode="reflect")
        self.conv2 = nn.Conv2D(channels, channels, 3, bias_attr=bias)
        self.norm2 = InstanceLayerNorm(channels, adaptive=True)

    def forward(self, x, gamma, beta):
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        out = self.norm2(self.conv2(self.pad2(out)), gamma, beta)
        return x + out


def class_activation(features, gap_fc: nn.Linear, gmp_fc: nn.Linear):
    """CAM logits from pooled features, and the features re-weighted by the same linear weights.

    Returns (cam_logit [N, 2], weighted features [N, 2C, H, W]: average branch then max branch).
    """
    batch = features.shape[0]
    avg_logit = gap_fc(F.adaptive_avg_pool2d(features, 1).reshape([batch, -1]))
    max_logit = gmp_fc(F.adaptive_max_pool2d(features, 1).reshape([batch, -1]))
    # Linear weights are [in, 1]: one weight per channel.
    avg_weighted = features * gap_fc.weight.transpose([1, 0]).unsqueeze([2, 3])
    max_weighted = features * gmp_fc.weight.transpose([1, 0]).unsqueeze([2, 3])
    return paddle.concat([avg_logit, max_logit], axis=1), paddle.concat([avg_weighted, max_weighted], axis=1)


class ResnetUGATITGenerator(nn.Layer):
    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 6,
        img_size: int = 256,
        light: bool = False,
        norm_type: str = "instance",
    ):
        super().__init__()
        if n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        self.n_blocks = n_blocks
        self.light = light
        width = ngf * 4  # after two downsamplings

        # Encoder convolutions have no bias, whatever the norm.
        down = [
            nn.Pad2D(padding=[3, 3, 3, 3], mode="reflect"),
            nn.Conv2D(input_nc, ngf, 7, bias_attr=False),
            make_norm(norm_type, ngf),
            nn.ReLU(),
        ]
        for channels in (ngf, ngf * 2):
            down += [
                nn.Pad2D(padding=[1, 1, 1, 1], mode="reflect"),
                nn.Conv2D(channels, channels * 2, 3, stride=2, bias_attr=False),
                make_norm(norm_type, channels * 2),
                nn.ReLU(),
            ]
        down += [ResnetBlock(width, "reflect", norm_type, use_dropout=False, bias=False) for _ in range(n_blocks)]
        self.DownBlock = nn.Sequential(*down)

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
        self.gamma = nn.Linear(width, width, bias_attr=False)
        self.beta = nn.Linear(width, width, bias_attr=False)

        # Checkpoint names: UpBlock1_1 ... UpBlock1_<n_blocks>.
        for i in range(n_blocks):
            setattr(self, f"UpBlock1_{i + 1}", AdaILNResnetBlock(width))

        up = []
        for channels in (width, width // 2):
            up += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Pad2D(padding=[1, 1, 1, 1], mode="reflect"),
                nn.Conv2D(channels, channels // 2, 3, bias_attr=False),
                InstanceLayerNorm(channels // 2, adaptive=False),
                nn.ReLU(),
            ]
        up += [
            nn.Pad2D(padding=[3, 3, 3, 3], mode="reflect"),
            nn.Conv2D(ngf, output_nc, 7, bias_attr=False),
            nn.Tanh(),
        ]
        self.UpBlock2 = nn.Sequential(*up)

    def forward(self, x):
        features = self.DownBlock(x)
        cam_logit, weighted = class_activation(features, self.gap_fc, self.gmp_fc)
        features = self.relu(self.conv1x1(weighted))
        heatmap = paddle.sum(features, axis=1, keepdim=True)

        if self.light:
            style = F.adaptive_avg_pool2d(features, 1)
        else:
            style = features
        style = self.FC(style.reshape([style.shape[0], -1]))
        gamma, beta = self.gamma(style), self.beta(style)

        for i in range(self.n_blocks):
            features = getattr(self, f"UpBlock1_{i + 1}")(features, gamma, beta)
        return self.UpBlock2(features), cam_logit, heatmap


@architecture("ugatit_light", "U-GAT-IT light generator, 4 blocks (PaddleGAN layout); returns image, cam_logit, heatmap",
              default_weights="ugatit_light.selfie2anime",
              configurations={"ugatit_light_selfie2anime": ({}, "ugatit_light.selfie2anime")})
def ugatit_light(**overrides):
    config = dict(input_nc=3, output_nc=3, ngf=64, n_blocks=4, img_size=256, light=True)
    config.update(overrides)
    return ResnetUGATITGenerator(**config)
