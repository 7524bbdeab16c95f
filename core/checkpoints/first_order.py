"""Checkpoints of First Order Motion (``core.nets.first_order``): PaddleGAN's VoxCeleb models."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

_LICENCE = ("non-commercial (CC BY-NC 4.0, the licence of Aliaksandr Siarohin et al.'s First Order Motion Model when "
            "PaddleGAN ported it; PaddleGAN's port warns against commercial use). The original repository has been "
            "MIT since 2023-06; the licence of the VoxCeleb weights was not restated")
_NESTED_NOTE = ("the file holds {'generator': {...}, 'kp_detector': {...}}; those two dicts map onto this network's "
                "'generator.' and 'kp_detector.' prefixes (WeightSpec.prefix_keys)")


register_weights(
    WeightSpec(
        name="first_order_motion.vox",
        architecture="fom_vox_256",
        filename="vox-cpk.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-cpk.pdparams",
        prefix_keys=("generator", "kp_detector"),
        description="First Order Motion Model trained on VoxCeleb talking faces, 256x256 (PaddleGAN)",
        licence=_LICENCE,
        source_note=_NESTED_NOTE + "; layout and numbers checked against shared/reference fom_vox_256, not against the file",
    )
)
register_weights(
    WeightSpec(
        name="first_order_motion.vox_mobile",
        architecture="fom_vox_mobile_256",
        filename="vox-mobile.pdparams",
        url="https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-mobile.pdparams",
        prefix_keys=("generator", "kp_detector"),
        description="First Order Motion Model, PaddleGAN's lightweight (mobile_net) variant, VoxCeleb 256x256",
        licence=_LICENCE,
        source_note=_NESTED_NOTE + " (as PaddleGAN's predictor reads it); layout and numbers checked against "
                                   "shared/reference fom_vox_mobile_256, not against the file",
    )
)
