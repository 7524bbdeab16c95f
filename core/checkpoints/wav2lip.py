"""Checkpoints of Wav2Lip (``core.nets.wav2lip``): PaddleGAN's lip-sync models."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

_LICENCE = ("personal, research and non-commercial use only: Wav2Lip's authors (Prajwal K R, Rudrabha "
            "Mukhopadhyay et al.) restrict their code and models to personal/research/non-commercial purposes "
            "and prohibit commercial use of models trained on LRS2; PaddleGAN's port (Apache-2.0 code) was "
            "trained on LRS2 and warns against commercial use")


register_weights(
    WeightSpec(
        name="wav2lip.hq",
        architecture="wav2lip_hq",
        aliases=("wav2lip_hq",),
        filename="wav2lip_hq.pdparams",
        url="https://paddlegan.bj.bcebos.com/models/wav2lip_hq.pdparams",
        key=None,
        description="Wav2Lip trained on LRS2 with the visual-quality discriminator, 96x96 faces (PaddleGAN's "
                    "wav2lip_hq, the checkpoint of its predictor)",
        licence=_LICENCE,
        source_note=("PaddleGAN ppgan/apps/wav2lip_predictor.py and docs/*/tutorials/wav2lip.md (flat state dict; "
                     "not checked against the file); layout and numbers checked against shared/reference wav2lip_hq"),
    )
)
register_weights(
    WeightSpec(
        name="wav2lip.paddlegan",
        architecture="wav2lip",
        aliases=("wav2lip",),
        filename="wav2lip.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/wav2lip.pdparams",
        key=None,
        description="Wav2Lip without the visual-quality discriminator (plain lip-sync training), 96x96 faces",
        licence=_LICENCE,
        source_note=("the URL appears only in the first Wav2Lip predictor, an unmerged branch of its PaddleGAN "
                     "contributor (github leesusu/PaddleGAN, 'Add Wav2Lip predictor', 2020-12-04); PaddleGAN's "
                     "merged code and docs publish wav2lip_hq only. Whether the file is still served, and its "
                     "layout (assumed flat, as that predictor loads it), were not checked"),
    )
)
