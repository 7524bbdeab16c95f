"""Faces, shared by every face application: find them, align them, crop them, paste them back.

    faces = detect_faces(image)                 # [Face], largest first; NoFaceFound via require_faces
    aligned = align_face(image, faces[0], 256)  # the face upright at a fixed place in a 256² crop
    image = paste_back(image, result, aligned.matrix)   # the edited crop back, with a feathered seam

Detection is BlazeFace (``core.nets.blazeface``): MediaPipe's front-camera model, whose real
weights are imported offline from the ``mediapipe`` wheel, so faces are found on a fresh machine.
It sees a 128x128 picture, so the whole picture is looked at first, then overlapping windows of
half its side, for faces too small to show at 128 pixels; detections of one face are merged.
Where PaddleGAN's S3FD weights have been placed (``s3fd.paddlegan``), S3FD finds the faces as
PaddleGAN's First Order Motion and Wav2Lip do, and BlazeFace gives each its keypoints.

A ``Face`` carries its box, six keypoints (the person's right eye, left eye, nose tip, mouth
centre, right ear, left ear) and a score, in the picture's pixels. Alignment maps four of the
keypoints (eyes, nose, mouth) onto a template by a similarity transform (rotation, one scale,
translation: nothing that distorts the face), as face editing and restoration networks expect.
Video: ``FaceTracker`` follows faces from frame to frame and smooths their boxes and keypoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import cv2
import numpy as np

from core.errors import NoFaceFound

DETECTOR = "blazeface.mediapipe_short_range"
BOX_DETECTOR = "s3fd.paddlegan"  # PaddleGAN's face detector (FOM, Wav2Lip): used when its weights are here
# What an application using this pipeline must ship (its Space carries both network modules).
NETWORKS = ("blazeface", "s3fd")
WEIGHTS = (DETECTOR, BOX_DETECTOR)
S3FD_MAX_SIDE = 640  # S3FD looks at the picture shrunk to this: its cost grows with the pixels (2 s at 256² on CPU)
MIN_SCORE = 0.75  # PaddleGAN's and MediaPipe's threshold on BlazeFace's score
MERGE_IOU = 0.3  # detections of one face (whole picture and windows) overlap more than this
MIN_FACE_PIXELS = 16  # smaller boxes are noise at any scale
NETWORK_SIDE = 128

# Where the eyes, nose tip and mouth centre of an upright face sit in a unit square, from the
# common 5-point template of face recognition (112x112, mouth corners averaged), centred.
TEMPLATE = np.array([
    [38.2946, 51.6963],  # the person's right eye (on the picture's left)
    [73.5318, 51.5014],  # left eye
    [56.0252, 71.7366],  # nose tip
    [56.1396, 92.2848],  # mouth centre
], dtype=np.float64) / 112.0
_TEMPLATE_KEYPOINTS = (0, 1, 2, 3)  # BlazeFace keypoints that match the template's rows


@dataclass(frozen=True)
class Face:
    """One detected face, in the picture's pixels."""

    box: tuple  # x0, y0, x1, y1
    keypoints: np.ndarray = field(compare=False)  # [6, 2]: right eye, left eye, nose tip, mouth centre, right ear, left ear
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The side of a square of the box's area: faces are sorted by it."""
        return float(np.sqrt(max(self.width, 0.0) * max(self.height, 0.0)))

    @property
    def centre(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])


# ---------------------------------------------------------------- detection


def _detector():
    from core import models

    # Dygraph: the network answers in ~15 ms, and its exported graph did not verify on oneDNN (the
    # verifying child ran past its 300 s limit), so there is nothing for the fast path to win.
    return models.runner(DETECTOR)


