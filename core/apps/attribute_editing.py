"""Attribute editing: StarGAN, AttGAN and STGAN change chosen attributes of faces (CelebA) or of digits (ours).

    edit_faces(photo, models, change, has, intensity=1.0, every_face=False)  -> FaceEdits
    edit_digit(digit, label, directions, models, intensity=1.0)              -> DigitEdits

Faces, with the published CelebA models (PaddlePaddle/models' PaddleCV/gan, fetched on first use):

1. The photo is decoded (``core.media``) and shrunk to at most ``MAX_SIDE`` pixels a side; its largest face
   (or each, up to ``MAX_FACES``) is found by ``core.face``.
2. Each face is cut out as CelebA's aligned pictures frame it: ``img_align_celeba`` is 178x218 with the eyes
   level at CelebA's mean landmarks ((69, 111) and (108, 111)), and the library's reader takes its central
   crop (170x170 for AttGAN and STGAN, the whole 178-pixel width for StarGAN) resized to 128x128. The two eye
   keypoints found by the detector are mapped by a similarity transform (rotation, one scale, shift) onto
   where those landmarks land in the 128x128 picture (``celeba_eyes``).
3. No attribute classifier runs here, so the models are told that the face has exactly the attributes the
   person ticks under "this face has" (none by default); each attribute asked for is flipped from that
   (``flip_attribute``: set when the face lacks it, unset when it has it; conflicting hair colours, hair
   shapes and bald / bangs are cleared as the library's ``infer.py`` clears them). StarGAN knows only its five
   attributes and ignores the others (named in the result).
4. Conditions: StarGAN the 0/1 target; AttGAN ``attribute_condition(target, edited=asked, test_int=intensity)``;
   STGAN ``stgan_difference(source, target) * intensity``. Intensity 1 is how ``infer.py`` edits; 0 asks for
   no change, 2 for twice the change (StarGAN's 0/1 targets have no intensity).
5. Each edited 128x128 face is pasted back into the photo through a feathered edge (``core.face.paste_back``):
   nothing outside the face's crop changes.

Digits, with our own editors (``core.checkpoints.digit_editors``, trained by ``core.train.attributes``):

1. The digit is one of the bundled 5,000 MNIST digits (picked by seed and class), or one drawn on a sketchpad
   and normalised as MNIST's were (``normalise_drawing``: its bounding box scaled to fit a 20x20 box, aspect
   kept, anti-aliased, then placed in 28x28 with its centre of mass at the centre).
2. Its thickness, slant and width are measured (``core.train.morphometry.measure``); its binary attributes are
   those measures against the thresholds each editor was trained with (the median of its class: the class is
   the bundled digit's label, or for a drawing what the bundled digit classifier reads).
3. For each attribute, "more" asks the editor to go from 0 to 1, "less" from 1 to 0, "keep" leaves the
   measured value on both sides (STGAN then sees no difference at all). The digit, padded to 32x32 as in
   training, goes through each editor (``core.train.attributes.condition``), and the central 28x28 of each
   result is measured again. Intensity 1 edits as the editors were trained and are judged (for AttGAN, half
   of what ``infer.py``'s doubling of the edited attribute gives a face); 0 asks for no change, 2 for twice
   the change: the lever where an editor's edit of one attribute is too weak or too strong.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from core import face as faces
from core.apps import App, Example, ModelChoice, catalogue, register
from core.errors import CheckpointMismatch, InputError
from core.nets.celeba_labels import (CELEBA_ATTRIBUTES, STARGAN_ATTRIBUTES, THRES_INT, attribute_condition, flip_attribute,
                                     stgan_difference)

ProgressCallback = Callable[..., None]

# ---------------------------------------------------------------- limits and constants

MAX_PHOTO_PIXELS = 4096 * 4096  # decoding limit of an uploaded photo
MAX_SIDE = 1024  # larger photos are shrunk to this many pixels a side (the faces are edited at 128 anyway)
MIN_SIDE = 32
MAX_FACES = 4
FACE_SIDE = 128  # the published models' pictures
FEATHER = 0.12  # share of the crop over which an edited face fades into the photo
MIN_INTENSITY, MAX_INTENSITY, DEFAULT_INTENSITY = 0.0, 2.0, 1.0

# CelebA's aligned pictures (img_align_celeba) and the mean of their eye landmarks
# (list_landmarks_align_celeba.txt: "lefteye" is the eye on the picture's left, the person's right eye).
CELEBA_WIDTH, CELEBA_HEIGHT = 178, 218
CELEBA_EYES = ((69.0, 111.0), (108.0, 111.0))

MAX_DRAWING_PIXELS = 2048 * 2048
MNIST_SIDE = 28
MNIST_BOX = 20  # MNIST's digits were scaled to fit a 20x20 box, then centred by their centre of mass in 28x28
DIGIT_SCALE = 8  # results are shown 8 times enlarged (224x224)
MAX_SEED = 2**31 - 1
DIRECTIONS = ("more", "less", "keep")

EXAMPLE_FACE = "assets/examples/astronaut.jpg"
EXAMPLE_CREDIT = "photo: Eileen Collins, NASA, public domain"
CLASSIFIER = "digits_classifier.mnist_5k"


@dataclass(frozen=True, kw_only=True)
class FaceModel(ModelChoice):
    """A published CelebA editor: which attributes its condition vector has, and the crop it was trained on."""

    attributes: tuple
    crop: int  # the side of the central square of the 178x218 aligned picture the model saw (then 128x128)


FACE_MODELS = catalogue(
    FaceModel(key="stargan", label="StarGAN (hair colour, male, young)", weights="stargan.celeba",
              attributes=STARGAN_ATTRIBUTES, crop=178),
    FaceModel(key="attgan", label="AttGAN (13 attributes)", weights="attgan.celeba", attributes=CELEBA_ATTRIBUTES, crop=170),
    FaceModel(key="stgan", label="STGAN (13 attributes)", weights="stgan.celeba", attributes=CELEBA_ATTRIBUTES, crop=170),
)
DIGIT_MODELS = catalogue(
    ModelChoice("stargan", "StarGAN (digits)", "stargan.digits"),
    ModelChoice("attgan", "AttGAN (digits)", "attgan.digits"),
    ModelChoice("stgan", "STGAN (digits)", "stgan.digits"),
)
FACE_ATTRIBUTES = CELEBA_ATTRIBUTES  # StarGAN's five are among them


def digit_attributes() -> tuple:
    from core.train.morphometry import ATTRIBUTES

    return ATTRIBUTES


APP = register(
    App(
        name="attribute_editing",
        title="Attribute editing",
        description="StarGAN, AttGAN and STGAN change chosen attributes: of a face in a photo (hair colour, bangs, "
        "glasses, beard, age... with the published CelebA models) or of a handwritten digit (thicker, slanted, "
        "wider, with editors we trained on MNIST), each model's result side by side.",
        demo="demos.attribute_editing",
        endpoints=("edit_face_attributes", "edit_digit"),
        networks=("stargan_celeba_128", "attgan_celeba_128", "stgan_celeba_128", "stargan", "attgan", "stgan",
                  "digits_classifier", *faces.NETWORKS),
        weights=(*(m.weights for m in FACE_MODELS.values()), *(m.weights for m in DIGIT_MODELS.values()), CLASSIFIER,
                 *faces.WEIGHTS),
        examples=(Example((EXAMPLE_FACE, ("Blond_Hair",)), EXAMPLE_CREDIT),),
        limits={"max_photo_pixels": MAX_PHOTO_PIXELS, "max_side": MAX_SIDE, "min_side": MIN_SIDE, "max_faces": MAX_FACES,
                "max_drawing_pixels": MAX_DRAWING_PIXELS, "max_seed": MAX_SEED},
        emoji="🎭",
        default_budget_s=600.0,
        # The digit editors' checkpoints (by spec), the measures and conditions of core.train, the bundled digits
        # and the classifier's and editors' files.
        assets=("core/nets/celeba_labels.py", "core/train", "assets/digits/mnist_5k.npz", "assets/weights"),
    )
)


def _pick(value, choices: dict, what: str):
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"Unknown {what} {str(value)[:40]!r}; choose from: {', '.join(choices)}.")
    return choices[value]


def check_models(models, choices: dict, what: str = "model") -> list:
    """The chosen models in the catalogue's order; InputError when none or an unknown one is asked."""
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, (list, tuple)) or not models:
        raise InputError(f"Choose at least one {what}: {', '.join(choices)}.")
    for model in models:
        _pick(model, choices, what)
    return [choice for key, choice in choices.items() if key in models]


