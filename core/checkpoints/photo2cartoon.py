"""Checkpoints of photo2cartoon (``core.nets.photo2cartoon``): PaddleGAN's port."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="ugatit_p2c.photo2cartoon",
        aliases=("photo2cartoon",),
        architecture="ugatit_p2c",
        filename="photo2cartoon_genA2B_weight.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/photo2cartoon_genA2B_weight.pdparams",
        key=None,
        description="aligned face photo -> cartoon portrait (photo2cartoon)",
        licence="PaddleGAN port of minivision-ai/photo2cartoon (MIT)",
        source_note="flat state dict, as loaded by PaddleGAN's ppgan/apps/photo2cartoon_predictor.py",
    )
)
