"""pix2pix's U-Net generator (PaddleGAN ``UnetGenerator`` layout).

`num_downs` stride-2 4x4 convolutions take the image down to 1x1 at 2**num_downs
pixels (8 downs: 256x256); each level's output is concatenated with its input on
the way back up. Sides must be multiples of 2**num_downs.

The nesting is the checkpoint's naming: every level is a block whose
``nn.Sequential`` named ``model`` holds, by position, the down path, the next
level, and the up path (``model.model.1.model.3.model.1.weight`` ...).

With batch norm, PaddleGAN normalises with the current batch's statistics even
in eval mode (see ``make_norm``): at the 1x1 bottleneck of a single image that
variance is zero, which is why the fingerprint and the published models use
256x256 inputs; batch results also depend on the batch's other images.

PaddleCV/gan's pix2pix (PaddlePaddle/models, ``PaddleCV/gan/network/Pix2pix_network.py``, the
static-graph library of 2019 whose ``pix2pix_G.tar.gz`` is registered below) builds the same
network (``unet_256``: ``build_generator_Unet`` -> ``UnetSkipConnectionBlock``), with three
differences, read from its code:

- its outermost transposed convolution has no bias (``deconv2d`` defaults to ``use_bias=False``
  and the call passes none): ``outermost_bias=False`` here; every other convolution lacks a bias
  in both (``use_bias = norm == "instance"`` is never true: the norm is named ``batch_norm``);
- dropout never happens: ``use_dropout`` is not passed to the inner blocks (its
  ``--dropout True`` in scripts/run_pix2pix.sh has no effect), as with ``use_dropout=False`` here;
- its batch norm runs with ``is_test=False`` at inference too (``infer.py`` builds the generator
  without ``is_test``): batch statistics, as ``make_norm("batch")`` here.

Its variables are named ``generator_unet256_u0`` + ``_u1`` ... per level (``_down_conv_w``,
``_down_conv_norm_{w,b,mean,var}``, ``_up_conv_w``, ``_up_conv_norm_*``); ``paddlecv_pix2pix_names``
maps them onto ours. Weight layouts agree without transposes: a fluid ``conv2d`` weight is
[out, in, k, k] and a ``conv2d_transpose`` weight [in, out, k, k], as ``Conv2D`` and
``Conv2DTranspose`` here.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn

from core.registry import architecture
from core.nets.resnet_generator import convs_have_bias, make_norm


def _down_conv(in_channels: int, out_channels: int, bias: bool) -> nn.Conv2D:
    return nn.Conv2D(in_channels, out_channels, 4, stride=2, padding=1, bias_attr=bias)


def _up_conv(in_channels: int, out_channels: int, bias: bool) -> nn.Conv2DTranspose:
    return nn.Conv2DTranspose(in_channels, out_channels, 4, stride=2, padding=1, bias_attr=bias)


class UnetLevel(nn.Layer):
    """One resolution level: down, `inner` (the deeper levels), up; inner levels return [x, result].

    outermost: [conv, inner, relu, upconv (with bias unless outermost_bias=False), tanh], no skip concatenation.
    innermost: [leaky relu, conv, relu, upconv, norm] (no inner level, no down norm).
    otherwise: [leaky relu, conv, norm, inner, relu, upconv, norm, (dropout)].
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        inner: nn.Layer | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm_type: str = "batch",
        use_dropout: bool = False,
        outermost_bias: bool = True,
    ):
        super().__init__()
        self.outermost = outermost
        bias = convs_have_bias(norm_type)
        input_nc = outer_nc if input_nc is None else input_nc
        # Deeper levels hand back their input concatenated with their result.
        up_in = inner_nc if innermost else inner_nc * 2
        if outermost:
            layers = [_down_conv(input_nc, inner_nc, bias), inner, nn.ReLU(), _up_conv(up_in, outer_nc, outermost_bias), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), _down_conv(input_nc, inner_nc, bias)]
            layers += [nn.ReLU(), _up_conv(up_in, outer_nc, bias), make_norm(norm_type, outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2), _down_conv(input_nc, inner_nc, bias), make_norm(norm_type, inner_nc), inner]
            layers += [nn.ReLU(), _up_conv(up_in, outer_nc, bias), make_norm(norm_type, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return paddle.concat([x, self.model(x)], axis=1)


class UnetGenerator(nn.Layer):
    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm_type: str = "batch",
        use_dropout: bool = False,
        outermost_bias: bool = True,
    ):
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be >= 5 (four fixed outer levels plus the innermost)")
        common = dict(norm_type=norm_type)
        level = UnetLevel(ngf * 8, ngf * 8, innermost=True, **common)
        # Extra levels at the widest width; only these may carry dropout.
        for _ in range(num_downs - 5):
            level = UnetLevel(ngf * 8, ngf * 8, inner=level, use_dropout=use_dropout, **common)
        for outer, inner in ((ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)):
            level = UnetLevel(outer, inner, inner=level, **common)
        self.model = UnetLevel(output_nc, ngf, input_nc=input_nc, inner=level, outermost=True,
                               outermost_bias=outermost_bias, **common)

    def forward(self, x):
        return self.model(x)


@architecture("pix2pix_unet256", "pix2pix U-Net-256 generator (8 downs, batch norm; PaddleGAN layout)",
              default_weights="pix2pix_unet256.facades",
              configurations={"pix2pix_unet256_facades": ({}, "pix2pix_unet256.facades")})
def pix2pix_unet256(**overrides):
    config = dict(input_nc=3, output_nc=3, num_downs=8, ngf=64, norm_type="batch", use_dropout=False)
    config.update(overrides)
    return UnetGenerator(**config)


# ---------------------------------------------------------------- PaddleCV/gan's pix2pix (static graph, 2019)


def _batch_norm_names(library: str, ours: str) -> dict[str, str]:
    """fluid ``batch_norm`` with PaddleCV/gan's names (``<name>_w``, ``_b``, ``_mean``, ``_var``) -> ``nn.BatchNorm``."""
    return {f"{library}_w": f"{ours}.weight", f"{library}_b": f"{ours}.bias",
            f"{library}_mean": f"{ours}._mean", f"{library}_var": f"{ours}._variance"}


def paddlecv_pix2pix_names(num_downs: int = 8, name: str = "generator") -> dict[str, str]:
    """{PaddleCV/gan variable: our parameter} for its ``unet_256`` (num_downs 8) or ``unet_128`` (7)
    generator built as ``network_G(input, name)`` (the trainer and infer.py use "generator").

    Its level d (0 outermost) is named ``<name>_unet<2**num_downs>_u0_u1..._ud``; ours is the nested
    ``UnetLevel`` at ``model`` + ``.model.1`` + ``.model.3`` * (d - 1). Outermost: down conv [0],
    up conv [3]; middle: down conv [1] + norm [2], up conv [5] + norm [6]; innermost: down conv [1]
    (no norm), up conv [3] + norm [4].
    """
    table: dict[str, str] = {}
    library = f"{name}_unet{2 ** num_downs}_u0"
    ours = "model.model"
    table[f"{library}_down_conv_w"] = f"{ours}.0.weight"
    table[f"{library}_up_conv_w"] = f"{ours}.3.weight"
    for depth in range(1, num_downs):
        library += f"_u{depth}"
        ours += (".1" if depth == 1 else ".3") + ".model"
        table[f"{library}_down_conv_w"] = f"{ours}.1.weight"
        if depth == num_downs - 1:  # innermost
            table[f"{library}_up_conv_w"] = f"{ours}.3.weight"
            table.update(_batch_norm_names(f"{library}_up_conv_norm", f"{ours}.4"))
        else:
            table.update(_batch_norm_names(f"{library}_down_conv_norm", f"{ours}.2"))
            table[f"{library}_up_conv_w"] = f"{ours}.5.weight"
            table.update(_batch_norm_names(f"{library}_up_conv_norm", f"{ours}.6"))
    return table