# ---------------------------------------------------------------- faces: attributes


def check_attributes(names, what: str) -> list[str]:
    """Attribute names of the CelebA models, in their order; InputError names an unknown one."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)):
        raise InputError(f"{what} must be a list of attribute names; got {type(names).__name__}.")
    unknown = [str(n)[:40] for n in names if n not in FACE_ATTRIBUTES]
    if unknown:
        raise InputError(f"Unknown attribute {unknown[0]!r} in {what}; the models know: {', '.join(FACE_ATTRIBUTES)}.")
    return [a for a in FACE_ATTRIBUTES if a in names]


def check_intensity(intensity) -> float:
    try:
        value = float(intensity)
    except (TypeError, ValueError):
        raise InputError(f"The intensity must be a number from {MIN_INTENSITY:g} to {MAX_INTENSITY:g}; "
                         f"got {str(intensity)[:40]!r}.") from None
    if not (MIN_INTENSITY <= value <= MAX_INTENSITY):
        raise InputError(f"The intensity must be a number from {MIN_INTENSITY:g} to {MAX_INTENSITY:g}; got {value:g}.")
    return value


@dataclass(frozen=True)
class FaceRequest:
    """What one model is asked: its source labels (what the face is said to have), its target, and what it ignores."""

    model: FaceModel
    source: np.ndarray  # 0/1 [len(model.attributes)]
    target: np.ndarray
    asked: tuple  # the asked attributes the model knows
    ignored: tuple  # the asked attributes it does not know

    def condition(self, intensity: float) -> tuple[np.ndarray, ...]:
        """The arrays the model's network takes after the picture (one row)."""
        edited = [self.model.attributes.index(a) for a in self.asked]
        if self.model.key == "stargan":
            return (self.target[None],)
        if self.model.key == "attgan":
            return (attribute_condition(self.target, THRES_INT, edited, intensity)[None],)
        difference = stgan_difference(self.source, self.target) * np.float32(intensity)
        return np.zeros_like(difference)[None], difference[None].astype(np.float32)  # forward(picture, source, target)


