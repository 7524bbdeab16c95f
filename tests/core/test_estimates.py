"""Estimates before long work: measured here, per model, announced before the work and updated after it."""
import pytest

from core import estimates


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))


def test_a_key_never_measured_says_so_instead_of_guessing():
    assert estimates.seconds_per_unit("translate/vintage") is None
    assert estimates.describe("translate/vintage", 3.0, 20, "frames") == (
        "20 frames; no time estimate yet (this model has not run on this machine)"
    )


def test_measurements_are_averaged_per_key_and_give_the_estimate():
    estimates.record("translate/vintage", units=10, seconds=20)  # 2 s a unit
    estimates.record("translate/vintage", units=10, seconds=40)  # 4 s a unit: the average moves halfway
    estimates.record("translate/anime_hayao", units=1, seconds=9)
    assert estimates.seconds_per_unit("translate/vintage") == pytest.approx(3.0)
    assert estimates.describe("translate/vintage", 5, 50, "frames") == "50 frames, about 15 s (measured on this machine)"
    assert estimates.describe("translate/anime_hayao", 20, 20, "frames") == "20 frames, about 3.0 min (measured on this machine)"


def test_timed_work_announces_first_and_records_after():
    told = []
    estimates.record("restore/x", units=1, seconds=2)
    with estimates.timed_work("restore/x", 4, 4, "frames", "Restoring", lambda done, total, text: told.append((done, total, text))):
        pass
    assert told == [(0, 4, "Restoring: 4 frames, about 8 s (measured on this machine)")]
    assert estimates.seconds_per_unit("restore/x") < 2  # the block took almost no time


def test_a_plain_progress_callback_gets_no_text():
    told = []
    with estimates.timed_work("restore/y", 1, 3, "frames", "Restoring", lambda done, total: told.append((done, total))):
        pass
    assert told == [(0, 3)]


def test_a_failed_block_is_not_recorded():
    with pytest.raises(RuntimeError):
        with estimates.timed_work("restore/z", 1, 1, "photo", "Restoring"):
            raise RuntimeError("broken")
    assert estimates.seconds_per_unit("restore/z") is None
