"""SPADE's discriminator (Park et al. 2019): multi-scale PatchGAN critics on (label map, image) pairs.

What the SPADE code base trains with (``MultiscaleDiscriminator`` of ``NLayerDiscriminator``\\ s, pix2pixHD's
design): ``num_D`` critics of one layout, the first on the full picture, each next one on the picture
average-pooled once more (3x3, stride 2, padding 1, padded cells left out of the mean). Each critic sees the
label map's channels concatenated with the image's and runs ``n_layers`` 4x4 convolutions (padding 2) that halve
the size, then one of stride 1, then a 4x4 convolution to one logit per patch: a map of real/fake scores. Widths
start at ``ndf`` and double up to 512. Every convolution but the first and the last is spectrally normalised and
followed by a parameter-free instance norm ("spectralinstance", SPADE's default ``norm_D``); leaky ReLU 0.2
after all but the last.

``forward`` returns, per critic, every layer's output (the last is the patch scores): the generator's
feature-matching loss compares the intermediate ones on real and generated pairs.

Spectral norm here is the training kind: each call in training runs one power iteration from the stored
u (a buffer) and writes u and v back, so a run resumed from a checkpoint continues exactly; in eval the stored
vectors are used as they are.
"""
from __future__ import annotations

import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

MAX_WIDTH = 512


class SpectralConv2D(nn.Layer):
    """A conv whose weight is ``weight_orig / sigma``, sigma the largest singular value of the [out, in*k*k]
    matrix estimated by power iteration (one step per training call, u and v written back)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, eps: float = 1e-12):
        super().__init__()
        self.stride, self.padding, self.eps = stride, padding, eps
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight_orig = self.create_parameter(
            [out_channels, in_channels, kernel_size, kernel_size], default_initializer=nn.initializer.KaimingUniform()
        )
        self.bias = self.create_parameter([out_channels], is_bias=True,
                                          default_initializer=nn.initializer.Uniform(-bound, bound))
        self.register_buffer("weight_u", F.normalize(paddle.randn([out_channels]), axis=0))
        self.register_buffer("weight_v", F.normalize(paddle.randn([in_channels * kernel_size * kernel_size]), axis=0))

    def forward(self, x):
        matrix = self.weight_orig.reshape([self.weight_orig.shape[0], -1])
        u, v = self.weight_u.reshape([-1, 1]), self.weight_v.reshape([-1, 1])
        if self.training:
            with paddle.no_grad():
                fixed = matrix.detach()
                v = F.normalize(paddle.matmul(fixed, u, transpose_x=True), axis=0, epsilon=self.eps)
                u = F.normalize(paddle.matmul(fixed, v), axis=0, epsilon=self.eps)
                paddle.assign(u.reshape([-1]), self.weight_u)
                paddle.assign(v.reshape([-1]), self.weight_v)
        sigma = paddle.sum(u * paddle.matmul(matrix, v))
        return F.conv2d(x, self.weight_orig / sigma, self.bias, stride=self.stride, padding=self.padding)


class PatchCritic(nn.Layer):
    """One scale: [N, in_channels, H, W] -> every layer's output, the last one patch logits [N, 1, h, w]."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        padding = 2  # SPADE's int(ceil((4 - 1) / 2))
        self.stages = nn.LayerList([nn.Sequential(nn.Conv2D(in_channels, ndf, 4, stride=2, padding=padding), nn.LeakyReLU(0.2))])
        width = ndf
        for n in range(1, n_layers):
            previous, width = width, min(width * 2, MAX_WIDTH)
            stride = 1 if n == n_layers - 1 else 2
            self.stages.append(nn.Sequential(SpectralConv2D(previous, width, 4, stride, padding), nn.InstanceNorm2D(width),
                                             nn.LeakyReLU(0.2)))
        self.stages.append(nn.Sequential(nn.Conv2D(width, 1, 4, stride=1, padding=padding)))

    def forward(self, x):
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class MultiscaleCritic(nn.Layer):
    """(one-hot label map [N, semantic_nc, H, W], image [N, 3, H, W]) -> per scale, every layer's output."""

    def __init__(self, semantic_nc: int, image_channels: int = 3, ndf: int = 64, n_layers: int = 4, num_D: int = 2):
        super().__init__()
        if semantic_nc < 1 or n_layers < 1 or num_D < 1 or ndf < 1:
            raise ValueError(f"semantic_nc, ndf, n_layers and num_D must be positive; got {semantic_nc}, {ndf}, {n_layers}, {num_D}")
        self.semantic_nc = semantic_nc
        self.critics = nn.LayerList([PatchCritic(semantic_nc + image_channels, ndf, n_layers) for _ in range(num_D)])

    def forward(self, label_map, image):
        x = paddle.concat([label_map, image], axis=1)
        outputs = []
        for i, critic in enumerate(self.critics):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, exclusive=True)
            outputs.append(critic(x))
        return outputs


@architecture("spade_critic", "SPADE's multi-scale PatchGAN discriminator on (label map, image) pairs")
def spade_critic(semantic_nc=4, image_channels=3, ndf=64, n_layers=4, num_D=2):
    return MultiscaleCritic(semantic_nc=semantic_nc, image_channels=image_channels, ndf=ndf, n_layers=n_layers, num_D=num_D)
