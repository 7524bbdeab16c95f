"""The critic that trains the attribute editors here (StarGAN, AttGAN, STGAN): real or edited, and which attributes.

Only the generators of PaddlePaddle/models' ``PaddleCV/gan`` were published, so this critic needs no
published layout; it follows what those papers train with: a trunk of stride-2 4x4 convolutions with
leaky ReLU (0.2) halving the picture down to 4x4 (instance norm after every convolution but the first, as
AttGAN's critic has; StarGAN's has none: with a gradient penalty, batch statistics must not mix the samples),
then two heads on the flattened features: the Wasserstein score (one number) and the attribute logits (one
per attribute, for binary cross-entropy). Both heads share the trunk, as in all three papers.
"""
from __future__ import annotations

import math

import paddle.nn as nn

from core.registry import architecture


class AttributeCritic(nn.Layer):
    """Pictures [N, channels, size, size] -> (scores [N, 1], attribute logits [N, c_dim])."""

    def __init__(self, c_dim: int, image_size: int = 32, dim: int = 32, channels: int = 3, max_dim: int = 512,
                 norm: bool = True):
        super().__init__()
        depth = int(math.log2(image_size)) - 2
        if c_dim < 1 or image_size < 8 or 2 ** (depth + 2) != image_size:
            raise ValueError(f"image_size must be a power of two from 8 and c_dim positive; got {image_size}, {c_dim}")
        layers, cin = [], channels
        for i in range(depth):
            out = min(dim * 2**i, max_dim)
            layers.append(nn.Conv2D(cin, out, 4, stride=2, padding=1))
            if norm and i > 0:
                layers.append(nn.InstanceNorm2D(out))
            layers.append(nn.LeakyReLU(0.2))
            cin = out
        self.trunk = nn.Sequential(*layers)
        features = cin * 4 * 4
        self.score = nn.Sequential(nn.Linear(features, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
        self.attributes = nn.Sequential(nn.Linear(features, 256), nn.LeakyReLU(0.2), nn.Linear(256, c_dim))

    def forward(self, images):
        h = self.trunk(images)
        h = h.reshape([h.shape[0], -1])  # not flatten: it has no double backward (the gradient penalty needs it)
        return self.score(h), self.attributes(h)


@architecture("attribute_critic", "Critic for attribute editing: Wasserstein score and attribute logits on one trunk")
def attribute_critic(c_dim=3, image_size=32, dim=32, channels=3, max_dim=512, norm=True):
    return AttributeCritic(c_dim=c_dim, image_size=image_size, dim=dim, channels=channels, max_dim=max_dim, norm=norm)
