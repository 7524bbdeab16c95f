"""The classic DCGAN generator (Radford et al. 2016): transposed convolutions from a 1x1 latent.

A latent vector (plus, for the conditional model, a one-hot class vector concatenated to it)
is a 1x1 map that a stride-1 4x4 transposed convolution turns into 4x4; each further stride-2
transposed convolution doubles the size and halves the channels (batch norm and ReLU after
each), and a last one gives the picture in [-1, 1] (Tanh). No convolution has a bias.

The layout and parameter names (``model.<i>.*``) are PaddleGAN's ``DCGenerator`` (manifest
``dcgan_mnist``: 64x64, one channel), which is also the PyTorch DCGAN tutorial's generator
(its ``main.<i>.*``). Two generalisations carry imported checkpoints:

- ``size`` 128 adds one more doubling stage (the first stage then has ``16 * ngf`` channels);
- ``n_class`` > 0 concatenates a one-hot class vector to the latent (a conditional DCGAN), and
  ``dropout`` puts a dropout after the first stage's ReLU (identity in eval), keeping the
  layer numbering of omniart-eye-generator's network.

Checkpoints (offline imports, ``core.importers.packaged``): ``dcgan.digiface_faces`` (64x64
synthetic faces) and ``dcgan.omniart_eyes`` (128x128 painted eyes in 8 iris colours).
Unlike ``deep_conv`` (PaddleGAN's DeepConvGenerator for 28x28 digits: a linear layer,
nearest-neighbour upsampling and 3x3 convolutions), nothing here is linear or upsampled.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# The iris colours of dcgan.omniart_eyes, in the order of its one-hot vector
# (omniart_eye_generator.eye_generator.classes).
OMNIART_EYE_COLOURS = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")


class DCGenerator(nn.Layer):
    """latent [N, latent_dim] or [N, latent_dim, 1, 1] (and a class) -> picture [N, output_nc, size, size] in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, output_nc: int = 3, ngf: int = 64, size: int = 64, n_class: int = 0,
                 dropout: float = 0.0):
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"size must be a power of two of at least 8; got {size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
        self.latent_dim, self.n_class, self.size = latent_dim, n_class, size
        doublings = size.bit_length() - 4  # stride-2 stages between the 4x4 map and the last layer
        channels = ngf * 2**doublings
        # Indices matter: they are the checkpoints' parameter names (model.<i>.*).
        layers = [nn.Conv2DTranspose(latent_dim + n_class, channels, 4, stride=1, padding=0, bias_attr=False),
                  nn.BatchNorm2D(channels), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        for _ in range(doublings):
            layers += [nn.Conv2DTranspose(channels, channels // 2, 4, stride=2, padding=1, bias_attr=False),
                       nn.BatchNorm2D(channels // 2), nn.ReLU()]
            channels //= 2
        layers += [nn.Conv2DTranspose(channels, output_nc, 4, stride=2, padding=1, bias_attr=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z, class_id=None, condition=None):
        """class_id: [N] integers in [0, n_class); or condition: [N, n_class] class weights in its place
        (a one-hot row is one class; a mix of two rows walks between classes). Conditional models only."""
        if z.ndim == 2:
            z = z.unsqueeze([2, 3])
        if self.n_class == 0:
            if class_id is not None or condition is not None:
                raise ValueError("this generator is unconditional: it takes no class_id or condition")
            return self.model(z)
        if condition is None:
            if class_id is None:
                raise ValueError(f"the conditional generator needs class_id (0..{self.n_class - 1}) or condition")
            class_id = class_id.astype("int64").reshape([-1])
            if int(class_id.min()) < 0 or int(class_id.max()) >= self.n_class:
                raise ValueError(f"class_id must be in 0..{self.n_class - 1}")
            condition = F.one_hot(class_id, self.n_class)
        condition = condition.astype(z.dtype).reshape([-1, self.n_class, 1, 1])
        return self.model(paddle.concat([z, condition], axis=1))


@architecture(
    "dcgan", "DCGAN generator: transposed convolutions from a 1x1 latent, optionally class-conditioned (PaddleGAN DCGenerator layout)",
    default_weights="dcgan.digiface_faces",
    configurations={
        "dcgan_mnist": ({"output_nc": 1}, None),  # PaddleGAN's configs/dcgan_mnist.yaml (no published checkpoint)
        "dcgan_faces_64": ({}, "dcgan.digiface_faces"),
        "cond_dcgan_eyes_128": ({"size": 128, "n_class": len(OMNIART_EYE_COLOURS), "dropout": 0.2}, "dcgan.omniart_eyes"),
    },
)
def dcgan(latent_dim=100, output_nc=3, ngf=64, size=64, n_class=0, dropout=0.0):
    return DCGenerator(latent_dim=latent_dim, output_nc=output_nc, ngf=ngf, size=size, n_class=n_class, dropout=dropout)
