"""Scenes of handwritten digits, label map and image, for a small SPADE; and the colour segmentation that judges it.

Every scene is drawn offline from the MNIST digits the trainers use (``core.train.data.load_digits``) and
scikit-image's bundled textures, deterministically from a seed. A 64x64 scene (``SIZE``) has three
label classes (``CLASSES``):

- ``sky`` (0): the upper part, a vertical gradient from a deeper blue at the top to a paler one at the
  horizon (hue 0.55-0.65, both ends drawn per scene);
- ``ground`` (1): a band along the bottom whose top edge, the horizon, runs at 55-80 % of the height and
  undulates (a sine of up to 3 px, up to two periods across). Its appearance is a crop of
  ``skimage.data.grass()`` or ``skimage.data.gravel()`` (CC0 textures, shipped inside scikit-image), at a
  scale of 1/2 to 1/4, tinted with a green drawn per scene (hue 0.25-0.4, dark: value 0.3-0.5);
- ``digit`` (2): 1-3 MNIST digits on top, each scaled 1.1-1.6 times (20 px tall in MNIST's 28x28 box,
  so 22-32 px here) and placed at random within the scene (where its strokes cross no digit drawn before
  if one of ten tries finds such a place), in a colour from red through orange to yellow
  (hue -0.04-0.12) drawn per digit and darkening by up to a fifth from its top to its bottom. The digit's
  grey levels (upsampled bilinearly) are its opacity over the scene, so its edges are anti-aliased; the
  label map marks it where the opacity passes one half (the ``INK_THRESHOLD`` of ``core.train.morphometry``,
  for the same reason: that is where the stroke's edge runs). Later digits lie over earlier ones.

A generator (SPADE) must learn the mapping: the gradient of the sky, a texture on the ground, a colour for
the strokes, from the label map alone. ``digit_scenes`` returns the label maps (int64 (N, H, W)), their one-hot
encoding (float32 (N, C, H, W), SPADE's input) and the images (float32 (N, 3, H, W) in [-1, 1], as the
trainers take images; ``to_rgb_uint8`` for viewing).

The judge (issue #24: "SPADE's output class regions match the painted map, mean IoU of a simple colour
segmentation >= 0.8"): ``segment_by_colour`` labels each pixel with the class whose mean colour is nearest in
RGB (Euclidean, in the images' own [-1, 1] scale). The class colours are the mean colour of each class over
real scenes, ``reference_class_colours()`` (200 scenes of seed 0, a fixed set). The three appearances were
chosen apart in colour (blue, dark green, warm and bright) so that nearest-mean segmentation of real scenes
(200 of seeds 1-3) reaches a mean IoU of 0.97 (sky and ground 0.99, digits 0.93: their anti-aliased edges
and a few bright grains of gravel are what it gets wrong; no scene under 0.9), and 0.95 (digits 0.89) after
a slight blur (Gaussian, sigma 0.8 px), well above the bar, while a label map that does not belong to the
image scores far below it (0.54 for the map of another scene: sky and ground still overlap in part, the
digits hardly). ``mean_iou`` pools each class's intersection and union over the whole batch, then averages
over the classes.
"""
from __future__ import annotations

import colorsys
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

CLASSES = ("sky", "ground", "digit")
SKY, GROUND, DIGIT = range(len(CLASSES))
SIZE = 64
MAX_DIGITS = 3
# Opacity above which a pixel is labelled digit: where an anti-aliased stroke's edge runs.
INK_THRESHOLD = 0.5
# The judge's class colours: the class means over these real scenes.
REFERENCE_SEED, REFERENCE_COUNT = 0, 200

# Drawn per scene / per digit (HSV, hue in turns): ranges chosen far apart in RGB.
SKY_HUE, SKY_TOP_SAT, SKY_TOP_VAL, SKY_LOW_SAT, SKY_LOW_VAL = (0.55, 0.65), (0.45, 0.8), (0.6, 0.85), (0.15, 0.4), (0.85, 1.0)
GROUND_HUE, GROUND_SAT, GROUND_VAL = (0.25, 0.4), (0.45, 0.75), (0.3, 0.5)
GROUND_TEXTURE_CONTRAST = 0.3  # relative brightness swing of the texture (its standard deviation)
DIGIT_HUE, DIGIT_SAT, DIGIT_VAL = (-0.04, 0.12), (0.75, 1.0), (0.85, 1.0)
DIGIT_SCALE = (1.1, 1.6)
PLACEMENT_TRIES = 10
HORIZON = (0.55, 0.8)


