"""Training the digit GANs: one generator/critic family, six objectives.

Objectives (``OBJECTIVES``, ``core.train.objectives``): ``dcgan`` (binary cross-entropy), ``lsgan``
(least squares), ``wgan`` (weight clipping, RMSProp, several critic steps per
generator step), ``wgan-gp`` (gradient penalty), ``wgan-div`` (Wasserstein
divergence penalty) and ``cgan`` (label-conditioned DCGAN). The trainer calls the
objective's losses, penalty, clipping and optimizer; it never asks its name.

Randomness is derived from (seed, step) and (seed, epoch), so a run resumed
from a checkpoint continues exactly as the uninterrupted run would.
Checkpoints hold ``netG`` (the layout the sampling side loads: the weights'
moving average when ``ema`` is on), ``netG_live`` (the trained weights, with
``ema`` only), ``netD``, both optimizers, the step and the configuration.
What each option did in our runs is in docs/training.md.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from core.train.data import load_digits
from core.train.objectives import OBJECTIVES, Objective, r1_penalty


@dataclass
class TrainConfig:
    objective: str = "dcgan"
    steps: int = 2000  # generator steps
    batch_size: int = 64
    lr: float | None = None  # None: the objective's default
    latent_dim: int = 128
    ngf: int = 32
    ndf: int = 64
    seed: int = 0
    data: str | None = None
    sample_every: int = 200
    checkpoint_every: int = 500
    # Exponential moving average of the generator's weights (0: off). Sampling, grids, exports and
    # checkpoints' netG use the average: a generator that still drifts is sampled smoothed.
    ema: float = 0.0
    # Group size of the critic's minibatch standard-deviation feature (0: off); see DeepConvCritic.
    minibatch_std: int = 0
    # Batch norm in the critic where the objective has it (never the penalised critics; R1 drops it).
    # Real and fake batches are scored apart, so it normalises away how often a batch shows a feature.
    critic_batch_norm: bool = True
    # A per-sample layer norm in the critic in place of batch norm: samples never mix (any objective).
    critic_layer_norm: bool = False
    # Strided convolutions in the critic: 2, or 3 so that each of the head's features sees most of a digit.
    critic_depth: int = 2
    # Weight gamma of R1, gamma/2 * E|grad D(x)|^2 on real digits (Mescheder et al. 2018), for the
    # objectives that accept it (0: off). Drops the critic's batch norm, which would mix the samples.
    r1: float = 0.0
    # Critic steps per generator step (0: the objective's own, 5 for the Wasserstein critics, 1 otherwise).
    n_critic: int = 0
    # The WGAN paper's schedule on top of n_critic: 100 critic steps for each of the first 25 generator
    # steps and for every 500th, so the critic starts, and is brought back, near its optimum.
    critic_bursts: bool = False
    # RMSProp's epsilon (wgan). Paddle adds it inside the root, where its default 1e-6 floors the denominator
    # at 1e-3, above a clipped critic's gradients; 1e-14 floors it at 1e-7, near PyTorch's 1e-8 outside it.
    rmsprop_eps: float = 1e-14
    # RMSProp's decay of its mean square (wgan): Paddle's 0.95 averages about 20 steps, PyTorch's 0.99 about 100.
    rmsprop_rho: float = 0.95
    # WGAN's clipping bound c (0: the objective's own, 0.01 as in the paper).
    clip: float = 0.0
    # Capacity of a history of the generator's past images (0: off; Shrivastava et al. 2017): half of each
    # critic step's fakes come from it, so the critic is trained against the generator's recent steps.
    fake_history: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def spec(self) -> Objective:
        return OBJECTIVES[self.objective]

    @property
    def critic_steps(self) -> int:
        """Critic steps per generator step outside the bursts."""
        return self.n_critic or self.spec.n_critic

    @property
    def clip_bound(self) -> float:
        """The bound the critic's weights are clipped to after each step (0: no clipping)."""
        return self.clip or self.spec.clip

    def critic_steps_at(self, step: int) -> int:
        """Critic steps before generator step ``step`` (counted from 0)."""
        if self.critic_bursts and (step < _BURST_START or step % _BURST_EVERY == 0):
            return _BURST_CRITIC_STEPS
        return self.critic_steps


@dataclass
class StepLog:
    step: int
    loss_d: float
    loss_g: float
    seconds: float
    extra: dict = field(default_factory=dict)


