"""Checkpoints of GFPGAN (``core.nets.gfpgan``): PaddleGAN's v1 512x512 face restorer."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

CHECKPOINT_KEY = "net_g_ema"  # GFPGAN.pdparams holds net_g and net_g_ema; PaddleGAN infers with the EMA one

register_weights(
    WeightSpec(
        name="gfpgan.v1_512",
        aliases=("gfpgan_v1_512", "gfpgan"),
        architecture="gfpgan_v1_512",
        filename="GFPGAN.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/GFPGAN.pdparams",
        key=CHECKPOINT_KEY,
        description="GFPGAN v1 512x512 blind face restoration, trained by PaddleGAN on FFHQ",
        licence=(
            "Apache-2.0 (PaddleGAN; GFPGAN by TencentARC is Apache-2.0 except third-party parts: its StyleGAN2 code "
            "from rosinality/stylegan2-pytorch (MIT) with NVIDIA's StyleGAN2 licence (non-commercial) for the "
            "original ops, and DFDNet-derived code under CC BY-NC-SA 4.0); trained on FFHQ (dataset CC BY-NC-SA 4.0)"
        ),
        source_note=(
            "PaddleGAN ppgan/faceutils/face_enhancement/gfpgan_enhance.py: GFPGANv1(out_size=512, channel_multiplier=1, "
            "input_is_latent=True, different_w=True, sft_half=True) loads model_weights['net_g_ema'] (the file also "
            "holds 'net_g'; docs/en_US/tutorials/gfpgan.md); PaddleGAN trained it (configs/gfpgan_ffhq1024.yaml) from a "
            "frozen StyleGAN2 FFHQ-512 decoder (StyleGAN2_FFHQ512_Cmul1.pdparams). Layout checked against "
            "shared/reference gfpgan_v1_512, not against the file"
        ),
    )
)