class Scenes(NamedTuple):
    label_maps: np.ndarray  # int64 (N, H, W), values index CLASSES
    one_hot: np.ndarray  # float32 (N, len(CLASSES), H, W)
    images: np.ndarray  # float32 (N, 3, H, W) in [-1, 1]
    digit_classes: np.ndarray  # int64 (N, MAX_DIGITS): the digits drawn, in drawing order, -1 where fewer


@lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    """Ground textures: scikit-image's grass and gravel (512x512 grey, CC0), as float in [0, 1]."""
    from skimage import data

    return tuple(getattr(data, name)().astype(np.float32) / 255.0 for name in ("grass", "gravel"))


@lru_cache(maxsize=1)
def _default_digits() -> tuple[np.ndarray, np.ndarray]:
    from core.train.data import load_digits

    return load_digits()


def _hsv(rng, hue, sat, val) -> np.ndarray:
    """An RGB colour (float32 (3,) in [0, 1]) drawn uniformly within the HSV ranges (hue in turns, wrapping)."""
    h = rng.uniform(*hue) % 1.0
    return np.array(colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val)), np.float32)


def _texture_crop(rng, size: int) -> np.ndarray:
    """A size x size crop of a ground texture at a random scale, normalised to mean 0 and std 1 (clipped at 2)."""
    texture = _textures()[rng.integers(len(_textures()))]
    step = int(rng.integers(2, 5))  # 1/2 to 1/4: averaging step x step blocks
    span = size * step
    y, x = rng.integers(0, texture.shape[0] - span + 1), rng.integers(0, texture.shape[1] - span + 1)
    crop = texture[y : y + span, x : x + span].reshape(size, step, size, step).mean((1, 3))
    crop = (crop - crop.mean()) / max(float(crop.std()), 1e-6)
    return np.clip(crop, -2.0, 2.0)


def _scaled_digit(digit: np.ndarray, scale: float) -> np.ndarray:
    """A 28x28 digit (uint8) as opacity in [0, 1], scaled by `scale` (bilinear, pixel areas aligned)."""
    return np.clip(ndi.zoom(digit.astype(np.float32) / 255.0, scale, order=1, grid_mode=True, mode="grid-constant"), 0, 1)


def render_scene(rng: np.random.Generator, digit_images: np.ndarray, size: int = SIZE):
    """One scene from the generator ``rng`` with the given digits (uint8 (k, 28, 28), 1 <= k <= MAX_DIGITS):
    (label map int64 (H, W), image float32 (H, W, 3) in [0, 1])."""
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    # Sky: a vertical gradient.
    top = _hsv(rng, SKY_HUE, SKY_TOP_SAT, SKY_TOP_VAL)
    low_hue = np.clip(np.array(SKY_HUE) + rng.uniform(-0.02, 0.02), 0, 1)
    low = _hsv(rng, low_hue, SKY_LOW_SAT, SKY_LOW_VAL)
    t = (rows / (size - 1))[..., None]
    image = np.broadcast_to(top * (1 - t) + low * t, (size, size, 3)).copy()
    labels = np.full((size, size), SKY, np.int64)
    # Ground: below an undulating horizon, a tinted texture.
    horizon = rng.uniform(*HORIZON) * size
    wave = rng.uniform(0, 3.0) * np.sin(2 * np.pi * rng.uniform(0.25, 2.0) * cols / size + rng.uniform(0, 2 * np.pi))
    ground = rows >= horizon + wave
    green = _hsv(rng, GROUND_HUE, GROUND_SAT, GROUND_VAL)
    shade = 1.0 + GROUND_TEXTURE_CONTRAST * _texture_crop(rng, size)
    image = np.where(ground[..., None], np.clip(green * shade[..., None], 0, 1), image)
    labels[ground] = GROUND
    # Digits: opacity from their grey levels, a warm colour darkening downwards.
    for digit in digit_images:
        alpha = _scaled_digit(digit, rng.uniform(*DIGIT_SCALE))
        h, w = alpha.shape
        for _ in range(PLACEMENT_TRIES):  # where its strokes cross no digit drawn before, if that can be found
            y, x = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
            if not (labels[y : y + h, x : x + w][alpha > INK_THRESHOLD] == DIGIT).any():
                break
        colour = _hsv(rng, DIGIT_HUE, DIGIT_SAT, DIGIT_VAL)
        darkening = 1.0 - rng.uniform(0.0, 0.2) * (np.arange(h, dtype=np.float32) / (h - 1))[:, None, None]
        patch = image[y : y + h, x : x + w]
        a = alpha[..., None]
        image[y : y + h, x : x + w] = patch * (1 - a) + colour * darkening * a
        labels[y : y + h, x : x + w][alpha > INK_THRESHOLD] = DIGIT
    return labels, image.astype(np.float32)


