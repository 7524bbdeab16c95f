"""The shipped digit GAN draws digits that a classifier recognises, in every class."""
import numpy as np

from core.train.classifier import HELD_OUT_PER_CLASS, predict, split, to_input
from core.train.data import load_digits
from core.train.quality import classifier, score_weights


def test_classifier_recognises_held_out_real_digits():
    images, labels = load_digits()
    _, held = split(labels)
    accuracy = (predict(classifier(), to_input(images[held])).argmax(1) == labels[held]).mean()
    assert len(held) == 10 * HELD_OUT_PER_CLASS and accuracy >= 0.95


def test_shipped_conditional_gan_draws_the_requested_digits():
    quality = score_weights("digits_cgan", n=1000)
    assert quality.requested_accuracy >= 0.90, quality
    assert quality.mean_confidence >= 0.85, quality
    assert all(0.05 <= share <= 0.20 for share in quality.class_shares), quality


def test_the_quality_bar_rejects_a_broken_generator():
    """Noise fools the classifier's confidence (it calls it an 8 with ~0.99), but not the class spread."""
    from core.train.quality import score

    noise = np.random.default_rng(0).uniform(-1, 1, (200, 1, 28, 28)).astype(np.float32)
    quality = score(noise, requested=np.arange(200) % 10)
    assert not all(0.05 <= share <= 0.20 for share in quality.class_shares)
    assert quality.requested_accuracy < 0.5
