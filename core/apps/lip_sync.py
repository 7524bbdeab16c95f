"""Lip sync: Wav2Lip makes the mouth of a face video, or of a still photo, follow a speech track.

    lip_sync(face, speech, dest, model="hq", progress=None)  -> LipSync (an H.264 mp4 whose sound is the speech)

As PaddleGAN's ``Wav2LipPredictor`` does it (its constants), with the face pipeline of ``core.face``:

1. The speech (any audio or video file; typed text is spoken by espeak-ng first) is decoded to
   16 kHz mono and turned into PaddleGAN's mel spectrogram (``core.audio``). The result has one
   frame per 1/fps second of speech, at the video's frame rate (25 for a photo), so it lasts as
   long as the speech; frame i hears the 16 mel columns (0.2 s) from i/fps on.
2. Frames: a photo is repeated; a video is streamed. A video shorter than the speech plays
   forward, then backward, then forward again (PaddleGAN's loop): its frames are kept on disk
   (PNG) during the first pass, so memory does not grow with the speech's length.
3. Each frame's largest face (BlazeFace) is followed and smoothed over time (``FaceTracker``); its
   box is padded as PaddleGAN pads it (10 pixels below the chin, where the mouth opens) and the
   crop squeezed to 96x96.
4. Crops go through Wav2Lip in batches of 16, each with its mel window. The lower part of each
   generated face (Wav2Lip sees only the upper half of its input and redraws the mouth) is blended
   into its frame through a feathered mask, so no seam shows. A frame where no face is found is
   written unchanged and counted.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from core import audio
from core import face as faces
from core.apps import App, Example, ModelChoice, catalogue, register
from core.errors import InputError, LimitExceeded, NoFaceFound

ProgressCallback = Callable[..., None]

MAX_SPEECH_SECONDS = 60
MAX_VIDEO_SECONDS = 60
MAX_VIDEO_PIXELS = 1280 * 720
MAX_PHOTO_PIXELS = 4096 * 4096  # decoding limit of an uploaded photo; it is then shrunk to MAX_VIDEO_PIXELS
MAX_TEXT_CHARACTERS = audio.MAX_TEXT_CHARS
PHOTO_FPS = 25  # PaddleGAN's frame rate for a still photo
BATCH = 16  # crops per network call (PaddleGAN's face-detection batch; its Wav2Lip batch is 128)
PADS = (0, 10, 0, 0)  # PaddleGAN's padding of the face box in pixels: top, bottom, left, right
SMOOTHING = 0.5  # weight of the past in the face track's moving average
FEATHER = 0.1  # share of the crop over which the generated face fades into the frame
MOUTH_FROM = 0.4  # the pasted part starts this far down the crop (fully in by MOUTH_FULL)
MOUTH_FULL = 0.55
EXAMPLE_FACE = "assets/examples/astronaut.jpg"
EXAMPLE_SPEECH_TEXT = "Hello! I am an astronaut, and today I am talking to you from a photo."

MODELS = catalogue(
    ModelChoice("hq", "Wav2Lip HQ (sharper mouths)", "wav2lip.hq"),
    ModelChoice("wav2lip", "Wav2Lip (the original model)", "wav2lip.paddlegan"),
)
DEFAULT_MODEL = "hq"
DETECTOR = faces.DETECTOR

APP = register(
    App(
        name="lip_sync",
        title="Lip sync",
        description="Wav2Lip: the mouth of a face video or photo follows any speech: an uploaded audio or video "
        "file, a microphone recording, or typed text spoken by espeak-ng. The result has that speech as its sound. "
        "Wav2Lip's weights are for personal, research and non-commercial use only (their authors' terms; see NOTICE).",
        demo="demos.lip_sync",
        endpoints=("lip_sync",),
        networks=("wav2lip", "wav2lip_hq", *faces.NETWORKS),
        weights=(*(m.weights for m in MODELS.values()), *faces.WEIGHTS),
        examples=(
            Example((EXAMPLE_FACE, EXAMPLE_SPEECH_TEXT),
                    "photo: Eileen Collins, NASA, public domain; voice: espeak-ng"),
        ),
        limits={"max_speech_seconds": MAX_SPEECH_SECONDS, "max_video_seconds": MAX_VIDEO_SECONDS,
                "max_video_pixels": MAX_VIDEO_PIXELS, "max_photo_pixels": MAX_PHOTO_PIXELS,
                "max_text_characters": MAX_TEXT_CHARACTERS},
        emoji="👄",
        hardware="t4-small",
        default_budget_s=3600.0,
        assets=("core/video.py", "core/audio.py"),
        debian_packages=("espeak-ng",),  # typed text is spoken by it
    )
)


def check_model(model) -> ModelChoice:
    if model not in MODELS:
        raise InputError(f"Unknown model {model!r}; choose one of: {', '.join(MODELS)}.")
    return MODELS[model]


# ---------------------------------------------------------------- speech


def speech_file(speech, text, workdir) -> Path:
    """The speech to follow: the uploaded file, or `text` spoken by espeak-ng into `workdir`; exactly one."""
    text = (text or "").strip() if isinstance(text, (str, type(None))) else text
    if not isinstance(text, str):
        raise InputError(f"The text to speak must be text; got {type(text).__name__}.")
    if speech is not None and text:
        raise InputError("Give the speech as a file or recording, or as text to speak, not both.")
    if speech is None and not text:
        raise InputError("Give some speech: upload or record audio, or type text to speak.")
    if text:
        return audio.speak(text, Path(workdir) / "speech.wav")  # refuses over-long text, names the limit
    return Path(str(speech))


def frame_windows(mel: np.ndarray, fps: Fraction, count: int) -> Iterator[np.ndarray]:
    """The 16-column mel window of each of `count` frames: frame i starts at column int(i * 80 / fps),
    as PaddleGAN cuts them; frames past the last full window keep the last one."""
    columns = mel.shape[1]
    step = audio.MEL_COLUMNS_PER_SECOND / float(fps)
    for i in range(count):
        start = min(int(i * step), columns - audio.MEL_STEP)
        yield mel[:, start:start + audio.MEL_STEP]


def output_frames(seconds: float, fps: Fraction) -> int:
    """Frames of a result as long as the speech (to the nearest frame, halves up)."""
    return max(1, int(seconds * float(fps) + 0.5))


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class FaceSource:
    """The face input: a photo (repeated) or a video (streamed, looped back and forth when short)."""

    path: Path
    photo: Optional[np.ndarray]  # the shrunk RGB photo, or None for a video
    fps: Fraction
    width: int
    height: int
    n_frames: int  # the video's (estimated) frame count; 1 for a photo


def shrink_to_video(photo: np.ndarray) -> np.ndarray:
    """A photo small enough to be a video frame: at most MAX_VIDEO_PIXELS, aspect kept."""
    height, width = photo.shape[:2]
    scale = (MAX_VIDEO_PIXELS / (height * width)) ** 0.5
    if scale >= 1:
        return photo
    size = (max(2, int(width * scale)), max(2, int(height * scale)))
    return cv2.resize(photo, size, interpolation=cv2.INTER_AREA)


def open_face(path) -> FaceSource:
    """The face photo or video, its limits checked (a bad file never loads a model)."""
    from core.media import is_still_image, probe_video, read_image

    if path is None:
        raise InputError("Upload a face video or photo first.")
    path = Path(str(path))
    if is_still_image(path):
        photo = shrink_to_video(read_image(path, max_pixels=MAX_PHOTO_PIXELS))
        return FaceSource(path, photo, Fraction(PHOTO_FPS), photo.shape[1], photo.shape[0], 1)
    info = probe_video(path, max_pixels=MAX_VIDEO_PIXELS)
    name = f"The face video {path.name}"
    if info.duration_s > MAX_VIDEO_SECONDS:
        raise LimitExceeded(f"{name} is {info.duration_s:.1f} seconds long; the limit is {MAX_VIDEO_SECONDS} seconds.")
    return FaceSource(path, None, info.fps, info.width, info.height, max(1, info.n_frames))


def back_and_forth(index: int, count: int) -> int:
    """The source frame of output frame `index` when `count` frames play forward, backward, forward..."""
    if count <= 1:
        return 0
    period = 2 * (count - 1)
    position = index % period
    return position if position < count else period - position


def frames_for(source: FaceSource, total: int, cache_dir: Path) -> Iterator[tuple[int, np.ndarray]]:
    """`total` (source index, RGB frame) pairs: the photo repeated, or the video looped back and forth."""
    from core.media import iter_video_frames

    if source.photo is not None:
        for _ in range(total):
            yield 0, source.photo
        return
    cache = source.n_frames < total + 2  # the video may end before the speech: keep its frames for the loop back
    count = 0
    with iter_video_frames(source.path, max_seconds=MAX_VIDEO_SECONDS, max_pixels=MAX_VIDEO_PIXELS) as frames:
        for frame in frames:
            if count == total:
                return
            if cache:
                cv2.imwrite(str(cache_dir / f"{count:06d}.png"), frame[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
            yield count, frame
            count += 1
    if count == 0:
        raise InputError(f"The face video {source.path.name} has no frames.")
    for index in range(count, total):
        position = back_and_forth(index, count)
        if cache:
            yield position, cv2.imread(str(cache_dir / f"{position:06d}.png"))[..., ::-1]
        else:  # the header promised more frames than came: play it forward again
            yield from frames_for(FaceSource(source.path, None, source.fps, source.width, source.height, total),
                                  total - index, cache_dir)
            return


# ---------------------------------------------------------------- faces


def mouth_box(face, width: int, height: int) -> Optional[tuple[int, int, int, int]]:
    """The face box padded as PaddleGAN pads it and clipped to the frame: (x0, y0, x1, y1), or None when empty."""
    top, bottom, left, right = PADS
    x0, y0, x1, y1 = face.box
    box = (max(0, int(x0) - left), max(0, int(y0) - top), min(width, int(x1) + right), min(height, int(y1) + bottom))
    if box[2] - box[0] < faces.MIN_FACE_PIXELS or box[3] - box[1] < faces.MIN_FACE_PIXELS:
        return None
    return box


def box_matrix(box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The affine map of the frame onto the box squeezed to size x size (Wav2Lip's crops are not square)."""
    x0, y0, x1, y1 = box
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    # Pixel centres map as cv2.resize maps them, which cut the crop: (x - x0 + 0.5) * sx - 0.5.
    return np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])