def one_hot(label_maps: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Label maps (N, H, W) as float32 one-hot (N, n_classes, H, W)."""
    label_maps = np.asarray(label_maps)
    return (label_maps[:, None] == np.arange(n_classes)[None, :, None, None]).astype(np.float32)


def digit_scenes(count: int, seed: int = 0, digits: tuple[np.ndarray, np.ndarray] | None = None, size: int = SIZE) -> Scenes:
    """``count`` scenes, the same for the same seed and digits whatever the count (scene i draws from its own
    generator, seeded by (seed, i)). ``digits``: (images uint8 (N, 28, 28), labels) to draw from, by default the
    bundled 5,000 MNIST digits; give disjoint digits (or other seeds) to keep a test set apart."""
    images, digit_labels = _default_digits() if digits is None else digits
    images, digit_labels = np.asarray(images), np.asarray(digit_labels)
    if images.dtype != np.uint8:
        raise ValueError("digits: uint8 images (N, 28, 28), as core.train.data.load_digits gives them")
    label_maps = np.zeros((count, size, size), np.int64)
    rgb = np.zeros((count, size, size, 3), np.float32)
    classes = np.full((count, MAX_DIGITS), -1, np.int64)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        chosen = rng.integers(0, len(images), size=int(rng.integers(1, MAX_DIGITS + 1)))
        label_maps[i], rgb[i] = render_scene(rng, images[chosen], size)
        classes[i, : len(chosen)] = digit_labels[chosen]
    return Scenes(label_maps, one_hot(label_maps), rgb.transpose(0, 3, 1, 2) * 2.0 - 1.0, classes)


def to_rgb_uint8(images: np.ndarray) -> np.ndarray:
    """Images (N, 3, H, W) in [-1, 1] as uint8 (N, H, W, 3), for viewing and saving."""
    return np.clip((np.asarray(images) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------- the judge


def class_colours(images: np.ndarray, label_maps: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """The mean colour of each class over images (N, 3, H, W) and their label maps (N, H, W): (n_classes, 3), in
    the images' scale; NaN for a class that does not occur."""
    pixels = np.asarray(images, dtype=np.float64).transpose(0, 2, 3, 1).reshape(-1, 3)
    labels = np.asarray(label_maps).reshape(-1)
    counts = np.bincount(labels, minlength=n_classes)[:n_classes].astype(np.float64)
    sums = np.stack([np.bincount(labels, weights=pixels[:, k], minlength=n_classes)[:n_classes] for k in range(3)], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


@lru_cache(maxsize=1)
def _reference_class_colours() -> np.ndarray:
    scenes = digit_scenes(REFERENCE_COUNT, seed=REFERENCE_SEED)
    return class_colours(scenes.images, scenes.label_maps)


def reference_class_colours() -> np.ndarray:
    """The judge's class colours: the mean colour of each class over the 200 real scenes of seed 0
    ((len(CLASSES), 3), in [-1, 1])."""
    return _reference_class_colours().copy()


def segment_by_colour(images: np.ndarray, colours: np.ndarray | None = None) -> np.ndarray:
    """Label each pixel of images (N, 3, H, W) or one (3, H, W), in [-1, 1], with the class whose colour is
    nearest (Euclidean in RGB): int64 (N, H, W) or (H, W). ``colours``: (n_classes, 3) in the images' scale,
    by default ``reference_class_colours()``."""
    x = np.asarray(images, dtype=np.float32)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W) or (3, H, W), got shape {np.shape(images)}")
    c = np.asarray(reference_class_colours() if colours is None else colours, dtype=np.float32)
    distance = ((x[:, None] - c[None, :, :, None, None]) ** 2).sum(2)  # (N, n_classes, H, W)
    labels = distance.argmin(1).astype(np.int64)
    return labels[0] if single else labels


def class_iou(predicted: np.ndarray, target: np.ndarray, classes=len(CLASSES)) -> np.ndarray:
    """Intersection over union of each class (``classes``: their number or the class ids), pooled over the
    whole batch; NaN for a class in neither map."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {predicted.shape} and target {target.shape} maps differ in shape")
    ids = range(classes) if isinstance(classes, (int, np.integer)) else classes
    result = []
    for c in ids:
        p, t = predicted == c, target == c
        union = np.count_nonzero(p | t)
        result.append(np.count_nonzero(p & t) / union if union else np.nan)
    return np.array(result)


def mean_iou(predicted: np.ndarray, target: np.ndarray, classes=len(CLASSES)) -> float:
    """The mean over classes of ``class_iou`` (classes in neither map left out)."""
    return float(np.nanmean(class_iou(predicted, target, classes)))


def judge_report(count: int = 200, seeds=(1, 2, 3), blur: float = 0.8) -> dict:
    """The judge on real scenes of ``seeds`` (the numbers of the module docstring): per seed the IoU of each
    class and their mean, the lowest per-scene mean, the mean after a Gaussian blur of ``blur`` px, and
    against the maps of other scenes (each scene scored against the next one's map)."""
    report = {}
    for seed in seeds:
        scenes = digit_scenes(count, seed=seed)
        predicted = segment_by_colour(scenes.images)
        blurred = segment_by_colour(ndi.gaussian_filter(scenes.images, (0, 0, blur, blur)))
        others = np.roll(scenes.label_maps, 1, axis=0)
        report[f"seed {seed}"] = {
            "class_iou": dict(zip(CLASSES, np.round(class_iou(predicted, scenes.label_maps), 4).tolist())),
            "mean_iou": round(mean_iou(predicted, scenes.label_maps), 4),
            "lowest_scene_mean_iou": round(min(mean_iou(p, t) for p, t in zip(predicted, scenes.label_maps)), 4),
            f"mean_iou_blurred_{blur}": round(mean_iou(blurred, scenes.label_maps), 4),
            "digit_iou_blurred": round(float(class_iou(blurred, scenes.label_maps)[DIGIT]), 4),
            "mean_iou_other_maps": round(mean_iou(predicted, others), 4),
            "class_shares": np.round(np.bincount(scenes.label_maps.ravel(), minlength=len(CLASSES)) / scenes.label_maps.size, 4).tolist(),
        }
    return report


def main(argv=None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m core.train.digit_scenes",
                                     description="Report the colour-segmentation judge on real scenes; optionally save a preview.")
    parser.add_argument("--preview", metavar="PNG", help="write 20 scenes of seed 1 and their label maps to this PNG")
    args = parser.parse_args(argv)
    print(json.dumps({"reference_class_colours": np.round(reference_class_colours(), 4).tolist(), **judge_report()}, indent=1))
    if args.preview:
        from PIL import Image

        scenes = digit_scenes(20, seed=1)
        palette = np.array([[90, 150, 255], [40, 120, 40], [255, 140, 0]], np.uint8)
        rows = [np.concatenate(list(to_rgb_uint8(scenes.images[k : k + 10])), 1) for k in (0, 10)]
        rows += [np.concatenate(list(palette[scenes.label_maps[k : k + 10]]), 1) for k in (0, 10)]
        Image.fromarray(np.concatenate([rows[0], rows[2], rows[1], rows[3]])).save(args.preview)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
