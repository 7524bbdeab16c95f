"""Progressive growing of GANs (Karras et al. 2018) on 32x32 digits: ``python -m core.train pggan``.

The networks (``core.nets.pggan``) grow from 4x4 to 32x32 in four stages. The schedule counts real images
shown to the critic: stage 0 (4x4) trains for ``stage_images``; each later stage first fades its
resolution in, alpha rising linearly from 0 to 1 over ``fade_fraction * stage_images`` images, then
stabilises for the rest of its ``stage_images``; after the last stage the run goes on at 32x32 for as many
steps as ``steps`` asks. During a fade the real digits are blended the same way as the generator's output:
``alpha * x_r + (1 - alpha) * up(down(x_r))``, so the critic never tells real from fake by sharpness.
Stage and alpha are functions of the step (``growth_at``), so they need no state of their own.

The loss is WGAN-GP's (``core.train.objectives``' ``wgan-gp``: critic -(E D(x) - E D(G(z))) plus
10 * E(|grad D| - 1)^2 between real and fake digits; generator -E D(G(z))) with the drift term
``drift * E[D(x)^2]`` (0.001) that keeps the critic's scores near zero, one critic step per generator step,
and Adam (lr 0.001, beta1 0, beta2 0.99, epsilon 1e-8) for both networks, as in the paper. The generator
sampled and exported is an exponential moving average of its weights (``ema``, 0.999 as in the paper).
Real digits are MNIST's 28x28 padded to 32x32 with the background value, in [-1, 1].

Optimizer state across growth: each network has one Adam over all of its layers from the start. A layer
not yet grown (or a faded-out to_rgb / from_rgb) gets no gradient: its gradient is cleared to None, not
zero, so Adam neither moves it nor advances its moments and bias correction; a layer that joins starts
from fresh moments (zero, powers at beta), and the layers in use keep theirs across a growth step.
(Karras et al.'s code resets both optimizers at each change of resolution instead; with beta1 0 the only
memory is beta2's, about a hundred steps.) A checkpoint holds every layer's state, the layers not yet
grown still at their initial values, so a run resumed at any step grows as the uninterrupted one does.

Randomness is derived from (seed, step) and (seed, epoch), as in ``core.train.gan``: a run resumed from its
checkpoint, also in the middle of a fade, continues as the uninterrupted run would.

Several GPUs (``world`` = (rank, size)): each rank takes its share of every global batch (noise, digits and
the penalty's mixing weights), and the gradients are averaged across ranks by an all-reduce of each
gradient that exists (not paddle.DataParallel: with layers that join as the networks grow, its
unused-parameter handling would hand unused layers zero gradients, which advance Adam's bias correction).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from core.train.data import load_digits
from core.train.gan import StepLog, TrainerBase
from core.train.objectives import OBJECTIVES

IMAGE_SIZE = 32  # MNIST's 28x28 padded by 2 on each side
PAD = 2
GENERATOR_NAME, CRITIC_NAME = "pggan", "pggan_critic"

# The generator's noise is drawn with this salt, the critic step's with 0: they must differ.
_GENERATOR_NOISE_SALT = 1000
_GRID_SALT = 999


@dataclass
class PGGANConfig:
    # Generator steps in all, counted from the start (0: to the end of the growth schedule, 4 stages).
    steps: int = 0
    # Real images the critic sees at each resolution; after the first, the fade takes fade_fraction of them.
    stage_images: int = 150_000
    fade_fraction: float = 0.5
    batch_size: int = 64
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    adam_epsilon: float = 1e-8
    latent_dim: int = 128
    # One width per resolution, 4x4 first: core.nets.pggan.DEFAULT_CHANNELS (not imported here: this module
    # imports no Paddle until a trainer is made; tests hold the two equal).
    channels: tuple = (64, 64, 32, 16)
    minibatch_std: int = 4  # group size (0: off)
    drift: float = 0.001
    ema: float = 0.999  # 0: sample and export the trained weights themselves
    seed: int = 0
    data: str | None = None
    sample_every: int = 500
    checkpoint_every: int = 500

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)

    @property
    def stages(self) -> int:
        return len(self.channels)

    @property
    def fade_images(self) -> int:
        return round(self.fade_fraction * self.stage_images)

    @property
    def schedule_steps(self) -> int:
        """Generator steps until the last stage has faded in and stabilised."""
        return math.ceil(self.stages * self.stage_images / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps or self.schedule_steps

    def growth_at(self, step: int) -> tuple[int, float]:
        """(stage, alpha) of generator step ``step`` (counted from 0): from the images shown before it, and
        alpha as the share of the fade completed by its end (so a fade's first step already has alpha > 0)."""
        images = step * self.batch_size
        stage = min(images // self.stage_images, self.stages - 1)
        into = images - stage * self.stage_images
        if stage == 0 or into >= self.fade_images:
            return stage, 1.0
        return stage, min(1.0, (into + self.batch_size) / self.fade_images)

    def check(self, world=None) -> None:
        size = world[1] if world else 1
        if self.stages < 1 or min(self.channels) < 1:
            raise ValueError(f"channels must be one positive width per resolution, 4x4 first; got {self.channels}")
        if 4 * 2 ** (self.stages - 1) != IMAGE_SIZE:
            raise ValueError(f"the digits are {IMAGE_SIZE}x{IMAGE_SIZE}: give 4 widths (4x4 to 32x32), not {len(self.channels)}")
        if self.batch_size < 1 or self.batch_size % size:
            raise ValueError(f"the batch of {self.batch_size} must split evenly across {size} processes")
        local = self.batch_size // size
        if self.minibatch_std < 0 or (self.minibatch_std and local % self.minibatch_std):
            raise ValueError(f"each process's batch ({local}) must be a multiple of the minibatch-std group ({self.minibatch_std})")
        if self.stage_images < self.batch_size:
            raise ValueError(f"a stage must last at least one batch: stage_images {self.stage_images} < batch {self.batch_size}")
        if not 0.0 <= self.fade_fraction <= 1.0:
            raise ValueError(f"fade_fraction must lie between 0 and 1, not {self.fade_fraction}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must lie in [0, 1), not {self.ema}")
        if self.steps < 0:
            raise ValueError(f"steps must be positive (or 0 for the schedule's end), not {self.steps}")


def resolution(stage: int) -> int:
    return 4 * 2**stage


def box_downsample(images: np.ndarray, times: int = 1) -> np.ndarray:
    """(N, C, H, W) averaged over 2x2 blocks ``times`` times (the critic's own downsampling)."""
    for _ in range(times):
        n, c, h, w = images.shape
        images = images.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5), dtype=np.float32)
    return images


