"""Checkpoints of AnimeGANv2 (``core.nets.animegan``): PaddleGAN's Hayao style."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

register_weights(
    WeightSpec(
        name="animeganv2.hayao",
        aliases=("animeganv2_hayao",),
        architecture="animeganv2",
        filename="animeganv2_hayao.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/animeganv2_hayao.pdparams",
        key="netG",
        description="photo -> anime in the style of Hayao Miyazaki (AnimeGANv2)",
        licence="PaddleGAN port of AnimeGANv2 (TachibanaYoshino/AnimeGANv2): its authors restrict commercial use",
        source_note="key 'netG' as read by PaddleGAN's ppgan/apps/animegan_predictor.py",
    )
)
