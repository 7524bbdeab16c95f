"""Digits: the application (core.apps.digits) and its tab (demos.digits)."""
import gradio as gr
import numpy as np
import pytest

from core.apps import digits
from core.errors import InputError
from demos import digits as digits_tab


def test_grid_has_ten_columns_and_is_deterministic():
    grid = digits.generate(seed=3, count=25, scale=1)
    assert grid.dtype == np.uint8 and grid.shape == (3 * 30 + 2, 10 * 30 + 2, 3)
    assert np.array_equal(grid, digits.generate(seed=3, count=25, scale=1))
    assert not np.array_equal(grid, digits.generate(seed=4, count=25, scale=1))


def test_samples_look_like_digits():
    images, labels = digits.sample(seed=0, count=50)
    assert images.shape == (50, 1, 28, 28) and labels.tolist() == [i % 10 for i in range(50)]
    assert images.min() >= -1 and images.max() <= 1
    ink = (images > 0).mean(axis=(1, 2, 3))
    # A digit covers roughly a tenth to a third of its square; blank or filled squares are failures.
    assert np.all((ink > 0.04) & (ink < 0.45)), ink
    # Strokes sit in the middle: MNIST digits leave a blank border.
    border = np.concatenate([images[:, 0, :3].ravel(), images[:, 0, -3:].ravel()])
    assert (border > 0).mean() < 0.02


def test_requested_digit_is_honoured_in_labels():
    _, labels = digits.sample(seed=1, count=12, digit=7)
    assert set(labels.tolist()) == {7}


@pytest.mark.parametrize(
    "seed,count,digit,message",
    [(-1, 5, None, "seed must be between"), (1, 0, None, "count must be between 1 and 100"),
     (1, 101, None, "count must be between 1 and 100"), (1, 5, 10, "digit must be 0 to 9"), ("x", 5, None, "whole numbers")],
)
def test_bad_requests_name_the_limit(seed, count, digit, message):
    with pytest.raises(InputError, match=message):
        digits.sample(seed, count, digit)


def test_tab_turns_core_errors_into_gradio_errors():
    with pytest.raises(gr.Error, match="count must be between"):
        digits_tab.generate(1, 500, "any")


def test_tab_writes_each_result_to_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path))
    first, _, status = digits_tab.generate(1, 5, "any")
    second, _, _ = digits_tab.generate(1, 5, "any")
    assert first != second and first.endswith(".png") and status.startswith("Done in")