_PADDLE_RMSPROP_EPS = 1e-6

# Arjovsky et al.'s critic schedule (TrainConfig.critic_bursts).
_BURST_CRITIC_STEPS, _BURST_START, _BURST_EVERY = 100, 25, 500

# The generator's noise is drawn with this salt, each critic step's with its index: they must differ.
_GENERATOR_NOISE_SALT = 1000
_PENALTY_SALT = 2000  # seeds the gradient penalty's mixing weights
_HISTORY_SALT = 3000  # seeds the fake-image history's draws, apart from the noise's


def generator_name(objective: str) -> str:
    return "cond_dcgan_mnist" if OBJECTIVES[objective].conditional else "wgan_mnist"


def build_networks(config: TrainConfig):
    from core import nets

    spec = config.spec
    n_class = 10 if spec.conditional else 0
    g = nets.build(generator_name(config.objective), latent_dim=config.latent_dim, ngf=config.ngf)
    if config.critic_layer_norm:
        norm = "layer"
    else:
        norm = "batch" if spec.critic_batch_norm and config.critic_batch_norm and not config.r1 else "none"
    d = nets.build("digits_critic", ndf=config.ndf, n_class=n_class, norm=norm, minibatch_std=config.minibatch_std,
                    depth=config.critic_depth)
    g.train()
    d.train()
    return g, d


