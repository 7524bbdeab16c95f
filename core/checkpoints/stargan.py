"""Checkpoints of StarGAN (``core.nets.stargan``): PaddleCV/gan's CelebA generator, published as an archive."""
from __future__ import annotations

from core.registry import PublishedArchive, WeightSpec, register_weights

PADDLECV_LICENCE = "Apache-2.0 (PaddlePaddle/models)"
PADDLECV_GAN = "PaddlePaddle/models PaddleCV/gan"  # AttGAN and STGAN (core.checkpoints.attgan) come from there too

# The published generator's configuration; c_dim 5 is len(core.nets.celeba_labels.STARGAN_ATTRIBUTES) (this
# module imports nothing above core.registry; tests/core/test_checkpoints.py checks that they agree).
STARGAN_CELEBA_128 = {"c_dim": 5, "conv_dim": 64, "repeat_num": 6}

register_weights(
    WeightSpec(
        name="stargan.celeba",
        architecture="stargan_celeba_128",
        filename="stargan_celeba_128.pdparams",
        url="https://paddle-gan-models.bj.bcebos.com/stargan_G.tar.gz",
        description="CelebA faces at 128x128: black, blond or brown hair, male, young (0/1 target attributes)",
        licence=PADDLECV_LICENCE,
        source_note=(f"{PADDLECV_GAN}: the README's pretrained StarGAN generator, static-graph persistables "
                     "converted by name (stargan.paddlecv_name_table); the directory inside the archive is "
                     "inferred from infer.py (init_model + '/net_G'), not read from the file"),
        archive=PublishedArchive(
            format="paddle_persistables",
            member="net_G",
            name_table="core.nets.stargan:paddlecv_name_table",
            name_table_args=dict(STARGAN_CELEBA_128),
        ),
    )
)
