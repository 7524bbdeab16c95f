"""GAN basics: the classic objectives on handwritten digits, sampled and trained live; PGGAN drawn at each
stage of its growth; and a conditional GAN on pictures: painted eyes by iris colour.

Sampling uses our shipped weights for an objective (``assets/weights/digits_<objective>.pdparams``)
or a checkpoint written by a live run. A live run trains in a worker process
(``LiveRun``, ``train_live``), capped in steps, with at most ``MAX_LIVE_RUNS`` at once on the server.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.apps import App, register
from core.apps.digits import MAX_COUNT, MAX_SEED, check_request
from core.errors import InputError, LimitExceeded, WeightsUnavailable
from core.registry import WEIGHTS
from core.train.gan import OBJECTIVES, TrainConfig, Trainer, generator_name
from core.train.sampling import draw, grid_image

MAX_LIVE_STEPS = 400
MAX_LIVE_RUNS = 2
MAX_WALK_FRAMES = 240
MAX_WALK_SEEDS = 16  # as the face walk: more waypoints only cost memory, never a better video
LIVE_SNAPSHOT_EVERY = 10  # steps between sample grids during a live run

APP = register(
    App(
        name="gan_basics",
        title="GAN basics",
        description="DCGAN, LSGAN, WGAN, WGAN-GP, WGAN-div and a conditional GAN on handwritten digits: "
        "sample from weights we trained, walk the latent space, or train one live and watch it learn; "
        "a progressively grown GAN (PGGAN) drawn at each stage of its growth, 4x4 to 32x32. "
        "And a conditional DCGAN on pictures: painted eyes by iris colour (OmniArt, imported offline).",
        demo="demos.gan_basics",
        endpoints=("gan_sample", "gan_interpolate", "eyes_generate", "eyes_walk", "pggan_stages", "pggan_growth"),
        networks=("wgan_mnist", "cond_dcgan_mnist", "digits_critic", "cond_dcgan_eyes_128", "pggan"),
        weights=(*(f"deep_conv.digits_{o}" for o in ("cgan", "dcgan", "lsgan", "wgan", "wgan_gp", "wgan_div")),
                 "dcgan.omniart_eyes", "pggan.digits"),
        limits={"max_count": MAX_COUNT, "max_live_steps": MAX_LIVE_STEPS, "max_walk_frames": MAX_WALK_FRAMES,
                "max_walk_seeds": MAX_WALK_SEEDS},
        emoji="🧪",
        default_budget_s=120.0,
        # Sampling is the Digits app's routine (one place for every digit generator).
        assets=("core/train", "core/apps/digits.py", "assets/digits/mnist_5k.npz", "assets/weights"),
    )
)


def shipped_weights(objective: str) -> str:
    """The checkpoint name of the shipped generator for `objective`."""
    return "deep_conv.digits_" + objective.replace("-", "_")


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise InputError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    return objective


def load_generator(objective: str, checkpoint: str | Path | None = None):
    """The generator for `objective`: from a live run's checkpoint, or our shipped weights."""
    from core import models

    check_objective(objective)
    if checkpoint:
        return models.network_from_file(checkpoint, generator_name(objective), key="netG", config=_recorded_config)
    name = shipped_weights(objective)
    if name not in WEIGHTS:
        raise WeightsUnavailable(
            f"No weights for {OBJECTIVES[objective].title} ship with the gallery yet. Train one in “Train live” "
            f"and sample its checkpoint, or run: python -m core.train {objective} --export assets/weights/{name.partition('.')[2]}.pdparams"
        )
    return models.network(name)


def _recorded_config(saved: dict) -> dict:
    """The generator's width and latent size as the training run recorded them in its checkpoint."""
    meta = saved.get("meta") if isinstance(saved.get("meta"), dict) else {}
    config = meta.get("config", {})
    return {"latent_dim": config.get("latent_dim", 128), "ngf": config.get("ngf", 32)}


def _latents(generator, seeds: list[int]) -> np.ndarray:
    return np.stack([np.random.default_rng(s).standard_normal(generator.latent_dim) for s in seeds]).astype(np.float32)


