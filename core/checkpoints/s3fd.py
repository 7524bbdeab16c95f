"""Checkpoints of S3FD (``core.nets.s3fd``): PaddleGAN's face detector."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="s3fd.paddlegan",
        architecture="s3fd",
        filename="s3fd_paddle.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/s3fd_paddle.pdparams",
        key=None,
        description="S3FD face detector as published by PaddleGAN (faceutils face_detection, sfd)",
        licence="Apache-2.0 (PaddleGAN); S3FD by Shifeng Zhang et al.",
        source_note=(
            "PaddleGAN ppgan/faceutils/face_detection/detection/sfd (flat state dict; not checked against the file); "
            "layout and numbers checked against shared/reference face_s3fd"
        ),
    )
)
