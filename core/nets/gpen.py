"""GPEN: GAN-prior embedded network for blind face restoration (PaddleGAN's ``GPEN`` and ``GPENGenerator``).

Yang et al. 2021. A StyleGAN2 generator is the decoder; an encoder of StyleGAN2
discriminator layers feeds it from the degraded face:

* ``ecd0`` (1x1 conv) then ``ecd1`` .. ``ecd<n>`` (blur, 3x3 conv stride 2) halve
  the resolution down to 4x4; each level's features are kept;
* ``final_linear`` maps the flattened 4x4 features to a latent z, which goes
  through the generator's mapping network as usual (``input_is_latent=False``);
* the generator is the *concatenating* StyleGAN2 (``StyleGAN2Generator(is_concat=True)``):
  at each resolution the encoder's features of that size take the place of the
  noise map and are concatenated (times the learned noise weight) to the
  convolution's output, both convolutions of a level sharing one feature map.

Two PaddleGAN classes with one computation and two layouts, each a named configuration here:

* ``gpen512_face_enhance``: ``ppgan/models/generators/gpen.py:GPEN`` (size 512,
  channel multiplier 2, full width); the face enhancer of
  ``ppgan/faceutils/face_enhancement/face_enhance.py`` (FOM and Wav2Lip's
  ``--face_enhancement``). Its linear layers keep Paddle's ``[in, out]`` weights.
* ``gpen_ffhq256``: ``ppgan/models/generators/generator_gpen.py:GPENGenerator``
  (size 256, channel multiplier 1, half width: ``narrow=0.5``), the model of
  ``ppgan/apps/gpen_predictor.py``. Its equalized linear layers (``EqualLinear_gpen``)
  store their weights transposed, ``[out, in]`` as in PyTorch: ``linear_layout="out_in"``.

``forward(x)`` returns ``(image, None)`` as PaddleGAN does (``(image, W+ latent)``
with ``return_latents=True``): take output ``IMAGE_OUTPUT`` (0).
"""
from __future__ import annotations

import math

import paddle.nn as nn
import paddle.nn.functional as F

from core.nets.stylegan2 import Blur, EqualLinear, ScaledLeakyReLU, StyleGAN2Generator, scaled_leaky_relu
from core.registry import architecture

# ---------------------------------------------------------------- pre/post-processing (for the apps)

# The network takes an aligned face, RGB, scaled to [-1, 1] ((x / 255 - 0.5) / 0.5), and returns RGB in
# about [-1, 1] (out * 0.5 + 0.5, clipped to [0, 1], * 255). Sources: PaddleGAN
# ppgan/faceutils/face_enhancement/face_enhance.py (enhance_from_batch) for GPEN-512, and
# ppgan/apps/gpen_predictor.py + ppgan/datasets/gpen_dataset.py (cv2 BGR read, then .flip(0) to RGB,
# (x - 0.5) / 0.5) for GPEN-256. GPEN's own face_model/face_gan.py flips BGR -> RGB too.
# (PaddleGAN's FaceEnhancement passes its input through in whatever order it gets: RGB frames from
# First Order Motion but BGR frames from Wav2Lip. The network was trained on RGB.)
INPUT_CHANNEL_ORDER = "RGB"
INPUT_RANGE = (-1.0, 1.0)
OUTPUT_RANGE = (-1.0, 1.0)
IMAGE_OUTPUT = 0  # forward returns (image, latent or None)
# Input side per configuration (face_enhance.py resizes and centre-crops to 512 with cv2.INTER_AREA;
# gpen_predictor.py resizes to 256).
INPUT_SIZE = {"gpen512_face_enhance": 512, "gpen_ffhq256": 256}
# face_enhance.py pastes the restored 512x512 face back through a soft mask: a filled rectangle from
# (26, 26) to (486, 486), blurred twice with cv2.GaussianBlur((101, 101), sigma 11);
# result = out * mask + (1 - mask) * input.
PASTE_MASK_RECT = ((26, 26), (486, 486))
PASTE_MASK_BLUR = {"ksize": (101, 101), "sigma": 11, "passes": 2}


# ---------------------------------------------------------------- encoder layers


