"""Images, video and audio in and out, with errors written for people.

Images are decoded with Pillow into ``uint8`` RGB arrays (H x W x 3). The pixel
limit is checked from the file header, before any pixel is decoded.

Video and audio go through the ffmpeg binary that ships in ``imageio-ffmpeg``
(there is no ffprobe in it, so probing parses ``ffmpeg -i`` output). Frames are
streamed through pipes one at a time, so memory does not grow with the length
of a video. We drive ffmpeg ourselves rather than through
``imageio_ffmpeg.read_frames``/``write_frames`` to keep ffmpeg's messages for
our errors, to pass exact rational frame rates, and to kill and reap the child
process on every way out.

Public API:
    read_image, read_image_rgba, write_png, to_uint8, to_float32,
    VideoInfo, probe_video, iter_video_frames (-> VideoFrames),
    VideoWriter, write_video, read_audio, ffmpeg_exe.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError, LimitExceeded

ImageSource = Union[str, os.PathLike, bytes, bytearray, np.ndarray, Image.Image]
PathLike = Union[str, os.PathLike]

_PROBE_TIMEOUT_S = 60
_DECODE_TIMEOUT_S = 600
_STDERR_TAIL_CHARS = 2000
# Modes whose pixels carry an alpha channel (PA/La/RGBa are rarer variants).
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# 16-bit greyscale modes: Pillow's RGB conversion would clip them, so we rescale.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Failures Pillow raises on broken data (some plugins raise SyntaxError or struct.error).
_PIL_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ----------------------------------------------------------------------------- images


def read_image(source: ImageSource, max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image into a ``uint8`` RGB array (H x W x 3).

    source: a file path, the file's bytes, a PIL image, or a ``uint8`` array
        (H x W grey, H x W x 1, x 3 RGB or x 4 RGBA).
    max_pixels: refuse (``LimitExceeded``) images with more pixels than this,
        judged from the header before decoding.

    EXIF orientation is applied; grey, palette, CMYK and 16-bit images become
    RGB. Transparent images are composited on white (not alpha-dropped:
    transparent pixels often hold arbitrary colours, white is what a viewer
    shows). Use ``read_image_rgba`` to keep the alpha channel.
    """
    rgb, alpha = read_image_rgba(source, max_pixels=max_pixels)
    if alpha is None:
        return rgb
    return _composite_on_white(rgb, alpha)


def read_image_rgba(
    source: ImageSource, max_pixels: Optional[int] = None
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Like ``read_image`` but keeps transparency apart.

    Returns ``(rgb, alpha)``: ``rgb`` is H x W x 3 ``uint8`` (the stored colours,
    not composited) and ``alpha`` is H x W ``uint8``, or None when the image has
    no transparency (no alpha channel, or a fully opaque one).
    """
    if isinstance(source, np.ndarray):
        return _split_array(source, max_pixels)
    if isinstance(source, Image.Image):
        name = "The image"
        opener = functools.partial(contextlib.nullcontext, source)  # the caller's image stays open
    elif isinstance(source, (bytes, bytearray)):
        name = "The uploaded image"
        if not source:
            raise InputError(f"{name} is empty; it isn't a readable image.")
        opener = functools.partial(Image.open, io.BytesIO(bytes(source)))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = f"The file {path.name}"
        _require_file(path)
        opener = functools.partial(Image.open, path)
    else:
        raise TypeError(f"read_image takes a path, bytes, a PIL image or an array, not {type(source).__name__}")

    try:
        with opener() as image:  # opening reads the header only
            return _decode_pil(image, name, max_pixels)
    except Image.DecompressionBombError as error:
        raise _bomb_refusal(name, error, max_pixels) from None
    except (UnidentifiedImageError, *_PIL_DECODE_ERRORS) as error:
        raise InputError(f"{name} isn't a readable image ({_short_reason(error)}).") from None


def write_png(array: np.ndarray, path: PathLike) -> Path:
    """Write a ``uint8`` array (H x W grey, H x W x 1, x 3 RGB or x 4 RGBA) as PNG."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_png needs uint8 pixels, got {array.dtype}; use to_uint8 first")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f"write_png needs H x W, H x W x 3 or H x W x 4, got shape {array.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")
    return path


