"""Checkpoints of our own attribute editors of handwritten digits: StarGAN, AttGAN and STGAN trained here on MNIST.

The networks are those of ``core/nets/stargan.py`` and ``core/nets/attgan.py`` at a CPU size (32x32 digits,
three attributes measured by ``core.train.morphometry``: thick, slanted_right, wide); this module only declares
their checkpoints. Each file is an export of ``core.train.attributes.AttributeEditorTrainer``:
``{"netG": state, "meta": {"generator", "attributes", "thresholds", ...}}`` (the thresholds are the training
set's medians per digit class, where each attribute is cut).

The constructor arguments below are ``core.train.attributes.RECIPES[model].digits_config`` plus ``c_dim`` 3
(a checkpoint module imports nothing of ``core.train``; a test checks that they agree).
"""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

DIGIT_ATTRIBUTES = 3  # thick, slanted_right, wide (core.train.morphometry.ATTRIBUTES)

# The generators' arguments at 32x32, as the trainer builds them for digits.
STARGAN_DIGITS = {"c_dim": DIGIT_ATTRIBUTES, "conv_dim": 32, "repeat_num": 3}
ATTGAN_DIGITS = {"c_dim": DIGIT_ATTRIBUTES, "dim": 32, "n_layers": 3}
STGAN_DIGITS = {"c_dim": DIGIT_ATTRIBUTES, "dim": 32, "n_layers": 3, "shortcut_layers": 2, "inject_layers": 2,
                "stu_inject_layers": 2}
DIGITS_CONFIGS = {"stargan": STARGAN_DIGITS, "attgan": ATTGAN_DIGITS, "stgan": STGAN_DIGITS}

_TITLES = {"stargan": "StarGAN", "attgan": "AttGAN", "stgan": "STGAN"}


# How a shipped editor was trained (docs/training.md), beyond the papers' recipe the others are offered with.
SHIPPED_OPTIONS = {"stgan": "--lambda-identity 2 --steps 3500"}


def training_command(model: str) -> str:
    """The command that trains and exports `model`'s digit editor into the repository."""
    options = f"{SHIPPED_OPTIONS[model]} " if model in SHIPPED_OPTIONS else ""
    return (f"python -m core.train {model} --data mnist-full {options}--out runs/{model} "
            f"--export assets/weights/digits_{model}.pdparams")


for _model, _config in DIGITS_CONFIGS.items():
    register_weights(
        WeightSpec(
            name=f"{_model}.digits",
            architecture=_model,
            filename=f"digits_{_model}.pdparams",
            bundled=f"assets/weights/digits_{_model}.pdparams",
            key="netG",
            description=f"{_TITLES[_model]} trained by us on MNIST digits at 32x32: thicker or thinner, slanted right "
                        "or upright, wider or narrower (0/1 attributes cut at each digit class's median)",
            licence="same as this repository; data: MNIST (LeCun, Cortes and Burges), CC BY-SA 3.0",
            source_note=training_command(_model),
            net_overrides=dict(_config),
        )
    )
