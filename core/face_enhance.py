"""Face enhancement: GFPGAN or GPEN restores each face of a picture, pasted back without a seam.

    result = enhance_faces(image, model="gfpgan")   # EnhancedFaces(image, faces, too_small, beyond_limit)

The picture comes already upscaled by the caller, as GFPGAN's own inference does it (the background
by Real-ESRGAN, the faces by GFPGAN). For each face, largest first (``core.face`` finds them and
their keypoints):

1. Alignment: the similarity transform (rotation, one scale, translation) that puts the face's eyes,
   nose tip and mouth centre closest onto ``FFHQ_TEMPLATE_512``, the points where FFHQ's aligned
   512x512 faces have them. GFPGAN v1 and GPEN-512 were both trained on FFHQ's aligned faces, so
   they restore a face well only where FFHQ puts it. A face much larger than the crop is first
   shrunk by area averaging (a bilinear warp alone would alias it).
2. The network sees the 512x512 crop in [-1, 1] (RGB) and returns the restored crop, clipped to
   [-1, 1] (the networks do not squash their output).
3. Paste-back through the exact inverse map, blended through PaddleGAN's soft mask for its face
   enhancer (``PASTE_MASK_*`` below): the crop's border never shows.

One face is in the network at a time, so memory does not grow with the number of faces. Faces whose
eyes are less than ``MIN_EYE_DISTANCE`` pixels apart are left alone (counted in ``too_small``): at
that size the network would invent the face, not restore it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional

import cv2
import numpy as np

from core import face as faces
from core.errors import InputError

# API choice -> checkpoint (both take and give an aligned RGB 512x512 face in [-1, 1]).
FACE_ENHANCERS = {"gfpgan": "gfpgan.v1_512", "gpen": "gpen.face_enhance_512"}
DEFAULT_ENHANCER = "gfpgan"
# What an application using this module must ship: the networks its checkpoints fit, the StyleGAN2
# module both import (a Space carries each listed network's module), and the face pipeline's own.
NETWORKS = ("gfpgan_v1_512", "gpen512_face_enhance", "stylegan2", *faces.NETWORKS)
WEIGHTS = (*FACE_ENHANCERS.values(), *faces.WEIGHTS)

SIDE = 512  # both networks' input and output
MAX_FACES = 8  # each face is a full 512x512 pass through a StyleGAN2-sized network
# Below this many pixels between the eyes (a face of about 50 pixels) the network would be making a
# face up from a few pixels (FFHQ's crop has 126 between the eyes: a 5x enlargement).
MIN_EYE_DISTANCE = 24.0

# Where FFHQ's aligned 512x512 faces have their five points: the person's right eye (on the picture's
# left), left eye, nose tip, mouth corner on the picture's left, mouth corner on the right. Facts from
# facexlib's FaceRestoreHelper (``face_template`` for face_size 512), which GFPGAN's inference uses to
# align its faces with cv2.estimateAffinePartial2D (a similarity). The points are averages over FFHQ,
# whose faces were aligned from 68 dlib landmarks (eye-to-eye and eye-to-mouth vectors).
FFHQ_TEMPLATE_512 = np.array([
    [192.98138, 239.94708],
    [318.90277, 240.19360],
    [256.63416, 314.01935],
    [201.26117, 371.41043],
    [313.08905, 371.15118],
], dtype=np.float64)
# The four points BlazeFace gives in the same places (core.face keypoints 0-3): the eyes, the nose tip
# and the mouth centre (the midpoint of the template's mouth corners).
TEMPLATE = np.vstack([FFHQ_TEMPLATE_512[:3], FFHQ_TEMPLATE_512[3:].mean(axis=0)])

# PaddleGAN's paste-back mask for its face enhancer (ppgan/faceutils/face_enhancement/face_enhance.py,
# recorded in core.nets.gpen): a filled square from (26, 26) to (486, 486) of the 512 crop, blurred
# twice by a 101x101 Gaussian of sigma 11. It still holds about 10% at the crop's border (PaddleGAN
# pastes into the very square it cut, so that never showed there); a ramp over the outer
# EDGE_FEATHER of the crop takes it to zero, so the crop's edge leaves no line in the picture.
PASTE_MASK_RECT = ((26, 26), (486, 486))
PASTE_MASK_BLUR = {"ksize": (101, 101), "sigma": 11, "passes": 2}
EDGE_FEATHER = 0.02
# Scale limits of the bilinear warps: beyond these many pixels of one side per pixel of the other the
# side being sampled is first shrunk by area averaging (bilinear sampling skips pixels and aliases).
MAX_SAMPLING_STEP = 2.0

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class EnhancedFaces:
    """The picture with its faces restored (same size as given), and how many faces were restored or
    left alone: too small to restore, or beyond ``max_faces`` (the smaller ones)."""

    image: np.ndarray
    faces: int
    too_small: int = 0
    beyond_limit: int = 0


def check_model(model: str) -> str:
    """The checkpoint of an API choice; InputError lists the choices."""
    if model not in FACE_ENHANCERS:
        raise InputError(f"Unknown face enhancer {model!r}; choose one of: {', '.join(FACE_ENHANCERS)}.")
    return FACE_ENHANCERS[model]


# ---------------------------------------------------------------- the network


def face_export():
    """The enhancer on the fast path: one aligned 512x512 face in, the restored face alone out."""
    from core.export import FirstOutput, face_restorer_exportable
    from core.models import Export

    def inputs(net):
        from paddle.static import InputSpec

        sample = np.random.default_rng(0).uniform(-1, 1, (1, 3, SIDE, SIDE)).astype(np.float32)
        return [InputSpec([1, 3, SIDE, SIDE], "float32", name="face")], [sample]

    return Export("face512", inputs=inputs, wrap=FirstOutput, rewrite=face_restorer_exportable)


def load(model: str = DEFAULT_ENHANCER, engine: str = "auto"):
    """The loaded enhancer of `model` (once per process): ``runner(face [1, 3, 512, 512]) -> [face]``.

    On the fast path where it verifies (both networks do on oneDNN since GFPGAN's bilinear upsampling is
    swapped interp-free in the exported copy and graphs with leaky_relu skip the matmul + activation fusion
    that crashed GPEN's): on 2 cores a face takes 1.3 s (GFPGAN) or 2.0 s (GPEN) instead of 4.5 s and 10.7 s
    in dygraph (docs/performance.md). A new worker pays the
    export once (about 10 s for GFPGAN; the verdict itself is cached on disk), which a video's frames or
    a second photo repay.
    """
    from core import models

    return models.runner(check_model(model), face_export(), engine=engine)


def restore_crop(run, crop: np.ndarray) -> np.ndarray:
    """The network's restoration of an aligned RGB uint8 512x512 crop, as RGB uint8."""
    network_input = (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
    out = np.asarray(run(np.ascontiguousarray(network_input))[0])[0]
    out = np.clip(out, -1.0, 1.0)  # the networks' output is not squashed
    return np.clip((out.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- alignment


def eye_distance(face: faces.Face) -> float:
    return float(np.linalg.norm(face.keypoints[1] - face.keypoints[0]))


def alignment_matrix(face: faces.Face) -> np.ndarray:
    """The 2x3 picture -> crop map that puts `face`'s eyes, nose tip and mouth centre closest onto
    ``TEMPLATE`` in the 512x512 crop (least squares over the four points)."""
    return faces.similarity_transform(face.keypoints[:4], TEMPLATE)


def _scale(matrix: np.ndarray) -> float:
    """Crop pixels per picture pixel of a similarity map."""
    return math.sqrt(abs(np.linalg.det(matrix[:, :2])))


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _resize_map(factor_x: float, factor_y: float, left: float = 0.0, top: float = 0.0) -> np.ndarray:
    """The 3x3 map of cv2.resize's pixel centres from a picture (its window from `left`, `top`) to the
    resized window: x' = (x - left + 0.5) * factor - 0.5."""
    return np.array([[factor_x, 0.0, (0.5 - left) * factor_x - 0.5],
                     [0.0, factor_y, (0.5 - top) * factor_y - 0.5],
                     [0.0, 0.0, 1.0]])


def _footprint(matrix: np.ndarray, height: int, width: int, side: int = SIDE) -> tuple[int, int, int, int]:
    """The picture's pixels (x0, y0, x1, y1) under the side x side crop of `matrix`, a pixel around, clipped."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = cv2.transform(np.array([[[0, 0], [side, 0], [side, side], [0, side]]], np.float64), inverse)[0]
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 3, (width, height))
    return int(x0), int(y0), int(x1), int(y1)


def align(image: np.ndarray, face: faces.Face) -> faces.AlignedFace:
    """`face` aligned to the FFHQ template in a 512x512 crop; `matrix` maps the picture onto the crop.

    Edges are replicated where the crop passes the picture's. A face larger than the crop is shrunk
    by area averaging first, the map composed with the shrinking, so `matrix` stays picture -> crop.
    """
    matrix = alignment_matrix(face)
    scale = _scale(matrix)
    height, width = image.shape[:2]
    source, to_crop = image, matrix
    if scale < 1.0 / MAX_SAMPLING_STEP:
        x0, y0, x1, y1 = _footprint(matrix, height, width)
        if x1 > x0 and y1 > y0:
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            source = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
            shrink = _resize_map(size[0] / (x1 - x0), size[1] / (y1 - y0), x0, y0)
            to_crop = (_homogeneous(matrix) @ np.linalg.inv(shrink))[:2]
    crop = cv2.warpAffine(source, to_crop, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return faces.AlignedFace(crop, matrix, face)


@lru_cache(maxsize=1)
def paste_mask() -> np.ndarray:
    """PaddleGAN's soft mask over the 512 crop (float32, 1 over the face, 0 at the crop's border)."""
    mask = np.zeros((SIDE, SIDE), np.float32)
    (x0, y0), (x1, y1) = PASTE_MASK_RECT
    cv2.rectangle(mask, (x0, y0), (x1, y1), 1.0, thickness=-1)
    for _ in range(PASTE_MASK_BLUR["passes"]):
        mask = cv2.GaussianBlur(mask, PASTE_MASK_BLUR["ksize"], PASTE_MASK_BLUR["sigma"])
    mask = mask * faces.feather_mask(SIDE, EDGE_FEATHER)
    mask.setflags(write=False)
    return mask


def paste(image: np.ndarray, restored: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The restored 512x512 crop back into `image` through the exact inverse of `matrix`, blended
    through ``paste_mask``. A crop much larger than the face is in the picture is shrunk by area
    averaging first, so the bilinear warp back samples every crop pixel."""
    scale = _scale(matrix)
    mask = paste_mask()
    if scale > MAX_SAMPLING_STEP:
        side = max(2, math.ceil(SIDE * MAX_SAMPLING_STEP / scale))
        restored = cv2.resize(restored, (side, side), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA)
        matrix = (_resize_map(side / SIDE, side / SIDE) @ _homogeneous(matrix))[:2]
    # The mask is in the crop's frame already: core.face.paste_back's own feather is not added (0 gives
    # a one-pixel ramp, which the mask's zero border makes moot).
    return faces.paste_back(image, restored, matrix, feather=0.0, mask=mask)


# ---------------------------------------------------------------- the pipeline


def enhance_face(image: np.ndarray, face: faces.Face, run) -> np.ndarray:
    """`image` with `face` restored by the loaded enhancer `run` (see ``load``)."""
    aligned = align(image, face)
    return paste(image, restore_crop(run, aligned.crop), aligned.matrix)


def enhance_faces(image: np.ndarray, model: str = DEFAULT_ENHANCER, max_faces: int = MAX_FACES,
                  progress: Optional[ProgressCallback] = None, engine: str = "auto") -> EnhancedFaces:
    """Every face of an RGB uint8 picture (H x W x 3) restored by `model` ("gfpgan" or "gpen"), the
    largest first, up to `max_faces`. A picture without a face comes back as it is, with 0 faces (the
    model is not loaded then). progress(done, total) after each face."""
    check_model(model)
    if isinstance(max_faces, bool) or not isinstance(max_faces, (int, np.integer)) or max_faces < 0:
        raise InputError(f"max_faces must be a whole number of at least 0, not {max_faces!r}.")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 picture (H x W x 3), got {image.dtype} {image.shape}")
    found = faces.detect_faces(image)  # largest first
    large = [f for f in found if eye_distance(f) >= MIN_EYE_DISTANCE]
    chosen = large[:max_faces]
    result = EnhancedFaces(image, 0, too_small=len(found) - len(large), beyond_limit=len(large) - len(chosen))
    if not chosen:
        return result
    run = load(model, engine)
    enhanced = image
    for done, face in enumerate(chosen, start=1):
        # Cut from the picture with the faces before it restored: where two crops overlap, the later
        # one carries the earlier restoration, not the old pixels, back in.
        enhanced = enhance_face(enhanced, face, run)
        if progress is not None:
            progress(done, len(chosen))
    return EnhancedFaces(enhanced, len(chosen), result.too_small, result.beyond_limit)
