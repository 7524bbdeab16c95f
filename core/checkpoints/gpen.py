"""Checkpoints of GPEN (``core.nets.gpen``): PaddleGAN's 512 and 256 face restorers."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

_GPEN_LICENCE_NOTE = (
    "GPEN (yangxy/GPEN, Alibaba DAMO) publishes no licence: its repository has no LICENSE file, its README "
    "withholds the best models 'due to commercial issues', and its StyleGAN2 CUDA ops are under the NVIDIA "
    "Source Code License-NC; treat GPEN-derived weights as research / non-commercial use"
)

register_weights(
    WeightSpec(
        name="gpen.face_enhance_512",
        aliases=("gpen512_face_enhance", "gpen_512"),
        architecture="gpen512_face_enhance",
        filename="GPEN-512.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/GPEN-512.pdparams",
        key=None,
        description="GPEN 512x512 blind face restoration (PaddleGAN's face enhancer)",
        licence="no licence stated (GPEN weights: research / non-commercial use assumed); PaddleGAN code Apache-2.0",
        source_note=(
            "PaddleGAN ppgan/faceutils/face_enhancement/face_enhance.py (GPEN_weights), loaded there as a flat "
            "state dict into GPEN(size=512, style_dim=512, n_mlp=8); presumably converted from yangxy/GPEN's "
            "GPEN-BFR-512 (same architecture and size; not checked against the file). " + _GPEN_LICENCE_NOTE
        ),
    )
)

register_weights(
    WeightSpec(
        name="gpen.ffhq_256",
        aliases=("gpen_ffhq256", "gpen-ffhq-256"),
        architecture="gpen_ffhq256",
        filename="gpen-ffhq-256-generator.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/gpen-ffhq-256-generator.pdparams",
        key=None,
        description="GPEN 256x256 blind face restoration trained on FFHQ by PaddleGAN",
        licence=(
            "Apache-2.0 (PaddleGAN's reproduction of GPEN, trained on FFHQ, whose images are under their own "
            "Flickr licences and the dataset under CC BY-NC-SA 4.0); the GPEN method's code has no licence"
        ),
        source_note=(
            "PaddleGAN ppgan/apps/gpen_predictor.py (model_type gpen-ffhq-256): the g_ema generator extracted "
            "by tools/extract_weight.py, loaded as a flat state dict into GPENGenerator(256, 512, 8, 1, 0.5). "
            + _GPEN_LICENCE_NOTE
        ),
    )
)
