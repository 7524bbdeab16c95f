"""Checkpoints of U-GAT-IT light (``core.nets.ugatit``): PaddleGAN's selfie2anime."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="ugatit_light.selfie2anime",
        aliases=("ugatit_selfie2anime",),
        architecture="ugatit_light",
        filename="ugatit_light.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/ugatit_light.pdparams",
        key="genA2B",
        description="selfie -> anime face (U-GAT-IT light)",
        licence="Apache-2.0 (PaddleGAN)",
        source_note="PaddleGAN configs/ugatit_selfie2anime_light.yaml; key from PaddleGAN's UGATITModel naming "
        "(genA2B: selfie -> anime), not checked against the file",
    )
)
