"""Apply an image-to-image function to a video, streamed in small batches.

Frames are decoded one at a time, grouped into batches of `batch_size`, passed
to `process_batch`, and written as they come back, so memory depends on the
batch size, never on the video's length. The source fps is kept exactly and its
audio is muxed back. Progress is reported after every batch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from core.media import VideoWriter, iter_video_frames

ProgressCallback = Callable[[int, int], None]  # (frames done, frames expected)


def map_video(
    source: str | Path,
    dest: str | Path,
    process_batch: Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]],
    batch_size: int = 4,
    max_seconds: Optional[float] = None,
    max_pixels: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
) -> Path:
    """Write `dest` (H.264 mp4): every frame of `source` through `process_batch`, audio kept.

    `process_batch` takes a list of H x W x 3 uint8 RGB frames and returns a
    list of the same length (the output size may differ from the input's, but
    must be the same for every frame). Limits are checked before any frame is
    processed (``core.errors.LimitExceeded``).
    """
    frames = iter_video_frames(source, max_seconds=max_seconds, max_pixels=max_pixels)
    total = frames.info.n_frames
    done = 0
    with frames, VideoWriter(dest, frames.info.fps, audio_from=source) as writer:
        batch: list[np.ndarray] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                done = _flush(batch, process_batch, writer, done, total, progress)
                batch = []
        if batch:
            done = _flush(batch, process_batch, writer, done, total, progress)
    if progress is not None:
        progress(done, done)
    return Path(dest)


def _flush(batch, process_batch, writer, done, total, progress) -> int:
    outputs = process_batch(batch)
    if len(outputs) != len(batch):
        raise ValueError(f"process_batch returned {len(outputs)} frames for {len(batch)}")
    for frame in outputs:
        writer.write(frame)
    done += len(batch)
    if progress is not None:
        progress(done, max(total, done))
    return done
