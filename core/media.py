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

Uploads are read defensively: Pillow may open only the common image formats
(never EPS, which would run Ghostscript), and ffmpeg may read an upload only
through the ``file`` protocol and only with the demuxers of ordinary video and
audio containers, so a playlist or manifest (HLS, DASH, ffconcat) that points
at other files is refused before anything it names is opened.

Public API:
    read_image, read_image_rgba, read_data_url, set_image_pixel_cap, write_png,
    to_uint8, to_float32, VideoInfo, probe_video, iter_video_frames (-> VideoFrames),
    VideoWriter, write_video, read_audio, ffmpeg_exe, MAX_FPS.
"""
from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import functools
import io
import math
import os
import re
import subprocess
import tempfile
import urllib.parse
import warnings
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
_MUX_TIMEOUT_S = 600  # joining a finished video and its sound: a copy of the frames, an encode of the sound
# Modes whose pixels carry an alpha channel (PA/La/RGBa are rarer variants).
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# 16-bit greyscale modes: Pillow's RGB conversion would clip them, so we rescale.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Failures Pillow raises on broken data (some plugins raise SyntaxError or struct.error).
_PIL_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError)
# The only formats Pillow may try on an upload: common photo and web formats. EPS
# (which Pillow renders by running Ghostscript), WMF, PSD, FITS and the other
# plugins are never tried.
Image.init()
_IMAGE_FORMATS = tuple(name for name in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "PPM")
                       if name in Image.OPEN)
_PILLOW_MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS  # Pillow's own default, restored by set_image_pixel_cap(None)
_image_pixel_cap: Optional[int] = None  # set_image_pixel_cap's value, or None

# Video frame rates above this are refused (probe_video, iter_video_frames): every
# frame costs a network pass, and a 1 s clip at 1000 fps is 1000 of them.
MAX_FPS = 60
# Frames a decode may deliver beyond max_seconds * fps (rounding, a last frame).
_FRAME_TOLERANCE = 1
# Seconds of audio decoded beyond max_seconds before a longer-than-its-header file is refused.
_AUDIO_TOLERANCE_S = 0.5

# The demuxers ffmpeg may use on an upload (-format_whitelist), by the names
# `ffmpeg -demuxers` lists; a demuxer listed under several names, like
# "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm", is allowed by any one of them.
# Left out on purpose: everything that opens other files or URLs (hls, dash,
# concat, imf, webm_dash_manifest, sdp, rtsp, rtp, data, ...), image2 (which
# expands %d patterns into file sequences) and the still-image pipes, and the
# long tail of rare demuxers nobody uploads.
_ACCEPTED_DEMUXERS = (
    # video containers
    "mov",        # mov,mp4,m4a,3gp,3g2,mj2
    "matroska",   # matroska,webm
    "avi", "flv", "mpegts", "mpeg", "ogg", "asf", "ivf", "dv", "gif",
    # video elementary streams without a container
    "h264", "hevc", "m4v",
    # audio
    "wav", "mp3", "flac", "aac", "ac3", "eac3", "aiff", "caf", "amr",
)
# Options placed before every `-i` that reads an upload: only local files (and our
# own pipes) may be opened, and only by the demuxers above.
_UPLOAD_INPUT_OPTIONS = ("-protocol_whitelist", "file,pipe", "-format_whitelist", ",".join(_ACCEPTED_DEMUXERS))
# A decoder refuses to allocate a frame whose (row-aligned) size is over twice the
# pixel limit plus this: room for the alignment of narrow frames (up to 63 extra
# columns x 16384 rows), so the decoder itself never refuses a frame within the limit.
_DECODER_PIXEL_SLACK = 1 << 20


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ----------------------------------------------------------------------------- images


def set_image_pixel_cap(pixels: Optional[int]) -> Optional[int]:
    """Cap the size of every image this process decodes; returns the previous cap.

    ``read_image``/``read_image_rgba`` then refuse (``LimitExceeded``) images over
    ``pixels`` from their header, whatever ``max_pixels`` they are given. Pillow's
    own guard is set for every other caller too (Gradio decoding an upload, for
    one): Pillow refuses images over ``2 * Image.MAX_IMAGE_PIXELS`` as it opens
    them, so ``Image.MAX_IMAGE_PIXELS`` becomes half the cap (rounded up), and the
    ``DecompressionBombWarning`` it would print between half and the whole cap is
    silenced. ``None`` restores Pillow's default and removes the cap.
    """
    global _image_pixel_cap
    previous = _image_pixel_cap
    if pixels is None:
        _image_pixel_cap = None
        Image.MAX_IMAGE_PIXELS = _PILLOW_MAX_IMAGE_PIXELS
        return previous
    pixels = int(pixels)
    if pixels <= 0:
        raise ValueError(f"the image pixel cap must be positive, got {pixels}")
    _image_pixel_cap = pixels
    Image.MAX_IMAGE_PIXELS = (pixels + 1) // 2
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return previous


def read_data_url(text: str, max_bytes: int, max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image given as a ``data:`` URL into ``uint8`` RGB (H x W x 3).

    A URL whose payload would decode to more than ``max_bytes`` is refused
    (``LimitExceeded``), judged from the length of the text before anything is
    decoded. Base64 and percent-encoded payloads are accepted; a declared media
    type other than ``image/...`` is refused. The bytes then go through
    ``read_image`` with the same checks as a file (``max_pixels``, the pixel cap,
    the accepted formats).
    """
    name = "The image in the data URL"
    if not isinstance(text, str):
        raise TypeError(f"read_data_url takes a str, not {type(text).__name__}")
    text = text.strip()
    if not text[:5].lower() == "data:":
        raise InputError(f"{name} isn't a data: URL (it should start with 'data:image/...').")
    comma = text.find(",")
    if comma < 0:
        raise InputError(f"{name} is malformed: a data: URL needs a comma before its data.")
    meta = [part.strip().lower() for part in text[5:comma].split(";")]
    payload_chars = len(text) - comma - 1
    is_base64 = "base64" in meta[1:]
    # Base64 carries 3 bytes in 4 characters; a percent-encoded byte takes 1 to 3.
    at_most = payload_chars * 3 // 4 if is_base64 else payload_chars
    if at_most > max_bytes:
        raise LimitExceeded(f"{name} holds up to {_format_bytes(at_most)}; the limit is {_format_bytes(max_bytes)}.")
    if meta[0] and not meta[0].startswith("image/"):
        raise InputError(f"{name} holds {meta[0]}, not an image.")
    payload = text[comma + 1:]
    try:
        if is_base64:
            data = base64.b64decode("".join(payload.split()), validate=True)
        else:
            data = urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InputError(f"{name} isn't valid base64, so it isn't a readable image.") from None
    if not data:
        raise InputError(f"{name} is empty; it isn't a readable image.")
    if len(data) > max_bytes:  # only reachable with unusual padding; kept exact anyway
        raise LimitExceeded(f"{name} holds {_format_bytes(len(data))}; the limit is {_format_bytes(max_bytes)}.")
    try:
        return read_image(data, max_pixels=max_pixels)
    except InputError as error:
        raise type(error)(str(error).replace("The uploaded image", name, 1)) from None