class EqualConv2D(nn.Layer):
    """Convolution with equalized learning rate: weight [out, in, k, k] at unit scale, times 1/sqrt(fan_in) at run time."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, bias_init=0.0):
        super().__init__()
        self.weight = self.create_parameter(
            [out_channels, in_channels, kernel_size, kernel_size], default_initializer=nn.initializer.Normal()
        )
        self.bias = (
            self.create_parameter([out_channels], default_initializer=nn.initializer.Constant(bias_init)) if bias else None
        )
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class ScaledLeakyReLUNoBias(nn.Layer):
    """leaky_relu(x, 0.2) * sqrt(2) without a bias (PaddleGAN's GFPGAN ``ScaledLeakyReLU``)."""

    def forward(self, x):
        return scaled_leaky_relu(x)


class ConvLayer(nn.Sequential):
    """StyleGAN2 discriminator conv: [blur,] equalized conv (stride 2 when downsampling), biased scaled leaky ReLU.

    Checkpoint names: ``0.weight`` / ``1.bias`` without downsampling, ``1.weight`` / ``2.bias`` with it
    (the blur's kernel is not saved). ``activate=False``: the conv alone, with its own bias if ``bias``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, downsample=False, blur_taps=(1, 3, 3, 1), bias=True,
                 activate=True):
        layers = []
        if downsample:
            excess = (len(blur_taps) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_taps, pad=((excess + 1) // 2, excess // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias and not activate)
        )
        if activate:
            layers.append(ScaledLeakyReLU(out_channels) if bias else ScaledLeakyReLUNoBias())
        super().__init__(*layers)


class EqualLinearOutIn(EqualLinear):
    """``EqualLinear`` whose weight is stored ``[out, in]`` (PaddleGAN's ``EqualLinear_gpen``); same computation."""

    def __init__(self, in_dim, out_dim, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        nn.Layer.__init__(self)  # EqualLinear's attributes, with the weight transposed
        self.weight = self.create_parameter([out_dim, in_dim], default_initializer=nn.initializer.Normal(0.0, 1.0 / lr_mul))
        self.bias = self.create_parameter([out_dim], default_initializer=nn.initializer.Constant(bias_init))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x):
        bias = self.bias * self.lr_mul
        weight = (self.weight * self.scale).t()
        if self.activate:
            return scaled_leaky_relu(F.linear(x, weight), bias)
        return F.linear(x, weight, bias=bias)


def _transpose_linears(layer: nn.Layer) -> None:
    """Replace every ``EqualLinear`` below `layer` by a freshly initialised ``[out, in]`` twin (names unchanged).

    Nothing is copied, so this also works under ``paddle.LazyGuard``. The twins start as the originals
    would: the style modulations (``*.modulation``) with bias 1, the mapping layers with bias 0.
    """
    for name, sub in list(layer.named_sublayers()):
        if type(sub) is EqualLinear:
            *path, last = name.split(".")
            parent = layer
            for part in path:
                parent = getattr(parent, part)
            in_dim, out_dim = sub.weight.shape
            bias_init = 1.0 if last == "modulation" else 0.0
            twin = EqualLinearOutIn(in_dim, out_dim, bias_init=bias_init, lr_mul=sub.lr_mul, activate=sub.activate)
            setattr(parent, last, twin)


# ---------------------------------------------------------------- GPEN


class GPEN(nn.Layer):
    """Degraded face [B, 3, size, size] in [-1, 1] -> ``(restored face [B, 3, size, size], latent or None)``.

    size: resolution (a power of two, >= 8). style_dim / n_mlp: the StyleGAN2 latent and mapping depth.
    channel_multiplier, narrow: widths as in PaddleGAN (narrow scales every level; PaddleGAN's GPEN
    class is narrow=1). linear_layout: "in_out" (``GPEN``) or "out_in" (``GPENGenerator``).
    """

    def __init__(self, size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0, blur_kernel=(1, 3, 3, 1),
                 lr_mlp=0.01, linear_layout="in_out"):
        super().__init__()
        if linear_layout not in ("in_out", "out_in"):
            raise ValueError(f"linear_layout is 'in_out' or 'out_in', not {linear_layout!r}")
        self.size = size
        self.log_size = int(math.log2(size))
        self.generator = StyleGAN2Generator(size, style_dim, n_mlp, channel_multiplier=channel_multiplier,
                                            blur_kernel=blur_kernel, lr_mlp=lr_mlp, is_concat=True, narrow=narrow)
        channels = self.generator.channels  # the encoder's widths match the decoder level for level

        # ecd0 keeps the resolution; ecd1 .. ecd<log_size - 2> halve it down to 4x4.
        self.ecd0 = nn.Sequential(ConvLayer(3, channels[size], 1))
        in_channel = channels[size]
        for index, level in enumerate(range(self.log_size - 1, 1, -1), start=1):
            out_channel = channels[2**level]
            # PaddleGAN's encoder keeps ConvLayer's default blur taps whatever blur_kernel says.
            setattr(self, f"ecd{index}", nn.Sequential(ConvLayer(in_channel, out_channel, 3, downsample=True)))
            in_channel = out_channel
        linear = EqualLinearOutIn if linear_layout == "out_in" else EqualLinear
        self.final_linear = nn.Sequential(linear(channels[4] * 4 * 4, style_dim, activate=True))
        if linear_layout == "out_in":
            _transpose_linears(self.generator)

    def encode(self, x):
        """Face -> (z [B, style_dim], features per resolution from 4x4 up to size x size)."""
        features = []
        for index in range(self.log_size - 1):
            x = getattr(self, f"ecd{index}")(x)
            features.append(x)
        z = self.final_linear(x.reshape([x.shape[0], -1]))
        return z, features[::-1]

    def forward(self, x, return_latents=False, inject_index=None, truncation=1.0, truncation_latent=None):
        z, features = self.encode(x)
        return self.generator([z], return_latents=return_latents, inject_index=inject_index, truncation=truncation,
                              truncation_latent=truncation_latent, noise=features)


# ---------------------------------------------------------------- registry


@architecture(
    "gpen", "GPEN blind face restoration (PaddleGAN GPEN / GPENGenerator)", default_weights="gpen.face_enhance_512",
    configurations={
        "gpen512_face_enhance": ({"size": 512, "channel_multiplier": 2, "narrow": 1.0, "linear_layout": "in_out"},
                                 "gpen.face_enhance_512"),
        "gpen_ffhq256": ({"size": 256, "channel_multiplier": 1, "narrow": 0.5, "linear_layout": "out_in"},
                         "gpen.ffhq_256"),
    },
)
def gpen(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0, linear_layout="in_out", **overrides):
    return GPEN(size, style_dim, n_mlp, channel_multiplier=channel_multiplier, narrow=narrow, linear_layout=linear_layout,
                **overrides)
