"""Image translation: one picture (or every frame of a video) through an image-to-image GAN.

``translate_image(model, image)`` returns a uint8 RGB array of the input's size;
``translate_video(model, source, dest)`` streams a video through the same steps,
keeping its frame rate and audio.

Pre- and post-processing follow PaddleGAN (its predictors in ``ppgan/apps`` and
the test pipelines of its configs): pixels are mapped to [-1, 1] as
(x - 127.5) / 127.5, outputs back with (y + 1) * 127.5, clipped and truncated
to uint8. How each network sees the picture (its `Framing`):

- CycleGAN (fully convolutional, stride 4): the picture at its own resolution,
  reflection-padded to a multiple of 4 and cropped back.
- AnimeGANv2: PaddleGAN's ``ResizeToScale((256, 256), 32)``: each side below
  256 becomes 256, a longer side is cut down to a multiple of 32 (bilinear);
  the result is resized back to the input's size and its mean brightness is
  matched to the input's (PaddleGAN's ``adjust_brightness``).
- pix2pix facades: trained on 256 x 256 pictures; the picture is resized to
  256 x 256 (bicubic as in its config) and the result resized back.
- U-GAT-IT selfie2anime and photo2cartoon (portraits): each face is found by
  ``core.face`` (BlazeFace), cut out upright as PaddleGAN's photo2cartoon frames
  it (eyes level, hair and chin in; 256 x 256), photo2cartoon's background is
  whitened by its face segmentation (FCN-HRNet-W18) before and after, and each
  stylised face is pasted back through a feathered edge. Videos follow the faces
  from frame to frame (``core.face.FaceTracker``).

Larger pictures than ``MAX_PIXELS`` are refused (``LimitExceeded``): the
instance-normalised networks cannot be tiled without visible seams.

Inference goes through the loader (``core.models.runner``: a static graph run by
``paddle.inference`` with oneDNN on CPU, CUDA on GPU), verified against dygraph
on a 256 x 256 sample before use; where it does not verify, dygraph runs.
Paddle 3.3's oneDNN executor cannot run interpolation ops (their ``scale``
attribute is unsupported), so the graph we export replaces 2x nearest/bilinear
``nn.Upsample`` layers with equal-valued reshapes (AnimeGANv2, U-GAT-IT;
``core.export.upsample_free``).

    python -m core.apps.translate facade-example   # (re)draws assets/examples/facade_labels.png
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from core.apps import App, Example, ModelChoice, pick, register
from core import face as face_pipeline
from core.errors import InputError
from core.paths import REPO_ROOT

FACADE_EXAMPLE = "assets/examples/facade_labels.png"

MAX_PIXELS = 1024 * 1024
MIN_SIDE = 32
VIDEO_MAX_SECONDS = 10
VIDEO_MAX_PIXELS = 640 * 360
# Frames handed to the per-batch function at once; each is still run alone (see translate_video).
VIDEO_BATCH = 4
# Side of the verification sample for the fast path (every network here works at this size).
SAMPLE_SIDE = 256


# ---------------------------------------------------------------- how a picture meets a network


def _resize(image: np.ndarray, height: int, width: int, interpolation: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _resize_back(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic when enlarging, area averaging when shrinking (no aliasing)."""
    enlarging = height * width > image.shape[0] * image.shape[1]
    return _resize(image, height, width, cv2.INTER_CUBIC if enlarging else cv2.INTER_AREA)


