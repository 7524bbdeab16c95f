"""Checkpoints of the CycleGAN ResNet-9 generators (``core.nets.resnet_generator``): PaddleGAN's files and
PaddleCV/gan's archive.
"""
from __future__ import annotations

from core.registry import PublishedArchive, WeightSpec, register_weights

_PADDLEGAN_LICENCE = "Apache-2.0 (PaddleGAN)"

# One CycleGAN file holds both directions: netG_A maps domain A to B, netG_B maps back.
_HORSE2ZEBRA_URL = "https://paddlegan.bj.bcebos.com/models/CycleGAN_horse2zebra.pdparams"
_CITYSCAPES_URL = "https://paddlegan.bj.bcebos.com/models/CycleGAN_cityscapes.pdparams"
# In the CycleGAN cityscapes dataset (prepare_cityscapes_dataset.py of the CycleGAN
# authors, used by PaddleGAN's configs/cyclegan_cityscapes.yaml) trainA holds the
# photos and trainB the colour label maps.
_CITYSCAPES_NOTE = "PaddleGAN configs/cyclegan_cityscapes.yaml; domain A = street photos, B = colour label maps"

for _tag, _filename, _url, _key, _description, _note in (
    ("horse2zebra", "CycleGAN_horse2zebra.pdparams", _HORSE2ZEBRA_URL, "netG_A", "horse -> zebra",
     "PaddleGAN configs/cyclegan_horse2zebra.yaml; domain A = horses"),
    ("zebra2horse", "CycleGAN_horse2zebra.pdparams", _HORSE2ZEBRA_URL, "netG_B", "zebra -> horse",
     "PaddleGAN configs/cyclegan_horse2zebra.yaml; domain B = zebras"),
    ("cityscapes_photo2label", "CycleGAN_cityscapes.pdparams", _CITYSCAPES_URL, "netG_A",
     "street photo -> semantic label map (Cityscapes)", _CITYSCAPES_NOTE),
    ("cityscapes_label2photo", "CycleGAN_cityscapes.pdparams", _CITYSCAPES_URL, "netG_B",
     "semantic label map -> street photo (Cityscapes)", _CITYSCAPES_NOTE),
):
    register_weights(
        WeightSpec(
            name=f"cyclegan_resnet9.{_tag}",
            aliases=(f"cyclegan_{_tag}",),
            architecture="cyclegan_resnet9",
            filename=_filename,
            url=_url,
            key=_key,
            description=_description,
            licence=_PADDLEGAN_LICENCE,
            source_note=_note + " (key from PaddleGAN's CycleGANModel naming; not checked against the file)",
        )
    )


# scripts/run_cyclegan.sh trained it on cityscapes (resnet_9block, 32 base channels, batch norm, 200
# epochs); in PaddleCV/gan's cityscapes A holds the photos and B the colour label maps
# (download.py: the CycleGAN authors' dataset; scripts/prepare_cityscapes_dataset.py: A photo, B label).
_PADDLECV_CYCLEGAN_URL = "https://paddle-gan-models.bj.bcebos.com/cyclegan_9blocks_G.tar.gz"
_PADDLECV_CYCLEGAN = {"ngf": 32, "norm_type": "batch", "upsample_padding": "zero_pad"}
for _tag, _generator, _description in (
    ("paddlecv_cityscapes_photo2label", "GA", "street photo -> semantic label map (Cityscapes; PaddleCV/gan CycleGAN)"),
    ("paddlecv_cityscapes_label2photo", "GB", "semantic label map -> street photo (Cityscapes; PaddleCV/gan CycleGAN)"),
):
    register_weights(
        WeightSpec(
            name=f"cyclegan_resnet9.{_tag}",
            aliases=(f"cyclegan_{_tag}",),
            architecture="cyclegan_resnet9",
            filename=f"paddlecv_cyclegan_9blocks_{_generator}.pdparams",
            url=_PADDLECV_CYCLEGAN_URL,
            net_overrides=dict(_PADDLECV_CYCLEGAN),
            archive=PublishedArchive("paddle_persistables", "cyclegan_9blocks_G",
                                     name_table="core.nets.resnet_generator:paddlecv_cyclegan_names",
                                     name_table_args={"generator": _generator, "n_blocks": 9}),
            description=_description,
            licence="Apache-2.0 (PaddlePaddle/models)",
            source_note=f"PaddlePaddle/models PaddleCV/gan scripts/run_cyclegan.sh (cityscapes), its {_generator} "
            "generator; static-graph persistables converted on download (domains from its dataset scripts, "
            "not checked against the file)",
        )
    )
