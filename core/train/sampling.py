"""Drawing digits from any digit generator, and tiling them into a grid image.

Shared by training (sample grids, quality scores) and the digit applications (``core.apps.digits``,
``core.apps.gan_basics``), which import them from here: ``core.train`` never imports ``core.apps``.
"""
from __future__ import annotations

import numpy as np


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
