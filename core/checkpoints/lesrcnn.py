"""Checkpoints of LESRCNN (``core.nets.lesrcnn``): PaddleGAN's DIV2K x4 model."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="lesrcnn_x4.div2k",
        aliases=("lesrcnn_x4",),
        architecture="lesrcnn_x4",
        filename="lesrcnn_x4.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/lesrcnn_x4.pdparams",
        key="generator",
        description="LESRCNN x4 trained on DIV2K (bicubic degradation)",
        licence="Apache-2.0 (PaddleGAN)",
        source_note=(
            "PaddleGAN model zoo (docs/en_US/tutorials/single_image_super_resolution.md); "
            "BaseSRModel saves the network under 'generator' (not checked against the file; a flat file is accepted too)"
        ),
    )
)