def mouth_mask(size: int) -> np.ndarray:
    """Rows above MOUTH_FROM keep the frame; below MOUTH_FULL the generated face is used (smoothstep between)."""
    rows = (np.arange(size, dtype=np.float32) + 0.5) / size
    ramp = np.clip((rows - MOUTH_FROM) / (MOUTH_FULL - MOUTH_FROM), 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return np.repeat(ramp[:, None], size, axis=1)


class FaceFollower:
    """The face box of each source frame: detected, smoothed over time, remembered for the loop back."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.tracker = faces.FaceTracker(smoothing=SMOOTHING)
        self.boxes: dict[int, Optional[tuple[int, int, int, int]]] = {}

    def box(self, index: int, frame: np.ndarray) -> Optional[tuple[int, int, int, int]]:
        if index not in self.boxes:
            # The whole frame while a face is followed; windows too (smaller faces) while none is.
            found = faces.detect_faces(frame, windows=not self.tracker.following, detector="blazeface")
            followed = [f for f in self.tracker.update(found[:1]) if f is not None]
            self.boxes[index] = mouth_box(followed[0], self.width, self.height) if followed else None
        return self.boxes[index]


# ---------------------------------------------------------------- the network


def wav2lip_export():
    """Wav2Lip on the fast path: any batch of (mel window, masked + reference face) pairs."""
    from core.models import Export

    def inputs(net):
        from paddle.static import InputSpec

        from core.nets import wav2lip

        rng = np.random.default_rng(0)
        mel = rng.uniform(-4, 4, (2, 1, wav2lip.NUM_MELS, wav2lip.MEL_STEPS)).astype(np.float32)
        crops = rng.random((2, 6, wav2lip.IMAGE_SIZE, wav2lip.IMAGE_SIZE), dtype=np.float32)
        return [InputSpec([None, 1, wav2lip.NUM_MELS, wav2lip.MEL_STEPS], "float32", name="mel"),
                InputSpec([None, 6, wav2lip.IMAGE_SIZE, wav2lip.IMAGE_SIZE], "float32", name="faces")], [mel, crops]

    return Export("batch", inputs=inputs)


def load(model: str = DEFAULT_MODEL, engine: str = "auto"):
    """The loaded Wav2Lip of `model` (once per process): ``runner(mel [B,1,80,16], faces [B,6,96,96]) -> [faces]``."""
    from core import models

    return models.runner(check_model(model).weights, wav2lip_export(), engine=engine)


def speak_frames(run, crops_rgb: list[np.ndarray], windows: list[np.ndarray]) -> np.ndarray:
    """Wav2Lip's faces (RGB uint8, 96x96) for RGB crops and their mel windows; the network works in BGR."""
    from core.nets import wav2lip

    crops_bgr = np.stack(crops_rgb)[..., ::-1]
    mel = np.stack(windows)[:, None].astype(np.float32)
    out = run(mel, wav2lip.to_network_input(crops_bgr))[0]
    return np.ascontiguousarray(wav2lip.to_image(np.asarray(out))[..., ::-1])


# ---------------------------------------------------------------- the application


@dataclass(frozen=True)
class LipSync:
    path: Path
    frames: int
    frames_without_face: int
    speech_seconds: float
    fps: Fraction
    photo: bool


def lip_sync(face, speech, dest, model: str = DEFAULT_MODEL, progress: Optional[Callable[[int, int], None]] = None,
             engine: str = "auto", samples: Optional[np.ndarray] = None) -> LipSync:
    """The face video or photo `face` with its mouth following the speech file `speech`, written to `dest`.
    samples: the speech already decoded by ``audio.load_speech`` (it is then not decoded again)."""
    from core.media import VideoWriter
    from core.nets import wav2lip

    check_model(model)
    # 1. Inputs checked, the cheap way first: a bad file never loads a model.
    source = open_face(face)
    if samples is None:
        samples = audio.load_speech(speech, max_seconds=MAX_SPEECH_SECONDS)
    seconds = len(samples) / audio.SAMPLE_RATE
    follower = FaceFollower(source.width, source.height)
    if source.photo is not None:  # its one face, searched for thoroughly (windows: small faces too)
        found = faces.require_faces(source.photo, what="the photo")
        follower.boxes[0] = mouth_box(found[0], source.width, source.height)
    mel = audio.melspectrogram(samples)
    del samples
    total = output_frames(seconds, source.fps)
    run = load(model, engine)
    size = wav2lip.IMAGE_SIZE
    mask = mouth_mask(size)
    without_face = 0
    done = 0

    def flush(batch, writer):
        nonlocal without_face, done
        with_face = [(frame, box, window) for frame, box, window in batch if box is not None]
        spoken = iter(speak_frames(run, [cv2.resize(f[b[1]:b[3], b[0]:b[2]], (size, size)) for f, b, _ in with_face],
                                   [w for _, _, w in with_face])) if with_face else iter(())
        for frame, box, _ in batch:
            if box is None:
                without_face += 1
                writer.write(frame)
            else:
                writer.write(faces.paste_back(frame, next(spoken), box_matrix(box, size), feather=FEATHER, mask=mask))
        done += len(batch)
        if progress is not None:
            progress(done, total)

    # 2. Frames, faces and mel windows in step; 3. batches through the network, written as they come.
    dest = Path(dest)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".frames-") as cache_dir, \
            VideoWriter(dest, source.fps, audio_from=speech) as writer:
        batch: list = []
        for (index, frame), window in zip(frames_for(source, total, Path(cache_dir)), frame_windows(mel, source.fps, total)):
            batch.append((frame, follower.box(index, frame), window))
            if len(batch) == BATCH:
                flush(batch, writer)
                batch = []
        if batch:
            flush(batch, writer)
        if without_face == done and source.photo is None:
            raise NoFaceFound(
                f"No face was found in any frame of the face video {source.path.name}: the BlazeFace detector looked "
                f"for a face with a score of at least {faces.MIN_SCORE}. Use a video of a face looking roughly at "
                "the camera."
            )
    return LipSync(dest, done, without_face, seconds, source.fps, source.photo is not None)


