"""Training the digit GANs: every objective learns in the direction it should, resumes exactly, and its checkpoint samples."""
import numpy as np
import paddle
import pytest

from core.apps import gan_basics
from core.train.gan import OBJECTIVES, TrainConfig, Trainer

SMALL = dict(batch_size=32, ngf=16, ndf=16, latent_dim=32, seed=3)


def early_and_late(values, n=5):
    return float(np.mean(values[:n])), float(np.mean(values[-n:]))


def tiny_cli(out, batch_size: int | None = 8) -> list[str]:
    """Command-line options for a run small enough for a test, writing to ``out``."""
    size = ["--batch-size", str(batch_size)] if batch_size else []
    return [*size, "--ngf", "8", "--ndf", "8", "--latent-dim", "16", "--out", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["dcgan", "lsgan", "cgan"])
def test_discriminator_loss_falls_from_its_start(objective):
    trainer = Trainer(TrainConfig(objective=objective, steps=30, **SMALL))
    history = list(trainer.run())
    early, late = early_and_late([e.loss_d for e in history])
    assert late < early, (early, late)
    assert all(np.isfinite([e.loss_d for e in history] + [e.loss_g for e in history]))


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["wgan", "wgan-gp", "wgan-div"])
def test_critic_wasserstein_estimate_rises(objective):
    steps = 12 if objective == "wgan" else 8
    trainer = Trainer(TrainConfig(objective=objective, steps=steps, **SMALL))
    history = list(trainer.run())
    early, late = early_and_late([e.extra["wasserstein"] for e in history], n=3)
    assert late > early, (early, late)
    if objective == "wgan":
        assert all("penalty" not in e.extra for e in history)  # clipping is its constraint
        clipped = [float(paddle.abs(p).max()) for p in trainer.d.parameters()]
        assert max(clipped) <= OBJECTIVES["wgan"].clip + 1e-7
    else:
        assert all(e.extra["penalty"] >= 0 for e in history)