def face_request(model: FaceModel, change: Sequence[str], has: Sequence[str]) -> FaceRequest:
    """`model`'s labels: the face has `has` (its known ones) and nothing else; each of `change` is flipped.

    InputError when two asked attributes conflict (one's flip clears the other's, as two hair colours do)."""
    attributes = list(model.attributes)
    source = np.array([1.0 if a in has else 0.0 for a in attributes], dtype=np.float32)
    asked = tuple(a for a in change if a in attributes)
    target = source.copy()
    for name in asked:
        target = flip_attribute(target, name, attributes)
    undone = [a for a in asked if target[attributes.index(a)] == source[attributes.index(a)]]
    if undone:

        def clears(other: str, attribute: str) -> bool:  # flipping `other` switches a set `attribute` off
            probe = source.copy()
            probe[attributes.index(attribute)] = 1.0
            return flip_attribute(probe, other, attributes)[attributes.index(attribute)] == 0.0

        clashing = [a for a in asked if a in undone or any(clears(a, u) for u in undone)]
        raise InputError(
            f"{' and '.join(clashing)} cannot be changed together: setting one clears the other (the models were "
            "trained on faces with one hair colour, straight or wavy hair, and bangs or a bald head, not both)."
        )
    return FaceRequest(model, source, target.astype(np.float32), asked, tuple(a for a in change if a not in attributes))


def describe_change(request: FaceRequest) -> str:
    """"+Blond_Hair, -Black_Hair": each attribute whose label the model is given differently from the source."""
    parts = []
    for name, before, after in zip(request.model.attributes, request.source, request.target):
        if before != after:
            parts.append(f"{'+' if after > before else '-'}{name}")
    return ", ".join(parts)


# ---------------------------------------------------------------- faces: alignment


def celeba_eyes(crop: int, side: int = FACE_SIDE) -> np.ndarray:
    """Where CelebA's mean eye landmarks lie in the library's side x side picture: the aligned 178x218 picture's
    central crop x crop (as its reader cuts it: left (178 - crop) // 2, top (218 - crop) // 2), resized, pixel
    centres mapped as a resize maps them. [2, 2]: the eye on the picture's left first."""
    left, top = (CELEBA_WIDTH - crop) // 2, (CELEBA_HEIGHT - crop) // 2
    return (np.array(CELEBA_EYES) - [left, top] + 0.5) * (side / crop) - 0.5


def celeba_matrix(face, crop: int, side: int = FACE_SIDE) -> np.ndarray:
    """The photo -> side x side map that puts `face`'s eyes (BlazeFace keypoints 0 and 1: the person's right eye,
    on the picture's left, then the left eye) where CelebA's lie for a model trained on `crop`."""
    return faces.similarity_transform(np.asarray(face.keypoints)[:2], celeba_eyes(crop, side))


