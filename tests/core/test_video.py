"""core.video.map_video: batches through a function, keeps fps, length and audio, reports progress."""
from fractions import Fraction

import numpy as np
import pytest

from core.errors import LimitExceeded
from tests.clips import make_clip
from core.media import iter_video_frames, probe_video
from core.video import map_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 48, 32, 25, 3)


def test_every_frame_goes_through_the_function_in_batches(clip, tmp_path):
    batch_sizes, reports = [], []

    def double_and_invert(frames):
        batch_sizes.append(len(frames))
        return [np.repeat(np.repeat(255 - f, 2, axis=0), 2, axis=1) for f in frames]

    out = map_video(clip, tmp_path / "out.mp4", double_and_invert, batch_size=4, progress=lambda d, t: reports.append((d, t)))
    source, result = probe_video(clip), probe_video(out)
    assert (result.width, result.height) == (96, 64)
    assert result.fps == Fraction(25) and result.has_audio
    assert abs(result.duration_s - source.duration_s) <= 1 / 25 + 1e-3
    assert sum(batch_sizes) == 75 and max(batch_sizes) == 4
    assert [d for d, _ in reports] == sorted(d for d, _ in reports) and reports[-1][0] == 75
    first_in = next(iter(iter_video_frames(clip))).astype(int)
    first_out = next(iter(iter_video_frames(out))).astype(int)[::2, ::2]
    assert np.abs((255 - first_in) - first_out).mean() < 12  # H.264 is lossy; inversion is not subtle


def test_length_limit_is_checked_before_processing(clip, tmp_path):
    called = []
    with pytest.raises(LimitExceeded, match="limit"):
        map_video(clip, tmp_path / "no.mp4", lambda fs: called.append(1) or fs, max_seconds=1)
    assert not called and not (tmp_path / "no.mp4").exists()