def to_uint8(array: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Map floats in [low, high] to ``uint8`` 0..255 (clipped, rounded); shape unchanged.

    Networks here output [-1, 1] (tanh) by default; pass ``low=0`` for [0, 1].
    """
    scaled = (np.asarray(array, dtype=np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_float32(image: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Map ``uint8`` 0..255 to ``float32`` in [low, high]; the inverse of ``to_uint8``."""
    return np.asarray(image, dtype=np.float32) * ((high - low) / 255.0) + low


def _decode_pil(image: Image.Image, name: str, max_pixels: Optional[int]):
    width, height = image.size
    _check_pixels(name, width, height, max_pixels)
    image = ImageOps.exif_transpose(image)  # decodes the pixels
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        rgb, alpha = np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
        return rgb, (None if alpha.min() == 255 else alpha)
    if image.mode in _SIXTEEN_BIT_MODES:
        grey16 = np.asarray(image, dtype=np.float32)
        grey = np.clip(np.rint(grey16 / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    return np.asarray(image.convert("RGB")).copy(), None


def _split_array(array: np.ndarray, max_pixels: Optional[int]):
    name = "The image array"
    if array.dtype != np.uint8:
        raise InputError(f"{name} has pixel type {array.dtype}; expected 8-bit (uint8) pixels.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        _check_pixels(name, array.shape[1], array.shape[0], max_pixels)
        return np.repeat(array[:, :, None], 3, axis=2), None
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError(f"{name} has shape {array.shape}; expected H x W, H x W x 3 (RGB) or H x W x 4 (RGBA).")
    _check_pixels(name, array.shape[1], array.shape[0], max_pixels)
    rgb = np.ascontiguousarray(array[:, :, :3])
    if array.shape[2] == 3:
        return rgb, None
    alpha = np.ascontiguousarray(array[:, :, 3])
    return rgb, (None if alpha.min() == 255 else alpha)


def _composite_on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    weight = alpha.astype(np.uint32)[:, :, None]
    blended = rgb.astype(np.uint32) * weight + 255 * (255 - weight)
    return ((blended + 127) // 255).astype(np.uint8)


def _check_pixels(name: str, width: int, height: int, max_pixels: Optional[int]) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise LimitExceeded(
            f"{name} is {width}x{height} = {_megapixels(width * height)} megapixels; "
            f"the limit is {_megapixels(max_pixels)} megapixels."
        )


def _bomb_refusal(name: str, error: Exception, max_pixels: Optional[int]) -> LimitExceeded:
    # Pillow refuses images above 2 * Image.MAX_IMAGE_PIXELS before we see their size;
    # its message carries the pixel count, which we reuse.
    guard = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None
    limit = min(x for x in (max_pixels, guard) if x) if (max_pixels or guard) else None
    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{_megapixels(int(found.group(1)))} megapixels" if found else "too large to open safely"
    limit_text = f"; the limit is {_megapixels(limit)} megapixels" if limit else ""
    return LimitExceeded(f"{name} is {size}{limit_text}.")


def _megapixels(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.1f}" if value >= 0.1 else f"{value:.3g}"


# ----------------------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as the frames will be delivered (after rotation metadata).

    fps: the stream's frame rate as an exact fraction (e.g. 30000/1001).
    n_frames: estimated as round(duration_s * fps); the real count can differ by a frame.
    duration_s: the container's duration in seconds.
    codec, pixel_format: the video stream's, e.g. "h264", "yuv420p".
    """

    width: int
    height: int
    fps: Fraction
    n_frames: int
    duration_s: float
    has_audio: bool
    codec: str
    pixel_format: str


def probe_video(path: PathLike) -> VideoInfo:
    """Read a video's size, frame rate, length and audio presence.

    Decodes the first frame too, so a file that is named like a video but does
    not decode is refused here (``InputError``) rather than half-way through.
    """
    path = Path(path)
    name = f"The file {path.name}"
    _require_file(path)
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", _ffmpeg_path(path),
               "-map", "0:v:0?", "-frames:v", "1", "-vf", "showinfo", "-f", "null", "-"]
    log = _run_ffmpeg(command, name, "a readable video", _PROBE_TIMEOUT_S).stderr
    header = _input_header(log)
    if header is None:
        raise InputError(f"{name} isn't a readable video ({_ffmpeg_reason(log, path)}).")
    container = re.search(r"Input #0, ([^,]+)", header).group(1)
    video_line = _stream_line(header, "Video")
    if video_line is None:
        raise InputError(f"{name} has no video track; it isn't a readable video.")
    if container == "image2" or container.endswith("_pipe"):
        raise InputError(f"{name} is a still image, not a video.")
    frame_size = re.search(r"\] n: *0 .* s:(\d+)x(\d+) ", log)
    if frame_size is None:
        raise InputError(f"{name} isn't a readable video: no frame could be decoded ({_ffmpeg_reason(log, path)}).")
    width, height = int(frame_size.group(1)), int(frame_size.group(2))

    fps = _frame_rate(log, video_line)
    if fps is None:
        raise InputError(f"{name} doesn't state a frame rate, so it can't be processed as a video.")
    duration = _duration_s(header)
    if duration is None:  # raw streams have no container duration: count packets
        n_frames = _count_video_packets(path, name)
        duration = float(n_frames / fps)
    else:
        n_frames = max(1, round(duration * fps))
    codec, pixel_format = _codec_and_pixel_format(video_line)
    return VideoInfo(width=width, height=height, fps=fps, n_frames=n_frames, duration_s=duration,
                     has_audio=_stream_line(header, "Audio") is not None,
                     codec=codec, pixel_format=pixel_format)


class VideoFrames:
    """An iterator over a video's frames (H x W x 3 ``uint8`` RGB, one new array each).

    ``info`` (a ``VideoInfo``) is known before the first frame, so callers can
    report progress against ``info.n_frames``. ffmpeg starts on the first
    ``next()`` and is killed and reaped when iteration ends, fails, or stops
    early (``close()``, leaving a ``with`` block, or garbage collection).
    Frames come as decoded: none are duplicated or dropped to force a constant rate.
    """

    def __init__(self, path: Path, info: VideoInfo):
        self.path = path
        self.info = info
        # The generator must not refer back to self, or dropping this object would
        # leave ffmpeg running until the cycle collector runs.
        self._frames = _decode_frames(path, info.width, info.height)

    def __iter__(self) -> "VideoFrames":
        return self

    def __next__(self) -> np.ndarray:
        return next(self._frames)

    def close(self) -> None:
        self._frames.close()

    def __enter__(self) -> "VideoFrames":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _decode_frames(path: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield RGB frames from ffmpeg's raw output; kills and reaps ffmpeg however it ends."""
    # The explicit scale pins the output size even if the stream changes size midway.
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", _ffmpeg_path(path),
               "-map", "0:v:0", "-vf", f"scale={width}:{height}", "-pix_fmt", "rgb24",
               "-f", "rawvideo", "-"]
    # stderr goes to a file, not a pipe: a chatty ffmpeg can never block on it.
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=stderr_file)
        try:
            frame_index = 0
            while True:
                frame = np.empty((height, width, 3), dtype=np.uint8)
                filled = _read_into(process.stdout, memoryview(frame).cast("B"))
                if filled == 0:
                    break
                if filled < frame.nbytes:
                    raise InputError(f"The file {path.name} ends in the middle of frame {frame_index + 1}.")
                frame_index += 1
                yield frame
            if process.wait() != 0:
                raise InputError(
                    f"The file {path.name} could not be decoded after frame {frame_index} "
                    f"({_ffmpeg_reason(_read_log(stderr_file), path)})."
                )
        finally:
            _stop(process)
            process.stdout.close()


def iter_video_frames(
    path: PathLike, max_seconds: Optional[float] = None, max_pixels: Optional[int] = None
) -> VideoFrames:
    """Stream a video's frames as H x W x 3 ``uint8`` RGB arrays at constant memory.

    Probes first and refuses, before decoding anything, a file that isn't a
    video (``InputError``), one longer than ``max_seconds`` or with frames over
    ``max_pixels`` (``LimitExceeded``). The result's ``info`` gives the frame
    count for progress.
    """
    path = Path(path)
    info = probe_video(path)
    name = f"The video {path.name}"
    if max_seconds is not None and info.duration_s > max_seconds:
        raise LimitExceeded(f"{name} is {info.duration_s:.1f} seconds long; the limit is {max_seconds:g} seconds.")
    _check_pixels(f"{name} (each frame)", info.width, info.height, max_pixels)
    return VideoFrames(path, info)


class VideoWriter:
    """Write RGB frames into a browser-playable H.264 (yuv420p) MP4, as they come.

    fps: the exact rate to keep; pass the source's ``VideoInfo.fps`` (a Fraction
        such as 30000/1001), an int, a float or a string like "30000/1001".
    audio_from: a media file whose first audio track is muxed in (as AAC);
        ignored when it has none. The audio is cut to the video's length.
    crf: x264 quality (lower is better; 18 is visually near-lossless).

    Frames are H x W x 3 ``uint8``, all the same size. yuv420p needs even
    sides, so an odd width or height is padded by one row/column that repeats
    the edge (nothing is scaled); ``output_size`` says what was written.
    Use as a context manager: on an exception ffmpeg is killed and the partial
    file removed.
    """

    def __init__(self, path: PathLike, fps: Union[Fraction, int, float, str],
                 audio_from: Optional[PathLike] = None, crf: int = 18):
        self.path = Path(path)
        self.fps = _as_frame_rate(fps)
        self.crf = crf
        self.frame_size: Optional[Tuple[int, int]] = None  # (width, height) as given
        self.output_size: Optional[Tuple[int, int]] = None  # (width, height) as encoded
        self.frames_written = 0
        self._audio_path = _audio_source(Path(audio_from)) if audio_from is not None else None
        self._process: Optional[subprocess.Popen] = None
        self._stderr_file = None

    @property
    def padded(self) -> bool:
        """True when odd frame sides were padded to even ones."""
        return self.frame_size is not None and self.frame_size != self.output_size

    def write(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"VideoWriter needs H x W x 3 uint8 frames, got {frame.dtype} {frame.shape}")
        height, width = frame.shape[:2]
        if self._process is None:
            self._start(width, height)
        elif (width, height) != self.frame_size:
            raise ValueError(f"frame {self.frames_written + 1} is {width}x{height}; "
                             f"earlier frames were {self.frame_size[0]}x{self.frame_size[1]}")
        if self.padded:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        try:
            self._process.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, OSError):
            self._process.wait()
            raise RuntimeError(f"ffmpeg stopped while writing {self.path.name}: {self._log_tail()}") from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and return its path."""
        if self._process is None:
            raise ValueError(f"no frames were written to {self.path.name}; a video needs at least one")
        try:
            self._process.stdin.close()
            returncode = self._process.wait()
        except BaseException:
            self.abort()
            raise
        log = self._log_tail()
        self._release()
        if returncode != 0:
            _unlink(self.path)
            raise RuntimeError(f"ffmpeg failed to write {self.path.name}: {log}")
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg at once and remove the partial file."""
        if self._process is not None:
            _stop(self._process)
            self._release()
            _unlink(self.path)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _start(self, width: int, height: int) -> None:
        self.frame_size = (width, height)
        self.output_size = (width + width % 2, height + height % 2)
        out_width, out_height = self.output_size
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{out_width}x{out_height}",
                   "-framerate", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "pipe:0"]
        if self._audio_path is not None:
            command += ["-i", _ffmpeg_path(self._audio_path)]
        command += ["-map", "0:v:0"]
        if self._audio_path is not None:
            command += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-shortest"]
        # Tag BT.709 and convert with it, so browsers and ffmpeg agree on the colours.
        command += ["-vf", "scale=out_color_matrix=bt709:out_range=tv,"
                           "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709",
                    "-c:v", "libx264", "-crf", str(self.crf), "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart", "-f", "mp4", _ffmpeg_path(self.path)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr_file = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr_file)

    def _log_tail(self) -> str:
        text = _read_log(self._stderr_file) if self._stderr_file is not None else ""
        return text.strip()[-_STDERR_TAIL_CHARS:] or "no message"

    def _release(self) -> None:
        if self._process is not None and self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None


def write_video(frames: Iterable[np.ndarray], path: PathLike, fps: Union[Fraction, int, float, str],
                audio_from: Optional[PathLike] = None) -> Path:
    """Write an iterable of H x W x 3 ``uint8`` frames as H.264 MP4 (see ``VideoWriter``)."""
    with VideoWriter(path, fps, audio_from=audio_from) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.path


def _audio_source(path: Path) -> Optional[Path]:
    """The file to take audio from, or None when it has no audio track."""
    name = f"The file {path.name}"
    _require_file(path)
    header = _input_header(_read_header_log(path, name))
    if header is None:
        raise InputError(f"{name} isn't a readable media file, so its audio can't be used.")
    return path if _stream_line(header, "Audio") is not None else None


def _as_frame_rate(fps: Union[Fraction, int, float, str]) -> Fraction:
    if isinstance(fps, float):
        # Floats like 29.97002997 come from 30000/1001: recover the small fraction.
        rate = Fraction(fps).limit_denominator(10000)
    else:
        rate = Fraction(fps)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return rate


def _frame_rate(log: str, video_line: str) -> Optional[Fraction]:
    # showinfo reports the rate ffmpeg itself uses for the stream, as a fraction.
    found = re.search(r"config in time_base: \d+/\d+, frame_rate: (\d+)/(\d+)", log)
    if found and int(found.group(1)) > 0 and int(found.group(2)) > 0:
        return Fraction(int(found.group(1)), int(found.group(2)))
    for unit in ("fps", "tbr"):
        found = re.search(r"([\d.]+)(k?) " + unit, video_line)
        if found and float(found.group(1)) > 0:
            return Fraction(found.group(1)) * (1000 if found.group(2) else 1)
    return None


def _count_video_packets(path: Path, name: str) -> int:
    # Demuxing without decoding is fast; the last progress line holds the count.
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", _ffmpeg_path(path),
               "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    log = _run_ffmpeg(command, name, "a readable video", _DECODE_TIMEOUT_S).stderr
    counts = re.findall(r"frame= *(\d+)", log)
    if not counts or int(counts[-1]) == 0:
        raise InputError(f"{name} isn't a readable video: it holds no frames.")
    return int(counts[-1])


# ----------------------------------------------------------------------------- audio


def read_audio(path: PathLike, sample_rate: int = 16000, max_seconds: Optional[float] = None) -> np.ndarray:
    """Decode the first audio track of a file (WAV, MP3, a video, ...) to mono ``float32``.

    Resampled to ``sample_rate``; channels are averaged (as librosa does), and
    samples lie in [-1, 1]. Refuses files longer than ``max_seconds``
    (``LimitExceeded``, judged from the header) and files without readable
    audio (``InputError``).
    """
    path = Path(path)
    name = f"The file {path.name}"
    _require_file(path)
    log = _read_header_log(path, name)
    header = _input_header(log)
    if header is None:
        raise InputError(f"{name} isn't a readable audio file ({_ffmpeg_reason(log, path)}).")
    if _stream_line(header, "Audio") is None:
        raise InputError(f"{name} has no audio track.")
    duration = _duration_s(header)
    if max_seconds is not None and duration is not None and duration > max_seconds:
        raise LimitExceeded(f"The audio {path.name} is {duration:.1f} seconds long; the limit is {max_seconds:g} seconds.")
    # rematrix_maxval=1 normalises the downmix, so stereo becomes (left + right) / 2.
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", _ffmpeg_path(path),
               "-map", "0:a:0", "-af", f"aresample=osr={int(sample_rate)}:ochl=mono:rematrix_maxval=1",
               "-c:a", "pcm_f32le", "-f", "f32le", "-"]
    result = _run_ffmpeg(command, name, "readable audio", _DECODE_TIMEOUT_S)
    if result.returncode != 0:
        raise InputError(f"{name} isn't readable audio ({_ffmpeg_reason(result.stderr, path)}).")
    samples = np.frombuffer(result.stdout, dtype="<f4")
    if samples.size == 0:
        raise InputError(f"{name} holds no audio samples.")
    return samples.astype(np.float32)  # a writable native-order copy


