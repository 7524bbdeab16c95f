"""Checkpoints of AttGAN and STGAN (``core.nets.attgan``): PaddleCV/gan's CelebA generators, published as archives."""
from __future__ import annotations

from core.checkpoints.stargan import PADDLECV_GAN, PADDLECV_LICENCE
from core.registry import PublishedArchive, WeightSpec, register_weights

# The published generators' configurations; c_dim 13 is len(core.nets.celeba_labels.CELEBA_ATTRIBUTES) (this
# module imports nothing above core.registry; tests/core/test_checkpoints.py checks that they agree).
ATTGAN_CELEBA_128 = {"c_dim": 13, "dim": 64, "n_layers": 5, "shortcut_layers": 1, "inject_layers": 1}
STGAN_CELEBA_128 = {"c_dim": 13, "dim": 64, "n_layers": 5, "shortcut_layers": 4, "inject_layers": 4,
                    "stu_layers": 4}


def _weights(model: str, title: str, config: dict, description: str, note: str = "") -> WeightSpec:
    return WeightSpec(
        name=f"{model}.celeba",
        architecture=f"{model}_celeba_128",
        filename=f"{model}_celeba_128.pdparams",
        url=f"https://paddle-gan-models.bj.bcebos.com/{model}_G.tar.gz",
        description=description,
        licence=PADDLECV_LICENCE,
        source_note=(f"{PADDLECV_GAN}: the README's pretrained {title} generator, "
                     f"static-graph persistables converted by name (attgan.paddlecv_name_table); the directory inside the "
                     f"archive is inferred from infer.py (init_model + '/net_G'), not read from the file{note}"),
        archive=PublishedArchive(
            format="paddle_persistables",
            member="net_G",
            name_table="core.nets.attgan:paddlecv_name_table",
            name_table_args=dict(config),
        ),
    )


register_weights(_weights(
    "attgan", "AttGAN", ATTGAN_CELEBA_128,
    "CelebA faces at 128x128, 13 attributes (bald, bangs, hair colours, eyebrows, glasses, male, mouth open, "
    "moustache, no beard, pale skin, young); the condition is the target attributes (-0.5 / +0.5, the edited one +-1)"))
register_weights(_weights(
    "stgan", "STGAN", STGAN_CELEBA_128,
    "CelebA faces at 128x128, the same 13 attributes as AttGAN; the condition is target minus source (+-1 where an attribute changes)",
    "; run with the library's final STGAN code (no sum in the STUs, encoder slope 0.2): the v1.5 code the URL was "
    "first published with differs there, which the file cannot tell"))
