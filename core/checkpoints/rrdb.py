"""Checkpoints of RRDBNet x4 (``core.nets.rrdb``): PaddleGAN's RealSR and ESRGAN models."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

_LICENCE = "Apache-2.0 (PaddleGAN)"
_ZOO_NOTE = (
    "PaddleGAN model zoo (docs/en_US/tutorials/single_image_super_resolution.md); "
    "saved by PaddleGAN's trainer, generator under 'generator' (a flat file is accepted too)"
)

register_weights(
    WeightSpec(
        name="rrdb_x4.realsr_df2k_jpeg",
        aliases=("realsr_df2k_jpeg",),
        architecture="rrdb_x4",
        filename="DF2K_JPEG.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/DF2K_JPEG.pdparams",
        key=None,
        description="RealSR x4 for real-world photos with JPEG artefacts (DF2K-JPEG)",
        licence=_LICENCE,
        source_note="PaddleGAN ppgan/apps/realsr_predictor.py default weights; loaded there as a flat state dict",
    )
)

for _name, _tag, _description in (
    ("esrgan_x4", "esrgan", "ESRGAN x4 (perceptual, GAN-trained on DIV2K)"),
    ("esrgan_psnr_x4", "esrgan_psnr", "ESRGAN x4, PSNR-oriented (L1-trained on DIV2K)"),
    ("realsr_df2k", "realsr_df2k", "RealSR x4, DF2K with estimated kernels and noise"),
    ("realsr_dped", "realsr_dped", "RealSR x4, DPED phone photos"),
    ("realsr_merge", "realsr_merge", "RealSR x4, merged DF2K + DPED training"),
):
    register_weights(
        WeightSpec(
            name=f"rrdb_x4.{_tag}",
            aliases=(_name,),
            architecture="rrdb_x4",
            filename=f"{_name}.pdparams",
            url=f"https://paddlegan.bj.bcebos.com/models/{_name}.pdparams",
            key="generator",
            description=_description,
            licence=_LICENCE,
            source_note=_ZOO_NOTE,
        )
    )