def read_image(source: ImageSource, max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image into a ``uint8`` RGB array (H x W x 3).

    source: a file path, the file's bytes, a PIL image, or a ``uint8`` array
        (H x W grey, H x W x 1, x 3 RGB or x 4 RGBA).
    max_pixels: refuse (``LimitExceeded``) images with more pixels than this,
        judged from the header before decoding. The cap set by
        ``set_image_pixel_cap`` applies too, whichever is lower.

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
    path = None
    if isinstance(source, Image.Image):
        name = "The image"
        opener = functools.partial(contextlib.nullcontext, source)  # the caller's image stays open
    elif isinstance(source, (bytes, bytearray)):
        name = "The uploaded image"
        if not source:
            raise InputError(f"{name} is empty; it isn't a readable image.")
        opener = functools.partial(Image.open, io.BytesIO(bytes(source)), formats=_IMAGE_FORMATS)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = f"The file {path.name}"
        _require_file(path)
        if path.stat().st_size == 0:
            raise InputError(f"{name} isn't a readable image (the file is empty).")
        opener = functools.partial(Image.open, path, formats=_IMAGE_FORMATS)
    else:
        raise TypeError(f"read_image takes a path, bytes, a PIL image or an array, not {type(source).__name__}")

    try:
        with opener() as image:  # opening reads the header only
            return _decode_pil(image, name, max_pixels)
    except Image.DecompressionBombError as error:
        raise _bomb_refusal(name, error, max_pixels) from None
    except (UnidentifiedImageError, *_PIL_DECODE_ERRORS) as error:
        reason = _short_reason(error)
        if path is not None:  # Pillow names the file by its full path: keep our folders to ourselves
            reason = reason.replace(os.path.abspath(path), path.name).replace(str(path), path.name)
        raise InputError(f"{name} isn't a readable image ({reason}).") from None


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


# Formats a result can be written in: name -> (file extension, Pillow's format).
IMAGE_FORMATS = {"png": (".png", "PNG"), "jpeg": (".jpg", "JPEG"), "webp": (".webp", "WEBP")}


def write_image(array: np.ndarray, path: PathLike, fmt: str = "png", quality: int = 92) -> Path:
    """Write a ``uint8`` array as PNG (lossless), JPEG or WebP at `quality` (1-100; WebP at 100 is lossless).

    JPEG has no transparency: an H x W x 4 array is refused for it (flatten it first, see ``flatten_alpha``).
    `path` gets the format's extension.
    """
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; one of {', '.join(IMAGE_FORMATS)}")
    extension, pillow_format = IMAGE_FORMATS[fmt]
    path = Path(path).with_suffix(extension)
    if fmt == "png":
        return write_png(array, path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_image needs uint8 pixels, got {array.dtype}; use to_uint8 first")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if fmt == "jpeg" and array.ndim == 3 and array.shape[2] == 4:
        raise ValueError("JPEG has no transparency: flatten the alpha channel first")
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be from 1 to 100, got {quality}")
    image = Image.fromarray(np.ascontiguousarray(array))
    if fmt == "webp" and image.mode == "L":
        image = image.convert("RGB")  # WebP stores colour only
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": quality}
    if fmt == "jpeg":
        options.update(optimize=True, subsampling=0 if quality >= 90 else 2)  # keep colour edges sharp at high quality
    else:
        options.update(lossless=quality == 100, method=4)
    image.save(path, format=pillow_format, **options)
    return path


def flatten_alpha(rgba: np.ndarray, background: int = 255) -> np.ndarray:
    """An H x W x 4 ``uint8`` image composited over a plain background (white by default): H x W x 3."""
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    colours = rgba[:, :, :3].astype(np.float32)
    return np.rint(colours * alpha + background * (1.0 - alpha)).astype(np.uint8)


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
    _check_pixels(name, width, height, _pixel_limit(max_pixels))
    image = ImageOps.exif_transpose(image)  # decodes the pixels
    transparency = image.info.get("transparency")
    if image.mode in _SIXTEEN_BIT_MODES:
        # Pillow's RGB conversion would clip 16-bit greys at 255: rescale them instead.
        grey16 = np.asarray(image, dtype=np.float32)
        grey = np.clip(np.rint(grey16 / 257.0), 0, 255).astype(np.uint8)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        if isinstance(transparency, int):  # a 16-bit grey colour key (PNG tRNS)
            alpha = np.where(grey16 == transparency, 0, 255).astype(np.uint8)
            return rgb, (None if alpha.min() == 255 else alpha)
        return rgb, None
    if image.mode == "RGB" and isinstance(transparency, tuple) and max(transparency) > 255:
        # A 16-bit RGB PNG's colour key: Pillow keeps only the high byte of each
        # sample, so the key is matched on the high bytes (nearest we can get).
        rgb = np.asarray(image).copy()
        alpha = np.where(np.all(rgb == np.array([v >> 8 for v in transparency], np.uint8), axis=2),
                         0, 255).astype(np.uint8)
        return rgb, (None if alpha.min() == 255 else alpha)
    if image.mode in _ALPHA_MODES or transparency is not None:
        rgba = np.asarray(image.convert("RGBA"))
        rgb, alpha = np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
        return rgb, (None if alpha.min() == 255 else alpha)
    return np.asarray(image.convert("RGB")).copy(), None


def _split_array(array: np.ndarray, max_pixels: Optional[int]):
    name = "The image array"
    max_pixels = _pixel_limit(max_pixels)
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


def _pixel_limit(max_pixels: Optional[int]) -> Optional[int]:
    """The lower of max_pixels and the process-wide cap (set_image_pixel_cap), or None."""
    limits = [x for x in (max_pixels, _image_pixel_cap) if x is not None]
    return min(limits) if limits else None


def _bomb_refusal(name: str, error: Exception, max_pixels: Optional[int]) -> LimitExceeded:
    # Pillow refuses images above 2 * Image.MAX_IMAGE_PIXELS before we see their size;
    # its message carries the pixel count, which we reuse.
    guard = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None
    limits = [x for x in (_pixel_limit(max_pixels), guard) if x]
    limit = min(limits) if limits else None
    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{_megapixels(int(found.group(1)))} megapixels" if found else "too large to open safely"
    limit_text = f"; the limit is {_megapixels(limit)} megapixels" if limit else ""
    return LimitExceeded(f"{name} is {size}{limit_text}.")


def _megapixels(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.1f}" if value >= 0.1 else f"{value:.3g}"


def _format_bytes(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1e6:.1f} MB"
    if count >= 1_000:
        return f"{count / 1e3:.1f} KB"
    return f"{count} bytes"


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


def probe_video(path: PathLike, max_fps: Optional[float] = MAX_FPS,
                max_pixels: Optional[int] = None) -> VideoInfo:
    """Read a video's size, frame rate, length and audio presence.

    Decodes the first frame too, so a file that is named like a video but does
    not decode is refused here (``InputError``) rather than half-way through.
    Refuses (``LimitExceeded``) a frame rate above ``max_fps`` (``MAX_FPS`` unless
    given; None for no limit) and, when ``max_pixels`` is given, a first frame
    with more pixels (the decoder is told not to allocate far larger ones).
    """
    path = Path(path)
    name = f"The file {path.name}"
    _require_file(path)
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", *_upload_input(path, max_pixels),
               "-map", "0:v:0?", "-frames:v", "1", "-vf", "showinfo=checksum=0", "-f", "null", "-"]
    log = _run_ffmpeg(command, name, "a readable video", _PROBE_TIMEOUT_S).stderr
    header = _input_header(log)
    if header is None:
        if _FORMAT_REFUSED in log and is_still_image(path):
            raise InputError(f"{name} is a still image, not a video.")
        raise InputError(f"{name} isn't a readable video ({_ffmpeg_reason(log, path)}).")
    container = re.search(r"Input #0, ([^,]+)", header).group(1)
    video_line = _stream_line(header, "Video")
    if video_line is None:
        raise InputError(f"{name} has no video track; it isn't a readable video.")
    if container == "image2" or container.endswith("_pipe"):
        raise InputError(f"{name} is a still image, not a video.")
    video_name = f"The video {path.name}"
    frame_size = re.search(r"\] n: *0 .* s:(\d+)x(\d+) ", log)
    if frame_size is None:
        refused = _DECODER_REFUSED.search(log)
        if refused is not None and max_pixels is not None:
            stated = re.search(r", (\d+)x(\d+)[ ,]", video_line) or refused
            _check_pixels(f"{video_name} (each frame)", int(stated.group(1)), int(stated.group(2)), max_pixels)
        raise InputError(f"{name} isn't a readable video: no frame could be decoded ({_ffmpeg_reason(log, path)}).")
    width, height = int(frame_size.group(1)), int(frame_size.group(2))
    _check_pixels(f"{video_name} (each frame)", width, height, max_pixels)

    fps = _frame_rate(log, video_line)
    if fps is None:
        raise InputError(f"{name} doesn't state a frame rate, so it can't be processed as a video.")
    if max_fps is not None and fps > max_fps:
        raise LimitExceeded(f"{video_name} runs at {_rate_text(fps)} frames per second; "
                            f"the limit is {_rate_text(max_fps)} frames per second.")
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

    The limits hold while decoding too, whatever the header said: iteration
    raises ``LimitExceeded`` (and stops ffmpeg) at the first frame over
    ``max_pixels``, the first frame timed more than ``max_seconds`` after the
    first, or the frame after ``ceil(max_seconds * fps) + 1`` of them.
    """

    def __init__(self, path: Path, info: VideoInfo, max_seconds: Optional[float] = None,
                 max_pixels: Optional[int] = None):
        self.path = path
        self.info = info
        # The generator must not refer back to self, or dropping this object would
        # leave ffmpeg running until the cycle collector runs.
        self._frames = _decode_frames(path, info, max_seconds=max_seconds, max_pixels=max_pixels)

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


def _decode_frames(path: Path, info: VideoInfo, max_seconds: Optional[float] = None,
                   max_pixels: Optional[int] = None) -> Iterator[np.ndarray]:
    """Yield RGB frames from ffmpeg's raw output; kills and reaps ffmpeg however it ends.

    How the limits are kept while decoding, whatever the header claimed:
    - Frames: "-fps_mode passthrough" delivers the frames that are there. The
      default would duplicate frames to fill timestamp gaps (packets at 0 s and
      80 s gave 2,001 frames at 25 fps). We count what comes out and stop after
      ceil(max_seconds * fps) + 1 frames.
    - Time and size: the output is scaled to the probed size (rawvideo has no
      frame headers, so every frame must have the same size for the framing to
      hold), which would hide a stream that changes size midway. A showinfo
      filter placed before the scale logs each decoded frame's own size and
      timestamp to stderr; stderr goes to a file (never a pipe, so ffmpeg can't
      block on it) that we follow with os.pread after every frame. showinfo
      logs a frame before the frame reaches our pipe, so a frame over
      max_pixels, or one timed past max_seconds after the first, is refused
      before it is handed out. No "-t" cap on the input: it would cut a sparse
      stream silently rather than refuse it.
    - Memory: "-max_pixels" makes the decoder refuse to allocate frames over
      about twice the limit; such a refusal in the log is a LimitExceeded too.
    """
    width, height, name = info.width, info.height, f"The video {path.name}"
    max_frames = None if max_seconds is None else math.ceil(Fraction(max_seconds) * info.fps) + _FRAME_TOLERANCE
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info",
               *_upload_input(path, max_pixels),
               "-map", "0:v:0", "-vf", f"showinfo=checksum=0,scale={width}:{height}",
               "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=stderr_file)
        log = _DecodeLog(stderr_file, name, max_seconds, max_pixels)
        try:
            frame_index = 0
            while True:
                frame = np.empty((height, width, 3), dtype=np.uint8)
                filled = _read_into(process.stdout, memoryview(frame).cast("B"))
                log.check()
                if filled == 0:
                    break
                if filled < frame.nbytes:
                    raise InputError(f"The file {path.name} ends in the middle of frame {frame_index + 1}.")
                frame_index += 1
                if max_frames is not None and frame_index > max_frames:
                    raise LimitExceeded(
                        f"{name} holds more than {max_frames} frames, more than {max_seconds:g} seconds "
                        f"at {_rate_text(info.fps)} frames per second; the limit is {max_seconds:g} seconds."
                    )
                yield frame
            returncode = process.wait()
            log.check()
            if (max_seconds is not None or max_pixels is not None) and log.frames_seen < frame_index:
                # Every frame passes showinfo: fewer lines than frames means its format changed.
                raise RuntimeError(f"ffmpeg's showinfo lines were not recognised ({log.frames_seen} for "
                                   f"{frame_index} frames), so per-frame limits could not be checked")
            if returncode != 0:
                raise InputError(
                    f"The file {path.name} could not be decoded after frame {frame_index} "
                    f"({_ffmpeg_reason(log.error_text(), path)})."
                )
        finally:
            _stop(process)
            process.stdout.close()


class _DecodeLog:
    """Follows the level-tagged stderr of a decoding ffmpeg as it grows, and keeps the limits.

    The file's offset is shared with ffmpeg (it writes through a duplicate of the
    descriptor), so it is read with os.pread and never seeked.
    """

    _FRAME = re.compile(r"\[info\] n: *\d+ pts: *\S+ pts_time:(\S+) .*? s:(\d+)x(\d+) ")

    def __init__(self, stderr_file, name: str, max_seconds: Optional[float], max_pixels: Optional[int]):
        self._fd = stderr_file.fileno()
        self._offset = 0
        self._partial = b""
        self._name = name
        self._max_seconds = max_seconds
        self._max_pixels = max_pixels
        self._frames = 0  # frames showinfo has seen
        self._first_pts: Optional[float] = None
        self._errors = collections.deque(maxlen=20)

    def check(self) -> None:
        """Read what ffmpeg logged since the last call; raise LimitExceeded at the first frame over a limit."""
        while True:
            chunk = os.pread(self._fd, 1 << 16, self._offset)
            if not chunk:
                return
            self._offset += len(chunk)
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            for line in lines:
                self._line(line.decode("utf-8", "replace"))

    @property
    def frames_seen(self) -> int:
        return self._frames

    def error_text(self) -> str:
        return "\n".join(self._errors)

    def _line(self, line: str) -> None:
        frame = self._FRAME.search(line)
        if frame is not None:
            self._frames += 1
            width, height = int(frame.group(2)), int(frame.group(3))
            if self._max_pixels is not None and width * height > self._max_pixels:
                raise LimitExceeded(
                    f"{self._name} changes frame size at frame {self._frames} to {width}x{height} = "
                    f"{_megapixels(width * height)} megapixels; the limit is {_megapixels(self._max_pixels)} megapixels."
                )
            pts = _float_or_none(frame.group(1))
            if self._max_seconds is not None and pts is not None:
                if self._first_pts is None:
                    self._first_pts = pts
                elif pts - self._first_pts > self._max_seconds:
                    raise LimitExceeded(
                        f"{self._name} is longer than its header says: frame {self._frames} is at "
                        f"{_seconds_text(pts - self._first_pts)} seconds; the limit is {self._max_seconds:g} seconds."
                    )
            return
        if "[error]" in line or "[fatal]" in line:
            self._errors.append(re.sub(r"\[(error|fatal)\] ", "", line))
            refused = _DECODER_REFUSED.search(line)
            if refused is not None and self._max_pixels is not None:
                width, height = int(refused.group(1)), int(refused.group(2))
                raise LimitExceeded(
                    f"{self._name} changes frame size midway to about {width}x{height} = "
                    f"{_megapixels(width * height)} megapixels; the limit is {_megapixels(self._max_pixels)} megapixels."
                )


def iter_video_frames(
    path: PathLike, max_seconds: Optional[float] = None, max_pixels: Optional[int] = None,
    max_fps: Optional[float] = MAX_FPS,
) -> VideoFrames:
    """Stream a video's frames as H x W x 3 ``uint8`` RGB arrays at constant memory.

    Probes first and refuses, before decoding anything, a file that isn't a
    video (``InputError``), one longer than ``max_seconds``, with frames over
    ``max_pixels`` or a frame rate over ``max_fps`` (``LimitExceeded``). The
    same limits hold while decoding, so a header that lies is caught at the
    first frame past them (see ``VideoFrames``). The result's ``info`` gives
    the frame count for progress.
    """
    path = Path(path)
    info = probe_video(path, max_fps=max_fps, max_pixels=max_pixels)
    name = f"The video {path.name}"
    if max_seconds is not None and info.duration_s > max_seconds:
        raise LimitExceeded(f"{name} is {info.duration_s:.1f} seconds long; the limit is {max_seconds:g} seconds.")
    return VideoFrames(path, info, max_seconds=max_seconds, max_pixels=max_pixels)


class VideoWriter:
    """Write RGB frames into a browser-playable H.264 (yuv420p) MP4, as they come.

    fps: the exact rate to keep; pass the source's ``VideoInfo.fps`` (a Fraction
        such as 30000/1001), an int, a float or a string like "30000/1001".
    audio_from: a media file whose first audio track is muxed in (as AAC);
        ignored when it has none. The audio is cut to the video's length, or padded with
        silence to it.
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
        # With audio, frames are encoded into a hidden file first and the sound joins them at the end,
        # cut or padded to exactly their length: mixed while encoding, a sound shorter than the video
        # ends the file (-shortest) or, padded, lets the muxer stretch the video past its frames.
        self._encoded_path = self.path.with_name(f".{self.path.name}.video.mp4") if self._audio_path else self.path
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
            _unlink(self._encoded_path)
            _unlink(self.path)
            raise RuntimeError(f"ffmpeg failed to write {self.path.name}: {log}")
        if self._audio_path is not None:
            self._add_audio()
        return self.path

    def _add_audio(self) -> None:
        """Join the encoded frames (copied as they are) and the sound, padded with silence or cut to the frames' length."""
        duration = self.frames_written * self.fps.denominator / self.fps.numerator
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", _ffmpeg_path(self._encoded_path),
                   *_upload_input(self._audio_path), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                   "-af", "apad", "-c:a", "aac", "-b:a", "128k", "-t", f"{duration:.6f}",
                   "-movflags", "+faststart", "-f", "mp4", _ffmpeg_path(self.path)]
        try:
            result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=_MUX_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            result = None
        _unlink(self._encoded_path)
        if result is None or result.returncode != 0:
            _unlink(self.path)
            reason = "it ran past its time limit" if result is None else result.stderr.strip()[-_STDERR_TAIL_CHARS:]
            raise RuntimeError(f"ffmpeg failed to add the sound to {self.path.name}: {reason or 'no message'}")

    def abort(self) -> None:
        """Stop ffmpeg at once and remove the partial file."""
        if self._process is not None:
            _stop(self._process)
            self._release()
            _unlink(self._encoded_path)
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
                   "-framerate", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "pipe:0", "-map", "0:v:0",
                   # Tag BT.709 and convert with it, so browsers and ffmpeg agree on the colours.
                   "-vf", "scale=out_color_matrix=bt709:out_range=tv,"
                          "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709",
                   "-c:v", "libx264", "-crf", str(self.crf), "-pix_fmt", "yuv420p",
                   "-movflags", "+faststart", "-f", "mp4", _ffmpeg_path(self._encoded_path)]
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
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", *_upload_input(path),
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
    (``LimitExceeded``, judged from the header, and again from what decodes:
    ffmpeg stops a second past the limit, so a lying header costs no more)
    and files without readable audio (``InputError``).
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
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *_upload_input(path),
               "-map", "0:a:0", "-af", f"aresample=osr={int(sample_rate)}:ochl=mono:rematrix_maxval=1",
               "-c:a", "pcm_f32le"]
    if max_seconds is not None:
        command += ["-t", f"{max_seconds + 1:g}"]  # caps the output, hence our memory
    command += ["-f", "f32le", "-"]
    result = _run_ffmpeg(command, name, "readable audio", _DECODE_TIMEOUT_S)
    if result.returncode != 0:
        raise InputError(f"{name} isn't readable audio ({_ffmpeg_reason(result.stderr, path)}).")
    samples = np.frombuffer(result.stdout, dtype="<f4")
    if samples.size == 0:
        raise InputError(f"{name} holds no audio samples.")
    if max_seconds is not None and samples.size > (max_seconds + _AUDIO_TOLERANCE_S) * sample_rate:
        raise LimitExceeded(f"The audio {path.name} is longer than its header says: more than "
                            f"{max_seconds + _AUDIO_TOLERANCE_S:g} seconds; the limit is {max_seconds:g} seconds.")
    return samples.astype(np.float32)  # a writable native-order copy


