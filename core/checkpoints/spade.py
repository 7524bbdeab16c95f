"""Checkpoints of SPADE (``core.nets.spade``): PaddleCV/gan's Cityscapes archive and PaddleGAN's PhotoPen."""
from __future__ import annotations

from core.registry import PublishedArchive, WeightSpec, register_weights

# PaddleCV/gan's Cityscapes SPADE (spade_G.tar.gz): see core.nets.spade for the sources read.
PADDLECV_SOURCE = "PaddlePaddle/models PaddleCV/gan/network/SPADE_network.py:SPADE_model.network_G"
PADDLECV_URL = "https://paddle-gan-models.bj.bcebos.com/spade_G.tar.gz"
# infer.py reads the generator with fluid.io.load_persistables(<init_model>/net_G), one file per variable. That the
# archive holds net_G at its top is an inference (not checked: no network here); the converter looks for the one
# folder holding the table's variables when the declared member is absent.
PADDLECV_ARCHIVE_MEMBER = "net_G"

# PaddleGAN's PhotoPen SPADE (photopen.pdparams).
PHOTOPEN_URL = "https://paddlegan.bj.bcebos.com/models/photopen.pdparams"

register_weights(
    WeightSpec(
        name="spade.cityscapes",
        architecture="spade_cityscapes",
        filename="spade_cityscapes.pdparams",
        url=PADDLECV_URL,
        description="SPADE on Cityscapes (36 label ids + instance edges -> 1024x512 street scene)",
        licence="Apache-2.0 (PaddlePaddle/models)",
        source_note=f"{PADDLECV_SOURCE}; static-graph persistables converted by name "
        f"(paddlecv_name_table); archive folder {PADDLECV_ARCHIVE_MEMBER!r} inferred from infer.py, not checked",
        # PaddleCV's generator has one naming (5 upsamplings, no VAE: the table function's defaults, which
        # Cityscapes' configuration keeps), so the table needs no arguments.
        archive=PublishedArchive(format="paddle_persistables", member=PADDLECV_ARCHIVE_MEMBER,
                                 name_table="core.nets.spade:paddlecv_name_table"),
    )
)

register_weights(
    WeightSpec(
        name="spade.photopen",
        architecture="photopen_spade",
        filename="photopen.pdparams",
        url=PHOTOPEN_URL,
        key="net_gen",
        description="PhotoPen (PaddleGAN: SPADE with SimAM): 12 landscape classes, don't-care and edges -> 256x256 photo",
        licence="Apache-2.0 (PaddleGAN)",
        source_note="PaddleGAN configs/photopen.yaml; the URL is documented in docs/zh_CN/tutorials/photopen.md, "
        "not hard-coded in PaddleGAN; key net_gen from PhotoPenModel (its predictor also accepts a flat file)",
    )
)
