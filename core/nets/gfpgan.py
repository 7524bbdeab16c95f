"""GFPGAN v1: blind face restoration with a StyleGAN2 prior (PaddleGAN's ``GFPGANv1`` layout and computation).

Wang et al. 2021. A U-Net cleans the degraded face; its bottleneck gives the
latent and its decoder side gives spatial modulations for a StyleGAN2 decoder:

* down: ``conv_body_first`` (1x1) then ``conv_body_down`` residual blocks (blur +
  stride-2 conv, StyleGAN2 discriminator style) from size x size down to 4x4, then
  ``final_conv``;
* latent: ``final_linear`` turns the 4x4 features into one w per decoder layer
  (``different_w``: a W+ latent [B, 2 log2(size) - 2, 512]), used as is
  (``input_is_latent``);
* up: ``conv_body_up`` residual blocks (bilinear x2 + conv) add the skip of the
  same size; at each level ``condition_scale`` / ``condition_shift`` give the
  spatial feature transform (SFT) and ``toRGB`` an intermediate RGB image;
* ``stylegan_decoder``: StyleGAN2 (GFPGAN / BasicSR naming) whose first
  convolution of each level is followed by the SFT ``x * scale + shift``, on
  the second half of the channels only (``sft_half``, "channel-split SFT").

The modulated convolution, noise, biased leaky ReLU, equalized linear layer and
upfirdn filtering are those of ``core.nets.stylegan2``; the encoder layers are
those of ``core.nets.gpen``.

``forward(x)`` returns ``(image, rgbs)`` as PaddleGAN does: ``image`` [B, 3, size, size]
is the restored face (take output ``IMAGE_OUTPUT`` = 0, e.g. with ``core.export.FirstOutput``);
``rgbs`` is the list of the U-Net's intermediate RGB images, 8x8 up to size x size (one per
level, ``toRGB``), used by the training's pyramid loss only; ``return_rgb=False`` gives ``[]``.
Noise: PaddleGAN's ``forward`` defaults to ``randomize_noise=False``, i.e. the saved
``stylegan_decoder.noises.noise<i>`` maps, so restoring is deterministic; so do we.
"""
from __future__ import annotations

import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.nets.gpen import ConvLayer, EqualConv2D, ScaledLeakyReLUNoBias
from core.nets.stylegan2 import EqualLinear, ModulatedConv2D, PixelNorm, ScaledLeakyReLU, Upsample2x
from core.registry import architecture

# ---------------------------------------------------------------- pre/post-processing (for the apps)

# An aligned face, RGB, 512x512, scaled to [-1, 1] ((x / 255 - 0.5) / 0.5); the output image is RGB in
# about [-1, 1] (out * 0.5 + 0.5, clipped to [0, 1], * 255). Sources: PaddleGAN
# ppgan/faceutils/face_enhancement/gfpgan_enhance.py (gfp_FaceEnhancement: resize and centre-crop to 512
# with cv2.INTER_AREA, (img / 255 - 0.5) / 0.5, out * 0.5 + 0.5, clip, pasted back through the same soft
# mask as GPEN's) and the training data, ppgan/datasets/gfpgan_datasets.py (img2tensor(bgr2rgb=True),
# normalise with mean = std = 0.5; configs/gfpgan_ffhq1024.yaml). PaddleGAN's tutorial feeds cv2's BGR
# straight in; the network was trained on RGB. (The brief's ppgan/apps/gfpgan_predictor.py does not exist
# in PaddleGAN; gfpgan_enhance.py is the inference path.)
INPUT_SIZE = 512
INPUT_CHANNEL_ORDER = "RGB"
INPUT_RANGE = (-1.0, 1.0)
OUTPUT_RANGE = (-1.0, 1.0)
IMAGE_OUTPUT = 0  # forward returns (image, intermediate RGB images)


# ---------------------------------------------------------------- U-Net blocks