# ----------------------------------------------------------------------------- ffmpeg plumbing


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"The file {path.name} doesn't exist or isn't a file.")


def _ffmpeg_path(path: Path) -> str:
    # An absolute path can't be mistaken for an option ("-x") or a protocol ("http:").
    return os.path.abspath(path)


def _upload_input(path: Path, max_pixels: Optional[int] = None) -> list:
    """The input options and `-i` for an uploaded file: every ffmpeg read of an upload goes through here."""
    options = list(_UPLOAD_INPUT_OPTIONS)
    if max_pixels is not None:
        options += ["-max_pixels", str(2 * int(max_pixels) + _DECODER_PIXEL_SLACK)]
    return [*options, "-i", _ffmpeg_path(path)]


# What ffmpeg logs when -format_whitelist refuses the demuxer it detected.
_FORMAT_REFUSED = "Format not on whitelist"
# What a decoder logs when a frame is over its -max_pixels (the width may be row-aligned).
_DECODER_REFUSED = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


def is_still_image(path: Path) -> bool:
    """Whether Pillow recognises the file as an image (header only; nothing is decoded)."""
    try:
        with Image.open(path, formats=_IMAGE_FORMATS):
            return True
    except Image.DecompressionBombError:
        return True
    except Exception:
        return False


def _rate_text(rate) -> str:
    return f"{float(rate):.4g}"


def _seconds_text(seconds: float) -> str:
    return f"{seconds:.2f}".rstrip("0").rstrip(".")


def _float_or_none(text: str) -> Optional[float]:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


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
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", *_upload_input(path)]
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
    if _FORMAT_REFUSED in log:
        return ("its format isn't one of the video or audio containers accepted here; "
                "playlists and manifests that point at other files are refused")
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
