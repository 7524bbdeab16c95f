"""Checkpoints of DeOldify (``core.nets.deoldify``): PaddleGAN's stable and artistic colorizers."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

_SOURCE_NOTE = "PaddleGAN ppgan/apps/deoldify_predictor.py; loaded there as a flat state dict (model.load_dict)"

register_weights(
    WeightSpec(
        name="deoldify.stable",
        aliases=("deoldify_stable",),
        architecture="deoldify_stable",
        filename="DeOldify_stable.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/DeOldify_stable.pdparams",
        key=None,
        description="DeOldify stable: conservative colours, fewer artefacts (portraits, landscapes)",
        licence="MIT (DeOldify, Jason Antic); PaddleGAN port Apache-2.0",
        source_note=_SOURCE_NOTE,
    )
)

register_weights(
    WeightSpec(
        name="deoldify.artistic",
        aliases=("deoldify_artistic",),
        architecture="deoldify_artistic",
        filename="DeOldify_art.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/DeOldify_art.pdparams",
        key=None,
        description="DeOldify artistic: bolder, more varied colours",
        licence="MIT (DeOldify, Jason Antic); PaddleGAN port Apache-2.0",
        source_note=_SOURCE_NOTE,
    )
)
