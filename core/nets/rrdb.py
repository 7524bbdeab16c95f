"""RRDBNet: ESRGAN's residual-in-residual dense network (PaddleGAN's ``RRDBNet`` layout).

A 3x3 stem, a trunk of RRDB blocks (each three densely connected five-conv
blocks, scaled residuals), a trunk convolution with a long skip, then two
nearest-neighbour 2x upsamplings with convolutions. ``scale`` 2 and 1 fold the
input into channels first (pixel unshuffle) so the same x4 tail serves them.

One architecture, several published checkpoints: RealSR (the predictor's
default DF2K_JPEG and the model-zoo realsr_* files) and ESRGAN. The same class
with ``nb=6`` is the shape of Real-ESRGAN's x4plus-anime model (an importer
renames its BasicSR keys).
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# Residual scaling used at both levels of the block (ESRGAN's beta).
_RESIDUAL_SCALE = 0.2


def pixel_unshuffle(x, factor: int):
    """Fold each factor x factor patch into channels: [b, c, h, w] -> [b, c*f*f, h/f, w/f]."""
    b, c, h, w = x.shape
    if h % factor or w % factor:
        raise ValueError(f"pixel_unshuffle needs sides divisible by {factor}, got {h}x{w}")
    x = x.reshape([b, c, h // factor, factor, w // factor, factor])
    return x.transpose([0, 1, 3, 5, 2, 4]).reshape([b, c * factor * factor, h // factor, w // factor])


class DenseBlock5(nn.Layer):
    """Five 3x3 convs, each seeing the block input and all earlier outputs (growth `gc`)."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2D(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2D(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2D(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2D(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2D(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(self.lrelu(conv(paddle.concat(features, axis=1))))
        return self.conv5(paddle.concat(features, axis=1)) * _RESIDUAL_SCALE + x


class RRDB(nn.Layer):
    """Residual in residual dense block: three dense blocks and a scaled skip."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.RDB1 = DenseBlock5(nf, gc)
        self.RDB2 = DenseBlock5(nf, gc)
        self.RDB3 = DenseBlock5(nf, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))) * _RESIDUAL_SCALE + x


class RRDBNet(nn.Layer):
    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, nb: int = 23, gc: int = 32, scale: int = 4):
        super().__init__()
        # scale 2 and 1 unshuffle the input by 2 and 4, then upsample x4 like scale 4.
        self.unshuffle = {4: 1, 2: 2, 1: 4}.get(scale)
        if self.unshuffle is None:
            raise ValueError(f"RRDBNet supports scale 1, 2 or 4, not {scale}")
        self.scale = scale
        self.conv_first = nn.Conv2D(in_nc * self.unshuffle**2, nf, 3, 1, 1)
        self.RRDB_trunk = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = nn.Conv2D(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2D(nf, nf, 3, 1, 1)
        self.upconv2 = nn.Conv2D(nf, nf, 3, 1, 1)
        self.HRconv = nn.Conv2D(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2D(nf, out_nc, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        if self.unshuffle > 1:
            x = pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.trunk_conv(self.RRDB_trunk(features))
        for upconv in (self.upconv1, self.upconv2):
            features = self.lrelu(upconv(F.interpolate(features, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.HRconv(features)))


@architecture("rrdb_x4", "RRDBNet x4 super-resolution, 64 features, 23 blocks (RealSR / ESRGAN / Real-ESRGAN)",
              default_weights="rrdb_x4.realsr_df2k_jpeg",
              configurations={"realsr_rrdb_x4": ({}, "rrdb_x4.realsr_df2k_jpeg")})
def rrdb_x4(in_nc=3, out_nc=3, nf=64, nb=23, gc=32, scale=4):
    return RRDBNet(in_nc=in_nc, out_nc=out_nc, nf=nf, nb=nb, gc=gc, scale=scale)
