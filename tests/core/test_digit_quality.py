"""The shipped digit GANs draw digits that a classifier recognises, in every class."""
import numpy as np
import pytest

from core.train.classifier import HELD_OUT_PER_CLASS, predict, split, to_input
from core.train.data import load_digits
from core.train.quality import classifier, score_weights


def test_classifier_recognises_held_out_real_digits():
    images, labels = load_digits()
    _, held = split(labels)
    accuracy = (predict(classifier(), to_input(images[held])).argmax(1) == labels[held]).mean()
    assert len(held) == 10 * HELD_OUT_PER_CLASS and accuracy >= 0.95


def test_shipped_conditional_gan_draws_the_requested_digits():
    quality = score_weights("deep_conv.digits_cgan", n=1000)
    assert quality.requested_accuracy >= 0.90, quality
    assert quality.mean_confidence >= 0.85, quality
    assert all(0.05 <= share <= 0.20 for share in quality.class_shares), quality


# Each shipped unconditional model as measured (docs/training.md, `python -m core.train.quality --weights NAME`):
# mean top-class confidence, smallest and largest class share over 1,000 samples. The issue's bar is
# confidence >= 0.85 (0.75 for WGAN with clipping) with every class in 5-20 %, which every one meets.
# These tests keep the shipped files at what was measured.
MEASURED = {
    "deep_conv.digits_dcgan": (0.856, 0.055, 0.132),
    "deep_conv.digits_lsgan": (0.858, 0.053, 0.146),
    "deep_conv.digits_wgan": (0.770, 0.056, 0.147),
    "deep_conv.digits_wgan_gp": (0.858, 0.058, 0.137),
    "deep_conv.digits_wgan_div": (0.850, 0.069, 0.126),
}


# The issue's bar for each unconditional model: its mean top-class confidence (weight clipping's is lower).
CONFIDENCE_BAR = {"deep_conv.digits_dcgan": 0.85, "deep_conv.digits_lsgan": 0.85, "deep_conv.digits_wgan": 0.75, "deep_conv.digits_wgan_gp": 0.85, "deep_conv.digits_wgan_div": 0.85}


@pytest.mark.parametrize("name", sorted(CONFIDENCE_BAR))
def test_every_unconditional_model_meets_the_issues_bar(name):
    quality = score_weights(name, n=1000)
    assert quality.mean_confidence >= CONFIDENCE_BAR[name], quality
    assert all(0.05 <= share <= 0.20 for share in quality.class_shares), quality


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_every_shipped_unconditional_model_draws_what_was_measured(name):
    confidence, smallest, largest = MEASURED[name]
    quality = score_weights(name, n=1000)
    assert quality.mean_confidence >= confidence - 0.005, quality
    assert min(quality.class_shares) >= smallest - 0.002 and max(quality.class_shares) <= largest + 0.002, quality
    assert all(share > 0 for share in quality.class_shares)  # every digit appears: no class collapsed away


def test_every_objective_ships_weights():
    from core import weights
    from core.apps import gan_basics
    from core.train.gan import OBJECTIVES

    shipped = {gan_basics.shipped_weights(o) for o in OBJECTIVES}
    assert set(gan_basics.APP.weights) - {gan_basics.EYES, gan_basics.PGGAN} == shipped == set(MEASURED) | {"deep_conv.digits_cgan"} == set(CONFIDENCE_BAR) | {"deep_conv.digits_cgan"}
    for name in shipped:
        path = weights.locate(weights.spec(name))
        assert path is not None and path.stat().st_size < 2_000_000, name


def test_the_quality_bar_rejects_a_broken_generator():
    """Noise fools the classifier's confidence (it calls it an 8 with ~0.99), but not the class spread."""
    from core.train.quality import score

    noise = np.random.default_rng(0).uniform(-1, 1, (200, 1, 28, 28)).astype(np.float32)
    quality = score(noise, requested=np.arange(200) % 10)
    assert not all(0.05 <= share <= 0.20 for share in quality.class_shares)
    assert quality.requested_accuracy < 0.5


def test_32x32_digits_are_read_at_their_centre_where_mnist_has_its_ink():
    from core.train.quality import score

    images, labels = load_digits()
    digits = (images[:300].astype(np.float32) / 127.5 - 1.0)[:, None]
    padded = np.pad(digits, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)  # as PGGAN trains on them
    assert score(padded, labels[:300]) == score(digits, labels[:300])


def test_a_pggan_file_is_scored_on_its_grown_digits(tmp_path):
    from core.train.pggan import PGGANConfig, PGGANTrainer
    from core.train.quality import score_checkpoint

    trainer = PGGANTrainer(PGGANConfig(stage_images=16, batch_size=8, latent_dim=16, channels=(8, 8, 4, 4), seed=1))
    list(trainer.run())
    for path in (trainer.save(tmp_path / "checkpoint.pdparams"), trainer.export_generator(tmp_path / "g.pdparams")):
        quality = score_checkpoint(path, n=50)
        assert quality.samples == 50 and 0 < quality.mean_confidence <= 1 and sum(quality.class_shares) == pytest.approx(1)
        assert quality.requested_accuracy is None


def test_the_shipped_pggan_meets_the_issues_bar():
    from core import weights
    from core.apps import gan_basics
    from core.train.quality import score_checkpoint

    path = weights.locate(weights.spec(gan_basics.PGGAN))
    if path is None:
        pytest.skip("PGGAN is still growing (docs/training.md gives the command); its file is not shipped yet")
    quality = score_checkpoint(path, n=1000)
    assert quality.mean_confidence >= 0.85, quality
    assert all(0.05 <= share <= 0.20 for share in quality.class_shares), quality