def _windows(height: int, width: int) -> list[tuple[int, int, int]]:
    """Overlapping square windows (left, top, side) covering the picture: half its shorter side (at
    least the network's), a step of half a window. None when one window would hold the whole picture."""
    side = max(NETWORK_SIDE, min(height, width) // 2)
    if side >= max(height, width):
        return []
    step = side // 2

    def starts(length):
        last = max(length - side, 0)
        return sorted({*range(0, last + 1, step), last})

    return [(left, top, side) for top in starts(height) for left in starts(width)]


def _run_square(run, image: np.ndarray, left: int, top: int, side: int):
    """Detections in the square window (left, top, side) of `image`, in image pixels (padded with black
    where the window passes the picture's edge)."""
    from core.nets import blazeface

    window = image[max(top, 0):top + side, max(left, 0):left + side]
    square, letterbox = blazeface.letterbox_square(window)
    small = cv2.resize(square, (NETWORK_SIDE, NETWORK_SIDE), interpolation=cv2.INTER_AREA if square.shape[0] > NETWORK_SIDE
                       else cv2.INTER_LINEAR)
    raw_boxes, raw_scores = run(blazeface.to_network_input(small))
    boxes, keypoints, scores = blazeface.detect(raw_boxes, raw_scores, min_score=MIN_SCORE, iou_threshold=MERGE_IOU)
    offset = np.array([max(left, 0), max(top, 0)], dtype=np.float64)
    boxes = blazeface.to_image_pixels(boxes, letterbox) + np.tile(offset, 2)
    keypoints = blazeface.to_image_pixels(keypoints, letterbox) + offset
    return boxes, keypoints, scores


def box_detector_ready() -> bool:
    """Whether S3FD's published weights are on this machine (then it finds the faces; BlazeFace their keypoints)."""
    from core import weights

    return weights.locate(weights.spec(BOX_DETECTOR)) is not None


def detect_faces(image: np.ndarray, windows: bool = True, min_score: float = MIN_SCORE,
                 detector: str = "auto") -> list[Face]:
    """Every face in an RGB uint8 picture, largest first (an empty list when there is none).

    detector: "blazeface", "s3fd" (PaddleGAN's: boxes by S3FD, keypoints by BlazeFace inside each
    box), or "auto": S3FD when its weights are here, else BlazeFace.
    windows: BlazeFace also looks at overlapping windows of half the picture's side, for smaller
    faces (nine or so more network runs of ~15 ms; videos track faces instead).
    """
    if detector == "s3fd" or (detector == "auto" and box_detector_ready()):
        return _detect_with_s3fd(np.ascontiguousarray(image[..., :3]))
    return _detect_with_blazeface(image, windows, min_score)


def _detect_with_s3fd(image: np.ndarray) -> list[Face]:
    """S3FD's boxes (PaddleGAN's thresholds), each given BlazeFace's keypoints from a square crop around it
    (or, where BlazeFace sees no face in the box, the template's points placed in the box)."""
    from core import models
    from core.nets import blazeface, s3fd

    height, width = image.shape[:2]
    scale = min(1.0, S3FD_MAX_SIDE / max(height, width))
    small = image if scale == 1.0 else cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    raw = models.runner(BOX_DETECTOR)(s3fd.to_network_input(small))
    boxes, scores = s3fd.detect(raw, height, width, network_size=small.shape[:2])
    run = _detector()
    faces = []
    for box, score in zip(boxes, scores):
        found = Face(tuple(float(v) for v in box), np.zeros((blazeface.NUM_KEYPOINTS, 2)), float(score))
        if min(found.width, found.height) < MIN_FACE_PIXELS:
            continue
        left, top, side = square_box(found, scale=1.6)
        inside = _run_square(run, image, left, top, side)
        if len(inside[2]):
            keypoints = inside[1][0]
        else:
            x0, y0 = found.box[:2]
            template = np.vstack([TEMPLATE, [[0.05, 0.5], [0.95, 0.5]]])  # the ears at the box's sides
            keypoints = np.array([x0, y0]) + template * [found.width, found.height]
        faces.append(Face(found.box, keypoints, found.score))
    return sorted(faces, key=lambda f: -f.size)


def _detect_with_blazeface(image: np.ndarray, windows: bool, min_score: float) -> list[Face]:
    from core.nets import blazeface

    image = np.ascontiguousarray(image[..., :3])
    height, width = image.shape[:2]
    run = _detector()
    found = [_run_square(run, image, 0, 0, max(height, width))]
    if windows:
        found += [_run_square(run, image, left, top, side) for left, top, side in _windows(height, width)]
    boxes = np.concatenate([f[0] for f in found]).reshape(-1, 4)
    keypoints = np.concatenate([f[1] for f in found]).reshape(-1, blazeface.NUM_KEYPOINTS, 2)
    scores = np.concatenate([f[2] for f in found])
    keep = scores >= min_score
    if len(found) > 1 and keep.any():
        boxes, keypoints, scores = blazeface.weighted_nms(boxes[keep], keypoints[keep], scores[keep], MERGE_IOU)
        keep = np.ones(len(scores), bool)
    faces = []
    for box, points, score in zip(boxes[keep], keypoints[keep], scores[keep]):
        box = np.clip(box, 0, [width, height, width, height])
        face = Face(tuple(float(v) for v in box), points.astype(np.float64), float(score))
        if min(face.width, face.height) >= MIN_FACE_PIXELS:
            faces.append(face)
    return sorted(faces, key=lambda f: -f.size)


def require_faces(image: np.ndarray, what: str = "the picture", windows: bool = True) -> list[Face]:
    """``detect_faces``, or NoFaceFound saying what was looked at."""
    s3fd_used = box_detector_ready()
    faces = detect_faces(image, windows=windows, detector="s3fd" if s3fd_used else "blazeface")
    if not faces:
        height, width = image.shape[:2]
        looked = "the whole picture and overlapping windows of half its side" if windows and _windows(height, width) \
            else "the whole picture"
        from core.nets.s3fd import DEFAULT_THRESHOLD

        found_by = (f"the S3FD detector looked at the whole picture (shrunk to {S3FD_MAX_SIDE} pixels a side) and found "
                    f"no face with a score above {DEFAULT_THRESHOLD}" if s3fd_used else
                    f"the BlazeFace detector looked at {looked} and found no face with a score of at least {MIN_SCORE}")
        raise NoFaceFound(
            f"No face was found in {what} ({width}x{height}): {found_by}. Use a picture where a face looks roughly towards the camera, "
            f"at least {MIN_FACE_PIXELS * 2} pixels wide, not cut by the picture's edge."
        )
    return faces


# ---------------------------------------------------------------- alignment


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation; no reflection) that maps `source`
    points [N, 2] closest onto `target` [N, 2] in least squares (Umeyama, 1991)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    s, t = source - source_mean, target - target_mean
    covariance = t.T @ s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (s ** 2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix


@dataclass(frozen=True)
class AlignedFace:
    """A face cut out upright: `crop` (size x size) and `matrix`, the 2x3 map from picture to crop."""

    crop: np.ndarray
    matrix: np.ndarray
    face: Face


def alignment_matrix(face: Face, size: int, zoom: float = 1.0, shift_y: float = 0.0) -> np.ndarray:
    """The picture -> crop map that puts `face`'s eyes, nose and mouth on the template in a size x size crop.

    zoom < 1 shows more around the face (0.5: the template's face at half size, hair and chin in);
    shift_y moves the face down (positive) by that fraction of the crop.
    """
    target = (TEMPLATE - 0.5) * zoom + 0.5 + np.array([0.0, shift_y])
    return similarity_transform(face.keypoints[list(_TEMPLATE_KEYPOINTS)], target * size)


def align_face(image: np.ndarray, face: Face, size: int = 256, zoom: float = 1.0, shift_y: float = 0.0) -> AlignedFace:
    """`face` upright in a size x size crop (edges replicated where the crop passes the picture's)."""
    matrix = alignment_matrix(face, size, zoom, shift_y)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop, matrix, face)


