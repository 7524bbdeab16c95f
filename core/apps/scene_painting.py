"""Paint a scene: a label map painted with one colour per class becomes a picture (SPADE).

    paint_scene(model, label_map)  -> Scene (uint8 RGB picture at the model's size, the class ids used)

1. The painted map (any image file: the canvas's PNG or an uploaded colour-coded one) is decoded within
   ``MAX_PIXELS`` and each pixel snapped to the nearest class colour of the model's palette. A brush's
   anti-aliased edge blends two class colours, so a pixel counts as painted when it lies near a palette colour
   or near the line between two of them (``TOLERANCE``); more than ``MAX_UNPAINTED_SHARE`` of pixels far from
   all of them is refused, naming how many and the allowed colours.
2. The class map is resized to the model's size with nearest neighbour (no new classes at the borders).
3. SPADE's input: the label ids one-hot, plus one channel of edges. Cityscapes' model reads the edges of its
   instance map; a painted map has no instances, so each painted region is one instance and the instance edges
   are the edges between regions (where the label changes). PhotoPen and our digit model read the label map's
   own edges, the same thing.
4. The generator (eval mode: batch norms use their running statistics) draws the picture. None of the three
   models takes noise (no VAE, no latent): the same map always gives the same picture, so the tab has no seed.

Models: our SPADE trained on digit scenes (``core.train.spade``; 64x64; sky, ground, digit), PaddleCV/gan's
Cityscapes SPADE (512x1024; Cityscapes' label ids with its official colours; fetched on first use) and PaddleGAN's
PhotoPen (256x256; 12 classes and don't-care whose names PaddleGAN never published: painted by id).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.apps import App, Example, ModelChoice, catalogue, pick, register
from core.errors import InputError, WeightsUnavailable
from core.nets.spade_labels import CITYSCAPES_LABEL_NC, CITYSCAPES_LABELS, PHOTOPEN_LABEL_NC
from core.checkpoints.spade_scenes import DIGIT_SCENE_CLASSES, DIGIT_SCENE_COLOURS, TRAIN_COMMAND

MAX_PIXELS = 2048 * 2048  # the painted map, decoded; it is resized to the model's size anyway
TOLERANCE = 40.0  # RGB distance from a class colour, or from the blend of two, still counted as painted
MAX_UNPAINTED_SHARE = 0.01
EXAMPLE_MAP = "assets/examples/digit_scene_labels.png"

# cityscapesScripts helpers/labels.py: (label id, colour). Ids 0-4 share black and 17/18 share grey: a colour
# paints the first id that has it (unlabeled, pole).
CITYSCAPES_COLOURS = (
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128), (244, 35, 232),
    (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153), (180, 165, 180), (150, 100, 100),
    (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
# PhotoPen's 13 ids (12 classes and don't-care); PaddleGAN publishes no names nor colours: ours, far apart.
PHOTOPEN_COLOURS = (
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (255, 255, 255),
)


@dataclass(frozen=True, kw_only=True)
class SceneModel(ModelChoice):
    """A SPADE choice: what each paint colour means, and the picture's size."""

    names: tuple  # the class painted by each colour
    colours: tuple  # (r, g, b) per paintable class, all different
    label_ids: tuple  # the network's label id each colour paints
    label_nc: int  # the network's one-hot channels (edges come after)
    size: tuple  # (height, width) of the picture
    about: str
    trained_here: bool = False


def _first_of_each_colour(names, colours):
    seen, kept = set(), []
    for label_id, (name, colour) in enumerate(zip(names, colours)):
        if colour not in seen:
            seen.add(colour)
            kept.append((label_id, name, colour))
    return kept


_CITYSCAPES = _first_of_each_colour(CITYSCAPES_LABELS, CITYSCAPES_COLOURS)

