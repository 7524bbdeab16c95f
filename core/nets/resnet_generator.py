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
"""
from __future__ import annotations

import paddle
import paddle.nn as nn

from core.registry import WeightSpec, architecture, register_weights

_PADDLEGAN_LICENCE = "Apache-2.0 (PaddleGAN)"


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
            # output_padding=1 makes each step exactly double the size.
            layers += [
                nn.Conv2DTranspose(channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias_attr=bias),
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


# One CycleGAN file holds both directions: netG_A maps domain A to B, netG_B maps back.
_HORSE2ZEBRA_URL = "https://paddlegan.bj.bcebos.com/models/CycleGAN_horse2zebra.pdparams"
_CITYSCAPES_URL = "https://paddlegan.bj.bcebos.com/models/CycleGAN_cityscapes.pdparams"
# In the CycleGAN cityscapes dataset (prepare_cityscapes_dataset.py of the CycleGAN
# authors, used by PaddleGAN's configs/cyclegan_cityscapes.yaml) trainA holds the
# photos and trainB the colour label maps.
_CITYSCAPES_NOTE = "PaddleGAN configs/cyclegan_cityscapes.yaml; domain A = street photos, B = colour label maps"

for _tag, _filename, _url, _key, _description, _note in (
    ("horse2zebra", "CycleGAN_horse2zebra.pdparams", _HORSE2ZEBRA_URL, "netG_A", "horse -> zebra",
     "PaddleGAN configs/cyclegan_horse2zebra.yaml; domain A = horses"),
    ("zebra2horse", "CycleGAN_horse2zebra.pdparams", _HORSE2ZEBRA_URL, "netG_B", "zebra -> horse",
     "PaddleGAN configs/cyclegan_horse2zebra.yaml; domain B = zebras"),
    ("cityscapes_photo2label", "CycleGAN_cityscapes.pdparams", _CITYSCAPES_URL, "netG_A",
     "street photo -> semantic label map (Cityscapes)", _CITYSCAPES_NOTE),
    ("cityscapes_label2photo", "CycleGAN_cityscapes.pdparams", _CITYSCAPES_URL, "netG_B",
     "semantic label map -> street photo (Cityscapes)", _CITYSCAPES_NOTE),
):
    register_weights(
        WeightSpec(
            name=f"cyclegan_resnet9.{_tag}",
            aliases=(f"cyclegan_{_tag}",),
            architecture="cyclegan_resnet9",
            filename=_filename,
            url=_url,
            key=_key,
            description=_description,
            licence=_PADDLEGAN_LICENCE,
            source_note=_note + " (key from PaddleGAN's CycleGANModel naming; not checked against the file)",
        )
    )