class ResBlock(nn.Layer):
    """Downsampling residual block: (conv3, blur + stride-2 conv3) + (blur + stride-2 conv1), over sqrt(2)."""

    def __init__(self, in_channels, out_channels, blur_taps=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, blur_taps=blur_taps)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, blur_taps=blur_taps, bias=False, activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


class ConvUpLayer(nn.Layer):
    """Bilinear x2 upsampling (half-pixel centres), then an equalized conv and optionally a biased scaled leaky ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size, padding=0, bias=True, activate=True):
        super().__init__()
        self.weight = self.create_parameter(
            [out_channels, in_channels, kernel_size, kernel_size], default_initializer=nn.initializer.Normal()
        )
        # With an activation the bias lives in it (``activation.bias``).
        self.bias = None
        if bias and not activate:
            self.bias = self.create_parameter([out_channels], default_initializer=nn.initializer.Constant(0.0))
        if activate:
            self.activation = ScaledLeakyReLU(out_channels) if bias else ScaledLeakyReLUNoBias()
        else:
            self.activation = None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = padding
        # A member, not F.interpolate: the exported copy swaps it for an interp-free equal
        # (core.export.upsample_free), since oneDNN's executor cannot run interp's float-list attribute.
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x):
        out = self.upsample(x)
        out = F.conv2d(out, self.weight * self.scale, bias=self.bias, padding=self.padding)
        return self.activation(out) if self.activation is not None else out


class ResUpBlock(nn.Layer):
    """Upsampling residual block: (conv3, up + conv3) + (up + conv1), over sqrt(2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvUpLayer(in_channels, out_channels, 3, padding=1)
        self.skip = ConvUpLayer(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


def _sft_branch(channels, out_channels, last_bias_init):
    """conv3, scaled leaky ReLU, conv3: one SFT map (``condition_scale.<i>`` or ``condition_shift.<i>``)."""
    return nn.Sequential(
        EqualConv2D(channels, channels, 3, padding=1),
        ScaledLeakyReLUNoBias(),
        EqualConv2D(channels, out_channels, 3, padding=1, bias_init=last_bias_init),
    )


# ---------------------------------------------------------------- StyleGAN2 decoder (BasicSR naming)


class _ConstantInput(nn.Layer):
    def __init__(self, channels, size=4):
        super().__init__()
        self.weight = self.create_parameter([1, channels, size, size], default_initializer=nn.initializer.Normal())

    def forward(self, batch):
        return self.weight.tile([batch, 1, 1, 1])


class StyleConv(nn.Layer):
    """Modulated conv, plus ``weight`` times a noise map, then the biased scaled leaky ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, upsample=False, blur_taps=(1, 3, 3, 1)):
        super().__init__()
        self.modulated_conv = ModulatedConv2D(
            in_channels, out_channels, kernel_size, style_dim, upsample=upsample, blur_taps=blur_taps
        )
        self.weight = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))
        self.activate = ScaledLeakyReLU(out_channels)

    def forward(self, x, w, noise=None):
        out = self.modulated_conv(x, self.modulated_conv.modulation(w))
        if noise is None:
            noise = paddle.randn([out.shape[0], 1, out.shape[2], out.shape[3]])
        return self.activate(out + self.weight * noise)


class _UpsampleNotSaved(Upsample2x):
    """``Upsample2x`` whose FIR kernel is not part of the state dict (BasicSR keeps it as a plain attribute)."""

    def __init__(self, blur_taps):
        super().__init__(blur_taps)
        self.register_buffer("kernel", self.kernel, persistable=False)


class ToRGB(nn.Layer):
    def __init__(self, in_channels, style_dim, upsample=True, blur_taps=(1, 3, 3, 1)):
        super().__init__()
        self.upsample = _UpsampleNotSaved(blur_taps) if upsample else None
        self.modulated_conv = ModulatedConv2D(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = self.create_parameter([1, 3, 1, 1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x, w, skip=None):
        out = self.modulated_conv(x, self.modulated_conv.modulation(w)) + self.bias
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out


class StyleGAN2GeneratorSFT(nn.Layer):
    """StyleGAN2 decoder whose first conv of each level is followed by a spatial feature transform.

    ``forward(latent, conditions)``: latent is a W+ tensor [B, num_latent, D] (or one w [B, D] for every
    layer); conditions = [scale_8, shift_8, scale_16, shift_16, ...] from the U-Net.
    """

    def __init__(self, out_size, num_style_feat=512, num_mlp=8, channel_multiplier=2, resample_kernel=(1, 3, 3, 1),
                 lr_mlp=0.01, narrow=1.0, sft_half=False):
        super().__init__()
        self.num_style_feat = num_style_feat
        self.sft_half = sft_half
        self.style_mlp = nn.Sequential(
            PixelNorm(), *[EqualLinear(num_style_feat, num_style_feat, lr_mul=lr_mlp, activate=True) for _ in range(num_mlp)]
        )
        self.channels = _widths(channel_multiplier, narrow)
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2

        self.constant_input = _ConstantInput(self.channels[4])
        self.style_conv1 = StyleConv(self.channels[4], self.channels[4], 3, num_style_feat, blur_taps=resample_kernel)
        self.to_rgb1 = ToRGB(self.channels[4], num_style_feat, upsample=False, blur_taps=resample_kernel)
        self.style_convs = nn.LayerList()
        self.to_rgbs = nn.LayerList()
        in_channels = self.channels[4]
        for level in range(3, self.log_size + 1):
            out_channels = self.channels[2**level]
            self.style_convs.append(
                StyleConv(in_channels, out_channels, 3, num_style_feat, upsample=True, blur_taps=resample_kernel)
            )
            self.style_convs.append(StyleConv(out_channels, out_channels, 3, num_style_feat, blur_taps=resample_kernel))
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat, blur_taps=resample_kernel))
            in_channels = out_channels
        # Fixed noise maps (PaddleGAN initialises them to ones; the checkpoint holds the trained ones).
        self.noises = nn.Layer()
        for index in range(self.num_layers):
            res = 2 ** ((index + 5) // 2)
            self.noises.register_buffer(f"noise{index}", paddle.ones([1, 1, res, res]))

    def forward(self, latent, conditions, input_is_latent=True, noise=None, randomize_noise=False):
        if not input_is_latent:
            latent = self.style_mlp(latent)
        if latent.ndim < 3:
            latent = latent.unsqueeze(1).tile([1, self.num_latent, 1])
        if noise is None:
            if randomize_noise:
                noise = [None] * self.num_layers
            else:
                noise = [getattr(self.noises, f"noise{index}") for index in range(self.num_layers)]

        out = self.style_conv1(self.constant_input(latent.shape[0]), latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        for level, to_rgb in enumerate(self.to_rgbs):
            first = 2 * level + 1  # index of this level's first w and noise map
            out = self.style_convs[2 * level](out, latent[:, first], noise=noise[first])
            if first < len(conditions):
                scale, shift = conditions[first - 1], conditions[first]
                if self.sft_half:
                    same, transformed = paddle.split(out, 2, axis=1)
                    out = paddle.concat([same, transformed * scale + shift], axis=1)
                else:
                    out = out * scale + shift
            out = self.style_convs[2 * level + 1](out, latent[:, first + 1], noise=noise[first + 1])
            skip = to_rgb(out, latent[:, first + 2], skip)
        return skip


def _widths(channel_multiplier, narrow):
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {res: int(width * narrow) for res, width in base.items()}


# ---------------------------------------------------------------- GFPGAN v1


class GFPGANv1(nn.Layer):
    """Degraded aligned face [B, 3, out_size, out_size] in [-1, 1] -> ``(restored face, intermediate RGB images)``.

    Arguments as PaddleGAN's (``decoder_load_path`` and ``fix_decoder`` concern training only and are
    not taken). ``narrow`` scales every width (the U-Net is half as wide as the decoder).
    """

    def __init__(self, out_size=512, num_style_feat=512, channel_multiplier=1, resample_kernel=(1, 3, 3, 1), num_mlp=8,
                 lr_mlp=0.01, input_is_latent=True, different_w=True, narrow=1.0, sft_half=True):
        super().__init__()
        self.input_is_latent = input_is_latent
        self.different_w = different_w
        self.num_style_feat = num_style_feat
        self.log_size = int(math.log2(out_size))
        channels = _widths(channel_multiplier, narrow * 0.5)

        self.conv_body_first = ConvLayer(3, channels[out_size], 1)
        self.conv_body_down = nn.LayerList()
        in_channels = channels[out_size]
        for level in range(self.log_size, 2, -1):
            self.conv_body_down.append(ResBlock(in_channels, channels[2 ** (level - 1)], resample_kernel))
            in_channels = channels[2 ** (level - 1)]
        self.final_conv = ConvLayer(in_channels, channels[4], 3)

        self.conv_body_up = nn.LayerList()
        in_channels = channels[4]
        for level in range(3, self.log_size + 1):
            self.conv_body_up.append(ResUpBlock(in_channels, channels[2**level]))
            in_channels = channels[2**level]
        self.toRGB = nn.LayerList([EqualConv2D(channels[2**level], 3, 1) for level in range(3, self.log_size + 1)])

        num_latent = self.log_size * 2 - 2
        self.final_linear = EqualLinear(channels[4] * 4 * 4, (num_latent if different_w else 1) * num_style_feat)
        self.stylegan_decoder = StyleGAN2GeneratorSFT(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                                                      channel_multiplier=channel_multiplier, resample_kernel=resample_kernel,
                                                      lr_mlp=lr_mlp, narrow=narrow, sft_half=sft_half)

        self.condition_scale = nn.LayerList()
        self.condition_shift = nn.LayerList()
        for level in range(3, self.log_size + 1):
            width = channels[2**level]
            sft_width = width if sft_half else width * 2
            self.condition_scale.append(_sft_branch(width, sft_width, last_bias_init=1.0))
            self.condition_shift.append(_sft_branch(width, sft_width, last_bias_init=0.0))

    def encode(self, x, return_rgb=True):
        """Face -> (W+ latent [B, num_latent, D] (or w [B, D]), SFT conditions, intermediate RGB images)."""
        skips = []
        feat = self.conv_body_first(x)
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = self.final_conv(feat)
        latent = self.final_linear(feat.reshape([feat.shape[0], -1]))
        if self.different_w:
            latent = latent.reshape([latent.shape[0], -1, self.num_style_feat])

        conditions, rgbs = [], []
        for index, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[index])
            conditions.append(self.condition_scale[index](feat))
            conditions.append(self.condition_shift[index](feat))
            if return_rgb:
                rgbs.append(self.toRGB[index](feat))
        return latent, conditions, rgbs

    def forward(self, x, return_rgb=True, randomize_noise=False):
        latent, conditions, rgbs = self.encode(x, return_rgb=return_rgb)
        image = self.stylegan_decoder(latent, conditions, input_is_latent=self.input_is_latent, randomize_noise=randomize_noise)
        return image, rgbs


# ---------------------------------------------------------------- registry


# PaddleGAN's inference configuration (gfpgan_enhance.py, configs/gfpgan_ffhq1024.yaml's network_g).
_V1_512 = {"out_size": 512, "num_style_feat": 512, "channel_multiplier": 1, "resample_kernel": (1, 3, 3, 1), "num_mlp": 8,
           "lr_mlp": 0.01, "input_is_latent": True, "different_w": True, "narrow": 1.0, "sft_half": True}


@architecture(
    "gfpgan", "GFPGAN v1 blind face restoration (PaddleGAN GFPGANv1)", default_weights="gfpgan.v1_512",
    configurations={"gfpgan_v1_512": (_V1_512, "gfpgan.v1_512")},
)
def gfpgan(**config):
    return GFPGANv1(**{**_V1_512, **config})