MODELS = catalogue(
    SceneModel(
        key="digit_scenes", label="Digit scenes (SPADE trained here, 64x64)", weights="spade.digit_scenes",
        names=DIGIT_SCENE_CLASSES, colours=DIGIT_SCENE_COLOURS, label_ids=(0, 1, 2), label_nc=len(DIGIT_SCENE_CLASSES),
        size=(64, 64), trained_here=True,
        about="Our SPADE, trained on scenes drawn from MNIST digits: paint sky (blue), ground (green) and digits "
        "(orange). Trained in this repository with `" + TRAIN_COMMAND + "`.",
    ),
    SceneModel(
        key="cityscapes", label="Street scenes (PaddleCV SPADE, Cityscapes, 512x1024)", weights="spade.cityscapes",
        names=tuple(n for _, n, _ in _CITYSCAPES), colours=tuple(c for _, _, c in _CITYSCAPES),
        label_ids=tuple(i for i, _, _ in _CITYSCAPES), label_nc=CITYSCAPES_LABEL_NC, size=(512, 1024),
        about="PaddlePaddle/models' SPADE trained on Cityscapes street scenes: paint with Cityscapes' official "
        "colours (road purple, sky blue, vegetation olive, car dark blue...). Fetched on first use.",
    ),
    SceneModel(
        key="photopen", label="Landscapes (PaddleGAN PhotoPen, 256x256)", weights="spade.photopen",
        names=tuple(f"class {k}" for k in range(PHOTOPEN_LABEL_NC - 1)) + ("don't care",), colours=PHOTOPEN_COLOURS,
        label_ids=tuple(range(PHOTOPEN_LABEL_NC)), label_nc=PHOTOPEN_LABEL_NC, size=(256, 256),
        about="PaddleGAN's PhotoPen (SPADE with SimAM) trained on landscape photos. PaddleGAN never published what "
        "its 12 classes are: each colour paints one class id (try them). Fetched on first use.",
    ),
)
DEFAULT_MODEL = "digit_scenes"

APP = register(
    App(
        name="scene_painting",
        title="Paint a scene",
        description="SPADE: paint a label map with one colour per class (or upload one) and get a picture with those "
        "regions: digit scenes (trained here), Cityscapes street scenes, or PhotoPen landscapes.",
        demo="demos.scene_painting",
        endpoints=("paint_scene",),
        networks=("spade", "spade_cityscapes", "photopen_spade"),
        weights=tuple(m.weights for m in MODELS.values()),
        examples=(Example((EXAMPLE_MAP, DEFAULT_MODEL), "label map drawn by core.train.digit_scenes (MNIST, CC BY-SA 3.0)"),),
        limits={"max_label_map_pixels": MAX_PIXELS, "max_unpainted_share": MAX_UNPAINTED_SHARE},
        emoji="🖌️",
        default_budget_s=300.0,
        # the published models' label sets; our digit-scenes model (trained here, 3 MB)
        assets=("core/nets/spade_labels.py", EXAMPLE_MAP, "assets/weights/digit_scenes_spade.pdparams"),
    )
)


def choose(model) -> SceneModel:
    return pick(model, MODELS)


def hex_colour(colour) -> str:
    return "#" + "".join(f"{int(v):02X}" for v in colour)


def palette_text(choice: SceneModel) -> str:
    return ", ".join(f"{name} {hex_colour(colour)}" for name, colour in zip(choice.names, choice.colours))


def require_weights(choice: SceneModel) -> None:
    """Our own model untrained is said so, with the command that trains it (before any work)."""
    from core import weights

    spec = weights.spec(choice.weights)
    if choice.trained_here and weights.locate(spec) is None:
        raise WeightsUnavailable(
            f"{choice.label} is not trained yet: its weights {spec.filename} are neither in the repository "
            f"({spec.bundled}) nor in the weights folders. Train it with: {TRAIN_COMMAND}"
        )


# ---------------------------------------------------------------- the painted map


