"""Morphometry of handwritten digits: stroke thickness, slant, width, height, area and length, measured.

In the spirit of Morpho-MNIST (Castro et al., "Morpho-MNIST: quantitative assessment and diagnostics for
representation learning", 2019), written here from the definitions. The attribute-editing models
(StarGAN, AttGAN, STGAN) are conditioned on binary attributes derived from these measures, and judged by
them: an edit must move the measured attribute the requested way while the digit classifier still reads the
same digit (``measure_edit_success``).

How a digit is measured (``measure``; 28x28 grey digits, white ink on black):

1. Its grey levels are mapped to [0, 1] (uint8 / 255; floats are taken as already in [0, 1]; the trainers'
   [-1, 1] through ``from_trainer_scale``), upsampled ``UPSCALE`` (4) times by bilinear interpolation (pixel
   areas aligned; outside the image is black) and binarised at ``INK_THRESHOLD`` (0.5). MNIST's edges are
   anti-aliased (an edge pixel's grey is about the share of it the pen covered), so half grey is where the
   stroke's edge runs: at 0.5 the binarised strokes are as wide as the pen was, neither fattened by the faint
   fringe nor thinned; and a generator's faint background noise (well under half grey) is not ink. The
   upsampling puts that edge to a quarter of a pixel instead of a whole one.
2. Specks are dropped: 8-connected pieces of ink smaller than ``SPECK_AREA`` (2 px^2 of the 28x28 image).
   A stray dot of a generated digit would otherwise stretch its width or height by the distance to it.
3. From the remaining ink (the binarised, upsampled mask; all lengths below are in pixels of the 28x28
   image, angles in degrees):

   - ``thickness`` (px): twice the distance from the ink's skeleton (scikit-image's thinning,
     ``skeletonize``) to the nearest background pixel, less half an upsampled pixel (distances run between
     pixel centres, and the edge lies half a pixel short of the nearest background centre on either side),
     averaged along the skeleton but for its lowest quarter, the spurs into corners and the line ends where
     the distance falls. For a stroke of constant width w this is w within 0.3 px (tested on drawn lines
     and rings 1.5-5 px wide at all angles, at least four times as long as wide); leaving the lowest quarter
     out rather than taking the median keeps the measure continuous (the distances take few values), so
     that a class's median splits it in halves.
   - ``slant`` (deg): from the ink's second moments, with x the column and y the row (pointing down),
     slant = atan(-mu11 / mu02), mu11 = mean((x - x_mean)(y - y_mean)), mu02 = mean((y - y_mean)^2): the
     angle of the shear x' = x - (mu11 / mu02)(y - y_mean) that makes the digit upright (after it, x and y
     are uncorrelated). Positive: the top lies to the right of the bottom, the digit leans right. A shear of
     an upright digit by an angle a (x moving by tan(a) per row upwards) measures as slant a; shears add
     in tangents, not in angles.
   - ``width`` (px): the extent along x of the de-slanted ink (the ink's columns after the shear above),
     from the left edge of its leftmost upsampled pixel to the right edge of its rightmost one.
   - ``height`` (px): the extent of the ink along y (the shear leaves rows alone).
   - ``area`` (px^2): the area of the ink.
   - ``length`` (px): the length of the skeleton: its 8-connected links, orthogonal ones counting 1 and
     diagonal ones sqrt(2) (a diagonal link is not counted where the two pixels also meet through an
     orthogonal neighbour).

   A digit without ink (after step 2) measures NaN, area and length 0. Measuring costs about 1 ms a digit on
   one core (vectorised over the batch but for the distance transform and the thinning, which run per
   digit on its bounding box): a minute for the full MNIST.

Binary attributes (``ATTRIBUTES``): ``thick`` (thickness), ``slanted_right`` (slant) and ``wide`` (width),
each 1 where the digit's measure lies above the threshold for its class. The thresholds are the training
set's medians per digit class (``attribute_thresholds``), so every class has both values of every attribute
in about equal numbers: a thin 1 and a thick 1, an upright 7 and a slanted 7. (One threshold for all
classes would make every 1 narrow and almost every 0 wide: the attribute would be the class.)

Whether an edit moved an attribute (``edit_moved``): the edited digit's measure must differ from the source's
in the requested direction by more than ``MARGINS[attribute]``, chosen from the measurement noise: the
change the measures show on real digits under edits that should leave them alone, a shift by half a pixel
(bilinear) and a slight blur (Gaussian, sigma 0.5 px), which is what a generator's re-drawing of a digit
does at the least. ``python -m core.train.morphometry --noise`` measures it; on the bundled 5,000 digits the
99th percentiles of |change| are 0.42 px of thickness, 2.7 deg of slant and 1.0 px of width (95th: 0.19,
1.1, 0.53; docs/training.md, "Digit attributes and scenes"). The margins, 0.4 px, 3 deg and 1 px, are about
those 99th percentiles: noise alone carries about 1 % of digits past them (half of those in the requested
direction), against a spread within a class (interquartile range, full MNIST) of 0.75-1 px of thickness,
16-25 deg of slant and 3.4-4.3 px of width (1.6 px for the 1s), so that an edit carrying a digit from one
side of its class's median to the other counts.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

UPSCALE = 4
# Half grey: where an anti-aliased edge runs (see the module docstring).
INK_THRESHOLD = 0.5
# Pieces of ink smaller than this (px^2 at 28x28) are specks, not strokes.
SPECK_AREA = 2.0

MEASURES = ("thickness", "slant", "width", "height", "area", "length")
THICKNESS, SLANT, WIDTH, HEIGHT, AREA, LENGTH = range(len(MEASURES))
UNITS = {"thickness": "px", "slant": "deg", "width": "px", "height": "px", "area": "px^2", "length": "px"}

ATTRIBUTES = ("thick", "slanted_right", "wide")
# The column of ``measure``'s result each attribute thresholds.
ATTRIBUTE_MEASURES = {"thick": THICKNESS, "slanted_right": SLANT, "wide": WIDTH}
# How far the measure must move for an edit to count (px, deg, px): about the 99th percentile of the
# noise of each measure (module docstring; python -m core.train.morphometry --noise).
MARGINS = {"thick": 0.4, "slanted_right": 3.0, "wide": 1.0}

N_CLASSES = 10


# ---------------------------------------------------------------- scales


def unit_images(images) -> np.ndarray:
    """Digits as float32 (N, 28, 28) in [0, 1]: uint8 is divided by 255, bool taken as 0/1, floats clipped
    to [0, 1] (floats under -0.5 are refused: that is the trainers' [-1, 1], see ``from_trainer_scale``); a
    single (H, W) digit and channel-first (N, 1, H, W) batches are accepted."""
    x = np.asarray(images)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"digits are grey: expected (N, 1, H, W), got {x.shape}")
        x = x[:, 0]
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"expected digits (N, H, W), (N, 1, H, W) or (H, W), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.size and x.min() < -0.5:  # a background of -1: the trainers' scale, whose half grey is 0, not 0.5
        raise ValueError("these digits look like the trainers' [-1, 1]; measure from_trainer_scale(images)")
    return np.clip(x, 0.0, 1.0)


def from_trainer_scale(images) -> np.ndarray:
    """The trainers' digits, (N, 1, H, W) or (N, H, W) in [-1, 1] (``to_trainer_scale``), as (N, H, W) in [0, 1]."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4:
        x = x[:, 0]
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def to_trainer_scale(images) -> np.ndarray:
    """Digits (uint8, or float in [0, 1]) as the trainers take them: float32 (N, 1, H, W) in [-1, 1]
    (uint8 / 127.5 - 1, as ``core.train.gan`` scales the digits it loads)."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        scaled = x.astype(np.float32) / 127.5 - 1.0
    else:
        scaled = unit_images(x) * 2.0 - 1.0
    if scaled.ndim == 2:
        scaled = scaled[None]
    return (scaled if scaled.ndim == 4 else scaled[:, None]).astype(np.float32)


# ---------------------------------------------------------------- measuring


def _upsampling_matrix(n: int, factor: int) -> np.ndarray:
    """(n * factor, n): bilinear interpolation with pixel areas aligned, zero outside (scipy's
    ``zoom(order=1, grid_mode=True, mode="grid-constant")``, as a matrix: one matmul per side)."""
    u = (np.arange(n * factor) + 0.5) / factor - 0.5
    low = np.floor(u).astype(int)
    frac = u - low
    matrix = np.zeros((n * factor, n + 2), np.float32)  # columns -1 .. n, the outer two dropped
    rows = np.arange(n * factor)
    matrix[rows, low + 1] = 1.0 - frac
    matrix[rows, low + 2] += frac
    return matrix[:, 1:-1]


def _upsample(unit: np.ndarray) -> np.ndarray:
    """(N, h, w) -> (N, h * UPSCALE, w * UPSCALE), bilinear. Along x, then along y, as two plain 2-D products
    (numpy's stacked matmul can be a hundred times slower for some sizes)."""
    n, h, w = unit.shape
    along_x = unit.reshape(n * h, w) @ np.ascontiguousarray(_upsampling_matrix(w, UPSCALE).T)  # (N*h, W)
    columns = np.ascontiguousarray(along_x.reshape(n, h, -1).transpose(0, 2, 1)).reshape(-1, h)  # (N*W, h)
    up = (columns @ np.ascontiguousarray(_upsampling_matrix(h, UPSCALE).T)).reshape(n, w * UPSCALE, h * UPSCALE)
    return np.ascontiguousarray(up.transpose(0, 2, 1))


def _ink(unit: np.ndarray) -> np.ndarray:
    """Upsampled, binarised ink without specks: bool (N, h * UPSCALE, w * UPSCALE)."""
    ink = _upsample(unit) > INK_THRESHOLD
    # 8-connected pieces within each digit (no connection across the batch axis), smallest dropped.
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True
    pieces, count = ndi.label(ink, structure=structure)
    if count:
        sizes = np.bincount(pieces.ravel(), minlength=count + 1)
        small = sizes < SPECK_AREA * UPSCALE**2
        small[0] = False
        ink &= ~small[pieces]
    return ink


def _skeleton_length(skeleton: np.ndarray) -> np.ndarray:
    """Length of each (N, H, W) skeleton in upsampled pixels: orthogonal links 1, diagonal links sqrt(2)
    unless the two pixels also meet through an orthogonal neighbour."""
    s = skeleton
    horizontal = s[:, :, 1:] & s[:, :, :-1]
    vertical = s[:, 1:, :] & s[:, :-1, :]
    a, b = s[:, :-1, :-1], s[:, 1:, 1:]  # down-right
    c, d = s[:, :-1, 1:], s[:, 1:, :-1]  # down-left
    top_right, bottom_left = s[:, :-1, 1:], s[:, 1:, :-1]
    top_left, bottom_right = s[:, :-1, :-1], s[:, 1:, 1:]
    down_right = a & b & ~top_right & ~bottom_left
    down_left = c & d & ~top_left & ~bottom_right
    orthogonal = horizontal.sum((1, 2)) + vertical.sum((1, 2))
    diagonal = down_right.sum((1, 2)) + down_left.sum((1, 2))
    return orthogonal + np.sqrt(2.0) * diagonal


def _thickness_and_skeleton(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per digit: thickness in upsampled pixels (NaN without a skeleton) and the skeleton (N, H, W)."""
    from skimage.morphology import skeletonize

    thickness = np.full(len(ink), np.nan)
    skeleton = np.zeros_like(ink)
    for i, (rows, cols) in enumerate(_boxes(ink)):
        if rows is None:
            continue
        # The box with a background margin of one pixel, so that the image edge counts as background.
        box = ink[i, rows, cols]
        crop = np.zeros((box.shape[0] + 2, box.shape[1] + 2), bool)
        crop[1:-1, 1:-1] = box
        bones = skeletonize(crop)
        if bones.any():
            values = np.sort(ndi.distance_transform_edt(crop)[bones])
            # Twice the distance to the nearest background centre, less half an upsampled pixel (a band an
            # odd number of pixels wide measures half a pixel more than its width, an even one half a pixel
            # less), averaged over the skeleton but for its lowest quarter (spurs, line ends).
            thickness[i] = 2.0 * values[len(values) // 4 :].mean() - 0.5
            skeleton[i, rows, cols] = bones[1:-1, 1:-1]
    return thickness, skeleton


def _boxes(ink: np.ndarray):
    """(row slice, column slice) of each digit's ink, (None, None) where it has none."""
    any_rows, any_cols = ink.any(2), ink.any(1)
    for r, c in zip(any_rows, any_cols):
        if not r.any():
            yield None, None
            continue
        r0, r1 = np.flatnonzero(r)[[0, -1]]
        c0, c1 = np.flatnonzero(c)[[0, -1]]
        yield slice(r0, r1 + 1), slice(c0, c1 + 1)


def _measure_chunk(unit: np.ndarray) -> np.ndarray:
    ink = _ink(unit)
    n, h, w = ink.shape
    s = float(UPSCALE)
    # Pixel centres of the upsampled grid in pixels of the original image.
    ys = (np.arange(h) + 0.5) / s - 0.5
    xs = (np.arange(w) + 0.5) / s - 0.5
    out = np.full((n, len(MEASURES)), np.nan)
    row_sums = ink.sum(2, dtype=np.float64)  # (N, H)
    col_sums = ink.sum(1, dtype=np.float64)  # (N, W)
    count = row_sums.sum(1)
    has = count > 0
    row_x = (ink.reshape(-1, w).astype(np.float32) @ xs.astype(np.float32)).reshape(n, h)  # sum of x per row
    rows = ink.any(2)
    # Each row's leftmost and rightmost ink column (meaningless where the row has none; masked below).
    left_col = np.argmax(ink, axis=2)
    right_col = w - 1 - np.argmax(ink[:, :, ::-1], axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        y_mean = row_sums @ ys / count
        x_mean = col_sums @ xs / count
        mu11 = (row_x.astype(np.float64) @ ys) / count - x_mean * y_mean
        mu02 = row_sums @ ys**2 / count - y_mean**2
        shear = np.where(mu02 > 0, mu11 / mu02, 0.0)
        out[:, SLANT] = np.degrees(np.arctan(-shear))
        # De-slanted x of each row's outermost ink: x - shear * (y - y_mean).
        offset = shear[:, None] * (ys[None, :] - y_mean[:, None])
        right = np.where(rows, xs[right_col] - offset, -np.inf).max(1)
        left = np.where(rows, xs[left_col] - offset, np.inf).min(1)
        out[:, WIDTH] = right - left + 1.0 / s
        first = np.argmax(rows, axis=1)
        last = h - 1 - np.argmax(rows[:, ::-1], axis=1)
        out[:, HEIGHT] = (last - first + 1) / s
    out[~has, SLANT] = out[~has, WIDTH] = out[~has, HEIGHT] = np.nan
    out[:, AREA] = count / s**2
    thickness, skeleton = _thickness_and_skeleton(ink)
    out[:, THICKNESS] = thickness / s
    out[:, LENGTH] = _skeleton_length(skeleton) / s
    return out


def measure(images, chunk: int = 512) -> np.ndarray:
    """Measure a batch of digits: float64 (N, len(MEASURES)), columns ``MEASURES`` (units ``UNITS``).

    ``images``: (N, 28, 28), (N, 1, 28, 28) or one (28, 28), uint8 or float in [0, 1] (the trainers'
    [-1, 1] through ``from_trainer_scale`` first). Any size works; the definitions are in the module docstring.
    """
    unit = unit_images(images)
    if not len(unit):
        return np.zeros((0, len(MEASURES)))
    return np.concatenate([_measure_chunk(unit[i : i + chunk]) for i in range(0, len(unit), chunk)])


def as_dict(measurements: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of ``measure``'s result by name."""
    m = np.asarray(measurements)
    return {name: m[..., i] for i, name in enumerate(MEASURES)}


# ---------------------------------------------------------------- attributes


def attribute_thresholds(measurements: np.ndarray, labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Per digit class, the median of each attribute's measure (NaNs ignored): float64 (n_classes,
    len(ATTRIBUTES)). Computed on the training set and kept for its test set and for judging edits."""
    m = np.asarray(measurements, dtype=np.float64)
    labels = np.asarray(labels)
    thresholds = np.full((n_classes, len(ATTRIBUTES)), np.nan)
    columns = [ATTRIBUTE_MEASURES[a] for a in ATTRIBUTES]
    for c in range(n_classes):
        chosen = m[labels == c][:, columns]
        for k in range(len(columns)):
            finite = chosen[:, k][np.isfinite(chosen[:, k])]
            if len(finite):
                thresholds[c, k] = np.median(finite)
    return thresholds


def attribute_labels(measurements: np.ndarray, thresholds: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Binary attributes, bool (N, len(ATTRIBUTES)) in the order of ``ATTRIBUTES``: the measure lies above the
    threshold. ``thresholds``: one row (len(ATTRIBUTES),) for every digit, or one per class (n_classes,
    len(ATTRIBUTES)), from ``attribute_thresholds``, with each digit's class in ``labels``. A digit whose
    measure is NaN (no ink) has every such attribute False."""
    m = np.asarray(measurements, dtype=np.float64)
    values = m[:, [ATTRIBUTE_MEASURES[a] for a in ATTRIBUTES]]
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 2:
        if labels is None:
            raise ValueError("thresholds per class need the digits' labels")
        t = t[np.asarray(labels)]
    elif t.shape != (len(ATTRIBUTES),):
        raise ValueError(f"thresholds: one per attribute {ATTRIBUTES} or a row per class, not shape {t.shape}")
    with np.errstate(invalid="ignore"):
        return values > t


def attribute_index(attribute) -> int:
    """An attribute's column in ``attribute_labels``' result, from its name or index."""
    if isinstance(attribute, str):
        if attribute not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {attribute!r}; the attributes are {ATTRIBUTES}")
        return ATTRIBUTES.index(attribute)
    index = int(attribute)
    if not 0 <= index < len(ATTRIBUTES):
        raise ValueError(f"attribute index {index} out of range for {ATTRIBUTES}")
    return index


def _direction(direction) -> np.ndarray:
    d = np.asarray(direction)
    if d.dtype == bool:
        return np.where(d, 1.0, -1.0)
    d = d.astype(np.float64)
    if not np.isin(d, (-1.0, 1.0)).all():
        raise ValueError("direction: +1 (more of the attribute: thicker, further right, wider), -1 (less), "
                         "or bool (True for +1)")
    return d


def edit_moved(source_measure, edited_measure, attribute, direction, margin: float | None = None):
    """Whether an edit moved ``attribute`` the requested way: the edited digit's measure minus the source's,
    times ``direction`` (+1: thicker / slanted further right / wider; -1: the opposite; or True / False), is
    above ``margin`` (default ``MARGINS[attribute]``, in the measure's units).

    The measures are rows of ``measure``'s result ((len(MEASURES),) or (N, len(MEASURES))); ``direction`` may be
    one for all or one per digit. Returns a bool, or a bool array for a batch; a NaN measure (a digit without
    ink) never counts as moved."""
    name = ATTRIBUTES[attribute_index(attribute)]
    column = ATTRIBUTE_MEASURES[name]
    margin = MARGINS[name] if margin is None else float(margin)
    source = np.asarray(source_measure, dtype=np.float64)[..., column]
    edited = np.asarray(edited_measure, dtype=np.float64)[..., column]
    with np.errstate(invalid="ignore"):
        moved = (edited - source) * _direction(direction) > margin
    return bool(moved) if np.ndim(moved) == 0 else moved


# ---------------------------------------------------------------- data sets and judging


class DigitAttributes(NamedTuple):
    images: np.ndarray  # float32 (N, 1, 28, 28) in [-1, 1], as the trainers take digits
    labels: np.ndarray  # int64 (N,) digit classes
    attributes: np.ndarray  # float32 (N, len(ATTRIBUTES)), 0 or 1, in the order of ATTRIBUTES
    measurements: np.ndarray  # float64 (N, len(MEASURES)), in the order of MEASURES
    thresholds: np.ndarray  # float64 (n_classes, len(ATTRIBUTES)): the medians the attributes were cut at


def digit_attribute_dataset(images, labels, thresholds: np.ndarray | None = None, measurements: np.ndarray | None = None,
                            drop_empty: bool = True) -> DigitAttributes:
    """A training (or test) set for the attribute GANs.

    ``images``: the digits as ``core.train.data.load_digits`` gives them (uint8 (N, 28, 28)) or float in [0, 1];
    ``labels``: their classes. ``thresholds``: those of the training set for a test set; by default the
    medians per class of these digits (``attribute_thresholds``). ``measurements``: ``measure(images)`` when
    already at hand (measuring the full MNIST takes about a minute). With ``drop_empty``, digits without ink
    or whose measures are undefined are left out (no MNIST digit is). The attributes come as float32 0/1,
    ready as conditioning vectors and as binary cross-entropy targets."""
    labels = np.asarray(labels).astype(np.int64)
    images = np.asarray(images)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    m = measure(images) if measurements is None else np.asarray(measurements, dtype=np.float64)
    if len(m) != len(labels):
        raise ValueError(f"{len(m)} measurements for {len(labels)} images")
    if drop_empty:
        keep = np.isfinite(m[:, [ATTRIBUTE_MEASURES[a] for a in ATTRIBUTES]]).all(1)
        images, labels, m = images[keep], labels[keep], m[keep]
    if thresholds is None:
        thresholds = attribute_thresholds(m, labels)
    attributes = attribute_labels(m, thresholds, labels).astype(np.float32)
    return DigitAttributes(to_trainer_scale(images), labels, attributes, m, np.asarray(thresholds, dtype=np.float64))


class EditSuccess(NamedTuple):
    moved: float  # share of digits whose attribute moved the requested way (edit_moved)
    same_digit: float  # share of digits the classifier reads as the same digit after the edit


def measure_edit_success(source_images, edited_images, attribute_index, direction, classifier_fn,
                         labels: np.ndarray | None = None, margin: float | None = None) -> EditSuccess:
    """The two figures the issue judges an attribute edit by (bars: moved >= 0.90, same_digit >= 0.95).

    ``source_images``, ``edited_images``: the digits before and after the edit, as the networks give them,
    (N, 1, 28, 28) or (N, 28, 28) float in [-1, 1] (uint8 is taken as 0-255). ``attribute_index``: the
    attribute's index in ``ATTRIBUTES`` (or its name); ``direction``: +1 / -1 / bool, for all or per digit
    (e.g. ``1 - 2 * attributes[:, k]`` to flip every digit's attribute). ``classifier_fn`` takes (N, 1, 28, 28)
    float32 in [-1, 1] and returns class scores (N, n_classes) or predicted classes (N,), e.g.
    ``lambda x: core.train.classifier.predict(core.train.quality.classifier(), x)``.

    ``moved``: the share of digits for which ``edit_moved`` holds. ``same_digit``: the share for which the
    classifier reads the edited digit as it reads the source (or, with ``labels``, as the true class)."""
    source, edited = _as_trainer(source_images), _as_trainer(edited_images)
    if source.shape != edited.shape or not len(source):
        raise ValueError(f"source and edited digits must be matching non-empty batches: {source.shape}, {edited.shape}")
    moved = edit_moved(measure(from_trainer_scale(source)), measure(from_trainer_scale(edited)), attribute_index,
                       np.broadcast_to(_direction(direction), (len(source),)), margin)
    read_edited = _classes(classifier_fn(edited))
    read_source = np.asarray(labels) if labels is not None else _classes(classifier_fn(source))
    return EditSuccess(float(np.mean(moved)), float(np.mean(read_edited == read_source)))


def _as_trainer(images) -> np.ndarray:
    x = np.asarray(images)
    x = x.astype(np.float32) / 127.5 - 1.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected digits (N, 1, H, W) or (N, H, W), got shape {x.shape}")
    return x


def _classes(output) -> np.ndarray:
    out = np.asarray(output)
    return out.argmax(1) if out.ndim == 2 else out.astype(np.int64)


# ---------------------------------------------------------------- noise and medians (the documented numbers)


def measurement_noise(images, seed: int = 0) -> dict[str, dict[str, float]]:
    """How much the attribute measures change under edits that should leave them alone: a shift by half a
    pixel in a random direction (bilinear) and a Gaussian blur of sigma 0.5 px. Per attribute: the 50th, 95th
    and 99th percentiles of |change|, over both perturbations."""
    unit = unit_images(images)
    rng = np.random.default_rng(seed)
    shifts = rng.choice([-0.5, 0.5], size=(len(unit), 2))
    shifted = np.stack([ndi.shift(u, s, order=1, mode="constant") for u, s in zip(unit, shifts)])
    blurred = ndi.gaussian_filter(unit, sigma=(0, 0.5, 0.5))
    base = measure(unit)
    changes = np.concatenate([measure(shifted) - base, measure(blurred) - base])
    result = {}
    for name in ATTRIBUTES:
        d = np.abs(changes[:, ATTRIBUTE_MEASURES[name]])
        d = d[np.isfinite(d)]
        result[name] = {f"p{q}": round(float(np.percentile(d, q)), 3) for q in (50, 95, 99)}
        result[name]["share_over_margin"] = round(float((d > MARGINS[name]).mean()), 4)
    return result


def class_summary(measurements: np.ndarray, labels: np.ndarray) -> dict[str, list]:
    """Per class, the quartiles (25th, 50th, 75th percentile) of every measure, None for an absent class."""
    m, labels = np.asarray(measurements), np.asarray(labels)
    summary = {}
    for i, name in enumerate(MEASURES):
        rows = []
        for c in range(N_CLASSES):
            values = m[labels == c, i]
            values = values[np.isfinite(values)]
            rows.append([round(float(v), 2) for v in np.percentile(values, (25, 50, 75))] if len(values) else None)
        summary[name] = rows
    return summary


def main(argv=None) -> int:
    import time

    from core.train.data import load_digits

    parser = argparse.ArgumentParser(prog="python -m core.train.morphometry",
                                     description="Measure digits; print the per-class quartiles of every measure.")
    parser.add_argument("--data", help="as for python -m core.train: the bundled 5,000 by default, or 'mnist-full'")
    parser.add_argument("--limit", type=int, default=0, help="measure only N digits, spread evenly over the set")
    parser.add_argument("--noise", action="store_true", help="also the measurement noise (half-pixel shifts, slight blur)")
    args = parser.parse_args(argv)
    images, labels = load_digits(args.data)
    if 0 < args.limit < len(images):
        chosen = np.linspace(0, len(images) - 1, args.limit).round().astype(int)
        images, labels = images[chosen], labels[chosen]
    start = time.perf_counter()
    m = measure(images)
    elapsed = time.perf_counter() - start
    report = {"digits": len(images), "ms_per_digit": round(1000 * elapsed / len(images), 3),
              "quartiles_per_class (25, 50, 75)": class_summary(m, labels)}
    if args.noise:
        report["noise"] = measurement_noise(images)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
