"""Checkpoints of the pix2pix U-Net-256 generators (``core.nets.unet_generator``): PaddleGAN's files and
PaddleCV/gan's archive.
"""
from __future__ import annotations

from core.registry import PublishedArchive, WeightSpec, register_weights

# Both PaddleGAN pix2pix configs train with direction b2a: the right half of the paired
# images (label map) is the input and the left half (photo) the target.
for _tag, _filename, _description, _config in (
    ("facades", "Pixel2Pixel_facades.pdparams", "facade label map -> facade photo", "configs/pix2pix_facades.yaml"),
    ("cityscapes", "Pix2Pix_cityscapes.pdparams", "Cityscapes label map -> street photo", "configs/pix2pix_cityscapes.yaml"),
):
    register_weights(
        WeightSpec(
            name=f"pix2pix_unet256.{_tag}",
            aliases=(f"pix2pix_{_tag}",),
            architecture="pix2pix_unet256",
            filename=_filename,
            url=f"https://paddlegan.bj.bcebos.com/models/{_filename}",
            key="netG",
            description=_description,
            licence="Apache-2.0 (PaddleGAN)",
            source_note=f"PaddleGAN {_config} (direction b2a); key from PaddleGAN's Pix2PixModel naming, "
            "not checked against the file",
        )
    )


# scripts/run_pix2pix.sh trained it on cityscapes (unet_256, batch norm, 64 base channels, 200
# epochs); scripts/infer_pix2pix.sh feeds it testB, the colour label maps (A: photos, B: label maps,
# in download.py's and prepare_cityscapes_dataset.py's cityscapes).
PADDLECV_PIX2PIX = register_weights(
    WeightSpec(
        name="pix2pix_unet256.paddlecv_cityscapes",
        aliases=("pix2pix_paddlecv_cityscapes",),
        architecture="pix2pix_unet256",
        filename="paddlecv_pix2pix_G.pdparams",
        url="https://paddle-gan-models.bj.bcebos.com/pix2pix_G.tar.gz",
        net_overrides={"outermost_bias": False},
        archive=PublishedArchive("paddle_persistables", "pix2pix_G",
                                 name_table="core.nets.unet_generator:paddlecv_pix2pix_names"),
        description="Cityscapes label map -> street photo (PaddleCV/gan pix2pix)",
        licence="Apache-2.0 (PaddlePaddle/models)",
        source_note="PaddlePaddle/models PaddleCV/gan scripts/run_pix2pix.sh (cityscapes), static-graph "
        "persistables converted on download; direction from scripts/infer_pix2pix.sh (label maps in), "
        "not checked against the file",
    )
)
