"""CycleGAN's ResNet generator (PaddleGAN ``ResnetGenerator`` layout).

A 7x7 stem, two stride-2 downsamplings, `n_blocks` residual blocks at 1/4
resolution, two transposed-convolution upsamplings and a 7x7 head with tanh.
Everything sits in one ``nn.Sequential`` named ``model`` because the published
checkpoints name their parameters by position in it (``model.10.conv_block.1.weight``),
so padding and activation layers must keep their slots too.

Shapes: each side of length L comes out as 4 * ceil(L / 4) (the downsamplings
round up, the upsamplings exactly double): a 70 x 90 input gives 72 x 92, as in
PaddleGAN.

Also home of `make_norm`, the normalisation choice shared with the U-Net.

PaddleCV/gan's CycleGAN (PaddlePaddle/models, ``PaddleCV/gan/network/CycleGAN_network.py``, the
static-graph library of 2019 whose ``cyclegan_9blocks_G.tar.gz`` is registered below) builds this
network (``resnet_9block``: ``build_generator_resnet_blocks``) with these differences, read from its
code and scripts/run_cyclegan.sh (``--g_base_dim 32 --norm_type batch_norm``):

- its two upsamplings are a k3 s2 p1 transposed convolution (2L - 1) followed by ``pad2d`` with
  ``[0, 1, 0, 1]``: one row and one column of zeros at the bottom and right, where ours computes
  them (``output_padding=1``). ``upsample_padding="zero_pad"`` here does what it does;
- 32 base channels and batch norm (``ngf=32, norm_type="batch"``), which normalises with the batch's
  statistics at inference too (its batch norm is built with ``is_test=False``), as ``make_norm``;
- its residual blocks take batch norm whatever ``norm_type`` says (``build_resnet_block`` is not
  passed it), and only its 7x7 head has a bias, as here with batch norm.

One archive holds both generators: ``GA_resnet9block_*`` (domain A -> B) and ``GB_resnet9block_*``
(B -> A), each ``<scope>_c1``..``_c6`` and ``_r1``..``_r9`` (``_c1``, ``_c2``), with ``_w`` weights,
``_b`` on the head, and ``_norm_{w,b,mean,var}``; ``paddlecv_cyclegan_names`` maps either onto ours.
A fluid ``conv2d_transpose`` weight is [in, out, k, k], as ``Conv2DTranspose`` here: no transposes.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture


def make_norm(norm_type: str, channels: int) -> nn.Layer:
    """A normalisation layer as PaddleGAN's generators build it.

    batch: ``nn.BatchNorm`` with ``trainable_statistics=True``, which normalises
    with the current batch's statistics even in eval mode (PaddleGAN's pix2pix
    checkpoints were made, and must be run, that way). Like PaddleGAN's, it still
    updates the running averages in eval mode, though nothing reads them there.
    instance: no running statistics; a frozen scale/bias pair that still appears
    in the state dict (``scale``, ``bias``).
    none: identity (keeps its slot in a Sequential).
    """
    if norm_type == "batch":
        return nn.BatchNorm(
            channels,
            param_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(1.0, 0.02)),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
            trainable_statistics=True,
        )
    if norm_type == "instance":
        frozen = dict(learning_rate=0.0, trainable=False)
        return nn.InstanceNorm2D(
            channels,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(1.0), **frozen),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0), **frozen),
        )
    if norm_type == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm_type {norm_type!r}; expected 'batch', 'instance' or 'none'")


def convs_have_bias(norm_type: str) -> bool:
    """Convolutions before batch norm skip their bias (the norm's shift replaces it);
    PaddleGAN keeps it only with instance norm, and also drops it with no norm."""
    return norm_type == "instance"


def _padded_conv3x3(channels: int, padding_type: str, bias: bool) -> list[nn.Layer]:
    """A 3x3 same-size convolution, padded by a layer (reflect/replicate) or by the conv (zero)."""
    if padding_type in ("reflect", "replicate"):
        return [nn.Pad2D(padding=[1, 1, 1, 1], mode=padding_type), nn.Conv2D(channels, channels, 3, bias_attr=bias)]
    if padding_type == "zero":
        return [nn.Conv2D(channels, channels, 3, padding=1, bias_attr=bias)]
    raise ValueError(f"unknown padding_type {padding_type!r}; expected 'reflect', 'replicate' or 'zero'")


class ZeroPaddedConvTranspose(nn.Conv2DTranspose):
    """A transposed convolution whose output gets one row and one column of zeros appended at the
    bottom and right: PaddleCV/gan's ``deconv2d(..., padding=[1, 1], outpadding=[0, 1, 0, 1])``.
    A subclass, so its parameters keep the names a plain ``Conv2DTranspose`` has in the same slot."""

    def forward(self, x):
        # F.pad of a 4-D tensor with four numbers: [left, right, top, bottom].
        return F.pad(super().forward(x), [0, 1, 0, 1])


_UPSAMPLE_PADDINGS = ("output_padding", "zero_pad")


def _upsample_conv(in_channels: int, out_channels: int, bias: bool, upsample_padding: str) -> nn.Layer:
    """The x2 upsampling: output_padding=1 computes the last row and column (PaddleGAN, PyTorch's
    CycleGAN); zero_pad leaves them zero (PaddleCV/gan). Both give exactly twice the size."""
    if upsample_padding == "output_padding":
        return nn.Conv2DTranspose(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias_attr=bias)
    if upsample_padding == "zero_pad":
        return ZeroPaddedConvTranspose(in_channels, out_channels, 3, stride=2, padding=1, bias_attr=bias)
    raise ValueError(f"unknown upsample_padding {upsample_padding!r}; expected one of {_UPSAMPLE_PADDINGS}")


class ResnetBlock(nn.Layer):
    """x + [pad, conv, norm, relu, (dropout), pad, conv, norm](x)."""

    def __init__(self, channels: int, padding_type: str, norm_type: str, use_dropout: bool, bias: bool):
        super().__init__()
        layers = _padded_conv3x3(channels, padding_type, bias) + [make_norm(norm_type, channels), nn.ReLU()]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += _padded_conv3x3(channels, padding_type, bias) + [make_norm(norm_type, channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Layer):
    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        norm_type: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
        upsample_padding: str = "output_padding",
    ):
        super().__init__()
        if n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        bias = convs_have_bias(norm_type)
        # The 7x7 stem and head always pad by reflection, whatever padding_type says.
        layers = [
            nn.Pad2D(padding=[3, 3, 3, 3], mode="reflect"),
            nn.Conv2D(input_nc, ngf, 7, bias_attr=bias),
            make_norm(norm_type, ngf),
            nn.ReLU(),
        ]
        channels = ngf
        for _ in range(2):
            layers += [
                nn.Conv2D(channels, channels * 2, 3, stride=2, padding=1, bias_attr=bias),
                make_norm(norm_type, channels * 2),
                nn.ReLU(),
            ]
            channels *= 2
        layers += [ResnetBlock(channels, padding_type, norm_type, use_dropout, bias) for _ in range(n_blocks)]
        for _ in range(2):
            # Each step exactly doubles the size (see _upsample_conv).
            layers += [
                _upsample_conv(channels, channels // 2, bias, upsample_padding),
                make_norm(norm_type, channels // 2),
                nn.ReLU(),
            ]
            channels //= 2
        layers += [
            nn.Pad2D(padding=[3, 3, 3, 3], mode="reflect"),
            nn.Conv2D(channels, output_nc, 7),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


@architecture("cyclegan_resnet9", "CycleGAN ResNet-9 generator, 3 -> 3 channels, instance norm (PaddleGAN layout)",
              default_weights="cyclegan_resnet9.horse2zebra",
              configurations={"cyclegan_resnet9_horse2zebra": ({}, "cyclegan_resnet9.horse2zebra")})
def cyclegan_resnet9(**overrides):
    config = dict(input_nc=3, output_nc=3, ngf=64, norm_type="instance", use_dropout=False, n_blocks=9, padding_type="reflect")
    config.update(overrides)
    return ResnetGenerator(**config)


# ---------------------------------------------------------------- PaddleCV/gan's CycleGAN (static graph, 2019)


def paddlecv_cyclegan_names(generator: str = "GA", n_blocks: int = 9) -> dict[str, str]:
    """{PaddleCV/gan variable: our parameter} for one of its ResNet generators with batch norm,
    ``network_G(input, name=generator)`` ("GA": A -> B, "GB": B -> A), scoped ``<generator>_resnet<n>block``.

    Ours sits in one Sequential: c1 conv/norm at [1]/[2], c2 at [4]/[5], c3 at [7]/[8], block i at
    [10 + i] (conv_block [1]/[2] and [5]/[6]), the upsamplings c4, c5 at [10 + n]/[11 + n] and
    [13 + n]/[14 + n], the head c6 at [17 + n].
    """
    scope = f"{generator}_resnet{n_blocks}block"
    table: dict[str, str] = {}

    def conv_norm(library: str, conv: str, norm: str) -> None:
        table[f"{library}_w"] = f"{conv}.weight"
        for suffix, ours in (("w", "weight"), ("b", "bias"), ("mean", "_mean"), ("var", "_variance")):
            table[f"{library}_norm_{suffix}"] = f"{norm}.{ours}"

    conv_norm(f"{scope}_c1", "model.1", "model.2")
    conv_norm(f"{scope}_c2", "model.4", "model.5")
    conv_norm(f"{scope}_c3", "model.7", "model.8")
    for i in range(n_blocks):
        block = f"model.{10 + i}.conv_block"
        conv_norm(f"{scope}_r{i + 1}_c1", f"{block}.1", f"{block}.2")
        conv_norm(f"{scope}_r{i + 1}_c2", f"{block}.5", f"{block}.6")
    conv_norm(f"{scope}_c4", f"model.{10 + n_blocks}", f"model.{11 + n_blocks}")
    conv_norm(f"{scope}_c5", f"model.{13 + n_blocks}", f"model.{14 + n_blocks}")
    table[f"{scope}_c6_w"] = f"model.{17 + n_blocks}.weight"
    table[f"{scope}_c6_b"] = f"model.{17 + n_blocks}.bias"
    return table
