"""Digits: handwritten digits from our conditional DCGAN, trained offline on 5,000 MNIST digits.

``generate(seed, count, digit)`` returns a grid image (uint8 RGB); the same
seed, count and digit always give the same grid.
"""
from __future__ import annotations

import numpy as np

from core.apps import App, register
from core.errors import InputError
from core.train.sampling import draw, grid_image  # training draws digits too; they stay importable from here

MAX_COUNT = 100
MAX_SEED = 2**31 - 1
WEIGHTS = "deep_conv.digits_cgan"
NETWORK = "cond_dcgan_mnist"

APP = register(
    App(
        name="digits",
        title="Digits",
        description="Handwritten digits drawn by a conditional DCGAN that we trained on 5,000 MNIST digits. "
        "Pick a seed, how many digits, and optionally which digit.",
        demo="demos.digits",
        endpoints=("digits_generate",),
        networks=(NETWORK,),
        weights=(WEIGHTS,),
        limits={"max_count": MAX_COUNT, "max_seed": MAX_SEED},
        emoji="✍️",
        assets=("assets/weights/digits_cgan.pdparams", "core/train/__init__.py", "core/train/sampling.py"),
        heavy=False,
    )
)


def _generator():
    from core import models

    # The generator has 0.5 M parameters and answers in milliseconds in dygraph;
    # a static-graph predictor would cost more to set up than it saves.
    return models.network(WEIGHTS)


def check_request(seed, count, digit) -> tuple[int, int, int | None]:
    """Validate and normalise the request; raise InputError with the limit."""
    try:
        seed, count = int(seed), int(count)
    except (TypeError, ValueError):
        raise InputError("Seed and count must be whole numbers.") from None
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"The seed must be between 0 and {MAX_SEED}; got {seed}.")
    if not 1 <= count <= MAX_COUNT:
        raise InputError(f"The count must be between 1 and {MAX_COUNT}; got {count}.")
    if digit in (None, "", "any"):
        return seed, count, None
    try:
        digit = int(digit)
    except (TypeError, ValueError):
        raise InputError(f"The digit must be 0 to 9 or 'any'; got {digit!r}.") from None
    if not 0 <= digit <= 9:
        raise InputError(f"The digit must be 0 to 9 or 'any'; got {digit}.")
    return seed, count, digit


def sample(seed: int, count: int, digit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Generate `count` digits: (images (N, 1, 28, 28) in [-1, 1], labels (N,))."""
    seed, count, digit = check_request(seed, count, digit)
    return draw(_generator(), seed, count, digit)


def generate(seed: int, count: int = 20, digit: int | None = None, scale: int = 3) -> np.ndarray:
    """A grid of generated digits, ten per row (columns are 0-9 when no digit is chosen)."""
    images, _ = sample(seed, count, digit)
    return grid_image(images, columns=10, scale=scale)
