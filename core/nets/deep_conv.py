"""Deep-convolutional GAN for 28x28 digits (PaddleGAN's DeepConvGenerator layout).

The generator maps a latent vector (plus a one-hot label for the conditional
model) through a linear layer to a 7x7 map, then two nearest-neighbour 2x
upsamplings with 3x3 convolutions to 28x28 in [-1, 1]. Parameter names follow
PaddleGAN's ``DeepConvGenerator`` / ``ConditionalDeepConvGenerator`` so their
checkpoints load (manifests ``wgan_mnist`` and ``cond_dcgan_mnist``).

The critic avoids layers without double backward in Paddle (Flatten, norms,
pooling), so the same critic serves WGAN-GP and WGAN-div penalties.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture


class DeepConvGenerator(nn.Layer):
    def __init__(self, latent_dim: int = 128, output_nc: int = 1, size: int = 28, ngf: int = 64, n_class: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.n_class = n_class
        self.ngf = ngf
        self.init_size = size // 4
        channels = ngf * 2
        self.l1 = nn.Sequential(nn.Linear(latent_dim + n_class, channels * self.init_size**2))
        # Indices matter: they are the checkpoint's parameter names (conv_blocks.<i>.*).
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2D(channels),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2D(channels, channels, 3, padding=1),
            nn.BatchNorm2D(channels),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2D(channels, ngf, 3, padding=1),
            nn.BatchNorm2D(ngf),
            nn.LeakyReLU(0.2),
            nn.Conv2D(ngf, output_nc, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z, class_id=None):
        if self.n_class > 0:
            if class_id is None:
                raise ValueError("the conditional generator needs class_id")
            onehot = F.one_hot(class_id.astype("int64").reshape([-1]) % self.n_class, self.n_class)
            z = paddle.concat([z, onehot.astype(z.dtype)], axis=1)
        out = self.l1(z).reshape([-1, self.ngf * 2, self.init_size, self.init_size])
        return self.conv_blocks(out)


class SampleNorm(nn.Layer):
    """Layer norm of a conv feature map: each sample over all its channels and pixels, then a
    per-channel scale and shift (a group norm of one group). Built from elementwise ops because
    Paddle's group_norm and layer_norm have no double backward, which gradient penalties need."""

    def __init__(self, channels: int, epsilon: float = 1e-5):
        super().__init__()
        self.epsilon = epsilon
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([channels], is_bias=True)

    def forward(self, x):
        mean = x.mean(axis=[1, 2, 3], keepdim=True)
        variance = ((x - mean) ** 2).mean(axis=[1, 2, 3], keepdim=True)
        normed = (x - mean) / (variance + self.epsilon).sqrt()
        return normed * self.weight.reshape([1, -1, 1, 1]) + self.bias.reshape([1, -1, 1, 1])


class DeepConvCritic(nn.Layer):
    """28x28 discriminator / critic: strided convolutions, LeakyReLU, one linear output.

    ``norm`` is "batch", "layer" or "none" (True and False stand for "batch" and
    "none"). Batch norm must go for gradient-penalty critics, whose per-sample
    gradients must not mix samples. "layer" normalises each sample over all its
    features (``SampleNorm``): it never mixes samples, so a batch's class
    frequencies still reach the head. With ``n_class`` the label enters
    as extra constant input planes (a projection-free conditional critic).
    ``minibatch_std=G`` appends, before the linear head, one feature plane holding
    the features' standard deviation across groups of G samples (Karras et al.
    2018): a batch of near-identical fakes then looks unlike a batch of real
    digits, which counters the unconditional objectives' dropping of classes.
    ``depth=3`` adds a third strided convolution (7x7 to 4x4, 4*ndf channels), as
    in Gulrajani et al.'s MNIST critic: each head feature then sees an 18x18 window,
    most of a digit, where two convolutions leave 10x10 windows for the linear head.
    """

    def __init__(self, input_nc: int = 1, ndf: int = 64, n_class: int = 0, norm: bool | str = "batch", minibatch_std: int = 0,
                 depth: int = 2):
        super().__init__()
        norm = {True: "batch", False: "none"}.get(norm, norm)
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none'; got {norm!r}")
        if depth not in (2, 3):
            raise ValueError(f"depth must be 2 or 3 strided convolutions; got {depth!r}")
        self.n_class = n_class
        self.minibatch_std = minibatch_std
        layers = [nn.Conv2D(input_nc + n_class, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        channels, size = ndf, 14
        for _ in range(depth - 1):  # 14 -> 7 (-> 4)
            layers += [nn.Conv2D(channels, channels * 2, 4 if size == 14 else 3, stride=2, padding=1)]
            channels, size = channels * 2, (size + 1) // 2
            if norm == "batch":
                layers += [nn.BatchNorm2D(channels)]
            elif norm == "layer":
                layers += [SampleNorm(channels)]
            layers += [nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear((channels + (1 if minibatch_std else 0)) * size * size, 1)

    def forward(self, image, class_id=None):
        if self.n_class > 0:
            onehot = F.one_hot(class_id.astype("int64").reshape([-1]), self.n_class).astype(image.dtype)
            planes = onehot.reshape([-1, self.n_class, 1, 1]).expand([-1, self.n_class, image.shape[2], image.shape[3]])
            image = paddle.concat([image, planes], axis=1)
        features = self.features(image)
        if self.minibatch_std:
            features = paddle.concat([features, self._group_std(features)], axis=1)
        # reshape, not nn.Flatten: Flatten has no double backward in Paddle.
        return self.head(features.reshape([features.shape[0], -1]))

    def _group_std(self, features):
        """[B, 1, H, W]: per group of samples, the mean over features of their standard deviation."""
        batch, _, height, width = features.shape
        group = self.minibatch_std if batch % self.minibatch_std == 0 else batch
        grouped = features.reshape([group, -1, *features.shape[1:]])
        std = (grouped.var(axis=0, unbiased=False) + 1e-8).sqrt().mean(axis=[1, 2, 3])  # one per group member index
        # Sample i belongs to column i % (batch // group) of the [group, batch // group] layout.
        return std.reshape([1, -1, 1, 1, 1]).expand([group, -1, 1, height, width]).reshape([batch, 1, height, width])


# PaddleGAN's DeepConvGenerator, and with n_class its ConditionalDeepConvGenerator: one layout.
@architecture(
    "deep_conv", "28x28 digit generator, unconditional or label-conditioned (PaddleGAN DeepConvGenerator layout)",
    default_weights="deep_conv.digits_dcgan",
    configurations={"wgan_mnist": ({}, "deep_conv.digits_dcgan"), "cond_dcgan_mnist": ({"n_class": 10}, "deep_conv.digits_cgan")},
)
def deep_conv(latent_dim=128, ngf=64, **kw):
    return DeepConvGenerator(latent_dim=latent_dim, ngf=ngf, **kw)


@architecture("digits_critic", "28x28 digit discriminator / critic")
def digits_critic(ndf=64, n_class=0, norm="batch", minibatch_std=0, depth=2, **kw):
    return DeepConvCritic(ndf=ndf, n_class=n_class, norm=norm, minibatch_std=minibatch_std, depth=depth, **kw)
