"""Small test videos made with the ffmpeg that ships in imageio-ffmpeg (no files committed)."""
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np

from core.media import ffmpeg_exe, write_video

MOUTH = (slice(150, 200), slice(205, 265))  # the astronaut's mouth in her 512x512 portrait (skimage.data)


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; raise with its message if it fails."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr}")


def make_clip(path: Path, width: int, height: int, fps, seconds: float, audio: bool = True) -> Path:
    """An H.264 test pattern of `seconds` at `fps`, with a 300 Hz tone (AAC) when `audio`."""
    command = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}", "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True)
    return Path(path)


def make_gap_clip(path: Path, gap_s: float = 80, fps: int = 25) -> Path:
    """Two H.264 frames in Matroska, the second `gap_s` seconds after the first.

    The setts bitstream filter moves the second packet. The header states `fps`
    and a duration of `gap_s`: ffmpeg's default (constant-rate) raw output fills
    the gap with about gap_s * fps copies of the first frame.
    """
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}", "-frames:v", "2", "-c:v", "libx264",
           "-bf", "0", "-pix_fmt", "yuv420p", "-bsf:v", f"setts=ts=if(N\\,{gap_s}/TB\\,0)",
           "-f", "matroska", str(path))
    return Path(path)


def restate_duration(path: Path, stated_seconds: float) -> Path:
    """Overwrite the duration a Matroska file's header states; its frames and samples stay.

    The Segment Info Duration element (ID 0x4489) is an 8-byte float in
    milliseconds as ffmpeg writes it.
    """
    data = bytearray(Path(path).read_bytes())
    at = data.find(b"\x44\x89\x88")
    assert at > 0, "no 8-byte Duration element in the Matroska header"
    data[at + 3:at + 11] = struct.pack(">d", stated_seconds * 1000.0)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def make_lying_clip(path: Path, seconds: float, stated_seconds: float, fps: int = 25,
                    video: bool = True) -> Path:
    """A Matroska file (H.264 video, or FLAC audio when not `video`) that holds
    `seconds` but whose header says `stated_seconds`."""
    if video:
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}:duration={seconds}", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-f", "matroska", str(path))
    else:
        ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "flac",
               "-f", "matroska", str(path))
    return restate_duration(path, stated_seconds)


def make_burst_clip(path: Path, frames: int = 300, fps: int = 25) -> Path:
    """Matroska H.264 whose first second runs steadily at `fps` (so ffmpeg states that
    rate) and whose other frames follow 1 ms apart: `frames` frames in little more than a second."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}", "-frames:v", str(frames), "-c:v", "libx264",
           "-bf", "0", "-pix_fmt", "yuv420p", "-enc_time_base", "1/1000",
           "-bsf:v", f"setts=ts=if(lt(N\\,{fps})\\,N*1000/{fps}\\,1000+N-{fps})/(1000*TB)",
           "-f", "matroska", str(path))
    return Path(path)


def make_size_change_clip(path: Path, first=(64, 48), second=(160, 120), frames=(10, 10), fps: int = 25) -> Path:
    """An MPEG-TS H.264 stream of frames[0] frames of size `first` (width, height), then frames[1] of size `second`.

    The two parts are encoded apart and joined by ffmpeg's concat demuxer
    (test-only: core.media never accepts concat lists). ffmpeg states the size
    its header probe saw last: make the first part longer than its 5 s probe
    for the header to state `first` whatever the sizes.
    """
    path = Path(path)
    parts = []
    for index, ((width, height), count) in enumerate(zip((first, second), frames)):
        part = path.with_name(f"{path.stem}.part{index}.ts")
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={fps}", "-frames:v", str(count),
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(part))
        parts.append(part)
    listing = path.with_name(f"{path.stem}.parts.txt")
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-f", "mpegts", str(path))
    for leftover in (*parts, listing):
        leftover.unlink()
    return path


# ---------------------------------------------------------------- a talking head, for lip sync


def talking_frames(count: int, fps: float, side: int = 256) -> list[np.ndarray]:
    """The astronaut's portrait with her mouth region stretched open and shut, 3 times a second."""
    from skimage import data as pictures

    portrait = pictures.astronaut()
    frames = []
    for i in range(count):
        opening = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * i / fps)
        frame = portrait.copy()
        rows, cols = MOUTH
        region = portrait[rows, cols]
        tall = cv2.resize(region, (region.shape[1], int(region.shape[0] * (1 + 0.3 * opening))))
        frame[rows, cols] = tall[:region.shape[0]]
        frame = cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)
        frame[:16, :16] = marker(i)  # the frame's number, to follow the loop back and forth
        frames.append(frame)
    return frames


def marker(index: int) -> int:
    return 20 + 9 * (index % 24)


def read_marker(frame: np.ndarray) -> int:
    """The source frame number a marked frame shows (H.264 moves the grey by a level or two)."""
    return int(round((frame[4:12, 4:12].mean() - 20) / 9))


def talking_clip(path: Path, seconds: float, fps: int = 10) -> Path:
    return write_video(talking_frames(int(seconds * fps), fps), path, fps)


def voice(path: Path, seconds: float, rate: int = 22050) -> Path:
    """A made-up voice: a 140 Hz buzz with harmonics, loud and soft 4 times a second (stereo, 22.05 kHz)."""
    t = np.arange(int(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    samples = (0.2 * buzz * syllables).astype(np.float32)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
                    "-ac", "2", str(path)], input=samples.tobytes(), check=True)
    return path
