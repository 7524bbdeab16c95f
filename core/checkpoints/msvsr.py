"""Checkpoints of PP-MSVSR (``core.nets.msvsr``): PaddleGAN's REDS x4 models."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights


def _spec(name, configuration, filename, description):
    return WeightSpec(
        name=name,
        architecture=configuration,
        filename=filename,
        url=f"https://paddlegan.bj.bcebos.com/models/{filename}",
        key="generator",
        description=description,
        licence="Apache-2.0 (PaddleGAN)",
        source_note=(
            "PaddleGAN model zoo (docs/en_US/tutorials/video_super_resolution.md; PPMSVSRPredictor loads PP-MSVSR); "
            f"the video SR model saves the network under 'generator' (manifest {configuration}; not checked against "
            "the file, a flat file is accepted too)"
        ),
    )


register_weights(_spec("ppmsvsr.reds_x4", "ppmsvsr_reds_x4", "PP-MSVSR_reds_x4.pdparams",
                       "PP-MSVSR x4 trained on REDS (1.45 M parameters)"))
register_weights(_spec("ppmsvsr.l_reds_x4", "ppmsvsr_l_reds_x4", "PP-MSVSR-L_reds_x4.pdparams",
                       "PP-MSVSR-L x4 trained on REDS (7.4 M parameters)"))