def cut(photo: np.ndarray, matrix: np.ndarray, side: int = FACE_SIDE) -> np.ndarray:
    """The side x side crop of `photo` under `matrix`, without aliasing: a face larger than the crop is warped
    at up to four times the side, then averaged down (warpAffine alone samples, INTER_AREA averages)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = int(min(4, max(1, np.ceil(1.0 / scale)))) if scale > 0 else 1
    big = np.asarray(matrix, np.float64) * factor
    big[:, 2] += 0.5 * (factor - 1)  # pixel centres: x_big = (x + 0.5) * factor - 0.5
    warped = cv2.warpAffine(photo, big, (side * factor, side * factor), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped if factor == 1 else cv2.resize(warped, (side, side), interpolation=cv2.INTER_AREA)


def to_network(crops: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 [N] x H x W x 3 -> float32 [N, 3, H, W] in [-1, 1] (the library's ``(x / 255 - 0.5) / 0.5``)."""
    return (np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0).astype(np.float32)


def from_network(output: np.ndarray) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3]."""
    from core.media import to_uint8

    return to_uint8(np.asarray(output).transpose(0, 2, 3, 1))


def shrink(photo: np.ndarray) -> np.ndarray:
    height, width = photo.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return photo
    return cv2.resize(photo, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


def open_photo(photo) -> np.ndarray:
    """The photo decoded (its pixel limit checked from its header), shrunk to MAX_SIDE, at least MIN_SIDE a side."""
    from core.media import read_image

    if photo is None:
        raise InputError("Upload a photo with a face first.")
    pixels = read_image(photo, max_pixels=MAX_PHOTO_PIXELS)
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"The photo is {width}x{height}; each side must be at least {MIN_SIDE} pixels.")
    return shrink(pixels)


# ---------------------------------------------------------------- faces: the application


def _face_editor_inputs(net):
    """Any number of 128x128 faces and their conditions: (picture, target) for StarGAN and AttGAN, (picture,
    source, target) for STGAN, as ``run(picture, *condition)`` is called."""
    import inspect

    from paddle.static import InputSpec

    conditions = len(inspect.signature(net.forward).parameters) - 1
    rng = np.random.default_rng(0)
    picture = rng.uniform(-1, 1, (2, 3, FACE_SIDE, FACE_SIDE)).astype(np.float32)
    given = [rng.integers(0, 2, (2, net.c_dim)).astype(np.float32) for _ in range(conditions)]
    specs = [InputSpec([None, 3, FACE_SIDE, FACE_SIDE], "float32", name="faces")]
    specs += [InputSpec([None, net.c_dim], "float32", name=f"condition{i}") for i in range(conditions)]
    return specs, [picture, *given]


def _face_editor_export():
    from core.models import Export

    return Export("faces128", inputs=_face_editor_inputs)


def load_face_model(model: FaceModel):
    """The model's network, loaded once per process (WeightsUnavailable at once when its file is missing and
    cannot be fetched) and put on the fast path where it verifies: ``run(picture, *condition) -> [picture]``."""
    from core import models

    return models.runner(model.weights, _face_editor_export())


@dataclass(frozen=True)
class FaceEdit:
    model: FaceModel
    photo: np.ndarray  # the whole photo with every edited face pasted back
    crops: list  # each face's edited 128x128 crop
    change: str  # "+Blond_Hair, -Black_Hair"
    ignored: tuple  # asked attributes the model does not know


@dataclass(frozen=True)
class FaceEdits:
    photo: np.ndarray  # the photo as edited (shrunk to MAX_SIDE)
    faces: list  # the faces edited, largest first
    crops: list  # each face's CelebA-aligned crop (AttGAN's and STGAN's framing)
    edits: list  # FaceEdit per model asked that knows some of the attributes asked
    skipped: list = field(default_factory=list)  # (model, why) for the models that knew none of them


def edit_faces(photo, models: Sequence[str], change: Sequence[str], has: Sequence[str] = (),
               intensity: float = DEFAULT_INTENSITY, every_face: bool = False,
               progress: Optional[Callable[[int, int, str], None]] = None) -> FaceEdits:
    """Each chosen model's edit of the photo's largest face (or every face, up to MAX_FACES)."""
    chosen = check_models(models, FACE_MODELS)
    change = check_attributes(change, "the attributes to change")
    has = check_attributes(has, "the attributes the face has")
    intensity = check_intensity(intensity)
    if not change:
        raise InputError("Tick at least one attribute to change.")
    requests = [face_request(model, change, has) for model in chosen]  # refused before any photo is decoded
    # 1. The photo and its faces (a bad file never loads a model).
    pixels = open_photo(photo)
    found = faces.require_faces(pixels, what="the photo")
    found = found[:MAX_FACES] if every_face else found[:1]
    steps = 1 + len(requests)
    if progress is not None:
        progress(1, steps, f"Found {len(found)} face{'s' if len(found) != 1 else ''}")
    edits, skipped = [], []
    for number, request in enumerate(requests, start=2):
        model = request.model
        if not request.asked:
            skipped.append((model, f"knows none of the attributes asked ({', '.join(request.ignored)})"))
            continue
        run = load_face_model(model)
        # 2. Each face as CelebA frames it for this model; 3-4. its condition; 5. pasted back.
        matrices = [celeba_matrix(f, model.crop) for f in found]
        crops = [cut(pixels, matrix) for matrix in matrices]
        condition = [np.repeat(array, len(crops), axis=0) for array in request.condition(intensity)]
        edited = from_network(run(to_network(crops), *condition)[0])
        result = pixels
        for crop, matrix in zip(edited, matrices):
            result = faces.paste_back(result, crop, matrix, feather=FEATHER)
        edits.append(FaceEdit(model, result, list(edited), describe_change(request), request.ignored))
        if progress is not None:
            progress(number, steps, f"Edited with {model.label.split(' (')[0]}")
    aligned = [cut(pixels, celeba_matrix(f, FACE_MODELS["attgan"].crop)) for f in found]
    return FaceEdits(pixels, found, aligned, edits, skipped)


# ---------------------------------------------------------------- digits: the digit


def _ink(picture: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] of an RGB(A) or grey uint8 picture: how far each pixel is from the ground (the border's
    median), as a share of the furthest a stroke could be. Dark strokes on a light ground (the sketchpad's) and
    light ones on a dark ground (MNIST's own) both come out as ink; a picture of one colour has none."""
    from core.media import read_image

    rgb = read_image(np.asarray(picture), max_pixels=MAX_DRAWING_PIXELS)  # RGBA composited on white, grey to RGB
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    ground = float(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
    return np.clip(np.abs(grey - ground) / max(ground, 1.0 - ground), 0.0, 1.0)


def normalise_drawing(picture: np.ndarray) -> np.ndarray:
    """A drawn digit as MNIST's were made: uint8 28x28, white ink on black.

    The ink's bounding box (where it passes a tenth of its strongest) is scaled so its longer side is 20
    pixels (aspect kept; area averaging, so the edges are grey as MNIST's anti-aliased ones are), and placed
    in 28x28 with its centre of mass at the centre (13.5, 13.5 in pixel indices), shifted by fractions of a
    pixel (bilinear)."""
    if picture is None:
        raise InputError("Draw a digit first.")
    ink = _ink(picture)
    strong = ink > max(0.1, 0.1 * float(ink.max()))
    if not strong.any():
        raise InputError("The drawing is empty: draw a digit (dark on a light ground, or light on a dark one).")
    rows, columns = np.nonzero(strong)
    box = ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    height, width = box.shape
    scale = MNIST_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(box, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    small = np.clip(small, 0.0, 1.0)
    total = float(small.sum())
    y, x = np.mgrid[0:small.shape[0], 0:small.shape[1]]
    centre_x, centre_y = float((x * small).sum() / total), float((y * small).sum() / total)
    centre = (MNIST_SIDE - 1) / 2
    shift = np.array([[1.0, 0.0, centre - centre_x], [0.0, 1.0, centre - centre_y]])
    placed = cv2.warpAffine(small, shift, (MNIST_SIDE, MNIST_SIDE), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return np.clip(np.rint(placed * 255.0), 0, 255).astype(np.uint8)


_digits_lock = threading.Lock()
_digits: list = []


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled 5,000 MNIST digits (uint8 [N, 28, 28]) and their classes, read once."""
    from core.train.data import load_digits

    with _digits_lock:
        if not _digits:
            _digits.append(load_digits())
        return _digits[0]


def check_seed(seed) -> int:
    try:
        value = float(seed)
    except (TypeError, ValueError):
        raise InputError(f"The seed must be a whole number from 0 to {MAX_SEED}; got {str(seed)[:40]!r}.") from None
    if not value.is_integer() or not 0 <= value <= MAX_SEED:
        raise InputError(f"The seed must be a whole number from 0 to {MAX_SEED}; got {str(seed)[:40]}.")
    return int(value)


def check_digit_class(digit) -> Optional[int]:
    """0-9, or None for "any"."""
    if digit in (None, "", "any"):
        return None
    try:
        value = int(str(digit))
    except ValueError:
        raise InputError(f"The digit must be 0 to 9 or 'any'; got {str(digit)[:40]!r}.") from None
    if not 0 <= value <= 9:
        raise InputError(f"The digit must be 0 to 9 or 'any'; got {value}.")
    return value


def bundled_digit(seed, digit=None) -> tuple[np.ndarray, int, int]:
    """(uint8 28x28, its class, its index among the bundled digits): the seed picks one of that class (or any)."""
    seed, digit = check_seed(seed), check_digit_class(digit)
    images, labels = bundled_digits()
    pool = np.flatnonzero(labels == digit) if digit is not None else np.arange(len(labels))
    index = int(np.random.default_rng(seed).choice(pool))
    return images[index], int(labels[index]), index


def check_directions(directions) -> dict[str, str]:
    """{attribute: more | less | keep} for each digit attribute (missing ones: keep)."""
    attributes = digit_attributes()
    if directions is None:
        directions = {}
    if not isinstance(directions, dict):
        raise InputError("The edits must map each attribute to more, less or keep.")
    unknown = [a for a in directions if a not in attributes]
    if unknown:
        raise InputError(f"Unknown digit attribute {str(unknown[0])[:40]!r}; the editors know: {', '.join(attributes)}.")
    checked = {}
    for attribute in attributes:
        value = directions.get(attribute, "keep")
        if value is None:
            value = "keep"
        if value not in DIRECTIONS:
            raise InputError(f"{attribute.replace('_', ' ').capitalize()} must be more, less or keep; got {str(value)[:40]!r}.")
        checked[attribute] = value
    return checked


# ---------------------------------------------------------------- digits: the editors


def untrained_editors() -> list[ModelChoice]:
    """The digit editors whose checkpoint is not on this machine (not trained and exported yet)."""
    from core import weights

    return [choice for choice in DIGIT_MODELS.values() if weights.locate(weights.spec(choice.weights)) is None]


def require_trained(chosen: Sequence[ModelChoice]) -> None:
    """WeightsUnavailable at once (no network) for the first chosen editor without a checkpoint: it is not
    trained yet; the message gives the command that trains it, then what ``core.weights`` looked for."""
    from core import weights
    from core.errors import WeightsUnavailable

    for choice in chosen:
        spec = weights.spec(choice.weights)
        if weights.locate(spec) is not None:
            continue
        try:
            weights.fetch(spec)  # a bundled file has no other source: this only says where it looked
        except WeightsUnavailable as missing:
            raise WeightsUnavailable(
                f"The {choice.label.split(' (')[0]} digit editor is not trained yet: train and export it with "
                f"{spec.source_note}. {missing}") from None


_meta_lock = threading.Lock()
_meta: dict = {}


def editor_thresholds(choice: ModelChoice) -> np.ndarray:
    """The thresholds (float [10, 3], per class, in ``ATTRIBUTES``' order) the editor's attributes were cut at
    when it was trained, read from its export's ``meta`` (once per file version)."""
    from core import weights

    spec = weights.spec(choice.weights)
    path = weights.fetch(spec)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _meta_lock:
        if key not in _meta:
            meta = weights.load_saved(path).get("meta")
            meta = meta if isinstance(meta, dict) else {}
            attributes = tuple(meta.get("attributes") or ())
            thresholds = np.asarray(meta.get("thresholds", ()), dtype=np.float64)
            if attributes != digit_attributes() or thresholds.shape != (10, len(attributes)):
                raise CheckpointMismatch(
                    f"The weights file {path.name} ({spec.name}) does not record the digit attributes it was trained "
                    f"on ({', '.join(digit_attributes())}) and their thresholds per class (meta.attributes, "
                    f"meta.thresholds); export it again with: {spec.source_note}"
                )
            _meta[key] = thresholds
        return _meta[key]


def to_editor(digits: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 3, 32, 32] in [-1, 1]: padded with background by 2 and repeated to
    three channels, as ``core.train.attributes.DigitEditingData`` gives the editors their digits."""
    scaled = digits.astype(np.float32)[:, None] / 127.5 - 1.0
    padded = np.pad(scaled, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    return np.repeat(padded, 3, axis=1).astype(np.float32)


def from_editor(output: np.ndarray) -> np.ndarray:
    """[N, 3, 32, 32] in [-1, 1] -> uint8 [N, 28, 28]: the central 28x28, the channels' mean (as the trainer judges)."""
    from core.media import to_uint8

    central = np.asarray(output)[:, :, 2:30, 2:30].mean(axis=1)
    return to_uint8(np.clip(central, -1.0, 1.0))


def read_digits(digits: np.ndarray) -> np.ndarray:
    """What the bundled digit classifier reads in uint8 [N, 28, 28] digits: classes [N]."""
    from core import models

    logits = models.runner(CLASSIFIER)(digits.astype(np.float32)[:, None] / 127.5 - 1.0)[0]
    return np.asarray(logits).argmax(axis=1)


def measured_attributes(measures: np.ndarray, label: int, thresholds: np.ndarray) -> np.ndarray:
    """0/1 per attribute: the digit's measure above its class's threshold."""
    from core.train.morphometry import ATTRIBUTE_MEASURES

    values = np.array([measures[ATTRIBUTE_MEASURES[a]] for a in digit_attributes()])
    return (values > thresholds[label]).astype(np.float32)


def digit_labels(measured: np.ndarray, directions: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) 0/1 labels: "more" 0 -> 1, "less" 1 -> 0, "keep" the measured value on both sides."""
    source, target = measured.astype(np.float32).copy(), measured.astype(np.float32).copy()
    for k, attribute in enumerate(digit_attributes()):
        if directions[attribute] == "more":
            source[k], target[k] = 0.0, 1.0
        elif directions[attribute] == "less":
            source[k], target[k] = 1.0, 0.0
    return source, target


def run_editor(choice: ModelChoice, digit: np.ndarray, source: np.ndarray, target: np.ndarray,
               intensity: float = DEFAULT_INTENSITY) -> np.ndarray:
    """One editor's edit of one uint8 28x28 digit from `source` to `target` labels: uint8 28x28. `intensity`:
    ``core.train.attributes.condition``'s (1: as the editors were trained and judged)."""
    from core import models
    from core.train.attributes import condition

    run = models.runner(choice.weights)
    given = condition(choice.key, source[None], target[None], THRES_INT, intensity).astype(np.float32)
    picture = to_editor(digit[None])
    if choice.key == "stgan":  # forward(picture, source, target) sees target - source: the difference itself
        output = run(picture, np.zeros_like(given), given)[0]
    else:
        output = run(picture, given)[0]
    return from_editor(output)[0]


@dataclass(frozen=True)
class DigitEdit:
    model: ModelChoice
    digit: np.ndarray  # uint8 28x28
    measures: np.ndarray  # morphometry.MEASURES
    read_as: int
    source: np.ndarray  # the labels it was told the digit has
    target: np.ndarray  # the labels it was asked for


@dataclass(frozen=True)
class DigitEdits:
    digit: np.ndarray  # the source, uint8 28x28
    label: int  # its class (the bundled digit's, or what the classifier reads in a drawing)
    measures: np.ndarray
    read_as: int
    directions: dict
    edits: list  # DigitEdit per editor


def edit_digit(digit: np.ndarray, label: Optional[int], directions, models: Sequence[str],
               intensity: float = DEFAULT_INTENSITY, progress: Optional[Callable[[int, int, str], None]] = None) -> DigitEdits:
    """Each chosen editor's edit of a uint8 28x28 digit (white on black) whose class is `label` (None: read it);
    AttGAN's and STGAN's at `intensity` (``run_editor``)."""
    from core.train.morphometry import measure

    chosen = check_models(models, DIGIT_MODELS, "editor")
    directions = check_directions(directions)
    intensity = check_intensity(intensity)
    digit = np.asarray(digit)
    if digit.shape != (MNIST_SIDE, MNIST_SIDE) or digit.dtype != np.uint8:
        raise InputError(f"The digit must be a 28x28 grey picture; got {digit.dtype} {digit.shape}.")
    measures = measure(digit)[0]
    if not np.isfinite(measures[:3]).all():
        raise InputError("The digit has no stroke to measure (nothing as dark as half grey, or only specks).")
    read_as = int(read_digits(digit[None])[0])
    label = read_as if label is None else int(label)
    edits = []
    for number, choice in enumerate(chosen, start=1):
        thresholds = editor_thresholds(choice)
        source, target = digit_labels(measured_attributes(measures, label, thresholds), directions)
        edited = run_editor(choice, digit, source, target, intensity)
        edits.append(DigitEdit(choice, edited, measure(edited)[0], int(read_digits(edited[None])[0]), source, target))
        if progress is not None:
            progress(number, len(chosen), f"Edited with {choice.label.split(' (')[0]}")
    return DigitEdits(digit, label, measures, read_as, directions, edits)


def enlarge(digit: np.ndarray, scale: int = DIGIT_SCALE) -> np.ndarray:
    """A 28x28 digit `scale` times larger, its pixels kept square (nearest), as RGB."""
    big = cv2.resize(digit, (digit.shape[1] * scale, digit.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    return np.repeat(big[..., None], 3, axis=2)


MEASURE_COLUMNS = (("thickness", "thickness (px)"), ("slant", "slant (°)"), ("width", "width (px)"))


def measure_table(edits: DigitEdits) -> tuple[list[str], list[list]]:
    """(headers, rows): the source's thickness, slant and width, then each edit's with its change."""
    from core.train.morphometry import MEASURES

    columns = [MEASURES.index(name) for name, _ in MEASURE_COLUMNS]
    headers = ["digit", "read as", *(title for _, title in MEASURE_COLUMNS)]
    rows = [["source", str(edits.read_as), *(f"{edits.measures[c]:.2f}" for c in columns)]]
    for edit in edits.edits:
        cells = []
        for c in columns:
            value, change = edit.measures[c], edit.measures[c] - edits.measures[c]
            cells.append(f"{value:.2f} ({change:+.2f})" if np.isfinite(value) else "no stroke")
        rows.append([edit.model.label.split(" (")[0], str(edit.read_as), *cells])
    return headers, rows


# ---------------------------------------------------------------- jobs (what a worker process runs)


@dataclass(frozen=True)
class FaceJobResult:
    original: str  # the photo as edited (PNG)
    results: tuple  # (path, caption) per model
    crops: tuple  # (path, caption): each face's aligned crop, then each model's edit of it
    faces: int
    skipped: tuple  # "StarGAN: knows none of ..."
    loaded_models: bool


def edit_faces_file(photo, models, change, has, intensity, every_face, workdir,
                    progress: Optional[ProgressCallback] = None) -> FaceJobResult:
    """``edit_faces`` in a worker: the pictures written as PNG into `workdir`."""
    from core import models as loaded
    from core.media import write_png

    chosen = check_models(models, FACE_MODELS)
    loading = not all(loaded.is_loaded(m.weights, engine="dygraph") for m in chosen)  # runner(weights): dygraph
    result = edit_faces(photo, models, change, has, intensity, every_face, progress=progress)
    workdir = Path(workdir)
    original = write_png(result.photo, workdir / "original.png")
    results, crops = [], []
    for edit in result.edits:
        title = edit.model.label.split(" (")[0]
        ignored = f"; ignores {', '.join(edit.ignored)}" if edit.ignored else ""
        results.append((str(write_png(edit.photo, workdir / f"{edit.model.key}.png")), f"{title}: {edit.change}{ignored}"))
    for number, aligned in enumerate(result.crops, start=1):
        crops.append((str(write_png(aligned, workdir / f"face{number}.png")), f"face {number}, aligned as CelebA"))
        for edit in result.edits:
            path = write_png(edit.crops[number - 1], workdir / f"face{number}-{edit.model.key}.png")
            crops.append((str(path), f"face {number}, {edit.model.label.split(' (')[0]}"))
    skipped = tuple(f"{model.label.split(' (')[0]} {why}" for model, why in result.skipped)
    return FaceJobResult(str(original), tuple(results), tuple(crops), len(result.faces), skipped, loading)


@dataclass(frozen=True)
class DigitJobResult:
    pictures: tuple  # (path, caption): the source, then each editor's result, enlarged
    headers: tuple
    rows: tuple
    label: int
    read_as: int
    told: tuple  # per editor: "StarGAN: thick 0→1, ..."


def edit_digit_file(digit, label, directions, models, intensity, workdir,
                    progress: Optional[ProgressCallback] = None) -> DigitJobResult:
    """``edit_digit`` in a worker: the enlarged pictures written as PNG into `workdir`, the measures as a table."""
    from core.media import write_png

    result = edit_digit(np.asarray(digit, dtype=np.uint8), label, directions, models, intensity, progress=progress)
    workdir = Path(workdir)
    pictures = [(str(write_png(enlarge(result.digit), workdir / "source.png")), f"source (a {result.label})")]
    told = []
    for edit in result.edits:
        title = edit.model.label.split(" (")[0]
        pictures.append((str(write_png(enlarge(edit.digit), workdir / f"{edit.model.key}.png")), title))
        labels = ", ".join(f"{a} {int(s)}→{int(t)}" for a, s, t in zip(digit_attributes(), edit.source, edit.target))
        told.append(f"{title}: {labels}")
    headers, rows = measure_table(result)
    return DigitJobResult(tuple(pictures), tuple(headers), tuple(tuple(r) for r in rows), result.label, result.read_as,
                          tuple(told))