# ---------------------------------------------------------------- jobs (what a worker process runs)


@dataclass(frozen=True)
class LipSyncJobResult:
    path: str
    frames: int
    frames_without_face: int
    speech_seconds: float
    photo: bool
    loaded_model: bool


def lip_sync_file(face, speech, text, model, dest, progress: Optional[ProgressCallback] = None) -> LipSyncJobResult:
    """``lip_sync`` in a worker, with the speech made from text when asked, an estimate first, and progress
    as (done, total, description)."""
    from core import models
    from core.estimates import timed_work

    choice = check_model(model)
    source = open_face(face)
    speech_path = speech_file(speech, text, Path(dest).parent)
    samples = audio.load_speech(speech_path, max_seconds=MAX_SPEECH_SECONDS)  # decoded once, before the estimate
    total = output_frames(len(samples) / audio.SAMPLE_RATE, source.fps)
    loading = not models.is_loaded(choice.weights, wav2lip_export())

    def report(done, count):
        if progress is not None:
            progress(done, count, f"Lip-syncing frames ({choice.label.split(' (')[0]})")

    with timed_work(f"lip_sync/{choice.key}", total, total, "frames", "Lip-syncing", progress):
        result = lip_sync(face, speech_path, dest, model, progress=report, samples=samples)
    return LipSyncJobResult(str(result.path), result.frames, result.frames_without_face, result.speech_seconds,
                            result.photo, loading)
