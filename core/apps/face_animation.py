"""Face animation: First Order Motion makes the faces of a photo move like the face of a driving video.

    animate(source_photo, driving_video, dest, model="vox", relative=True, adapt_scale=True,
            find_best_frame=False, auto_crop=True, multi_person=False)  -> Animation (an H.264 mp4)

As PaddleGAN's ``FirstOrderPredictor`` does it (its options, its constants), with the face
pipeline of ``core.face``:

1. The photo is shrunk to at most 1024 pixels a side. Its faces are found (``auto_crop``; the
   largest, or with ``multi_person`` up to ``MAX_FACES``), and each gets a square crop twice the
   face's size, resized to 256x256 (without ``auto_crop`` the whole photo is the one crop).
2. The driving video is cropped the same way around its face, found in its first frames, with
   one fixed square for the whole video: the head's motion must stay in the crop, not be
   followed by it (without ``auto_crop`` the whole frame is used).
3. Keypoints and their jacobians come from the network's keypoint detector. With ``relative``
   motion, each frame moves the source's keypoints by the driving keypoints' displacement since
   the initial driving frame (scaled with ``adapt_scale`` by the ratio of the keypoint hulls);
   otherwise the driving keypoints are used as they are. ``find_best_frame`` takes as the
   initial frame the one whose face pose (BlazeFace's six keypoints, centred and scaled) is
   closest to the photo's, instead of the first.
4. Each animated 256x256 crop is pasted back into the photo through a feathered mask, and the
   frames are written as they come (H.264, the driving video's frame rate and audio): memory
   does not grow with the video's length.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from core.apps import App, Example, ModelChoice, catalogue, register
from core import face as faces
from core.errors import InputError, LimitExceeded, NoFaceFound
from core.models import Export

ProgressCallback = Callable[..., None]

SIDE = 256  # the networks' input and output
MAX_SOURCE_SIDE = 1024  # PaddleGAN's predictor shrinks larger photos to this
MAX_SOURCE_PIXELS = 4096 * 4096  # decoding limit of the uploaded photo
MAX_VIDEO_SECONDS = 10
MAX_VIDEO_PIXELS = 1280 * 720
MAX_FACES = 4
CROP_SCALE = 2.0  # a crop's side, in face-box sides: the whole head and some of the neck
CROP_SHIFT = 0.1  # the crop moves down by this share of its side: more chin, less sky
DRIVING_SEARCH_FRAMES = 30  # frames of the driving video searched for its face
FEATHER = 0.12  # share of the crop over which an animated face fades into the photo
BATCH = 4  # driving frames handed over at once (each is still animated alone)
EXAMPLE_DRIVING = "assets/examples/driving_face.mp4"

MODELS = catalogue(
    ModelChoice("vox", "First Order Motion, VoxCeleb (best; ~1.5 s a frame on a 2-core CPU)", "first_order_motion.vox"),
    ModelChoice("vox_mobile", "First Order Motion mobile, VoxCeleb (~3x faster, softer)", "first_order_motion.vox_mobile"),
)
DEFAULT_MODEL = "vox"
DETECTOR = faces.DETECTOR

APP = register(
    App(
        name="face_animation",
        title="Face animation",
        description="First Order Motion: the faces of a photo move like the face in a driving video (uploaded or "
        "recorded with the webcam), with its sound. Relative or absolute motion, movement scale, best start frame, "
        "automatic face crops and several people, as in PaddleGAN.",
        demo="demos.face_animation",
        endpoints=("face_animate", "face_preview"),
        networks=("fom_vox_256", "fom_vox_mobile_256", *faces.NETWORKS),
        weights=(*(m.weights for m in MODELS.values()), *faces.WEIGHTS),
        examples=(
            Example(("assets/examples/astronaut.jpg", EXAMPLE_DRIVING),
                    "photo: Eileen Collins, NASA, public domain; driving video: Grace Hopper (U.S. Navy photograph, "
                    "public domain), moved by `python -m core.apps.face_animation driving-example`, voice by espeak-ng"),
        ),
        limits={"max_video_seconds": MAX_VIDEO_SECONDS, "max_video_pixels": MAX_VIDEO_PIXELS,
                "max_source_pixels": MAX_SOURCE_PIXELS, "max_faces": MAX_FACES},
        emoji="🗣️",
        hardware="t4-small",
        default_budget_s=3600.0,
        assets=("core/video.py", EXAMPLE_DRIVING),
    )
)


def check_model(model) -> ModelChoice:
    if model not in MODELS:
        raise InputError(f"Unknown model {model!r}; choose one of: {', '.join(MODELS)}.")
    return MODELS[model]


# ---------------------------------------------------------------- crops


@dataclass(frozen=True)
class Crop:
    """A square of a picture as the network sees it: `matrix` maps the picture onto the SIDE x SIDE crop."""

    matrix: np.ndarray
    whole: bool  # the whole picture: pasted back without a feathered edge

    def cut(self, picture: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(picture, self.matrix, (SIDE, SIDE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def face_crop(face) -> Crop:

    return Crop(faces.square_matrix(faces.square_box(face, CROP_SCALE, CROP_SHIFT), SIDE), whole=False)


def whole_crop(height: int, width: int) -> Crop:
    """The whole picture squeezed into the square, as PaddleGAN does without a face crop."""
    return Crop(np.array([[SIDE / width, 0.0, 0.0], [0.0, SIDE / height, 0.0]]), whole=True)


def shrink(photo: np.ndarray) -> np.ndarray:
    """At most MAX_SOURCE_SIDE pixels a side (PaddleGAN's predictor does the same)."""
    height, width = photo.shape[:2]
    scale = MAX_SOURCE_SIDE / max(height, width)
    if scale >= 1:
        return photo
    return cv2.resize(photo, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


def source_crops(photo: np.ndarray, auto_crop: bool, multi_person: bool) -> tuple[list[Crop], list]:
    """The crops of the photo to animate, and the faces they were cut around."""

    if not auto_crop and not multi_person:
        return [whole_crop(*photo.shape[:2])], []
    found = faces.require_faces(photo, what="the source photo")
    chosen = found[:MAX_FACES] if multi_person else found[:1]
    return [face_crop(f) for f in chosen], chosen


def driving_crop(driving, auto_crop: bool, info) -> tuple[Crop, Optional[object]]:
    """One fixed crop for the whole driving video: around its face (found in its first frames), or all of it."""
    from core.media import iter_video_frames

    if not auto_crop:
        return whole_crop(info.height, info.width), None
    with iter_video_frames(driving, max_seconds=MAX_VIDEO_SECONDS, max_pixels=MAX_VIDEO_PIXELS) as frames:
        for index, frame in enumerate(frames):
            if index >= DRIVING_SEARCH_FRAMES:
                break
            found = faces.detect_faces(frame, windows=index == 0)
            if found:
                return face_crop(found[0]), found[0]
    raise NoFaceFound(
        f"No face was found in the first {DRIVING_SEARCH_FRAMES} frames of the driving video: the BlazeFace detector "
        f"looked for a face with a score of at least {faces.MIN_SCORE}. Use a video of one face looking roughly at "
        "the camera, or turn off the automatic crop if the video is already a face crop."
    )


# ---------------------------------------------------------------- keypoints and frames


def _batch(crops: list[np.ndarray]) -> np.ndarray:
    return np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / 255.0


def _keypoint_inputs(net):
    from paddle.static import InputSpec

    sample = np.random.default_rng(0).random((2, 3, SIDE, SIDE), dtype=np.float32)
    return [InputSpec([None, 3, SIDE, SIDE], "float32", name="image")], [sample]


def _animate_inputs(net):
    import paddle
    from paddle.static import InputSpec

    sources = np.random.default_rng(0).random((2, 3, SIDE, SIDE), dtype=np.float32)
    with paddle.no_grad():
        value, jacobian = (t.numpy() for t in KEYPOINTS.wrap(net)(paddle.to_tensor(sources)))
    kp = net.num_kp
    specs = [InputSpec([None, 3, SIDE, SIDE], "float32", name="source"),
             InputSpec([None, kp, 2], "float32", name="kp_value"), InputSpec([None, kp, 2, 2], "float32", name="kp_jacobian"),
             InputSpec([None, kp, 2], "float32", name="driving_value"),
             InputSpec([None, kp, 2, 2], "float32", name="driving_jacobian")]
    return specs, [sources, value, jacobian, value + 0.05, jacobian]


def _keypoint_arrays(net):
    from core.nets.first_order import KeypointArrays

    return KeypointArrays(net)


def _animate_arrays(net):
    from core.nets.first_order import AnimateArrays

    return AnimateArrays(net)


def _upsample_free(layer):
    from core.export import upsample_free

    return upsample_free(layer)


def _keypoint_detector_exportable(layer):
    from core.export import keypoint_detector_exportable

    return keypoint_detector_exportable(layer)


# The two fast paths of a checkpoint: the keypoint detector, and the generator (any batch of frames).
KEYPOINTS = Export("keypoints", inputs=_keypoint_inputs, wrap=_keypoint_arrays, rewrite=_keypoint_detector_exportable)
ANIMATE = Export("animate", inputs=_animate_inputs, wrap=_animate_arrays, rewrite=_upsample_free)


def load(model: str = DEFAULT_MODEL, engine: str = "auto"):
    """(keypoints runner, animation runner) of `model`, loaded once per process; each on the fast path
    when it verifies against dygraph (WeightsUnavailable at once when the file is missing)."""
    from core import models

    weights = check_model(model).weights
    return models.runner(weights, KEYPOINTS, engine), models.runner(weights, ANIMATE, engine)


def keypoints(runs, crops: list[np.ndarray]):
    """First Order Motion keypoints (numpy Keypoints) of SIDE x SIDE uint8 crops."""
    from core.nets.first_order import Keypoints

    value, jacobian = runs[0](_batch(crops))
    return Keypoints(np.asarray(value), np.asarray(jacobian))


def animate_crop(runs, source: np.ndarray, kp_source, kp_driving) -> np.ndarray:
    """The source [1, 3, SIDE, SIDE] moved to each of the driving keypoints: frames as uint8 [N, SIDE, SIDE, 3]."""
    frames = len(kp_driving.value)

    def repeat(array):
        return np.repeat(np.asarray(array, np.float32), frames, axis=0)

    out = runs[1](repeat(source), repeat(kp_source.value), repeat(kp_source.jacobian),
                  np.asarray(kp_driving.value, np.float32), np.asarray(kp_driving.jacobian, np.float32))[0]
    return np.clip(np.asarray(out).transpose(0, 2, 3, 1) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def pose(points: np.ndarray) -> np.ndarray:
    """Six face keypoints centred and scaled to unit spread: comparable across faces and crops."""
    centred = points - points.mean(axis=0)
    spread = np.sqrt((centred ** 2).sum(axis=1).mean())
    return centred / spread if spread > 0 else centred


def best_frame(driving, crop: Crop, source_face, progress=None) -> int:
    """The index of the driving frame whose face pose is closest to the photo's (0 when no frame has a face)."""
    from core.media import iter_video_frames

    target = pose(source_face.keypoints)
    best, best_distance = 0, np.inf
    with iter_video_frames(driving, max_seconds=MAX_VIDEO_SECONDS, max_pixels=MAX_VIDEO_PIXELS) as frames:
        total = frames.info.n_frames
        for index, frame in enumerate(frames):
            found = faces.detect_faces(crop.cut(frame), windows=False, detector="blazeface")  # its keypoints, every frame
            if found:
                distance = float(((pose(found[0].keypoints) - target) ** 2).sum())
                if distance < best_distance:
                    best, best_distance = index, distance
            if progress is not None and index % 10 == 0:
                progress(index, total)
    return best


def initial_keypoints(runs, driving, crop: Crop, index: int):
    """The keypoints of driving frame `index`, the reference of relative motion."""
    from core.media import iter_video_frames

    with iter_video_frames(driving, max_seconds=MAX_VIDEO_SECONDS, max_pixels=MAX_VIDEO_PIXELS) as frames:
        for i, frame in enumerate(frames):
            if i == index:
                return keypoints(runs, [crop.cut(frame)])
    raise InputError("The driving video has no frames.")


def paste(photo: np.ndarray, animated: np.ndarray, crop: Crop) -> np.ndarray:

    if crop.whole:
        return cv2.resize(animated, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
    return faces.paste_back(photo, animated, crop.matrix, feather=FEATHER)


# ---------------------------------------------------------------- the application


@dataclass(frozen=True)
class Animation:
    path: Path
    frames: int
    faces: int  # faces animated (0: the whole photo)
    initial_frame: int  # the driving frame used as the reference of relative motion
    width: int
    height: int


def check_driving(driving):
    """The driving video's VideoInfo, once its length and frame size are within the limits."""
    from core.media import probe_video

    if driving is None:
        raise InputError("Upload or record a driving video first.")
    info = probe_video(driving)
    name = f"The driving video {Path(str(driving)).name}"
    if info.duration_s > MAX_VIDEO_SECONDS:
        raise LimitExceeded(f"{name} is {info.duration_s:.1f} seconds long; the limit is {MAX_VIDEO_SECONDS} seconds.")
    if info.width * info.height > MAX_VIDEO_PIXELS:
        raise LimitExceeded(
            f"{name} has {info.width}x{info.height} = {info.width * info.height:,} pixels per frame; "
            f"the limit is {MAX_VIDEO_PIXELS:,} (1280x720)."
        )
    return info


def read_source(source) -> np.ndarray:
    from core.media import read_image

    if source is None:
        raise InputError("Upload a source photo first.")
    return shrink(read_image(source, max_pixels=MAX_SOURCE_PIXELS))


def animate(source, driving, dest, model: str = DEFAULT_MODEL, relative: bool = True, adapt_scale: bool = True,
            find_best_frame: bool = False, auto_crop: bool = True, multi_person: bool = False,
            progress: Optional[Callable[[int, int], None]] = None, engine: str = "auto") -> Animation:
    """The photo's faces moved like the driving video's face, written to `dest` (H.264, the driving audio).
    engine: "auto" (the fast path where it verifies) or "dygraph"."""
    from core.video import map_video

    choice = check_model(model)
    # 1. Inputs checked, the cheap way first: a bad file never loads a model.
    info = check_driving(driving)
    photo = read_source(source)
    # 2. The crops: the photo's faces, and one fixed square of the driving video around its face.
    crops, source_faces = source_crops(photo, auto_crop, multi_person)
    drive = driving_crop(driving, auto_crop or multi_person, info)[0]
    runs = load(choice.key, engine)
    sources = [crop.cut(photo) for crop in crops]
    kp_sources = [keypoints(runs, [s]) for s in sources]
    source_arrays = [_batch([s]) for s in sources]
    # 3. The reference frame of relative motion: the first, or the one posed most like the photo.
    initial = best_frame(driving, drive, source_faces[0]) if find_best_frame and source_faces else 0
    kp_initial = initial_keypoints(runs, driving, drive, initial)

    def animate_batch(frames):
        from core.nets.first_order import Keypoints, normalize_kp

        kp_driving = keypoints(runs, [drive.cut(frame) for frame in frames])
        outputs = [photo.copy() for _ in frames]
        for crop, source_array, kp_source in zip(crops, source_arrays, kp_sources):
            moved = [normalize_kp(kp_source, Keypoints(kp_driving.value[i:i + 1], None if kp_driving.jacobian is None
                                                       else kp_driving.jacobian[i:i + 1]),
                                  kp_initial, relative=relative, adapt_movement_scale=adapt_scale)
                     for i in range(len(frames))]
            batch = Keypoints(np.concatenate([m.value for m in moved]),
                              None if moved[0].jacobian is None else np.concatenate([m.jacobian for m in moved]))
            # 4. Each face animated for the whole batch, then pasted back into its frame.
            for i, animated in enumerate(animate_crop(runs, source_array, kp_source, batch)):
                outputs[i] = paste(outputs[i], animated, crop)
        return outputs

    path = map_video(driving, dest, animate_batch, batch_size=BATCH, max_seconds=MAX_VIDEO_SECONDS,
                     max_pixels=MAX_VIDEO_PIXELS, progress=progress)
    return Animation(Path(path), info.n_frames, len(source_faces), initial, photo.shape[1], photo.shape[0])


# ---------------------------------------------------------------- jobs (what a worker process runs)


@dataclass(frozen=True)
class AnimationJobResult:
    path: str
    frames: int
    faces: int
    initial_frame: int
    loaded_model: bool


def animate_file(source, driving, model, relative, adapt_scale, find_best_frame, auto_crop, multi_person, dest,
                 progress: Optional[ProgressCallback] = None) -> AnimationJobResult:
    """``animate`` in a worker, with an estimate first and progress as (done, total, description)."""
    from core import models
    from core.estimates import timed_work

    choice = check_model(model)
    info = check_driving(driving)
    loading = not models.is_loaded(choice.weights, ANIMATE)

    def report(done, total):
        if progress is not None:
            progress(done, total, f"Animating frames ({choice.label.split(' (')[0]})")

    faces = MAX_FACES if multi_person else 1
    with timed_work(f"face_animation/{choice.key}", info.n_frames * faces, info.n_frames, "frames",
                    "Animating", progress):
        result = animate(source, driving, dest, model, relative, adapt_scale, find_best_frame, auto_crop,
                         multi_person, progress=report)
    return AnimationJobResult(str(result.path), result.frames, result.faces, result.initial_frame, loading)


@dataclass(frozen=True)
class PreviewResult:
    path: str
    faces: int


def preview_file(source, auto_crop: bool, multi_person: bool, workdir) -> PreviewResult:
    """The photo with the faces found and the squares that would be animated (no First Order Motion weights needed)."""
    from core.media import write_png

    photo = read_source(source)
    crops, found = source_crops(photo, auto_crop, multi_person)
    marked = photo.copy()
    for crop, face in zip(crops, found or [None]):
        corners = cv2.transform(np.array([[[0, 0], [SIDE, 0], [SIDE, SIDE], [0, SIDE]]], np.float64),
                                cv2.invertAffineTransform(crop.matrix))[0]
        cv2.polylines(marked, [corners.round().astype(np.int32)], True, (255, 200, 0), max(2, photo.shape[1] // 300))
        if face is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in face.box)
            cv2.rectangle(marked, (x0, y0), (x1, y1), (0, 255, 120), max(1, photo.shape[1] // 400))
            for x, y in face.keypoints:
                cv2.circle(marked, (int(round(x)), int(round(y))), max(2, photo.shape[1] // 200), (255, 60, 60), -1)
    path = write_png(marked, Path(workdir) / "faces.png")
    return PreviewResult(str(path), len(found))


# ---------------------------------------------------------------- the example driving video


def write_driving_example(path: Path = Path(EXAMPLE_DRIVING), seconds: float = 4.0, fps: int = 12) -> Path:
    """A driving video made offline: Grace Hopper's portrait turned and moved like a talking head,
    with a spoken line from espeak-ng when it is installed."""
    import os
    import shutil
    import subprocess
    import tempfile

    import matplotlib

    from core.media import read_image, write_video

    portrait = read_image(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))
    height, width = portrait.shape[:2]
    side = min(height, width)
    centre = (width / 2, height * 0.45)
    frames = []
    for i in range(int(seconds * fps)):
        t = i / fps
        angle = 6 * np.sin(2 * np.pi * 0.5 * t)  # the head tilts
        zoom = 1 + 0.04 * np.sin(2 * np.pi * 0.35 * t)
        matrix = cv2.getRotationMatrix2D(centre, angle, zoom)
        matrix[:, 2] += [10 * np.sin(2 * np.pi * 0.4 * t), 6 * np.sin(2 * np.pi * 0.7 * t)]  # and sways
        moved = cv2.warpAffine(portrait, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        top = int(centre[1] - side / 2)
        square = moved[max(top, 0):max(top, 0) + side, (width - side) // 2:(width - side) // 2 + side]
        frames.append(cv2.resize(square, (SIDE, SIDE), interpolation=cv2.INTER_AREA))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        silent = Path(tmp) / "silent.mp4"
        write_video(frames, silent, fps)
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            shutil.copy(silent, path)
            return path
        speech = Path(tmp) / "speech.wav"
        subprocess.run([espeak, "-w", str(speech), "Hello. I am moving my head for you."], check=True)
        from core.media import ffmpeg_exe

        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), "-i", str(speech), "-c:v", "copy",
                        "-c:a", "aac", "-b:a", "48k", str(path)], check=True)
    return path


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["driving-example"]:
        print(write_driving_example())
    else:
        print("usage: python -m core.apps.face_animation driving-example", file=sys.stderr)
        sys.exit(2)