def _run(generator, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    import paddle

    with paddle.no_grad():
        if getattr(generator, "n_class", 0):
            return generator(paddle.to_tensor(z), paddle.to_tensor(labels.astype(np.int64))).numpy()
        return generator(paddle.to_tensor(z)).numpy()


def sample(objective: str, seed: int, count: int, digit=None, checkpoint=None, scale: int = 3) -> np.ndarray:
    """A grid of `count` digits from `objective`'s generator; same arguments, same grid."""
    seed, count, digit = check_request(seed, count, digit)
    images, _ = draw(load_generator(objective, checkpoint), seed, count, digit)
    return grid_image(images, columns=10, scale=scale)


def interpolate(objective: str, seeds: list[int], frames: int, dest: str | Path, digit=None, checkpoint=None,
                progress=None, fps: int = 24, size: int = 224) -> Path:
    """A video walking the latent space through `seeds` (spherical interpolation), written frame by frame."""
    import cv2

    from core.media import VideoWriter

    if len(seeds) < 2:
        raise InputError("A walk needs at least two seeds.")
    if len(seeds) > MAX_WALK_SEEDS:
        raise LimitExceeded(f"A walk goes through at most {MAX_WALK_SEEDS} seeds; got {len(seeds)}.")
    for s in seeds:
        check_request(s, 1, digit)
    if not 2 <= frames <= MAX_WALK_FRAMES:
        raise LimitExceeded(f"A walk has 2 to {MAX_WALK_FRAMES} frames; got {frames}.")
    generator = load_generator(objective, checkpoint)
    anchors = _latents(generator, seeds)
    label = np.array([digit if digit is not None else 0])
    segments = len(anchors) - 1
    with VideoWriter(dest, fps) as writer:
        for i in range(frames):
            position = i / (frames - 1) * segments
            k = min(int(position), segments - 1)
            z = _slerp(anchors[k], anchors[k + 1], position - k)[None].astype(np.float32)
            tile = grid_image(_run(generator, z, label), columns=1, padding=0)
            writer.write(cv2.resize(tile, (size, size), interpolation=cv2.INTER_NEAREST))
            if progress is not None:
                progress(i + 1, frames)
    return Path(dest)


def _slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: Gaussian latents keep their norm along the way."""
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


# ---------------------------------------------------------------- eyes by colour

EYES = "dcgan.omniart_eyes"  # a conditional DCGAN: z (100) + one of 8 iris colours -> a 128x128 painted eye
# Its colours, in the order of its one-hot condition (core.nets.dcgan.OMNIART_EYE_COLOURS; kept here too so
# that the page is built without importing the network; a test checks the two agree).
EYE_COLOURS = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")
MAX_EYES = 16
EYE_SIDE = 256  # eyes are drawn at 128x128 and enlarged for the page


def check_colour(colour) -> int:
    if colour not in EYE_COLOURS:
        raise InputError(f"Unknown eye colour {colour!r}; choose one of: {', '.join(EYE_COLOURS)}.")
    return EYE_COLOURS.index(colour)


def _conditioned(net):
    import paddle

    class Conditioned(paddle.nn.Layer):
        """(z [N, 100], condition [N, 8] colour weights) -> eyes [N, 3, 128, 128] in [-1, 1]."""

        def __init__(self, generator):
            super().__init__()
            self.generator = generator

        def forward(self, z, condition):
            return self.generator(z, condition=condition)

    return Conditioned(net)


def _eye_inputs(net):
    from paddle.static import InputSpec

    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, net.latent_dim)).astype(np.float32)
    condition = np.eye(net.n_class, dtype=np.float32)[[1, 5]]
    return ([InputSpec([None, net.latent_dim], "float32", name="z"), InputSpec([None, net.n_class], "float32", name="condition")],
            [z, condition])


def _eye_export():
    from core.models import Export

    return Export("condition", inputs=_eye_inputs, wrap=_conditioned)


def _eye_pictures(z: np.ndarray, condition: np.ndarray) -> list[np.ndarray]:
    """uint8 RGB eyes, EYE_SIDE x EYE_SIDE, for latents and colour weights."""
    import cv2

    from core import models
    from core.media import to_uint8

    run = models.runner(EYES, _eye_export())
    out = np.asarray(run(z.astype(np.float32), condition.astype(np.float32))[0])
    return [cv2.resize(to_uint8(image).transpose(1, 2, 0), (EYE_SIDE, EYE_SIDE), interpolation=cv2.INTER_LANCZOS4)
            for image in out]


def eye_latents(seed: int, count: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(count, 100).astype(np.float32)


def eyes(seed, colour, count) -> list[tuple[np.ndarray, str]]:
    """(picture, caption) pairs: `count` eyes of one colour from `seed`, or with colour "all" one eye of every
    colour from the same latent (what the condition alone changes)."""
    seed, _, _ = check_request(seed, 1, None)
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise InputError(f"The number of eyes must be a whole number from 1 to {MAX_EYES}; got {count!r}.") from None
    if not 1 <= count <= MAX_EYES:
        raise LimitExceeded(f"The number of eyes must be from 1 to {MAX_EYES}; got {count}.")
    if colour == "all":
        z = np.repeat(eye_latents(seed, 1), len(EYE_COLOURS), axis=0)
        return list(zip(_eye_pictures(z, np.eye(len(EYE_COLOURS))), EYE_COLOURS))
    index = check_colour(colour)
    condition = np.repeat(np.eye(len(EYE_COLOURS))[[index]], count, axis=0)
    return [(picture, f"{colour}, seed {seed} #{i + 1}") for i, picture in
            enumerate(_eye_pictures(eye_latents(seed, count), condition))]


def eye_walk(seed, colours, frames, dest, progress=None, fps: int = 24) -> Path:
    """A video of one eye (one latent) whose condition moves from colour to colour, written frame by frame."""
    from core.media import VideoWriter

    seed, _, _ = check_request(seed, 1, None)
    indices = [check_colour(c) for c in colours]
    if len(indices) < 2:
        raise InputError("A walk between colours needs at least two colours.")
    if not 2 <= frames <= MAX_WALK_FRAMES:
        raise LimitExceeded(f"A walk has 2 to {MAX_WALK_FRAMES} frames; got {frames}.")
    z = eye_latents(seed, 1)
    rows = np.eye(len(EYE_COLOURS), dtype=np.float32)[indices]
    segments = len(rows) - 1
    with VideoWriter(dest, fps) as writer:
        for i in range(frames):
            position = i / (frames - 1) * segments
            k = min(int(position), segments - 1)
            t = position - k
            condition = ((1 - t) * rows[k] + t * rows[k + 1])[None]
            writer.write(_eye_pictures(z, condition)[0])
            if progress is not None:
                progress(i + 1, frames)
    return Path(dest)


def eyes_files(seed, colour, count, workdir, progress=None) -> list[tuple[str, str]]:
    """``eyes``, each written as PNG into `workdir`: [(path, caption)] (run in a worker)."""
    from core.media import write_png

    pictures = eyes(seed, colour, count)
    if progress is not None:
        progress(len(pictures), len(pictures))
    return [(str(write_png(picture, Path(workdir) / f"eye-{i + 1}.png")), caption)
            for i, (picture, caption) in enumerate(pictures)]


# ---------------------------------------------------------------- progressive growing

PGGAN = "pggan.digits"  # grown 4x4 -> 32x32 on the full MNIST here (core.train.pggan; docs/training.md)
PGGAN_SIDES = (4, 8, 16, 32)
MAX_PGGAN_DIGITS = 10
PGGAN_TILE = 96  # each digit is drawn at its stage's size and enlarged pixel by pixel to this
GROWTH_HOLD_FRAMES = 24  # one second of each stage as it ended
GROWTH_FADE_FRAMES = 36  # a second and a half of each fade, alpha 0 -> 1

_grown: dict[tuple, dict[int, object]] = {}  # (file, size, mtime) -> {side: generator as it was at that stage's end}


def check_digit_count(count) -> int:
    try:
        number = float(count)
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer() or not 1 <= number <= MAX_PGGAN_DIGITS:
        raise InputError(f"The number of digits must be a whole number from 1 to {MAX_PGGAN_DIGITS}; got {count!r}.")
    return int(number)


def grown_generators() -> dict[int, object]:
    """{4: ..., 8: ..., 16: ..., 32: ...}: PGGAN's generator as it was at the end of each stage (kept by the
    trainer). A stage the file keeps no state for is drawn from the final generator at that stage."""
    from core import models, nets, weights
    from core.checkpoint_io import read_checkpoint_file
    from core.train.pggan import generator_config, stage_snapshots

    final = models.network(PGGAN)  # locates, verifies and loads the file (or says how to get it)
    path = weights.locate(weights.spec(PGGAN))
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _grown:
        saved = read_checkpoint_file(path)
        config = {**generator_config(saved), "alpha": 1.0}
        by_side = {}
        for side, state in stage_snapshots(saved).items():
            net = nets.build("pggan", **{**config, "stage": PGGAN_SIDES.index(side)})
            weights.load_state_strict(net, state, f"{path} (stages/{side})")
            by_side[side] = net
        _grown.clear()
        _grown[key] = {side: by_side.get(side, final) for side in PGGAN_SIDES}
    return _grown[key]


def pggan_latents(seed: int, count: int, latent_dim: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)


def _grown_tiles(net, z: np.ndarray, stage: int, alpha: float) -> np.ndarray:
    """One row of digits (uint8 grey, PGGAN_TILE high) drawn at (stage, alpha), each enlarged pixel by pixel."""
    import paddle

    from core.media import to_uint8

    with paddle.no_grad():
        images = net.generate(paddle.to_tensor(z), stage, alpha).numpy()[:, 0]
    factor = PGGAN_TILE // images.shape[-1]
    tiles = [to_uint8(image).repeat(factor, axis=0).repeat(factor, axis=1) for image in images]
    return np.concatenate(tiles, axis=1)


def pggan_stages(seed, count) -> np.ndarray:
    """RGB image: the same `count` latents drawn at 4x4, 8x8, 16x16 and 32x32 (one row each, top to bottom),
    each by the generator as it was when that stage ended."""
    seed, _, _ = check_request(seed, 1, None)
    count = check_digit_count(count)
    generators = grown_generators()
    z = pggan_latents(seed, count, generators[32].latent_dim)
    rows = [_grown_tiles(generators[side], z, stage, 1.0) for stage, side in enumerate(PGGAN_SIDES)]
    gap = np.full((4, rows[0].shape[1]), 255, np.uint8)
    grid = np.concatenate([piece for row in rows for piece in (row, gap)][:-1], axis=0)
    return np.repeat(grid[..., None], 3, axis=2)


def growth_frames() -> list[tuple[int, int, float]]:
    """The growth video's frames as (generator's stage-end side, stage drawn, alpha): each stage held as it
    ended, then the next resolution faded in by the generator that finished that next stage."""
    frames = [(4, 0, 1.0)] * GROWTH_HOLD_FRAMES
    for stage, side in enumerate(PGGAN_SIDES[1:], start=1):
        frames += [(side, stage, (i + 1) / GROWTH_FADE_FRAMES) for i in range(GROWTH_FADE_FRAMES)]
        frames += [(side, stage, 1.0)] * GROWTH_HOLD_FRAMES
    return frames


def pggan_growth(seed, count, dest, progress=None, fps: int = 24) -> Path:
    """A video of the same latents as PGGAN grows: 4x4, the fade to 8x8, 8x8, ... 32x32; written frame by frame."""
    import cv2

    from core.media import VideoWriter

    seed, _, _ = check_request(seed, 1, None)
    count = check_digit_count(count)
    generators = grown_generators()
    z = pggan_latents(seed, count, generators[32].latent_dim)
    plan = growth_frames()
    with VideoWriter(dest, fps) as writer:
        for i, (side, stage, alpha) in enumerate(plan):
            row = _grown_tiles(generators[side], z, stage, alpha)
            writer.write(cv2.cvtColor(row, cv2.COLOR_GRAY2RGB))
            if progress is not None:
                progress(i + 1, len(plan))
    return Path(dest)


def pggan_stage_file(seed, count, workdir) -> str:
    """``pggan_stages`` written as PNG into `workdir` (its path)."""
    from core.media import write_png

    return str(write_png(pggan_stages(seed, count), Path(workdir) / f"pggan-stages-seed{int(seed)}.png"))


# ---------------------------------------------------------------- live training

LIVE_BUDGET_S = 900  # a live run's wall-clock budget (400 steps take about 90 s on two cores)
_live_slots = threading.BoundedSemaphore(MAX_LIVE_RUNS)


@dataclass
class LiveSnapshot:
    step: int
    total: int
    history: list  # (step, loss_d, loss_g)
    grid: np.ndarray | None
    finished: bool
    stopped: bool  # finished early because Stop was pressed
    checkpoint: str | None
    error: str | None
    seconds: float

    @property
    def steps_per_second(self) -> float:
        return self.step / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        rate = self.steps_per_second
        return (self.total - self.step) / rate if rate > 0 and not self.finished else None


def train_live(config: dict, out_dir: str, should_stop, emit) -> str:
    """A live run's training loop (run in a training worker): emits ("losses", step, d, g) and
    ("grid", array) as it goes, returns the checkpoint path (written on finish or stop)."""
    trainer = Trainer(TrainConfig(**config))
    emit(("grid", trainer.sample_grid(rows=4)))
    for entry in trainer.run(should_stop=should_stop):
        emit(("losses", entry.step, entry.loss_d, entry.loss_g))
        if entry.step % LIVE_SNAPSHOT_EVERY == 0:
            emit(("grid", trainer.sample_grid(rows=4)))
    emit(("grid", trainer.sample_grid(rows=4)))
    return str(trainer.save(Path(out_dir) / f"{config['objective']}-step{trainer.step}.pdparams"))


class LiveRun:
    """One short training run in a training worker process; the UI polls ``snapshot()``.

    A thread of the server waits on the worker and keeps the losses and the
    latest sample grid it sends. ``stop()`` asks the worker to finish after
    its current step and save its checkpoint.
    """

    def __init__(self, objective: str, steps: int, out_dir: str | Path, lr: float | None = None,
                 batch_size: int = 64, seed: int = 0):
        check_objective(objective)
        if not 1 <= int(steps) <= MAX_LIVE_STEPS:
            raise LimitExceeded(f"A live run trains 1 to {MAX_LIVE_STEPS} steps; got {steps}.")
        if not 8 <= int(batch_size) <= 128:
            raise InputError(f"The batch size must be 8 to 128; got {batch_size}.")
        if lr is not None and not 1e-6 <= float(lr) <= 1e-2:
            raise InputError(f"The learning rate must be between 1e-6 and 1e-2; got {lr}.")
        self.config = TrainConfig(objective=objective, steps=int(steps), batch_size=int(batch_size), lr=lr, seed=int(seed))
        self.objective = objective
        self.out_dir = Path(out_dir)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._grid = None
        self._history: list = []
        self._finished = False
        self._checkpoint = None
        self._error = None
        self._started = time.perf_counter()
        self._ended: float | None = None
        self._thread = None

    def start(self) -> "LiveRun":
        if not _live_slots.acquire(blocking=False):
            raise LimitExceeded(f"{MAX_LIVE_RUNS} live trainings are running on this server already; try again in a minute.")
        self._thread = threading.Thread(target=self._train, name=f"live-{self.config.objective}", daemon=True)
        self._thread.start()
        return self

    def _train(self) -> None:
        from dataclasses import asdict

        from core.errors import GalleryError
        from core.serving import pool

        try:
            path = pool("training", size=MAX_LIVE_RUNS).call(
                "core.apps.gan_basics:train_live", asdict(self.config), str(self.out_dir),
                budget_s=LIVE_BUDGET_S, stop=self._stop, emit=self._receive,
            )
            with self._lock:
                self._checkpoint = path
        except GalleryError as exc:
            with self._lock:
                self._error = f"Training stopped: {exc}"
        except Exception as exc:  # reported through snapshot(); the server keeps running
            with self._lock:
                self._error = f"Training stopped: {exc}"
        finally:
            with self._lock:
                self._finished = True
                self._ended = time.perf_counter()
            _live_slots.release()

    def _receive(self, item) -> None:
        with self._lock:
            if item[0] == "losses":
                self._history.append(tuple(item[1:]))
            elif item[0] == "grid":
                self._grid = item[1]

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            step = self._history[-1][0] if self._history else 0
            return LiveSnapshot(
                step=step,
                total=self.config.steps,
                history=list(self._history),
                grid=self._grid,
                finished=self._finished,
                stopped=self._finished and self._stop.is_set() and step < self.config.steps,
                checkpoint=self._checkpoint,
                error=self._error,
                seconds=(self._ended or time.perf_counter()) - self._started,
            )
