"""Digit scenes for SPADE: deterministic label maps and images whose classes look different, and a colour
segmentation judge that real scenes pass by far and maps of other scenes fail."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from core.train import digit_scenes as ds


@pytest.fixture(scope="module")
def held_out():
    """Scenes of another seed than the judge's reference colours were taken from."""
    return ds.digit_scenes(150, seed=1)


def test_scenes_are_deterministic_and_independent_of_their_number():
    a, b = ds.digit_scenes(4, seed=7), ds.digit_scenes(2, seed=7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[:2], y)
    assert not np.array_equal(ds.digit_scenes(2, seed=8).images, b.images)


def test_label_maps_one_hot_and_images_have_the_documented_form(held_out):
    s = held_out
    assert s.label_maps.shape == (150, 64, 64) and s.label_maps.dtype == np.int64
    assert s.one_hot.shape == (150, 3, 64, 64) and s.one_hot.dtype == np.float32
    assert s.images.shape == (150, 3, 64, 64) and s.images.dtype == np.float32
    assert s.images.min() >= -1.0 and s.images.max() <= 1.0
    np.testing.assert_array_equal(s.one_hot.sum(1), 1.0)
    np.testing.assert_array_equal(s.one_hot.argmax(1), s.label_maps)
    # Every scene has sky above, ground below and at least one digit.
    for labels in s.label_maps:
        assert set(np.unique(labels)) == {ds.SKY, ds.GROUND, ds.DIGIT}
        assert (labels[0] != ds.GROUND).all() and (labels[-1] != ds.SKY).all()
    drawn = (s.digit_classes >= 0).sum(1)
    assert drawn.min() == 1 and drawn.max() == ds.MAX_DIGITS and set(np.unique(s.digit_classes)) == set(range(-1, 10))
    rgb = ds.to_rgb_uint8(s.images[:2])
    assert rgb.shape == (2, 64, 64, 3) and rgb.dtype == np.uint8


def test_the_digit_class_is_where_mnist_ink_lies():
    digits = np.zeros((1, 28, 28), np.uint8)
    digits[0, 4:24, 12:16] = 255  # a bar 4 px wide and 20 high: after scaling 1.1-1.6 times, 4.4-6.4 by 22-32
    s = ds.digit_scenes(8, seed=3, digits=(digits, np.array([1])))
    for labels, drawn in zip(s.label_maps, (s.digit_classes >= 0).sum(1)):
        pieces = ndi.find_objects(ndi.label(labels == ds.DIGIT)[0])
        alone = [(p[0].stop - p[0].start, p[1].stop - p[1].start) for p in pieces if p[1].stop - p[1].start <= 7]
        assert 1 <= len(pieces) <= drawn and alone  # (bars side by side may touch)
        assert all(22 <= height <= 33 and 4 <= width <= 7 for height, width in alone), alone


def test_each_class_looks_alike_within_and_varies_across_scenes(held_out):
    pixels = held_out.images.transpose(0, 2, 3, 1)
    means = np.array([[pixels[i][held_out.label_maps[i] == c].mean(0) for c in range(3)] for i in range(len(pixels))])
    sky, ground, digit = means[:, 0], means[:, 1], means[:, 2]
    assert (sky[:, 2] > sky[:, 0]).all()  # blue
    assert (ground[:, 1] > ground[:, 0]).all() and (ground[:, 1] > ground[:, 2]).all()  # green
    assert (digit[:, 0] > digit[:, 2] + 0.5).all()  # warm
    assert (means.std(0) > 0.05).all()  # every class's colour varies between scenes
    # Sky is a gradient from top to horizon, the ground a texture.
    top = pixels[:, 0][held_out.label_maps[:, 0] == ds.SKY]
    assert np.mean([np.std(pixels[i][held_out.label_maps[i] == ds.GROUND][:, 1]) for i in range(20)]) > 0.08
    rows = np.array([pixels[i, :20][held_out.label_maps[i, :20] == ds.SKY].mean(0) for i in range(20)])
    assert np.abs(top.mean(0) - rows.mean(0)).max() > 0.01


def test_the_ground_textures_ship_with_scikit_image():
    textures = ds._textures()
    assert len(textures) == 2 and all(t.shape == (512, 512) and 0 <= t.min() < t.max() <= 1 for t in textures)