def portrait_matrix(face: Face, size: int) -> np.ndarray:
    """The picture -> crop map of a portrait crop as PaddleGAN frames one for photo2cartoon: turned so
    the eyes are level, the face's box grown by 0.8 of its height above (the hair), 0.3 below (the
    chin) and 0.3 of its width on each side, squared around that, in a size x size crop."""
    (right_x, right_y), (left_x, left_y) = face.keypoints[0], face.keypoints[1]
    angle = np.arctan2(left_y - right_y, left_x - right_x)
    cos, sin = np.cos(angle), np.sin(angle)
    side = max(1.6 * face.width, 2.1 * face.height)
    up = np.array([sin, -cos])  # the face's own "up" in the picture
    centre = face.centre + 0.25 * face.height * up
    linear = (size / side) * np.array([[cos, sin], [-sin, cos]])
    return np.hstack([linear, (size / 2 - linear @ centre)[:, None]])


def portrait_crop(image: np.ndarray, face: Face, size: int = 256) -> AlignedFace:
    """``portrait_matrix``'s crop (edges replicated outside the picture)."""
    matrix = portrait_matrix(face, size)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop, matrix, face)


def square_box(face: Face, scale: float = 1.0, shift_y: float = 0.0) -> tuple[int, int, int]:
    """An axis-aligned square (left, top, side) centred on the face box, `scale` times its larger side,
    moved down by shift_y of the side (crops for networks trained on unaligned, framed faces)."""
    side = max(face.width, face.height) * scale
    cx, cy = face.centre
    cy += shift_y * side
    return int(round(cx - side / 2)), int(round(cy - side / 2)), max(1, int(round(side)))