@pytest.mark.parametrize("options", [{}, {"minibatch_std": 4}])
def test_resume_continues_exactly(tmp_path, options):
    straight = Trainer(TrainConfig(objective="dcgan", steps=6, **SMALL, **options))
    list(straight.run())
    first = Trainer(TrainConfig(objective="dcgan", steps=6, **SMALL, **options))
    list(first.run(steps=3))
    first.save(tmp_path / "half.pdparams")
    resumed = Trainer.resume(tmp_path / "half.pdparams")
    assert resumed.step == 3
    assert resumed.d.minibatch_std == options.get("minibatch_std", 0)
    list(resumed.run())
    for name, value in straight.g.state_dict().items():
        np.testing.assert_allclose(resumed.g.state_dict()[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_moving_average_follows_the_generator_and_resumes_exactly(tmp_path):
    config = TrainConfig(objective="lsgan", steps=6, ema=0.5, **SMALL)
    straight = Trainer(config)
    start = {n: v.numpy().copy() for n, v in straight.g_ema.state_dict().items()}
    list(straight.run())
    name = next(n for n in start if n.endswith("weight"))
    live, average = straight.g.state_dict()[name].numpy(), straight.g_ema.state_dict()[name].numpy()
    assert not np.allclose(average, start[name]) and not np.allclose(average, live)  # between, moving
    first = Trainer(config)
    list(first.run(steps=3))
    first.save(tmp_path / "half.pdparams")
    saved = paddle.load(str(tmp_path / "half.pdparams"))
    assert set(saved) >= {"netG", "netG_live"}  # netG is what sampling loads: the average
    resumed = Trainer.resume(tmp_path / "half.pdparams")
    list(resumed.run())
    for net in ("g", "g_ema"):
        for key, value in getattr(straight, net).state_dict().items():
            np.testing.assert_allclose(getattr(resumed, net).state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)
    resumed.export_generator(tmp_path / "g.pdparams")
    exported = paddle.load(str(tmp_path / "g.pdparams"))["netG"]
    np.testing.assert_array_equal(exported[name].numpy(), straight.g_ema.state_dict()[name].numpy())


def test_resuming_with_the_average_turned_off_samples_and_exports_the_trained_weights(tmp_path):
    """``--ema 0`` on resume: the trained weights (netG_live), not the average, become the generator."""
    from core.train.__main__ import main

    out = tmp_path / "run"
    assert main(["lsgan", "--steps", "3", "--batch-size", "16", "--ngf", "8", "--ndf", "8", "--latent-dim", "16",
                 "--ema", "0.5", "--out", str(out)]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    name = next(n for n in saved["netG"] if n.endswith("weight"))
    assert not np.allclose(saved["netG"][name].numpy(), saved["netG_live"][name].numpy())
    assert main(["lsgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--ema", "0", "--out", str(out),
                 "--export", str(tmp_path / "g.pdparams")]) == 0
    exported = paddle.load(str(tmp_path / "g.pdparams"))["netG"]
    for key, value in saved["netG_live"].items():
        np.testing.assert_array_equal(exported[key].numpy(), value.numpy(), err_msg=key)
    resumed = Trainer.resume(out / "checkpoint.pdparams", ema=0.0)
    assert resumed.g_ema is None and resumed.sampler is resumed.g


def test_critic_steps_per_generator_step_can_be_set_and_changed_on_resume(tmp_path):
    default = Trainer(TrainConfig(objective="wgan", steps=2, **SMALL))
    list(default.run())
    assert default._batches_served == 2 * 5  # the objective's own five critic steps
    more = Trainer(TrainConfig(objective="wgan", steps=2, n_critic=8, **SMALL))
    list(more.run())
    assert more._batches_served == 2 * 8
    more.save(tmp_path / "run.pdparams")
    resumed = Trainer.resume(tmp_path / "run.pdparams", steps=3, n_critic=2)
    list(resumed.run())
    assert resumed._batches_served == 2 * 8 + 2
    assert Trainer.resume(tmp_path / "run.pdparams").config.critic_steps == 8  # recorded in the checkpoint
    with pytest.raises(ValueError, match="n_critic"):
        Trainer(TrainConfig(objective="wgan", n_critic=1000, **SMALL))


def test_critic_bursts_follow_the_wgan_papers_schedule_from_the_cli_and_on_resume(tmp_path):
    from core.train.__main__ import main

    bursts = TrainConfig(objective="wgan", critic_bursts=True, n_critic=3)
    # Arjovsky et al.: 100 critic steps for generator steps 0-24 and every 500th, n_critic otherwise.
    assert [bursts.critic_steps_at(s) for s in (0, 24, 25, 499, 500, 501, 1000)] == [100, 100, 3, 3, 100, 3, 100]
    assert TrainConfig(objective="wgan").critic_steps_at(0) == 5  # off by default
    out = tmp_path / "run"
    tiny = tiny_cli(out)
    assert main(["wgan", "--steps", "1", "--critic-bursts", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["critic_bursts"] is True
    assert saved["meta"]["batches_served"] == 100  # one generator step after a hundred critic steps
    resumed = Trainer.resume(out / "checkpoint.pdparams", steps=2)
    list(resumed.run())
    assert resumed._batches_served == 200  # still inside the first 25 steps: the setting was kept
    # A run without bursts may turn them on when resuming.
    assert main(["wgan", "--steps", "1", *tiny]) == 0
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "2", "--critic-bursts", *tiny]) == 0
    assert paddle.load(str(out / "checkpoint.pdparams"))["meta"]["batches_served"] == 5 + 100


@pytest.mark.slow
def test_the_critic_can_train_alone_towards_its_optimum_for_the_current_generator(tmp_path, capsys):
    import json

    from core.train.quality import main

    trainer = Trainer(TrainConfig(objective="wgan", steps=2, **SMALL, critic_batch_norm=False))
    list(trainer.run())
    real = paddle.to_tensor(trainer.images[:256])
    with paddle.no_grad():
        fake = trainer.g(paddle.to_tensor(np.random.default_rng(1).standard_normal((256, 32)).astype(np.float32)))

    def wasserstein_estimate():
        with paddle.no_grad():
            return float(trainer.d(real).mean() - trainer.d(fake).mean())

    path = trainer.save(tmp_path / "run.pdparams")
    # Its trainable weights stay; its batch-norm statistics move, as they do in training.
    generator = {k: v.numpy().copy() for k, v in trainer.g.named_parameters() if not v.stop_gradient}
    before, served = wasserstein_estimate(), trainer._batches_served
    trainer.train_critic(40)
    after = wasserstein_estimate()  # a clipped critic's scores are small: about 3e-4 before, 1.5e-3 after
    assert after > max(2 * before, before + 5e-4), (before, after)
    assert trainer.step == 2 and trainer._batches_served == served + 40
    assert all(np.array_equal(v.numpy(), generator[k]) for k, v in trainer.g.named_parameters() if not v.stop_gradient)
    assert max(float(p.abs().max()) for p in trainer.d.parameters()) <= 0.01 + 1e-7  # still clipped
    assert main(["--checkpoint", str(path), "--critic-ink", "--train-critic", "5"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"critic_ink_correlation", "real_ink", "fake_ink"}
    for wrong in (["--train-critic", "5"], ["--critic-ink", "--train-critic", "-1"]):
        with pytest.raises(SystemExit):
            main(["--checkpoint", str(path), *wrong])
        assert "--train-critic" in capsys.readouterr().err


def test_a_small_rmsprop_epsilon_lets_the_clipped_critics_generator_take_full_rmsprop_steps(tmp_path):
    """Paddle adds epsilon inside the root: its default 1e-6 damps the generator's tiny gradients."""

    def first_generator_update(**changes):
        trainer = Trainer(TrainConfig(objective="wgan", steps=1, lr=1e-4, **SMALL, **changes))
        before = trainer.g.l1[0].weight.numpy().copy()
        list(trainer.run())
        return np.abs(trainer.g.l1[0].weight.numpy() - before), trainer

    damped, _ = first_generator_update(rmsprop_eps=1e-6)  # Paddle's default
    full, trainer = first_generator_update(rmsprop_eps=1e-16)
    assert Trainer(TrainConfig(objective="wgan")).opt_g._epsilon == 1e-14  # ours: a floor of 1e-7, near PyTorch's 1e-8
    # RMSProp's first step is lr * g / sqrt((1 - rho) g^2) = lr * sqrt(20) for every gradient above the floor;
    # at initialisation the generator's gradients are about 1e-5, so Paddle's floor of 1e-3 cuts them a hundredfold.
    assert np.median(full) == pytest.approx(1e-4 * 20**0.5, rel=0.01)
    assert np.median(damped) < np.median(full) / 50
    trainer.save(tmp_path / "run.pdparams")
    assert Trainer.resume(tmp_path / "run.pdparams").config.rmsprop_eps == 1e-16  # recorded in the checkpoint
    resumed = Trainer.resume(tmp_path / "run.pdparams", rmsprop_eps=1e-6)  # and may change on resume
    assert resumed.opt_g._epsilon == resumed.opt_d._epsilon == 1e-6
    # A checkpoint from before the option existed trained, and resumes, with Paddle's default.
    saved = paddle.load(str(tmp_path / "run.pdparams"))
    del saved["meta"]["config"]["rmsprop_eps"]
    paddle.save(saved, str(tmp_path / "old.pdparams"))
    assert Trainer.resume(tmp_path / "old.pdparams").opt_g._epsilon == 1e-6


def test_rmsprops_decay_can_be_set_from_the_cli_is_recorded_and_may_change_on_resume(tmp_path):
    from core.train.__main__ import main

    assert Trainer(TrainConfig(objective="wgan", **SMALL)).opt_d._rho == 0.95  # Paddle's own
    out = tmp_path / "run"
    tiny = tiny_cli(out)
    assert main(["wgan", "--steps", "2", "--rmsprop-rho", "0.99", *tiny]) == 0
    resumed = Trainer.resume(out / "checkpoint.pdparams")
    assert resumed.config.rmsprop_rho == 0.99 and resumed.opt_g._rho == resumed.opt_d._rho == 0.99
    assert Trainer.resume(out / "checkpoint.pdparams", rmsprop_rho=0.9).opt_d._rho == 0.9
    # The mean square it decays is what the checkpoint carries on: resuming continues exactly.
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--out", str(out)]) == 0
    straight = tmp_path / "straight"
    assert main(["wgan", "--steps", "3", "--rmsprop-rho", "0.99", *tiny_cli(straight)]) == 0
    a, b = (paddle.load(str(d / "checkpoint.pdparams"))["netD"] for d in (out, straight))
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6) for k in a)
    with pytest.raises(ValueError, match="rmsprop_rho"):
        Trainer(TrainConfig(objective="wgan", rmsprop_rho=1.5, **SMALL))


def test_wgans_clipping_bound_can_be_set_from_the_cli_is_recorded_and_may_change_on_resume(tmp_path, capsys):
    from core.train.__main__ import main

    out = tmp_path / "run"
    tiny = tiny_cli(out)
    assert main(["wgan", "--steps", "3", "--clip", "0.05", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["clip"] == 0.05
    critic = [np.abs(v.numpy()).max() for v in saved["netD"].values()]
    # Held to the new box, and using it: the default box (0.01) would have clipped these.
    assert max(critic) <= 0.05 + 1e-7 and max(critic) > 0.01
    assert Trainer.resume(out / "checkpoint.pdparams").config.clip_bound == 0.05
    # Narrowed on resume: the next critic step clips every weight into the new box.
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--clip", "0.005", "--steps", "4", "--out", str(out)]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["clip"] == 0.005
    assert max(np.abs(v.numpy()).max() for v in saved["netD"].values()) <= 0.005 + 1e-7
    # Checkpoints from before the option resume with the objective's own bound.
    assert TrainConfig(objective="wgan").clip_bound == OBJECTIVES["wgan"].clip == 0.01
    # Only wgan clips: the others are refused, with a message rather than a traceback.
    assert main(["wgan-gp", "--steps", "1", "--clip", "0.1", *tiny]) == 2
    assert "weight clipping is wgan's constraint" in capsys.readouterr().err
    with pytest.raises(ValueError, match="weight clipping"):
        Trainer(TrainConfig(objective="dcgan", clip=0.1, **SMALL))


def test_epochs_count_with_the_resumed_runs_batch_size_and_critic_steps(tmp_path):
    """An epoch is 5,000 bundled digits over (batch size x critic steps) of the run itself, also on resume."""
    from core.train.__main__ import main

    out = tmp_path / "run"
    tiny = tiny_cli(out, batch_size=None)
    assert main(["lsgan", "--epochs", "0.01", "--batch-size", "16", "--n-critic", "2", *tiny]) == 0
    assert paddle.load(str(out / "checkpoint.pdparams"))["meta"]["step"] == 2  # 50 digits / (16 x 2), rounded
    # Counted from the start with the checkpoint's 16 x 2 (this command line's defaults, 64 x 1, would give 2).
    assert main(["lsgan", "--resume", str(out / "checkpoint.pdparams"), "--epochs", "0.02", "--out", str(out)]) == 0
    assert paddle.load(str(out / "checkpoint.pdparams"))["meta"]["step"] == 3


@pytest.mark.parametrize("option", [["--n-critic", "-1"], ["--rmsprop-rho", "1.5"], ["--clip", "0"], ["--steps", "0"], ["--epochs", "0"], ["--batch-size", "0"],
                                    ["--steps", "5", "--epochs", "1"]])
def test_cli_refuses_lengths_and_sizes_below_one(option, capsys):
    from core.train.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["wgan", *option])
    error = capsys.readouterr().err
    assert option[0] in error or option[-2] in error


def test_cli_writes_logs_samples_and_a_checkpoint_the_sampler_loads(tmp_path):
    from core.train.__main__ import main

    out = tmp_path / "run"
    assert main(["lsgan", "--steps", "4", "--batch-size", "16", "--ngf", "16", "--ndf", "8", "--latent-dim", "32", "--out", str(out),
                 "--minibatch-std", "4", "--export", str(tmp_path / "g.pdparams")]) == 0
    assert paddle.load(str(out / "checkpoint.pdparams"))["meta"]["config"]["minibatch_std"] == 4
    assert len((out / "losses.jsonl").read_text().splitlines()) == 4
    assert (out / "samples" / "step_000004.png").is_file()
    grid = gan_basics.sample("lsgan", seed=1, count=10, checkpoint=out / "checkpoint.pdparams", scale=1)
    assert grid.shape == (32, 302, 3)


def test_quality_scores_a_training_checkpoint(tmp_path):
    """``python -m core.train.quality --checkpoint`` builds the generator from the run's own config."""
    from core.train.__main__ import main
    from core.train.quality import score_checkpoint

    out = tmp_path / "run"
    assert main(["dcgan", "--steps", "2", "--batch-size", "16", "--ngf", "8", "--ndf", "8", "--latent-dim", "16", "--out", str(out)]) == 0
    quality = score_checkpoint(out / "checkpoint.pdparams", n=40)
    assert quality.samples == 40 and abs(sum(quality.class_shares) - 1) < 1e-6 and quality.requested_accuracy is None
    assert 0.1 <= quality.mean_confidence <= 1.0
    assert score_checkpoint(out / "checkpoint.pdparams", n=40) == quality  # the same latents each time
    assert score_checkpoint(out / "checkpoint.pdparams", n=40, seed=1).mean_confidence != quality.mean_confidence
    # Without a moving average the trained weights are the generator; with one, they can be scored apart from it.
    assert score_checkpoint(out / "checkpoint.pdparams", n=40, trained=True) == quality
    assert main(["dcgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--ema", "0.5", "--out", str(out)]) == 0
    averaged, trained = (score_checkpoint(out / "checkpoint.pdparams", n=40, trained=t) for t in (False, True))
    assert averaged != trained


def test_quality_cli_scores_shipped_weights_with_a_chosen_seed(capsys):
    import json

    from core.train.quality import main

    assert main(["--weights", "digits_wgan_gp", "--samples", "50", "--seed", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 50 and len(report["class_shares"]) == 10 and 0.5 < report["mean_confidence"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["dcgan", "wgan-gp"])
def test_data_parallel_ranks_split_the_batch_and_stay_in_step(tmp_path, objective):
    """Two CPU processes under Paddle's launcher (as several GPUs would be): each rank draws its own
    half of the global noise and data, and the averaged gradients keep the ranks' weights equal."""
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("data_parallel_worker.py")
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(tmp_path / "log"),
               str(worker), objective, str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert done.returncode == 0, done.stdout[-2000:] + logs
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    assert all(int(r["size"]) == 2 for r in ranks)
    assert ranks[0]["z"].shape == (8, 16) and not np.allclose(ranks[0]["z"], ranks[1]["z"])  # different halves
    single = Trainer(TrainConfig(objective=objective, steps=3, batch_size=16, ngf=8, ndf=8, latent_dim=16, seed=5))
    single.step = 3
    np.testing.assert_array_equal(np.concatenate([ranks[0]["z"], ranks[1]["z"]]), single._noise(salt=1000)[0].numpy())
    for r in ranks:
        assert np.isfinite(r["losses"]).all() and float(r["moved"]) > 1e-4
    names = [k for k in ranks[0].files if k.startswith(("G.", "D."))]
    assert len(names) > 10
    for name in names:
        np.testing.assert_allclose(ranks[0][name], ranks[1][name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_cli_resume_may_lower_the_learning_rate(tmp_path):
    from core.train.__main__ import main

    out = tmp_path / "run"
    tiny = tiny_cli(out, batch_size=16)
    assert main(["wgan-gp", "--steps", "2", *tiny]) == 0
    assert main(["wgan-gp", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--lr", "3e-5", "--out", str(out)]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["step"] == 3 and saved["meta"]["config"]["lr"] == 3e-5
    resumed = Trainer.resume(out / "checkpoint.pdparams")
    assert resumed.opt_g.get_lr() == resumed.opt_d.get_lr() == 3e-5


def test_r1_penalty_drops_batch_norm_and_is_reported():
    trainer = Trainer(TrainConfig(objective="dcgan", steps=10, r1=1.0, **SMALL))
    assert not any(isinstance(layer, paddle.nn.BatchNorm2D) for layer in trainer.d.sublayers())  # per-sample gradients
    history = list(trainer.run())
    penalties = [e.extra["penalty"] for e in history]
    assert all(p > 0 for p in penalties) and penalties[-1] < penalties[0]  # the critic learns to flatten around real digits
    with pytest.raises(ValueError, match="Wasserstein critics have their own"):
        Trainer(TrainConfig(objective="wgan-gp", r1=1.0, **SMALL))


def test_the_critics_batch_norm_can_be_dropped_from_the_cli_and_stays_dropped_on_resume(tmp_path):
    from core.train.__main__ import main

    def has_batch_norm(trainer):
        return any(isinstance(layer, paddle.nn.BatchNorm2D) for layer in trainer.d.sublayers())

    assert has_batch_norm(Trainer(TrainConfig(objective="wgan", **SMALL)))  # the objective's own critic
    out = tmp_path / "run"
    tiny = tiny_cli(out, batch_size=16)
    assert main(["wgan", "--steps", "2", "--no-critic-batch-norm", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["critic_batch_norm"] is False
    assert not any("_mean" in name for name in saved["netD"])  # no batch-norm statistics in the critic
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--out", str(out)]) == 0
    resumed = Trainer.resume(out / "checkpoint.pdparams")
    assert resumed.step == 3 and not has_batch_norm(resumed)
    # Checkpoints from before the option had the objective's batch norm and resume with it.
    old = Trainer(TrainConfig(objective="wgan", steps=1, **SMALL))
    state = old.state()
    del state["meta"]["config"]["critic_batch_norm"]
    paddle.save(state, str(tmp_path / "old.pdparams"))
    assert has_batch_norm(Trainer.resume(tmp_path / "old.pdparams"))


def test_the_critic_can_have_a_layer_norm_from_the_cli_kept_on_resume_and_usable_with_penalties(tmp_path):
    from core.nets.deep_conv import SampleNorm
    from core.train.__main__ import main

    def norms(trainer):
        return {type(layer).__name__ for layer in trainer.d.sublayers() if isinstance(layer, (SampleNorm, paddle.nn.BatchNorm2D))}

    out = tmp_path / "run"
    tiny = tiny_cli(out, batch_size=16)
    assert main(["wgan", "--steps", "2", "--critic-layer-norm", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["critic_layer_norm"] is True
    assert saved["netD"]["features.3.weight"].shape == [16] and not any("_mean" in name for name in saved["netD"])
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--out", str(out)]) == 0
    resumed = Trainer.resume(out / "checkpoint.pdparams")
    assert resumed.step == 3 and norms(resumed) == {"SampleNorm"}
    # Penalties differentiate through it twice (gradient penalty, divergence penalty, R1).
    for objective, extra in (("wgan-gp", {}), ("wgan-div", {}), ("dcgan", {"r1": 0.1})):
        trainer = Trainer(TrainConfig(objective=objective, steps=2, critic_layer_norm=True, **extra, **SMALL))
        logs = list(trainer.run())
        assert norms(trainer) == {"SampleNorm"} and all(np.isfinite(log.loss_d) and log.extra["penalty"] > 0 for log in logs)


def test_a_deeper_critic_can_be_chosen_from_the_cli_and_is_kept_on_resume(tmp_path):
    from core.train.__main__ import main

    out = tmp_path / "run"
    tiny = tiny_cli(out, batch_size=16)
    assert main(["wgan", "--steps", "2", "--critic-depth", "3", "--no-critic-batch-norm", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["critic_depth"] == 3 and saved["netD"]["head.weight"].shape == [32 * 4 * 4, 1]
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--steps", "3", "--out", str(out)]) == 0
    assert Trainer.resume(out / "checkpoint.pdparams").d.head.weight.shape == [32 * 4 * 4, 1]
    # Checkpoints from before the option have two convolutions and resume so.
    state = Trainer(TrainConfig(objective="wgan", steps=1, **SMALL)).state()
    del state["meta"]["config"]["critic_depth"]
    paddle.save(state, str(tmp_path / "old.pdparams"))
    assert Trainer.resume(tmp_path / "old.pdparams").d.head.weight.shape == [32 * 7 * 7, 1]
    # The penalised critics differentiate through the third layer twice.
    trainer = Trainer(TrainConfig(objective="wgan-gp", steps=2, critic_depth=3, **SMALL))
    assert all(np.isfinite(log.loss_d) and log.extra["penalty"] > 0 for log in trainer.run())


def test_in_training_the_critics_batch_norm_hides_which_digits_a_batch_holds():
    """Why --no-critic-batch-norm and --critic-layer-norm: batches of different digit classes reach the
    critic's head with the same per-channel feature means when it has batch norm, and with different
    ones without it or with a layer norm."""
    from core import nets
    from core.train.data import load_digits

    images, labels = load_digits()
    as_input = lambda digit: paddle.to_tensor((images[labels == digit][:64].astype(np.float32) / 127.5 - 1)[:, None])

    def channel_means(critic, batch):  # the last layer's input to its activation
        for layer in list(critic.features.children())[:-1]:
            batch = layer(batch)
        return batch.mean(axis=[0, 2, 3])

    for norm in ("batch", "none", "layer"):
        paddle.seed(0)
        critic = nets.build("digits_critic", ndf=16, norm=norm)
        critic.train()
        with paddle.no_grad():
            gap = float((channel_means(critic, as_input(1)) - channel_means(critic, as_input(0))).abs().max())
        if norm == "batch":
            assert gap < 1e-4, gap
        else:
            assert gap > 0.1, (norm, gap)


def test_quality_reports_how_closely_a_checkpoints_critic_scores_real_digits_by_their_ink(tmp_path, capsys):
    import json

    from core.train.quality import critic_ink, main

    trainer = Trainer(TrainConfig(objective="wgan", steps=1, batch_size=16, ngf=8, ndf=1, latent_dim=16, critic_batch_norm=False))
    first, _, second, _ = trainer.d.features
    # Every activation stays positive (the first bias outweighs any 4x4 sum of pixels in [-1, 1]), so the
    # leaky ReLUs pass it unchanged and the critic sums the pixels, each digit pixel with the same weight.
    for layer, bias in ((first, 16.0), (second, 0.0)):
        layer.weight.set_value(paddle.ones_like(layer.weight))
        layer.bias.set_value(paddle.full_like(layer.bias, bias))
    for sign, name in ((1.0, "more"), (-1.0, "less")):
        trainer.d.head.weight.set_value(sign * paddle.ones_like(trainer.d.head.weight))
        path = trainer.save(tmp_path / f"{name}-ink.pdparams")
        assert critic_ink(path)["critic_ink_correlation"] == pytest.approx(sign, abs=1e-3)
    assert main(["--checkpoint", str(path), "--critic-ink"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["critic_ink_correlation"] == pytest.approx(-1.0, abs=1e-3)
    # Mean ink of the digits scored, and of the untrained generator's samples (tanh near 0: about half of 784).
    chosen = np.random.RandomState(0).permutation(len(trainer.images))[:2000]
    assert report["real_ink"] == pytest.approx(float((trainer.images[chosen] + 1).sum(axis=(1, 2, 3)).mean() / 2), abs=0.01)
    assert 80 < report["real_ink"] < 160 and 250 < report["fake_ink"] < 550
    with pytest.raises(SystemExit):
        main(["--critic-ink"])  # shipped weights hold no critic
    assert "needs --checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_a_history_of_past_fakes_feeds_half_of_each_critic_batch_and_resumes_exactly(tmp_path):
    config = TrainConfig(objective="wgan", steps=6, fake_history=40, **SMALL)  # batches of 32: 16 join a step
    trainer = Trainer(config)
    list(trainer.run(steps=2))
    assert trainer.fake_history.shape == (32, 1, 28, 28)
    list(trainer.run(steps=1))
    assert trainer.fake_history.shape == (40, 1, 28, 28)  # full: new images now overwrite old ones
    with paddle.no_grad():
        fake = trainer.g(trainer._noise(salt=1)[0])
    trainer.fake_history[:] = 5.0  # a value the generator's tanh cannot draw
    mixed = trainer._mix_in_history(fake, salt=1).numpy()
    assert (mixed[:16] == 5.0).all()
    np.testing.assert_array_equal(mixed[16:], fake.numpy()[16:])
    assert (trainer.fake_history == 5.0).all()  # only a generator step's first critic round adds to it
    trainer._mix_in_history(fake, salt=0)
    replaced = ~(trainer.fake_history == 5.0).all(axis=(1, 2, 3))
    assert replaced.sum() == 16
    kept = trainer.fake_history[replaced].reshape(16, -1)
    assert all((kept == image).all(axis=1).any() for image in fake.numpy()[:16].reshape(16, -1))  # the fresh first half

    straight = Trainer(config)
    list(straight.run())
    first = Trainer(config)
    list(first.run(steps=3))
    first.save(tmp_path / "half.pdparams")
    resumed = Trainer.resume(tmp_path / "half.pdparams")
    np.testing.assert_array_equal(resumed.fake_history, first.fake_history)
    list(resumed.run())
    np.testing.assert_array_equal(resumed.fake_history, straight.fake_history)
    for net in ("g", "d"):
        for name, value in getattr(straight, net).state_dict().items():
            np.testing.assert_allclose(getattr(resumed, net).state_dict()[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=name)


def test_the_fake_history_is_set_from_the_cli_resized_on_resume_and_refused_where_it_cannot_work(tmp_path, capsys):
    from core.train.__main__ import main

    out = tmp_path / "run"
    tiny = tiny_cli(out)
    assert main(["wgan", "--steps", "4", "--fake-history", "12", *tiny]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["fake_history"] == 12
    assert np.asarray(saved["fake_history"]).shape == (12, 1, 28, 28)
    assert main(["wgan", "--resume", str(out / "checkpoint.pdparams"), "--fake-history", "6", "--steps", "5", "--out", str(out)]) == 0
    saved = paddle.load(str(out / "checkpoint.pdparams"))
    assert saved["meta"]["config"]["fake_history"] == 6 and np.asarray(saved["fake_history"]).shape == (6, 1, 28, 28)
    # Turned on when resuming a run that had none: it starts empty and fills.
    assert main(["dcgan", "--steps", "2", *tiny_cli(tmp_path / "plain")]) == 0
    assert "fake_history" not in paddle.load(str(tmp_path / "plain" / "checkpoint.pdparams"))
    assert main(["dcgan", "--resume", str(tmp_path / "plain" / "checkpoint.pdparams"), "--fake-history", "16", "--steps", "4",
                 "--out", str(tmp_path / "plain")]) == 0
    assert np.asarray(paddle.load(str(tmp_path / "plain" / "checkpoint.pdparams"))["fake_history"]).shape == (8, 1, 28, 28)
    assert main(["cgan", "--steps", "1", "--fake-history", "8", *tiny]) == 2
    assert "unconditional" in capsys.readouterr().err
    with pytest.raises(ValueError, match="data parallel"):
        Trainer(TrainConfig(objective="wgan", fake_history=8, **SMALL), world=(0, 2))