# ----------------------------------------------------------------------------- ffmpeg plumbing


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"The file {path.name} doesn't exist or isn't a file.")


def _ffmpeg_path(path: Path) -> str:
    # An absolute path can't be mistaken for an option ("-x") or a protocol ("http:").
    return os.path.abspath(path)


def _run_ffmpeg(command, name: str, wanted: str, timeout_s: float) -> subprocess.CompletedProcess:
    """Run ffmpeg to completion (run() kills the child on timeout or interrupt)."""
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise InputError(f"{name} took longer than {timeout_s} seconds to read; it isn't {wanted}.") from None
    return subprocess.CompletedProcess(command, result.returncode, result.stdout,
                                       result.stderr.decode("utf-8", "replace"))


def _read_header_log(path: Path, name: str) -> str:
    # With no output named, ffmpeg prints the input header and exits with status 1.
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", _ffmpeg_path(path)]
    return _run_ffmpeg(command, name, "a readable media file", _PROBE_TIMEOUT_S).stderr


def _input_header(log: str) -> Optional[str]:
    """The 'Input #0' block of an ffmpeg log, or None when ffmpeg couldn't open the input."""
    start = log.find("Input #0")
    if start < 0:
        return None
    ends = [i for i in (log.find("Stream mapping:", start), log.find("Output #0", start)) if i >= 0]
    return log[start:min(ends)] if ends else log[start:]


