"""Checkpoint of our SPADE for digit scenes (``core.train.digit_scenes``), with the small configuration it needs.

PaddleCV's SPADE generator (``core.nets.spade``, flavour ``paddlecv``: batch norm, LeakyReLU, the static-graph
spectral norm) at 64x64 with narrow widths: three classes (sky, ground, digit) plus one channel of the label
map's edges (PhotoPen's way of giving edges without an instance map), ngf 8 (128 channels on the 2x2 latent
grid down to 8 at 64x64) and 16 hidden channels in each SPADE (the references' 128 is sized for 35 classes).
``python -m core.train spade --data digit-scenes`` trains it (``core.train.spade``).
"""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

DIGIT_SCENE_CLASSES = ("sky", "ground", "digit")
# The colours a person paints each class with (the digit_scenes preview's): far apart, so a brush's
# anti-aliased edge is never nearer a third class.
DIGIT_SCENE_COLOURS = ((90, 150, 255), (40, 120, 40), (255, 140, 0))
DIGIT_SCENE_SIZE = 64
SPADE_DIGIT_SCENES = dict(
    semantic_nc=len(DIGIT_SCENE_CLASSES) + 1, ngf=8, num_upsampling_layers="normal", crop_size=DIGIT_SCENE_SIZE,
    aspect_ratio=1.0, norm_G="spectralspadebatch3x3", use_vae=False, nef=16, flavour="paddlecv", nhidden=16,
)
TRAIN_COMMAND = ("python -m core.train spade --data digit-scenes --steps 2500 "
                 "--export assets/weights/digit_scenes_spade.pdparams --export-precision float16")


register_weights(
    WeightSpec(
        name="spade.digit_scenes",
        architecture="spade",
        filename="digit_scenes_spade.pdparams",
        bundled="assets/weights/digit_scenes_spade.pdparams",
        key="netG",
        net_overrides=dict(SPADE_DIGIT_SCENES),
        description="SPADE trained here on digit scenes (sky, ground, MNIST digits -> 64x64 picture)",
        licence="same as this repository; data: MNIST (CC BY-SA 3.0), ground textures: scikit-image's grass and "
        "gravel (CC0)",
        source_note=f"trained here: {TRAIN_COMMAND}",
    )
)
