"""Checkpoints of StyleGAN2 (``core.nets.stylegan2``): PaddleGAN's FFHQ and anime-face models."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="stylegan2.ffhq_1024",
        aliases=("stylegan2_ffhq_1024",),
        architecture="stylegan2_ffhq_config_f_1024",
        filename="stylegan2-ffhq-config-f.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/stylegan2-ffhq-config-f.pdparams",
        key=None,
        description="StyleGAN2 FFHQ config-f: random 1024x1024 faces",
        licence="NVIDIA Source Code License-NC (StyleGAN2 FFHQ weights; non-commercial), converted by PaddleGAN",
        source_note="PaddleGAN model zoo (applications/tools/styleganv2.py, model_type ffhq-config-f); flat state dict",
    )
)

register_weights(
    WeightSpec(
        name="stylegan2.animeface_512",
        aliases=("stylegan2_animeface_512",),
        architecture="stylegan2_animeface_512",
        filename="stylegan2-animeface-512.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/stylegan2-animeface-512.pdparams",
        key=None,
        description="StyleGAN2 anime faces, 512x512",
        licence="as published by PaddleGAN (model zoo; the weights' own licence is not stated)",
        source_note="PaddleGAN model zoo (applications/tools/styleganv2.py, model_type animeface-512); flat state dict",
    )
)