def _segment_distances(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Each colour's distance to the nearest blend of two palette colours (the segment between them)."""
    best = np.full(len(colours), np.inf)
    for i in range(len(palette)):
        for j in range(i + 1, len(palette)):
            a, direction = palette[i], palette[j] - palette[i]
            t = np.clip((colours - a) @ direction / float(direction @ direction), 0.0, 1.0)
            best = np.minimum(best, np.linalg.norm(colours - (a + t[:, None] * direction), axis=1))
    return best


def snap_to_palette(rgb: np.ndarray, palette) -> tuple[np.ndarray, int]:
    """(index of the nearest palette colour per pixel (H, W), how many pixels are far from every colour and
    every blend of two). Computed once per distinct colour: a painted map has few."""
    palette = np.asarray(palette, np.float64)
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    distinct, inverse, counts = np.unique(packed.ravel(), return_inverse=True, return_counts=True)
    colours = np.stack([(distinct >> 16) & 255, (distinct >> 8) & 255, distinct & 255], axis=1).astype(np.float64)
    distance = np.linalg.norm(colours[:, None] - palette[None], axis=2)
    nearest = distance.argmin(1)
    far = distance.min(1) > TOLERANCE
    if far.any() and len(palette) > 1:
        far[far] = _segment_distances(colours[far], palette) > TOLERANCE
    return nearest[inverse].reshape(rgb.shape[:2]), int(counts[far].sum())


def painted_ids(rgb: np.ndarray, choice: SceneModel) -> np.ndarray:
    """The network's label ids (model's H x W, int64) for a painted RGB map; InputError for an unpainted one."""
    import cv2

    indices, unpainted = snap_to_palette(rgb, choice.colours)
    total = indices.size
    if unpainted > MAX_UNPAINTED_SHARE * total:
        raise InputError(
            f"{unpainted} of the label map's {total} pixels ({100 * unpainted / total:.1f} %) are far from every class "
            f"colour of {choice.label} (at most {100 * MAX_UNPAINTED_SHARE:g} % may be). Paint with these colours only: "
            f"{palette_text(choice)}."
        )
    height, width = choice.size
    resized = cv2.resize(indices.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return np.asarray(choice.label_ids, np.int64)[resized]


def read_label_map(path) -> np.ndarray:
    from core.media import read_image

    if path is None:
        raise InputError("Paint a label map or upload one first.")
    return read_image(Path(str(path)), max_pixels=MAX_PIXELS)


def colour_map(ids: np.ndarray, choice: SceneModel) -> np.ndarray:
    """The label ids painted back in the model's colours (what the network was given), uint8 H x W x 3."""
    lookup = np.zeros((choice.label_nc, 3), np.uint8)
    for label_id, colour in zip(choice.label_ids, choice.colours):
        lookup[label_id] = colour
    return lookup[ids]


# ---------------------------------------------------------------- the network


def network_input(ids: np.ndarray, choice: SceneModel) -> np.ndarray:
    """SPADE's input (1, label_nc + 1, H, W): one-hot ids and the edges between painted regions."""
    from core.nets.spade import semantic_input

    return semantic_input(ids[None], choice.label_nc, edges=True).numpy()


def _map_inputs(net):
    """The exported graph's input, a label map at the network's own size (maps are resized to it), and a sample:
    blocks of random classes with their edges, as a painted map gives them."""
    from paddle.static import InputSpec

    from core.nets.spade import semantic_input

    height, width = net.output_size
    label_nc = net.semantic_nc - 1  # the last channel is the edges
    blocks = np.random.default_rng(0).integers(0, label_nc, (1, height // 8 + 1, width // 8 + 1))
    ids = np.kron(blocks, np.ones((8, 8), np.int64))[:, :height, :width]
    sample = semantic_input(ids, label_nc, edges=True).numpy()
    return [InputSpec([1, net.semantic_nc, height, width], "float32", name="label_map")], [sample]


def _map_export():
    from core.export import spade_exportable
    from core.models import Export

    return Export("map", inputs=_map_inputs, rewrite=spade_exportable)


def runner(choice: SceneModel):
    from core import models

    return models.runner(choice.weights, _map_export())


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # uint8 RGB, the model's size
    ids: np.ndarray  # the label ids the network was given
    classes_used: tuple  # names of the classes painted


def paint_scene(model, label_map) -> Scene:
    """The picture SPADE draws for a painted label map file (steps in the module docstring)."""
    from core.media import to_uint8

    choice = choose(model)
    require_weights(choice)
    ids = painted_ids(read_label_map(label_map), choice)  # a bad map never loads a model
    output = runner(choice)(network_input(ids, choice))[0]
    used = sorted(set(np.unique(ids).tolist()) & set(choice.label_ids))
    names = tuple(choice.names[choice.label_ids.index(i)] for i in used)
    return Scene(to_uint8(output[0]).transpose(1, 2, 0), ids, names)


@dataclass(frozen=True)
class SceneJobResult:
    path: str
    map_path: str
    width: int
    height: int
    classes_used: tuple
    loaded_model: bool


def paint_scene_file(model, label_map, workdir) -> SceneJobResult:
    """``paint_scene`` in a worker: the picture and the snapped map (as given to the network) as PNGs in `workdir`."""
    from core import models
    from core.media import write_png

    choice = choose(model)
    loading = not models.is_loaded(choice.weights)
    scene = paint_scene(model, label_map)
    path = write_png(scene.image, Path(workdir) / f"scene-{choice.key}.png")
    map_path = write_png(colour_map(scene.ids, choice), Path(workdir) / f"label-map-{choice.key}.png")
    return SceneJobResult(str(path), str(map_path), scene.image.shape[1], scene.image.shape[0], scene.classes_used, loading)


# ---------------------------------------------------------------- the example


def draw_example_map(seed: int = 4) -> np.ndarray:
    """A digit scene's label map in the digit model's colours, scaled 4x (256x256) so it is easy to paint over."""
    from core.train.digit_scenes import digit_scenes

    ids = digit_scenes(1, seed=seed).label_maps[0]
    return np.asarray(DIGIT_SCENE_COLOURS, np.uint8)[ids].repeat(4, axis=0).repeat(4, axis=1)


def write_example_map(path=None) -> Path:
    from core.media import write_png
    from core.paths import REPO_ROOT

    return write_png(draw_example_map(), Path(path) if path else REPO_ROOT / EXAMPLE_MAP)


if __name__ == "__main__":  # python -m core.apps.scene_painting: (re)draws the example label map
    print(write_example_map())