def square_matrix(square: tuple[int, int, int], size: int) -> np.ndarray:
    """The 2x3 map from a picture onto its square (left, top, side) resized to size x size."""
    left, top, side = square
    scale = size / side
    return np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]])


def crop_square(image: np.ndarray, square: tuple[int, int, int], size: int) -> AlignedFace:
    """The square (left, top, side) of `image` resized to size x size, edges replicated outside the picture."""
    matrix = square_matrix(square, size)
    scale = matrix[0, 0]
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop, matrix, None)


def feather_mask(size: int, feather: float = 0.1, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """A size x size float mask: 1 inside, falling smoothly to 0 over `feather` of the side at the edges
    (times `mask` when given, e.g. a face segmentation)."""
    ramp = max(1, int(round(size * feather)))
    distance = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)
    edge = np.clip((distance + 0.5) / ramp, 0.0, 1.0)
    edge = edge * edge * (3 - 2 * edge)  # smoothstep: no visible kink where the ramp ends
    weights = np.minimum.outer(edge, edge)
    if mask is not None:
        weights = weights * cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    return weights


def paste_back(image: np.ndarray, crop: np.ndarray, matrix: np.ndarray, feather: float = 0.1,
               mask: Optional[np.ndarray] = None) -> np.ndarray:
    """`crop` (an edited AlignedFace crop, square, of the size `matrix` maps the face to) warped back into
    `image` by the inverse of `matrix`, blended through a feathered mask so no seam shows. A crop of
    another size needs its scale folded into `matrix` first."""
    height, width = image.shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    side = crop.shape[0]
    # Only the crop's footprint is warped and blended: per video frame this is the cost that
    # counts, and it must not grow with the frame.
    corners = cv2.transform(np.array([[[0, 0], [side, 0], [side, side], [0, side]]], np.float64), inverse)[0]
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, (width, height))
    result = image.copy()
    if x0 >= x1 or y0 >= y1:
        return result
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    weights = feather_mask(side, feather, mask)
    size = (int(x1 - x0), int(y1 - y0))
    back = cv2.warpAffine(crop, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(weights, shifted, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    region = result[y0:y1, x0:x1]
    blended = region.astype(np.float32) * (1 - alpha) + back.astype(np.float32) * alpha
    result[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return result


# ---------------------------------------------------------------- video


@dataclass
class _Track:
    face: Face
    missed: int = 0


class FaceTracker:
    """Faces followed through a video: each frame's detections are matched to the tracks by overlap,
    and each track's box and keypoints are smoothed (an exponential moving average), so crops and
    paste-backs do not jitter. A track missed for `hold` frames in a row ends.

    smoothing: the weight of the past (0: no smoothing; 0.6 keeps about 2.5 frames of memory).
    """

    def __init__(self, smoothing: float = 0.6, hold: int = 5, min_iou: float = 0.2):
        self.smoothing, self.hold, self.min_iou = smoothing, hold, min_iou
        self.tracks: list[_Track] = []

    @property
    def following(self) -> bool:
        """Whether a face was seen in the last frame (a searching caller may look harder while none is)."""
        return any(track.missed == 0 for track in self.tracks)

    def update(self, faces: Sequence[Face]) -> list[Optional[Face]]:
        """The smoothed face of every track after this frame's `faces` (None where a held track missed)."""
        from core.nets.blazeface import box_iou

        unmatched = list(faces)
        for track in self.tracks:
            if unmatched:
                overlaps = box_iou(np.array(track.face.box), np.array([f.box for f in unmatched]))
                best = int(np.argmax(overlaps))
                if overlaps[best] >= self.min_iou:
                    track.face, track.missed = self._blend(track.face, unmatched.pop(best)), 0
                    continue
            track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.hold]
        self.tracks += [_Track(face) for face in unmatched]
        return [t.face if t.missed == 0 else None for t in self.tracks]

    def _blend(self, old: Face, new: Face) -> Face:
        a = self.smoothing
        box = tuple(a * np.array(old.box) + (1 - a) * np.array(new.box))
        return Face(tuple(float(v) for v in box), a * old.keypoints + (1 - a) * new.keypoints, new.score)