# ---------------------------------------------------------------- the judge


def test_colour_segmentation_of_real_scenes_is_well_above_the_bar(held_out):
    predicted = ds.segment_by_colour(held_out.images)
    iou = ds.class_iou(predicted, held_out.label_maps)
    assert ds.mean_iou(predicted, held_out.label_maps) >= 0.93 and iou.min() >= 0.88, iou  # the bar is 0.8
    per_scene = [ds.mean_iou(p, t) for p, t in zip(predicted, held_out.label_maps)]
    assert min(per_scene) >= 0.85
    # A generator a little blurry is not failed for it.
    blurred = ndi.gaussian_filter(held_out.images, (0, 0, 0.8, 0.8))
    assert ds.mean_iou(ds.segment_by_colour(blurred), held_out.label_maps) >= 0.9


def test_a_map_of_another_scene_or_a_wrong_map_scores_low(held_out):
    predicted = ds.segment_by_colour(held_out.images)
    others = np.roll(held_out.label_maps, 1, axis=0)
    assert ds.mean_iou(predicted, others) < 0.65
    assert ds.class_iou(predicted, others)[ds.DIGIT] < 0.25
    swapped = np.array([ds.GROUND, ds.DIGIT, ds.SKY])[held_out.label_maps]  # every class called another
    assert ds.mean_iou(predicted, swapped) < 0.05
    # Noise, or a flat grey picture, is no scene either.
    noise = np.random.default_rng(0).uniform(-1, 1, held_out.images.shape).astype(np.float32)
    assert ds.mean_iou(ds.segment_by_colour(noise), held_out.label_maps) < 0.5
    assert ds.mean_iou(ds.segment_by_colour(np.zeros_like(held_out.images)), held_out.label_maps) < 0.5


def test_segment_by_colour_takes_the_nearest_class_colour():
    colours = ds.reference_class_colours()
    assert colours.shape == (3, 3) and np.isfinite(colours).all()
    np.testing.assert_array_equal(colours, ds.reference_class_colours())
    assert colours[ds.SKY].argmax() == 2 and colours[ds.DIGIT].argmax() == 0  # blue sky, warm digits
    assert colours[ds.GROUND].sum() == colours.sum(1).min()  # the darkest
    target = np.random.default_rng(0).integers(0, 3, (2, 8, 8))
    painted = colours[target].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(ds.segment_by_colour(painted), target)
    np.testing.assert_array_equal(ds.segment_by_colour(painted[0]), target[0])
    assert ds.mean_iou(ds.segment_by_colour(painted + 0.05), target) == 1.0
    own = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(ds.segment_by_colour(np.array([[[0.1]], [[0.2]], [[0.9]]]), own), [[0]])
    with pytest.raises(ValueError):
        ds.segment_by_colour(np.zeros((2, 1, 8, 8)))


def test_iou_pools_over_the_batch_and_leaves_out_absent_classes():
    target = np.array([[0, 0, 1, 1]])
    assert ds.mean_iou(target, target) == 1.0  # class 2 in neither map: left out
    np.testing.assert_allclose(ds.class_iou(np.array([[0, 1, 1, 1]]), target), [0.5, 2 / 3, np.nan])
    assert ds.mean_iou(np.array([[0, 1, 1, 1]]), target, classes=[0]) == 0.5
    assert ds.mean_iou(np.array([[2, 2, 0, 0]]), target) == 0.0
    pooled = ds.class_iou(np.array([[0, 0], [1, 1]]), np.array([[0, 0], [0, 1]]))
    np.testing.assert_allclose(pooled[:2], [2 / 3, 1 / 2])
    with pytest.raises(ValueError):
        ds.mean_iou(np.zeros((2, 2)), np.zeros((2, 3)))


def test_class_colours_are_the_class_means():
    images = np.zeros((1, 3, 2, 2), np.float32)
    images[0, 0] = [[1.0, 0.5], [0.0, 0.0]]
    labels = np.array([[[1, 1], [0, 0]]])
    colours = ds.class_colours(images, labels)
    np.testing.assert_allclose(colours[:2], [[0, 0, 0], [0.75, 0, 0]])
    assert np.isnan(colours[2]).all()
