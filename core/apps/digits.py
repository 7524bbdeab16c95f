"""Digits: handwritten digits from our conditional DCGAN, trained offline on 5,000 MNIST digits.

``generate(seed, count, digit)`` returns a grid image (uint8 RGB); the same
seed, count and digit always give the same grid.
"""
from __future__ import annotations

import numpy as np

from core.apps import App, register
from core.errors import InputError

MAX_COUNT = 100
MAX_SEED = 2**31 - 1
WEIGHTS = "digits_cgan"
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
        assets=("assets/weights/digits_cgan.pdparams",),
        heavy=False,
    )
)


def grid_image(images: np.ndarray, columns: int = 10, padding: int = 2, scale: int = 1) -> np.ndarray:
    """Tile generator outputs (N, C, H, W) in [-1, 1] into one uint8 RGB grid on a dark background."""
    images = np.asarray(images, dtype=np.float32)
    n, channels, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    tiles = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    if channels == 1:
        tiles = np.repeat(tiles, 3, axis=1)
    grid = np.zeros((rows * (h + padding) + padding, columns * (w + padding) + padding, 3), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        grid[y : y + h, x : x + w] = tile.transpose(1, 2, 0)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def _generator():
    from core import nets
    from core.runtime import models, use_best_device

    use_best_device()
    # The generator has 0.5 M parameters and answers in milliseconds in dygraph;
    # a static-graph predictor would cost more to set up than it saves.
    return models.get(WEIGHTS, lambda: nets.create(NETWORK, pretrained=WEIGHTS))


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


def draw(generator, seed: int, count: int, digit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits from any digit generator: (images (N, 1, 28, 28) in [-1, 1], labels (N,)).

    The latents depend only on the seed; a conditional generator draws `digit`,
    or 0-9 in turn when none is given (unconditional generators ignore labels).
    """
    import paddle

    z = np.random.default_rng(seed).standard_normal((count, generator.latent_dim)).astype(np.float32)
    labels = np.full(count, digit) if digit is not None else np.arange(count) % 10
    with paddle.no_grad():
        if getattr(generator, "n_class", 0):
            images = generator(paddle.to_tensor(z), paddle.to_tensor(labels.astype(np.int64)))
        else:
            images = generator(paddle.to_tensor(z))
    return images.numpy(), labels


def sample(seed: int, count: int, digit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Generate `count` digits: (images (N, 1, 28, 28) in [-1, 1], labels (N,))."""
    seed, count, digit = check_request(seed, count, digit)
    return draw(_generator(), seed, count, digit)


def generate(seed: int, count: int = 20, digit: int | None = None, scale: int = 3) -> np.ndarray:
    """A grid of generated digits, ten per row (columns are 0-9 when no digit is chosen)."""
    images, _ = sample(seed, count, digit)
    return grid_image(images, columns=10, scale=scale)
