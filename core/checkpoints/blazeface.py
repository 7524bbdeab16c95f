"""Checkpoints of BlazeFace (``core.nets.blazeface``): PaddleGAN's face detector."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="blazeface.paddlegan",
        architecture="blazeface",
        filename="blazeface.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/blazeface.pdparams",
        key=None,
        description="BlazeFace front-camera face detector as published by PaddleGAN (face_detection)",
        licence="Apache-2.0 (PaddleGAN)",
        source_note=(
            "PaddleGAN's faceutils BlazeFace checkpoint (a flat state dict; its anchors file "
            "https://paddlegan.bj.bcebos.com/models/anchors.npy is not needed: blazeface.anchors() computes them); "
            "layout checked against shared/reference face_blazeface, not against the file"
        ),
    )
)