def real_digits(images: np.ndarray, stage: int, alpha: float) -> np.ndarray:
    """uint8 digits (N, 28, 28) as the critic sees them at (stage, alpha): padded to 32x32 in [-1, 1], averaged
    down to the stage's resolution, and during a fade blended with their next lower resolution upsampled."""
    x = images.astype(np.float32) / 127.5 - 1.0
    x = np.pad(x, ((0, 0), (PAD, PAD), (PAD, PAD)), constant_values=-1.0)[:, None]
    x = box_downsample(x, int(math.log2(IMAGE_SIZE // resolution(stage))))
    if stage > 0 and alpha < 1.0:
        coarse = box_downsample(x).repeat(2, axis=2).repeat(2, axis=3)
        x = (alpha * x + (1.0 - alpha) * coarse).astype(np.float32)
    return x


def generator_config(saved: dict) -> dict:
    """Constructor arguments of ``nets.build("pggan", ...)`` recorded in a PGGAN checkpoint or export."""
    meta = saved.get("meta") if isinstance(saved.get("meta"), dict) else {}
    recorded = meta.get("generator")
    if not isinstance(recorded, dict):
        raise ValueError("this file records no PGGAN generator configuration (meta.generator)")
    return {"latent_dim": int(recorded["latent_dim"]), "channels": tuple(int(c) for c in recorded["channels"]),
            "image_channels": int(recorded.get("image_channels", 1)), "stage": int(recorded["stage"]),
            "alpha": float(recorded["alpha"])}


def stage_snapshots(saved: dict) -> dict[int, dict[str, np.ndarray]]:
    """The generator's state at the end of each finished stage, by resolution, from a checkpoint or export
    (empty for files written before stages were kept)."""
    stages = saved.get("stages")
    if not isinstance(stages, dict):
        return {}
    return {int(side): {name: np.asarray(value) for name, value in state.items()} for side, state in stages.items()}


def load_generator(path: str | Path):
    """A PGGAN generator from a training checkpoint or an export, at the stage and alpha it was last trained
    at (``generate(z, stage, alpha)`` draws it at any other)."""
    from core import models

    return models.network_from_file(path, GENERATOR_NAME, key="netG", config=generator_config)


class PGGANTrainer(TrainerBase):
    """Holds both networks, their optimizers and the digits; ``run()`` yields a log entry per generator step."""

    def __init__(self, config: PGGANConfig, out_dir: str | Path | None = None, world=None):
        import paddle

        from core import nets

        config.check(world)
        self.config = config
        self.spec = OBJECTIVES["wgan-gp"]  # its losses and gradient penalty
        self.out_dir = Path(out_dir) if out_dir else None
        self.world = world  # (rank, size) under paddle.distributed, else None
        paddle.seed(config.seed)
        self.g = nets.build(GENERATOR_NAME, latent_dim=config.latent_dim, channels=config.channels)
        self.d = nets.build(CRITIC_NAME, channels=config.channels, minibatch_std=config.minibatch_std)
        self.g.train()
        self.d.train()
        self.opt_g, self.opt_d = (self._adam(net) for net in (self.g, self.d))
        images, labels = load_digits(config.data)
        self.images, self.labels = images, labels  # uint8 (N, 28, 28): converted batch by batch
        if len(self.images) < config.batch_size:
            raise ValueError(f"{len(self.images)} digits are fewer than one batch of {config.batch_size}")
        self.step = 0
        self._batches_served = 0
        self.history: list[StepLog] = []
        self.stage_snapshots: dict[int, dict[str, np.ndarray]] = {}  # resolution -> generator state at its stage's end
        self.g_ema = None
        if config.ema:
            self.g_ema = copy.deepcopy(self.g)
            self.g_ema.eval()
        self._parallel = bool(world and world[1] > 1)
        self._synced = not self._parallel

    def _adam(self, net):
        """Adam over every layer of ``net``, with every parameter's state made up front.

        Paddle creates a parameter's moments (zero) and bias-correction powers (beta) at its first gradient, and
        refuses, after ``set_state_dict``, to create any the loaded state lacks: a run resumed before a layer
        has joined could not grow it. So the state is made here, by one step with a zero gradient for every
        parameter (Adam moves no weight when the gradient is zero) and the powers then set back to beta: the
        values Paddle would give it at the layer's first gradient. It stays untouched until then (Adam updates
        only parameters that have a gradient), so training is the same, and every checkpoint holds every layer.
        """
        import paddle

        config = self.config
        parameters = net.parameters()
        optimizer = paddle.optimizer.Adam(learning_rate=config.lr, beta1=config.beta1, beta2=config.beta2,
                                          epsilon=config.adam_epsilon, parameters=parameters)
        before = [p.numpy().copy() for p in parameters]
        paddle.add_n([(p * 0.0).sum() for p in parameters]).backward()
        optimizer.step()
        optimizer.clear_grad(set_to_zero=False)
        if not all(np.array_equal(p.numpy(), b) for p, b in zip(parameters, before)):
            raise RuntimeError("Adam moved a weight on a zero gradient; its state cannot be made up front")
        initial = {}
        for key, value in optimizer.state_dict().items():
            if "_moment1_" in key or "_moment2_" in key:
                initial[key] = paddle.zeros_like(value)
            elif "_beta1_pow_acc_" in key or "_beta2_pow_acc_" in key:
                initial[key] = paddle.full_like(value, config.beta1 if "_beta1_pow_acc_" in key else config.beta2)
            else:
                raise RuntimeError(f"Adam's state has an entry {key!r} this trainer does not know how to start")
        optimizer.set_state_dict(initial)
        return optimizer

    # ------------------------------------------------------------ growth

    def growth(self, step: int | None = None) -> tuple[int, float]:
        """(stage, alpha) of generator step ``step`` (default: the next one)."""
        return self.config.growth_at(self.step if step is None else step)

    @property
    def trained_growth(self) -> tuple[int, float]:
        """(stage, alpha) the last step trained at: where the generator is best drawn now."""
        return self.growth(self.step - 1) if self.step else (0, 1.0)

    # ------------------------------------------------------------ data and noise (as core.train.gan)

    def _next_batch_indices(self) -> np.ndarray:
        """This rank's share of the next global batch; the order of epoch e depends only on (seed, e)."""
        n, batch = len(self.images), self.config.batch_size
        epoch, within = divmod(self._batches_served, n // batch)
        order = np.random.default_rng([self.config.seed, epoch]).permutation(n)
        self._batches_served += 1
        return self._local(order[within * batch : (within + 1) * batch])

    def _noise(self, salt: int):
        import paddle

        rng = np.random.default_rng([self.config.seed, self.step, salt])
        z = rng.standard_normal((self.config.batch_size, self.config.latent_dim)).astype(np.float32)
        return paddle.to_tensor(self._local(z))

    # ------------------------------------------------------------ data parallel

    def _sync_parameters(self) -> None:
        """Every rank starts from rank 0's weights (they are seeded alike; this makes sure)."""
        import paddle.distributed as dist

        nets = [self.g, self.d] + ([self.g_ema] if self.g_ema is not None else [])
        for net in nets:
            for p in net.parameters():
                dist.broadcast(p, src=0)
        self._synced = True

    def _backward(self, loss) -> None:
        """``loss.backward()``, scaled by 1 / ranks under data parallel, where ``_sum_gradients`` then adds the
        ranks' gradients up: their mean, the whole batch's gradient (each rank's loss is a mean over its share)."""
        (loss * (1.0 / self.world[1]) if self._parallel else loss).backward()

    def _sum_gradients(self, net) -> None:
        """Each gradient that exists, summed over ranks in place (every rank has the same ones: the same stage)."""
        if not self._parallel:
            return
        import paddle.distributed as dist

        for p in net.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)

    # ------------------------------------------------------------ one step

    def train_step(self) -> StepLog:
        import paddle

        if not self._synced:
            self._sync_parameters()
        start = time.perf_counter()
        stage, alpha = self.growth()
        config = self.config

        def critic(images):
            return self.d.score(images, stage, alpha)

        # The critic: WGAN-GP with the drift term, on real digits at this stage's resolution and fade.
        real = paddle.to_tensor(real_digits(self.images[self._next_batch_indices()], stage, alpha))
        with paddle.no_grad():
            fake = self.g.generate(self._noise(salt=0), stage, alpha)
        real_scores, fake_scores = critic(real), critic(fake)
        loss_d, extra = self.spec.critic_loss(real_scores, fake_scores)
        penalty = self.spec.penalty(critic, real, fake, self._uniform_per_sample)
        drift = config.drift * (real_scores**2).mean()
        loss_d = loss_d + penalty + drift
        self.opt_d.clear_grad(set_to_zero=False)  # None, not zero: layers not in use stay out of Adam
        self._backward(loss_d)
        self._sum_gradients(self.d)
        self.opt_d.step()

        # The generator, through the critic (whose weights are frozen for this step's backward).
        for p in self.d.parameters():
            p.stop_gradient = True
        try:
            loss_g = self.spec.generator_loss(critic(self.g.generate(self._noise(salt=_GENERATOR_NOISE_SALT), stage, alpha)))
            self.opt_g.clear_grad(set_to_zero=False)
            self._backward(loss_g)
        finally:
            for p in self.d.parameters():
                p.stop_gradient = False
        self._sum_gradients(self.g)
        self.opt_g.step()
        self._update_ema()
        self.step += 1
        extra.update(penalty=float(penalty), drift=float(drift), resolution=resolution(stage), alpha=alpha)
        entry = StepLog(self.step, float(loss_d), float(loss_g), time.perf_counter() - start, extra)
        self.history.append(entry)
        return entry

    # ------------------------------------------------------------ loop

    def run(self, steps: int | None = None, should_stop: Callable[[], bool] | None = None) -> Iterator[StepLog]:
        """Train up to ``steps`` more generator steps (default: until config.total_steps), yielding each log."""
        target = self.config.total_steps if steps is None else self.step + steps
        while self.step < target:
            if should_stop is not None and should_stop():
                return
            entry = self.train_step()
            if self._stage_ended():
                self._snapshot_stage()
            if self.out_dir and self._is_main():
                self._write_log(entry)
                self._save_outputs(target)
            yield entry

    def _stage_ended(self) -> bool:
        """Whether the last step was a stage's last (the next one grows, or the schedule is done)."""
        return self.growth()[0] != self.trained_growth[0] or self.step == self.config.schedule_steps

    def _snapshot_stage(self) -> None:
        """Keep the sampled generator as it is at the end of this stage: the growth is shown from these."""
        side = resolution(self.trained_growth[0])
        self.stage_snapshots[side] = {name: value.numpy().copy() for name, value in self.sampler.state_dict().items()}

    def _save_outputs(self, target: int) -> None:
        samples = self.out_dir / "samples"
        if self._stage_ended():  # a stage's last step: its grid
            side = resolution(self.trained_growth[0])
            self.save_samples(samples / f"stage_{side}x{side}.png")
        if self.step % self.config.sample_every == 0 or self.step == target:
            self.save_samples(samples / f"step_{self.step:06d}.png")
        if self.step % self.config.checkpoint_every == 0 or self.step == target:
            self.save(self.out_dir / "checkpoint.pdparams")

    # ------------------------------------------------------------ outputs

    def sample_grid(self, rows: int = 8, stage: int | None = None, alpha: float | None = None) -> np.ndarray:
        """A fixed-noise grid (rows x 10) at (stage, alpha) (default: where the last step trained), every image
        shown at 32x32 (lower resolutions enlarged pixel by pixel)."""
        import paddle

        from core.train.sampling import grid_image

        trained_stage, trained_alpha = self.trained_growth
        stage = trained_stage if stage is None else stage
        alpha = trained_alpha if alpha is None else alpha
        g = self.sampler
        was_training = g.training
        g.eval()
        rng = np.random.default_rng([self.config.seed, _GRID_SALT])
        z = paddle.to_tensor(rng.standard_normal((rows * 10, self.config.latent_dim)).astype(np.float32))
        with paddle.no_grad():
            images = g.generate(z, stage, alpha).numpy()
        if was_training:
            g.train()
        factor = IMAGE_SIZE // images.shape[-1]
        return grid_image(images.repeat(factor, axis=2).repeat(factor, axis=3), columns=10)

    def _meta(self) -> dict:
        stage, alpha = self.trained_growth
        generator = {"latent_dim": self.config.latent_dim, "channels": list(self.config.channels), "image_channels": 1,
                     "stage": stage, "alpha": alpha}
        config = {**asdict(self.config), "channels": list(self.config.channels)}
        return {"step": self.step, "batches_served": self._batches_served, "config": config, "generator": generator,
                "resolution": resolution(stage)}

    def state(self) -> dict:
        return {
            **self._networks_state(),
            "stages": self._stages_state(),
            "meta": self._meta(),
        }

    def _stages_state(self) -> dict:
        """The generator at the end of each finished stage, by resolution (``"4"``, ``"8"``, ...)."""
        return {str(side): dict(snapshot) for side, snapshot in sorted(self.stage_snapshots.items())}

    def export_generator(self, path: Path) -> Path:
        """The generator alone, ``{"netG": ..., "stages": {"4": its state at the end of the 4x4 stage, ...}, "meta":
        {"generator": its constructor arguments, with the stage and alpha it last trained at}}``: ``load_generator(path)`` (or ``models.network_from_file(path, "pggan",
        key="netG", config=generator_config)``) builds it."""
        from core.weights import save_checkpoint

        meta = self._meta()
        return save_checkpoint({"netG": self.sampler.state_dict(), "stages": self._stages_state(),
                                "meta": {"generator": meta["generator"], "step": self.step, "config": meta["config"]}}, path)

    @classmethod
    def resume(cls, path: str | Path, out_dir=None, world=None, **changes) -> "PGGANTrainer":
        """Continue a checkpoint exactly; ``changes`` may set ``steps``, ``ema`` or ``lr``."""
        from core.checkpoint_io import read_checkpoint_file

        unknown = set(changes) - {"steps", "ema", "lr"}
        if unknown:
            raise ValueError(f"a resumed PGGAN run keeps its {', '.join(sorted(unknown))}; only steps, ema and lr may change")
        saved = read_checkpoint_file(path)  # not paddle.load: unpickling must run nothing the file names
        meta = saved.get("meta")
        if not (isinstance(meta, dict) and "generator" in meta and "optD" in saved):
            raise ValueError(f"{path} is not a PGGAN training checkpoint")
        config = PGGANConfig(**{**meta["config"], **changes})
        trainer = cls(config, out_dir=out_dir, world=world)
        trainer._restore_networks(saved, path)
        trainer.stage_snapshots = stage_snapshots(saved)
        return trainer