def _stream_line(header: str, kind: str) -> Optional[str]:
    found = re.search(r"^\s*Stream #0:\d+.*?: " + kind + r": .*$", header, re.MULTILINE)
    return found.group(0) if found else None


def _duration_s(header: str) -> Optional[float]:
    found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", header)
    if not found:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _codec_and_pixel_format(video_line: str) -> Tuple[str, str]:
    description = video_line.split("Video: ", 1)[1]
    fields = re.split(r",\s*(?![^()]*\))", description)  # commas outside parentheses
    codec = fields[0].split()[0]
    pixel_format = fields[1].split("(")[0].strip() if len(fields) > 1 else "unknown"
    return codec, pixel_format


def _ffmpeg_reason(log: str, path: Path) -> str:
    """ffmpeg's last error line, without our temporary directory in it."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith(("frame=", "size=", "[out#", "Press "))]
    reason = errors[-1] if errors else "ffmpeg gave no reason"
    reason = reason.replace(os.path.abspath(path), path.name)
    return reason[:300]


def _short_reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text[:200]


def _read_into(stream, buffer: memoryview) -> int:
    """Fill buffer from stream; returns bytes read (less than len(buffer) only at end of stream)."""
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return filled


def _read_log(stderr_file) -> str:
    stderr_file.flush()
    stderr_file.seek(0)
    return stderr_file.read().decode("utf-8", "replace")


def _stop(process: subprocess.Popen) -> None:
    """Kill ffmpeg if it still runs, and always reap it (no zombies)."""
    if process.poll() is None:
        process.kill()
    process.wait()


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
