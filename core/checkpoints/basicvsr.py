"""Checkpoints of BasicVSR, IconVSR and BasicVSR++ (``core.nets.basicvsr``): PaddleGAN's REDS x4 models."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

_LICENCE = "Apache-2.0 (PaddleGAN)"
_ZOO = "PaddleGAN model zoo (docs/en_US/tutorials/video_super_resolution.md)"


def _spec(name, configuration, filename, url, description):
    return WeightSpec(
        name=name,
        architecture=configuration,
        filename=filename,
        url=url,
        key="generator",
        description=description,
        licence=_LICENCE,
        source_note=f"{_ZOO}; the video SR model saves the network under 'generator' (manifest {configuration}; "
                    "not checked against the file, a flat file is accepted too)",
    )


register_weights(_spec("basicvsr.reds_x4", "basicvsr_reds_x4", "BasicVSR_reds_x4.pdparams",
                       "https://paddlegan.bj.bcebos.com/models/BasicVSR_reds_x4.pdparams",
                       "BasicVSR x4 trained on REDS (bicubic-downsampled video)"))
register_weights(_spec("iconvsr.reds_x4", "iconvsr_reds_x4", "IconVSR_reds_x4.pdparams",
                       "https://paddlegan.bj.bcebos.com/models/IconVSR_reds_x4.pdparams",
                       "IconVSR x4 trained on REDS (at least 5 frames per clip)"))
register_weights(_spec("basicvsrpp.reds_x4", "basicvsrpp_reds_x4", "BasicVSR++_reds_x4.pdparams",
                       "https://paddlegan.bj.bcebos.com/models/BasicVSR%2B%2B_reds_x4.pdparams",
                       "BasicVSR++ x4 trained on REDS"))
