"""Checkpoints of EDVR (``core.nets.edvr``): PaddleGAN's REDS x4 model."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="edvr.l_w_tsa_srx4",
        architecture="edvr_l_w_tsa_srx4",
        filename="EDVR_L_w_tsa_SRx4.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/EDVR_L_w_tsa_SRx4.pdparams",
        key="generator",
        description="EDVR-L with TSA, x4 video super-resolution trained on REDS (5 frames in, the centre one out)",
        licence="Apache-2.0 (PaddleGAN)",
        source_note=(
            "PaddleGAN model zoo (docs/en_US/tutorials/video_super_resolution.md); EDVRModel saves the network "
            "under 'generator' (manifest edvr_l_w_tsa_srx4; not checked against the file, a flat file is accepted too)"
        ),
    )
)
