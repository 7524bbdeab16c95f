"""Checkpoints of DeepRemaster (``core.nets.deepremaster``): one PaddleGAN file for the restorer and the colorizer."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

WEIGHT_URL = "https://paddlegan.bj.bcebos.com/applications/deep_remaster.pdparams"
WEIGHT_FILENAME = "deep_remaster.pdparams"
_LICENCE = ("non-commercial: CC BY-NC-SA 4.0 (DeepRemaster, Satoshi Iizuka and Edgar Simo-Serra: code and model). "
            "PaddleGAN's port carries its own Apache-2.0 header without naming the original licence, and states no "
            "training of its own: the weights are taken to be the authors' model")
_SOURCE_NOTE = ("one PaddleGAN file holds both networks, {'modelR': ..., 'modelC': ...} (ppgan/apps/deepremaster_predictor.py "
                "loads state_dict['modelR'] and state_dict['modelC']); layout and numbers checked against "
                "shared/reference deepremaster_modelR / deepremaster_modelC, not against the file")


for _architecture, _config, _key, _description in (
    ("deepremaster_restorer", "deepremaster_modelR", "modelR",
     "DeepRemaster restoration of old grey film (noise, scratches, contrast), 5-frame clips (PaddleGAN)"),
    ("deepremaster_colorizer", "deepremaster_modelC", "modelC",
     "DeepRemaster colorization of a restored grey clip from reference colour pictures (PaddleGAN)"),
):
    register_weights(
        WeightSpec(
            name=f"{_architecture}.paddlegan",
            aliases=(_config,),
            architecture=_config,
            filename=WEIGHT_FILENAME,
            url=WEIGHT_URL,
            key=_key,
            description=_description,
            licence=_LICENCE,
            source_note=_SOURCE_NOTE,
        )
    )