@dataclass(frozen=True)
class PadToMultiple:
    """Native resolution, reflection-padded on the bottom/right to a multiple of the network's stride."""

    multiple: int
    fixed_side = None

    def to_network(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        return image

    def from_network(self, output: np.ndarray, height: int, width: int) -> np.ndarray:
        return output[:height, :width]


@dataclass(frozen=True)
class ResizeToMultiple:
    """PaddleGAN's ResizeToScale: short sides grow to `min_side`, long ones shrink to a multiple of `multiple`."""

    min_side: int = 256
    multiple: int = 32
    fixed_side = None

    def network_side(self, side: int) -> int:
        return self.min_side if side <= self.min_side else side - side % self.multiple

    def to_network(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        return _resize(image, self.network_side(height), self.network_side(width), cv2.INTER_LINEAR)

    def from_network(self, output: np.ndarray, height: int, width: int) -> np.ndarray:
        # PaddleGAN resizes AnimeGAN's output back with the default (bilinear) interpolation.
        return _resize(output, height, width, cv2.INTER_LINEAR)


@dataclass(frozen=True)
class ResizeToSquare:
    """A fixed square input (what the network was trained on); the result is resized back."""

    side: int = 256
    interpolation: int = cv2.INTER_CUBIC

    @property
    def fixed_side(self) -> int:
        return self.side

    def to_network(self, image: np.ndarray) -> np.ndarray:
        return _resize(image, self.side, self.side, self.interpolation)

    def from_network(self, output: np.ndarray, height: int, width: int) -> np.ndarray:
        return _resize_back(output, height, width)


# ---------------------------------------------------------------- the models


@dataclass(frozen=True, kw_only=True)
class Translation(ModelChoice):
    """One choice in the tab: its checkpoint, and how pictures meet the network."""

    framing: object  # PadToMultiple | ResizeToMultiple | ResizeToSquare
    about: str  # one or two sentences for the UI
    returns_extras: bool = False  # forward gives (image, cam_logit, heatmap)
    match_brightness: bool = False  # AnimeGAN's post-processing
    portrait: bool = False  # runs on each face's portrait crop (core.face), pasted back into the picture
    mask_weights: Optional[str] = None  # a face segmentation that whitens the crop's background (photo2cartoon)


_TRANSLATIONS = (
    Translation(
        key="vintage", label="Photo → vintage photo (CycleGAN, vintagify)", weights="cyclegan_resnet9.vintage",
        framing=PadToMultiple(4),
        about="A CycleGAN ResNet-9 generator trained by the vintagify authors on modern and old photographs; "
        "imported offline from their PyPI wheel. Runs at the picture's own resolution.",
    ),
    Translation(
        key="horse2zebra", label="Horse → zebra (CycleGAN)", weights="cyclegan_resnet9.horse2zebra",
        framing=PadToMultiple(4),
        about="CycleGAN trained on horse and zebra photos (ImageNet). Runs at the picture's own resolution.",
    ),
    Translation(
        key="zebra2horse", label="Zebra → horse (CycleGAN)", weights="cyclegan_resnet9.zebra2horse",
        framing=PadToMultiple(4),
        about="The reverse generator of the same CycleGAN. Runs at the picture's own resolution.",
    ),
    Translation(
        key="facades", label="Facade labels → photo (pix2pix)", weights="pix2pix_unet256.facades",
        framing=ResizeToSquare(256, cv2.INTER_CUBIC),
        about="pix2pix trained on the CMP Facades pairs: it expects a colour label map (walls, windows, doors... "
        "as flat colours, like the example), not a photo. Works at 256 x 256; the result is resized back.",
    ),
    Translation(
        key="anime_hayao", label="Photo → anime, Hayao style (AnimeGANv2)", weights="animeganv2.hayao",
        framing=ResizeToMultiple(256, 32),
        about="AnimeGANv2 in the style of Hayao Miyazaki's films. Sides are cut to a multiple of 32 (at least 256) "
        "as in PaddleGAN, and the result's brightness is matched to the photo's.",
        match_brightness=True,
    ),
    Translation(
        key="selfie2anime", label="Selfie → anime (U-GAT-IT)", weights="ugatit_light.selfie2anime",
        framing=ResizeToSquare(256, cv2.INTER_CUBIC),
        about="U-GAT-IT (light) trained on selfies at 256 x 256. Each face is found (BlazeFace), cut out upright "
        "with its hair and chin, turned into anime and pasted back; the Faces tab also gives each stylised crop.",
        returns_extras=True, portrait=True,
    ),
    Translation(
        key="photo2cartoon", label="Face photo → cartoon (photo2cartoon)", weights="ugatit_p2c.photo2cartoon",
        framing=ResizeToSquare(256, cv2.INTER_AREA),
        about="photo2cartoon (minivision) trained on aligned face crops at 256 x 256, as PaddleGAN runs it: each face "
        "is found, cut out upright, its background whitened by a face segmentation (FCN-HRNet-W18), cartooned and "
        "pasted back; the Faces tab also gives each cartoon crop.",
        returns_extras=True, portrait=True, mask_weights="fcn_hrnet_w18.faceseg",
    ),
)


TRANSLATIONS = {t.key: t for t in _TRANSLATIONS}


def checkpoints(translation: Translation) -> list[str]:
    """Every checkpoint a translation needs: its network's, and for portraits the detector's and the mask's."""
    extra = [face_pipeline.DETECTOR, translation.mask_weights] if translation.portrait else []
    return [translation.weights, *(name for name in extra if name)]

APP = register(
    App(
        name="translate",
        title="Image translation",
        description="Make photos look old (CycleGAN, vintagify), turn horses into zebras and back (CycleGAN), facade label maps into photos (pix2pix), "
        "photos into anime (AnimeGANv2) and faces into anime or cartoons (U-GAT-IT, photo2cartoon); "
        "for one picture or every frame of a short video.",
        demo="demos.translate",
        endpoints=("translate_image", "translate_video", "translate_batch", "translate_portrait"),
        networks=(*face_pipeline.NETWORKS, "fcn_hrnet_w18"),
        weights=(*(t.weights for t in TRANSLATIONS.values()), *face_pipeline.WEIGHTS, "fcn_hrnet_w18.faceseg"),
        examples=(
            Example(("vintage", "assets/examples/rocket.jpg"), "SpaceX; CC0 (public domain)"),
            Example(("horse2zebra", "assets/examples/chelsea.jpg"), "Stéfan van der Walt; CC0"),
            Example(("anime_hayao", "assets/examples/coffee.jpg"), "Rachel Michetti; CC0"),
            Example(("facades", FACADE_EXAMPLE), "drawn by GAN Gallery (python -m core.apps.translate facade-example); CC0"),
            Example(("selfie2anime", "assets/examples/grace_hopper.jpg"), "U.S. Navy photograph of Grace Hopper; public domain"),
            Example(("photo2cartoon", "assets/examples/astronaut.jpg"), "Eileen Collins, NASA; public domain"),
        ),
        limits={
            "max_pixels": MAX_PIXELS,
            "min_side": MIN_SIDE,
            "video_max_seconds": VIDEO_MAX_SECONDS,
            "video_max_pixels": VIDEO_MAX_PIXELS,
        },
        emoji="🦓",
        default_budget_s=600.0,
        # core.video is not among the files every Space carries.
        assets=("core/video.py",),
    )
)


def choose(name: str) -> Translation:
    """The model for a key ("horse2zebra") or a dropdown label; InputError lists the choices."""
    return pick(name, TRANSLATIONS)


# ---------------------------------------------------------------- fast path


def image_only(net):
    """The network returning only its picture (U-GAT-IT also returns CAM logits and a heatmap)."""
    from core.export import FirstOutput

    return FirstOutput(net)


def _exported_inputs(side):
    def inputs(net):
        from paddle.static import InputSpec

        spec = InputSpec([1, 3, side, side] if side else [1, 3, None, None], "float32")
        sample = np.random.default_rng(0).uniform(-1, 1, (1, 3, side or SAMPLE_SIDE, side or SAMPLE_SIDE)).astype(np.float32)
        return [spec], [sample]

    return inputs


def export_of(translation: Translation):
    """How `translation`'s network goes onto the fast path: the picture alone, without interp ops or batch norms
    on batch statistics (``core.export.translation_exportable``)."""
    from core.export import translation_exportable
    from core.models import Export

    return Export(
        "picture",
        inputs=_exported_inputs(translation.framing.fixed_side),
        wrap=image_only if translation.returns_extras else None,
        rewrite=translation_exportable,
    )


def is_loaded(model: str) -> bool:
    """Whether the model is already in memory (its first request also loads and verifies it)."""
    from core import models

    translation = choose(model)
    return models.is_loaded(translation.weights, export_of(translation))


def runner(translation: Translation):
    """The loaded model of `translation` (built once per process): ``(1, 3, H, W) array -> [arrays]``.
    WeightsUnavailable at once when its file is missing."""
    from core import models

    return models.runner(translation.weights, export_of(translation))


# ---------------------------------------------------------------- pictures


def check_size(height: int, width: int, what: str = "The image") -> None:
    if min(height, width) < MIN_SIDE:
        raise InputError(f"{what} is {width}x{height}; each side must be at least {MIN_SIDE} pixels.")


def to_input(image: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 -> float32 (1, 3, H, W) in [-1, 1]."""
    return (image.astype(np.float32).transpose(2, 0, 1)[None] - 127.5) / 127.5


def to_pixels(output: np.ndarray) -> np.ndarray:
    """Network output (1, 3, H, W) in [-1, 1] -> float32 H x W x 3 in [0, 255]."""
    return (np.clip(output[0], -1.0, 1.0).transpose(1, 2, 0) + 1.0) * 127.5


def match_brightness(result: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Scale `result` so its mean luma (ITU-R 601 weights) equals the source's (PaddleGAN's adjust_brightness)."""
    weights = np.array([0.299, 0.587, 0.114])

    def luma(image):
        return float(image.reshape(-1, 3).mean(axis=0) @ weights)

    result_luma = luma(result)
    if result_luma <= 0:
        return result
    return result * (luma(source) / result_luma)


def translate_array(translation: Translation, run: Callable, image: np.ndarray) -> np.ndarray:
    """uint8 RGB H x W x 3 in, uint8 RGB H x W x 3 out (same size), with a loaded `run`."""
    height, width = image.shape[:2]
    framing = translation.framing
    # 1. Frame the picture as the network was trained to see it, in [-1, 1].
    network_input = to_input(framing.to_network(image))
    # 2. The network: its first output is the picture (U-GAT-IT's also give CAM maps).
    network_output = run(network_input)[0]
    # 3. Back to pixels at the input's size.
    output = framing.from_network(to_pixels(network_output), height, width)
    # 4. AnimeGAN's brightness matching.
    if translation.match_brightness:
        output = match_brightness(output, image)
    # Truncation (not rounding) to uint8, as PaddleGAN does.
    return np.clip(output, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- portraits


PORTRAIT_SIDE = 256
MAX_PORTRAIT_FACES = 4
PORTRAIT_FEATHER = 0.1


@dataclass(frozen=True)
class Portraits:
    image: np.ndarray  # the picture with every stylised face pasted back
    crops: list  # each face's stylised crop (uint8, PORTRAIT_SIDE²), largest face first


def _face_mask(translation: Translation, crop: np.ndarray) -> Optional[np.ndarray]:
    """The crop's face mask (0..1) from the translation's face segmentation, or None."""
    if not translation.mask_weights:
        return None
    from core import models
    from core.nets import face_parsing

    run = models.runner(translation.mask_weights)
    (logits,) = run(face_parsing.faceseg_input(crop))[:1]
    return face_parsing.faceseg_mask(logits, PORTRAIT_SIDE, PORTRAIT_SIDE)


def stylise_faces(translation: Translation, run: Callable, image: np.ndarray, faces) -> Portraits:
    """Each face's portrait crop through the network, pasted back (feathered; along the mask when there is one)."""
    from core.nets.face_parsing import whiten_background

    result, crops = image, []
    for found in faces[:MAX_PORTRAIT_FACES]:
        # 1. The face upright with its hair and chin, as the network was trained to see it.
        portrait = face_pipeline.portrait_crop(image, found, PORTRAIT_SIDE)
        # 2. photo2cartoon: the background whitened by the face segmentation, before and after.
        mask = _face_mask(translation, portrait.crop)
        crop = portrait.crop if mask is None else whiten_background(portrait.crop, mask).astype(np.uint8)
        stylised = to_pixels(run(to_input(crop))[0])
        stylised = stylised if mask is None else whiten_background(stylised, mask)
        stylised = np.clip(stylised, 0, 255).astype(np.uint8)  # truncation, as PaddleGAN does
        crops.append(stylised)
        # 3. Back into the picture through a feathered edge (and the mask's outline).
        result = face_pipeline.paste_back(result, stylised, portrait.matrix, feather=PORTRAIT_FEATHER, mask=mask)
    return Portraits(result, crops)


def translate_portraits(model: str, image) -> Portraits:
    """A portrait model on every face of a picture (NoFaceFound when there is none)."""
    from core.media import read_image

    translation = choose(model)
    if not translation.portrait:
        raise InputError(f"{translation.label} runs on whole pictures, not on faces; choose "
                         f"{' or '.join(t.key for t in TRANSLATIONS.values() if t.portrait)}.")
    if image is None:
        raise InputError("Upload a picture with a face first.")
    pixels = read_image(image, max_pixels=MAX_PIXELS)
    check_size(*pixels.shape[:2])
    from core import weights

    for name in checkpoints(translation):  # a missing file is named before any network is built
        weights.fetch(weights.spec(name))
    faces = face_pipeline.require_faces(pixels)
    run = runner(translation)
    return stylise_faces(translation, run, pixels, faces)


def translate_image(model: str, image) -> np.ndarray:
    """Translate one picture (a path, bytes, PIL image or uint8 array); returns uint8 RGB of the same size.

    Raises InputError/LimitExceeded for unusable input and WeightsUnavailable
    when the model's checkpoint is missing.
    """
    from core.media import read_image

    translation = choose(model)
    if image is None:
        raise InputError("Upload an image (or pick an example) first.")
    if translation.portrait:
        return translate_portraits(model, image).image
    pixels = read_image(image, max_pixels=MAX_PIXELS)
    check_size(*pixels.shape[:2])
    return translate_array(translation, runner(translation), pixels)


@dataclass(frozen=True)
class VideoResult:
    path: Path
    frames: int


def translate_video(
    model: str,
    source,
    dest,
    progress: Optional[Callable[[int, int], None]] = None,
) -> VideoResult:
    """Translate every frame of a video into `dest` (H.264 MP4, same fps and audio), streamed.

    Refuses videos over ``VIDEO_MAX_SECONDS`` or with frames over
    ``VIDEO_MAX_PIXELS`` before decoding a frame. `progress(done, total)` is
    called after every few frames.
    """
    from core.video import map_video

    translation = choose(model)
    if source is None:
        raise InputError("Upload a video first.")
    run = runner(translation)
    frames = 0
    tracker = None
    if translation.portrait:

        tracker = face_pipeline.FaceTracker()

    def one_frame(frame):
        if tracker is None:
            return translate_array(translation, run, frame)
        # Faces followed from frame to frame (smoothed, so the crops don't jitter); a frame without one is kept.
        found = face_pipeline.detect_faces(frame, windows=False, detector="blazeface")  # ~15 ms a frame
        tracked = [f for f in tracker.update(found) if f is not None]
        return stylise_faces(translation, run, frame, tracked).image if tracked else frame

    def process(batch):
        nonlocal frames
        check_size(*batch[0].shape[:2], what="The video's frame")
        # One frame at a time: pix2pix normalises with batch statistics, so a
        # frame's result must not depend on its neighbours.
        results = [one_frame(frame) for frame in batch]
        frames += len(results)
        return results

    path = map_video(source, dest, process, batch_size=VIDEO_BATCH, max_seconds=VIDEO_MAX_SECONDS,
                     max_pixels=VIDEO_MAX_PIXELS, progress=progress)
    return VideoResult(Path(path), frames)


# ---------------------------------------------------------------- jobs (what a worker process runs)


@dataclass(frozen=True)
class ImageJobResult:
    path: str  # the PNG written
    width: int
    height: int
    loaded_model: bool  # this request also loaded the model (and checked its fast path)
    precision: str = "fp32"  # what the network ran in ("bf16" only when asked for and verified)


@dataclass(frozen=True)
class PortraitJobResult:
    path: str  # the picture with the stylised faces pasted back (PNG)
    crops: tuple  # each stylised face crop (PNG)
    zip_path: str  # all of them
    loaded_model: bool
    precision: str = "fp32"


def translate_portraits_file(model: str, image, workdir) -> PortraitJobResult:
    """Stylise every face of a picture; write the pasted-back picture, each crop and a ZIP of them into `workdir`."""
    import zipfile

    from core.media import write_png

    loading = not is_loaded(model)
    result = translate_portraits(model, image)
    workdir = Path(workdir)
    key = choose(model).key
    path = write_png(result.image, workdir / f"{key}.png")
    crops = tuple(str(write_png(crop, workdir / f"{key}-face{i + 1}.png")) for i, crop in enumerate(result.crops))
    zip_path = workdir / f"{key}-faces.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for file in (str(path), *crops):
            archive.write(file, Path(file).name)
    return PortraitJobResult(str(path), crops, str(zip_path), loading, runner(choose(model)).precision)


def translate_image_file(model: str, image, workdir) -> ImageJobResult:
    """Translate a picture file and write the result as PNG into `workdir` (run in a worker)."""
    from core.media import write_png

    loading = not is_loaded(model)
    result = translate_image(model, image)
    path = write_png(result, Path(workdir) / f"{choose(model).key}.png")
    return ImageJobResult(str(path), result.shape[1], result.shape[0], loading, runner(choose(model)).precision)


@dataclass(frozen=True)
class VideoJobResult:
    path: str
    frames: int
    loaded_model: bool
    precision: str = "fp32"


def translate_video_file(model: str, source, dest, progress: Optional[Callable] = None) -> VideoJobResult:
    """Translate a video into `dest` (run in a worker); progress(done, total, desc)."""
    from core.estimates import timed_work
    from core.media import probe_video

    translation = choose(model)
    if source is None:
        raise InputError("Upload a video first.")
    info = probe_video(source)  # a file that isn't a video is refused before the model loads
    loading = not is_loaded(model)
    if progress is not None:
        progress(0, 0, "Loading the model" if loading else "Starting")
    runner(translation)

    def report(done, total):
        if progress is not None:
            progress(done, total, f"Translating frames ({translation.label})")

    megapixels = info.width * info.height / 1e6
    with timed_work(f"translate/{translation.key}", info.n_frames * megapixels, info.n_frames, "frames",
                    f"Translating ({translation.label})", progress):
        result = translate_video(model, source, dest, progress=report)
    return VideoJobResult(str(result.path), result.frames, loading, runner(translation).precision)


# ---------------------------------------------------------------- the facade example


# CMP Facade classes with colours on a jet colour scale, as in the pix2pix facades label maps.
def _jet(t: float) -> tuple:
    return tuple(int(round(255 * min(1.0, max(0.0, 1.5 - abs(4 * t - k))))) for k in (3, 2, 1))


FACADE_CLASSES = ("background", "facade", "window", "door", "cornice", "sill", "balcony", "blind", "deco",
                  "molding", "pillar", "shop")
FACADE_COLOURS = {name: _jet((i + 1) / len(FACADE_CLASSES)) for i, name in enumerate(FACADE_CLASSES)}


def draw_facade_labels(side: int = 256) -> np.ndarray:
    """A simple facade label map: a four-storey front with windows, sills, blinds, balconies, shops and a door."""
    c = FACADE_COLOURS
    unit = side / 256
    image = np.zeros((side, side, 3), np.uint8)

    def box(colour, x0, y0, x1, y1):
        image[round(y0 * unit):round(y1 * unit), round(x0 * unit):round(x1 * unit)] = colour

    box(c["background"], 0, 0, 256, 256)
    box(c["facade"], 16, 20, 240, 256)
    box(c["cornice"], 10, 20, 246, 32)
    for x in (16, 124, 228):
        box(c["pillar"], x, 32, x + 12, 200)
    for floor, top in enumerate((44, 90, 136)):
        box(c["molding"], 16, top - 6, 240, top - 3)
        for left in (32, 72, 144, 184):
            box(c["window"], left, top, left + 28, top + 32)
            box(c["blind"], left, top, left + 28, top + 8)
            box(c["sill"], left - 3, top + 32, left + 31, top + 36)
        if floor == 1:
            box(c["balcony"], 66, top + 26, 106, top + 38)
            box(c["balcony"], 178, top + 26, 218, top + 38)
    box(c["deco"], 112, 44, 144, 64)
    box(c["shop"], 24, 200, 104, 250)
    box(c["shop"], 152, 200, 232, 250)
    box(c["door"], 112, 204, 144, 256)
    return image


def write_facade_example(path: Path = REPO_ROOT / FACADE_EXAMPLE) -> Path:
    from core.media import write_png

    return write_png(draw_facade_labels(), path)


if __name__ == "__main__":
    if sys.argv[1:] == ["facade-example"]:
        print(f"wrote {write_facade_example()}")
    else:
        print("usage: python -m core.apps.translate facade-example", file=sys.stderr)
        sys.exit(2)