class TrainerBase:
    """What every trainer here shares: each rank's share of a global batch, seeded per-sample draws, the
    generator's moving average, the log, sample grids and checkpoints. A subclass sets ``config`` (with seed,
    batch_size, ema), ``world``, ``out_dir``, ``step``, ``g``, ``g_ema``, and defines ``sample_grid`` and ``state``."""

    _batches_served = 0

    def _local(self, array: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch (all of it outside data parallel)."""
        rank, size = self.world or (0, 1)
        local = len(array) // size
        return array[rank * local : (rank + 1) * local]

    def _uniform_per_sample(self):
        """This rank's share of one uniform draw per sample of the step's global batch (for penalties
        that sample between real and fake digits)."""
        import paddle

        rng = np.random.default_rng([self.config.seed, self.step, _PENALTY_SALT])
        return paddle.to_tensor(self._local(rng.uniform(size=(self.config.batch_size, 1, 1, 1)).astype(np.float32)))

    def _update_ema(self) -> None:
        if self.g_ema is None:
            return
        import paddle

        decay = self.config.ema
        with paddle.no_grad():
            live = self.g.state_dict()
            for name, average in self.g_ema.state_dict().items():
                if average.dtype in (paddle.float32, paddle.float64):
                    average.set_value(decay * average + (1 - decay) * live[name])

    @property
    def sampler(self):
        """The generator to sample: the moving average when there is one."""
        return self.g_ema if self.g_ema is not None else self.g

    def _is_main(self) -> bool:
        return not self.world or self.world[0] == 0

    # ------------------------------------------------------------ the loop and its outputs

    def run(self, steps: int | None = None, should_stop: Callable[[], bool] | None = None) -> Iterator[StepLog]:
        """Train up to ``steps`` more generator steps (default: to config.steps), yielding each log."""
        target = self.config.steps if steps is None else self.step + steps
        while self.step < target:
            if should_stop is not None and should_stop():
                return
            entry = self.train_step()
            self._save_step_outputs(entry, target)
            yield entry

    def _save_step_outputs(self, entry: StepLog, target: int) -> None:
        """The step's log line, and every ``sample_every`` / ``checkpoint_every`` steps (and at the last) a sample
        grid and a checkpoint in ``out_dir`` (rank 0 only)."""
        if not self.out_dir or not self._is_main():
            return
        self._write_log(entry)
        if self.step % self.config.sample_every == 0 or self.step == target:
            self.save_samples(self.out_dir / "samples" / f"step_{self.step:06d}.png")
        if self.step % self.config.checkpoint_every == 0 or self.step == target:
            self.save(self.out_dir / "checkpoint.pdparams")

    def save_samples(self, path: Path) -> Path:
        from core.media import write_png

        path.parent.mkdir(parents=True, exist_ok=True)
        return write_png(self.sample_grid(), path)

    def _write_log(self, entry: StepLog) -> None:
        with open(self.out_dir / "losses.jsonl", "a") as f:
            f.write(json.dumps(asdict(entry)) + "\n")

    def save(self, path: Path) -> Path:
        from core.weights import save_checkpoint

        return save_checkpoint(self.state(), path)

    def _networks_state(self) -> dict:
        """What every checkpoint here holds: the generator sampled (the moving average when kept) and the trained
        one, the critic, and both optimizers' state keyed by parameter names (portable across processes)."""
        return {
            "netG": self.sampler.state_dict(),
            **({"netG_live": self.g.state_dict()} if self.g_ema is not None else {}),
            "netD": self.d.state_dict(),
            "optG": _portable_optimizer_state(self.opt_g.state_dict(), self.g),
            "optD": _portable_optimizer_state(self.opt_d.state_dict(), self.d),
        }

    def _restore_networks(self, saved: dict, path) -> None:
        """Continue from ``_networks_state``'s entries of a checkpoint, at its step and batches served."""
        from core.weights import load_state_strict

        load_state_strict(self.g, saved.get("netG_live", saved["netG"]), str(path))
        if self.g_ema is not None:
            load_state_strict(self.g_ema, saved["netG"], str(path))  # turned on at resume: starts from the weights
        load_state_strict(self.d, saved["netD"], str(path))
        self.opt_g.set_state_dict(_local_optimizer_state(saved["optG"], self.g))
        self.opt_d.set_state_dict(_local_optimizer_state(saved["optD"], self.d))
        self.step = int(saved["meta"]["step"])
        self._batches_served = int(saved["meta"]["batches_served"])


class Trainer(TrainerBase):
    """Holds the networks, optimizers and data; ``run()`` yields a log entry per generator step."""

    def __init__(self, config: TrainConfig, out_dir: str | Path | None = None, world=None):
        import paddle

        self.config = config
        self.spec = config.spec
        self.out_dir = Path(out_dir) if out_dir else None
        self.world = world  # (rank, size) under paddle.distributed, else None
        if config.r1:
            self._refuse_unless_accepted("r1")
        if not 0 <= config.n_critic < _GENERATOR_NOISE_SALT:
            raise ValueError(f"n_critic must be between 1 and {_GENERATOR_NOISE_SALT - 1} (or 0 for the objective's own)")
        if not 0 < config.rmsprop_rho < 1:
            raise ValueError(f"rmsprop_rho must lie between 0 and 1, not {config.rmsprop_rho}")
        if config.clip:
            self._refuse_unless_accepted("clip")
        if config.clip < 0:
            raise ValueError(f"the clipping bound must be positive, not {config.clip}")
        if config.fake_history < 0:
            raise ValueError(f"the fake-image history holds a number of images, not {config.fake_history}")
        if config.fake_history:
            self._refuse_unless_accepted("fake_history")
        if config.fake_history and world and world[1] > 1:
            raise ValueError("the fake-image history is kept by one process; it is not supported under data parallel")
        paddle.seed(config.seed)
        self.g, self.d = build_networks(config)
        lr = config.lr or self.spec.lr
        self.opt_g = self.spec.optimizer(self.g.parameters(), lr, config)
        self.opt_d = self.spec.optimizer(self.d.parameters(), lr, config)
        images, labels = load_digits(config.data)
        self.images = (images.astype(np.float32) / 127.5 - 1.0)[:, None]
        self.labels = labels.astype(np.int64)
        self.step = 0
        self.history: list[StepLog] = []
        self.fake_history = np.zeros((0, *self.images.shape[1:]), np.float32)
        self.g_ema = None
        if config.ema:
            self.g_ema = copy.deepcopy(self.g)
            self.g_ema.eval()
        self._g_train, self._d_train = self.g, self.d
        if world and world[1] > 1:
            self._g_train, self._d_train = paddle.DataParallel(self.g), paddle.DataParallel(self.d)

    def _refuse_unless_accepted(self, option: str) -> None:
        refusal = self.spec.refusal(option)
        if refusal:
            raise ValueError(refusal)

    # ------------------------------------------------------------ data and noise

    def _batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless shuffled batches; the order of epoch e depends only on (seed, e)."""
        n = len(self.images)
        per_epoch = n // self.config.batch_size
        batch_index = self._batches_served
        while True:
            epoch, within = divmod(batch_index, per_epoch)
            order = np.random.default_rng([self.config.seed, epoch]).permutation(n)
            idx = order[within * self.config.batch_size : (within + 1) * self.config.batch_size]
            idx = self._local(idx)
            batch_index += 1
            self._batches_served = batch_index
            yield self.images[idx], self.labels[idx]

    def _noise(self, salt: int):
        """This rank's share of the step's latent vectors and labels: the ranks of a data-parallel
        run draw the same global batch as one process would, and each takes a different part."""
        import paddle

        n = self.config.batch_size
        rng = np.random.default_rng([self.config.seed, self.step, salt])
        z = rng.standard_normal((n, self.config.latent_dim)).astype(np.float32)
        y = rng.integers(0, 10, n).astype(np.int64)
        return paddle.to_tensor(self._local(z)), paddle.to_tensor(self._local(y))

    # ------------------------------------------------------------ networks and losses

    def _generate(self, z, labels):
        return self._g_train(z, labels) if self.spec.conditional else self._g_train(z)

    def _score(self, images, labels):
        return self._d_train(images, labels) if self.spec.conditional else self._d_train(images)

    def _critic_loss(self, real, labels, fake, fake_labels):
        gamma = self.config.r1
        if gamma:  # R1 differentiates the real digits' scores with respect to the digits
            real = real.detach()
            real.stop_gradient = False
        real_scores = self._score(real, labels)
        fake_scores = self._score(fake, fake_labels)
        loss, extra = self.spec.critic_loss(real_scores, fake_scores)
        if gamma:  # an option only of the objectives without a penalty of their own
            penalty = r1_penalty(real_scores, real, gamma)
        else:
            penalty = self.spec.penalty(self._d_train, real, fake, self._uniform_per_sample)
        if penalty is not None:
            extra["penalty"] = float(penalty)
            loss = loss + penalty
        return loss, extra

    # ------------------------------------------------------------ loop

    def train_step(self, batches) -> StepLog:
        start = time.perf_counter()
        for critic_round in range(self.config.critic_steps_at(self.step)):
            loss_d, extra = self._critic_step(batches, salt=critic_round)
        z, fake_labels = self._noise(salt=_GENERATOR_NOISE_SALT)
        loss_g = self.spec.generator_loss(self._score(self._generate(z, fake_labels), fake_labels))
        self.opt_g.clear_grad()
        loss_g.backward()
        self.opt_g.step()
        self._update_ema()
        self.step += 1
        entry = StepLog(self.step, float(loss_d), float(loss_g), time.perf_counter() - start, extra)
        self.history.append(entry)
        return entry

    def _critic_step(self, batches, salt: int):
        import paddle

        real_np, labels_np = next(batches)
        real, labels = paddle.to_tensor(real_np), paddle.to_tensor(labels_np)
        z, fake_labels = self._noise(salt=salt)
        with paddle.no_grad():
            fake = self._generate(z, fake_labels)
        if self.config.fake_history:
            fake = self._mix_in_history(fake, salt)
        loss_d, extra = self._critic_loss(real, labels, fake.detach(), fake_labels)
        self.opt_d.clear_grad()
        loss_d.backward()
        self.opt_d.step()
        self.spec.clip_weights(self.d, self.config.clip_bound)
        return loss_d, extra

    def _mix_in_history(self, fake, salt: int):
        """The fake batch with its first half replaced by images from the history (once it holds half a
        batch); in each generator step's first critic round the fresh first half joins the history."""
        import paddle

        fresh = fake.numpy()
        half = len(fresh) // 2
        rng = np.random.default_rng([self.config.seed, self.step, salt, _HISTORY_SALT])
        mixed = fresh
        if len(self.fake_history) >= half:
            picks = rng.choice(len(self.fake_history), half, replace=False)
            mixed = np.concatenate([self.fake_history[picks], fresh[half:]])
        if salt == 0:
            self._remember(fresh[:half], rng)
        return paddle.to_tensor(mixed)

    def _remember(self, images: np.ndarray, rng) -> None:
        """Append to the history until it is full, then overwrite entries at random."""
        room = max(0, self.config.fake_history - len(self.fake_history))
        self.fake_history = np.concatenate([self.fake_history, images[:room]])
        rest = images[room:]
        if len(rest):
            self.fake_history[rng.choice(len(self.fake_history), len(rest), replace=False)] = rest

    def train_critic(self, steps: int) -> float:
        """Train the critic alone against the current generator (which stays as it is, as does the step
        count): how the critic moves towards its optimum for this generator. Returns the last critic loss."""
        if steps < 1:
            raise ValueError(f"train_critic needs at least one step, not {steps}")
        batches = self._batches()
        for critic_round in range(steps):
            loss_d, _ = self._critic_step(batches, salt=critic_round % _GENERATOR_NOISE_SALT)
        return float(loss_d)

    def run(self, steps: int | None = None, should_stop: Callable[[], bool] | None = None) -> Iterator[StepLog]:
        """Train up to `steps` more generator steps (default: until config.steps), yielding each log."""
        target = self.config.steps if steps is None else self.step + steps
        batches = self._batches()
        while self.step < target:
            if should_stop is not None and should_stop():
                return
            entry = self.train_step(batches)
            self._save_step_outputs(entry, target)
            yield entry

    def sample_grid(self, rows: int = 8) -> np.ndarray:
        """A fixed-noise grid (one digit class per column for the conditional model)."""
        import paddle

        from core.train.sampling import grid_image

        g = self.sampler
        g.eval()
        rng = np.random.default_rng([self.config.seed, 999])
        n = rows * 10
        z = paddle.to_tensor(rng.standard_normal((n, self.config.latent_dim)).astype(np.float32))
        labels = paddle.to_tensor(np.tile(np.arange(10), rows).astype(np.int64))
        with paddle.no_grad():
            images = g(z, labels) if self.spec.conditional else g(z)
        if g is self.g:
            self.g.train()
        return grid_image(images.numpy(), columns=10)

    def state(self) -> dict:
        return {
            **self._networks_state(),
            **({"fake_history": self.fake_history} if self.config.fake_history else {}),
            "meta": {"step": self.step, "batches_served": self._batches_served, "config": asdict(self.config)},
        }

    def export_generator(self, path: Path) -> Path:
        """A generator-only file in the layout the sampling side loads ({"netG": ...})."""
        from core.weights import save_checkpoint

        return save_checkpoint({"netG": self.sampler.state_dict()}, path)

    @classmethod
    def resume(cls, path: str | Path, out_dir=None, world=None, **changes) -> "Trainer":
        from core.checkpoint_io import read_checkpoint_file

        # Not paddle.load: a checkpoint may come from elsewhere, and unpickling it must run nothing it names.
        saved = read_checkpoint_file(path)
        meta = saved["meta"]
        # Checkpoints written before rmsprop_eps was recorded trained with Paddle's default.
        config = TrainConfig(**{"rmsprop_eps": _PADDLE_RMSPROP_EPS, **meta["config"], **changes})
        trainer = cls(config, out_dir=out_dir, world=world)
        trainer._restore_networks(saved, path)
        # A history turned on at resume starts empty; a smaller one keeps its first entries.
        kept = np.asarray(saved.get("fake_history", trainer.fake_history), np.float32)
        trainer.fake_history = kept[: config.fake_history]
        return trainer


def _rename_prefixes(state: dict, renames: dict) -> dict:
    """Rename keys that start with a parameter name (accumulators are '<param name>_<what>_0')."""
    ordered = sorted(renames, key=len, reverse=True)
    renamed = {}
    for key, value in state.items():
        match = next((old for old in ordered if key == old or key.startswith(old + "_")), None)
        renamed[renames[match] + key[len(match):] if match else key] = value
    return renamed


def _portable_optimizer_state(state: dict, net) -> dict:
    """Optimizer state keyed by structured parameter names: Paddle's automatic names
    (linear_3.w_0) differ between processes, and set_state_dict would silently skip them."""
    return _rename_prefixes(state, {p.name: "@" + name for name, p in net.named_parameters()})


def _local_optimizer_state(state: dict, net) -> dict:
    return _rename_prefixes(state, {"@" + name: p.name for name, p in net.named_parameters()})


def train_with_bar(trainer, desc: str, postfix: Callable[[StepLog], dict], export: str | None = None) -> float:
    """The command lines' loop: ``trainer.run()`` to its end under a tqdm bar (``postfix`` of each log), then the
    generator exported to `export` if given; the seconds it took."""
    from tqdm import tqdm

    start = time.perf_counter()
    bar = tqdm(total=trainer.config.steps, initial=trainer.step, desc=desc, unit="step")
    for entry in trainer.run():
        bar.update(1)
        bar.set_postfix(**postfix(entry))
    bar.close()
    if export:
        trainer.export_generator(Path(export))
    return time.perf_counter() - start


def losses_are_finite(history: list[StepLog]) -> bool:
    return all(math.isfinite(e.loss_d) and math.isfinite(e.loss_g) for e in history)
