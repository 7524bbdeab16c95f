"""Training objectives are objects: the trainer calls their methods and never compares their names."""
import ast
from pathlib import Path

import numpy as np
import paddle
import pytest

from core.train.gan import TrainConfig, Trainer
from core.train.objectives import (OBJECTIVES, CrossEntropy, GradientPenalty, LeastSquares, Objective,
                                   Wasserstein, WassersteinDivergence, WeightClipping)

SMALL = dict(batch_size=16, ngf=8, ndf=8, latent_dim=16)


def test_the_objectives_keep_their_names_titles_order_and_defaults():
    # The UI lists them in this order with these titles; checkpoints name them by these keys.
    assert [(name, o.name, o.title) for name, o in OBJECTIVES.items()] == [
        ("dcgan", "dcgan", "DCGAN (binary cross-entropy)"),
        ("lsgan", "lsgan", "LSGAN (least squares)"),
        ("wgan", "wgan", "WGAN (weight clipping)"),
        ("wgan-gp", "wgan-gp", "WGAN-GP (gradient penalty)"),
        ("wgan-div", "wgan-div", "WGAN-div (Wasserstein divergence)"),
        ("cgan", "cgan", "Conditional DCGAN"),
    ]
    classes = {name: type(o) for name, o in OBJECTIVES.items()}
    assert classes == {"dcgan": CrossEntropy, "lsgan": LeastSquares, "wgan": WeightClipping, "wgan-gp": GradientPenalty,
                       "wgan-div": WassersteinDivergence, "cgan": CrossEntropy}
    defaults = {name: (o.conditional, o.critic_batch_norm, o.n_critic, o.lr, o.betas, o.clip) for name, o in OBJECTIVES.items()}
    assert defaults == {
        "dcgan": (False, True, 1, 2e-4, (0.5, 0.999), 0.0),
        "lsgan": (False, True, 1, 2e-4, (0.5, 0.999), 0.0),
        "wgan": (False, True, 5, 5e-5, (0.5, 0.999), 0.01),
        "wgan-gp": (False, False, 5, 1e-4, (0.0, 0.9), 0.0),
        "wgan-div": (False, False, 5, 1e-4, (0.0, 0.9), 0.0),
        "cgan": (True, True, 1, 2e-4, (0.5, 0.999), 0.0),
    }
    assert all(isinstance(o, Objective) for o in OBJECTIVES.values())


def test_the_trainer_never_compares_an_objectives_name():
    """No `objective == "wgan"`, `name in ("dcgan", ...)` or `.startswith("wgan")` in the training loop."""
    tree = ast.parse((Path(__file__).resolve().parents[2] / "core" / "train" / "gan.py").read_text())
    names = set(OBJECTIVES) | {"wgan"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            constants = [c for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in names]
            found += [f"line {node.lineno}: {c.value!r}" for c in constants]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("startswith", "endswith"):
            found += [f"line {node.lineno}: {c.value!r}" for c in ast.walk(node) if isinstance(c, ast.Constant)
                      and isinstance(c.value, str) and any(n.startswith(c.value) for n in names)]
    assert not found, found


@pytest.mark.parametrize(("objective", "option", "message"), [
    ("wgan", "r1", "the R1 penalty is for dcgan, lsgan and cgan: the Wasserstein critics have their own constraint"),
    ("wgan-gp", "r1", "the R1 penalty is for dcgan, lsgan and cgan: the Wasserstein critics have their own constraint"),
    ("dcgan", "clip", "weight clipping is wgan's constraint; dcgan has its own"),
    ("wgan-div", "clip", "weight clipping is wgan's constraint; wgan-div has its own"),
    ("cgan", "fake_history", "the fake-image history keeps images without their labels, so it is for the unconditional objectives"),
])
def test_each_objective_refuses_the_options_that_do_not_fit_it_in_one_line(objective, option, message):
    assert OBJECTIVES[objective].refusal(option) == message
    with pytest.raises(ValueError) as refused:
        Trainer(TrainConfig(objective=objective, **{option: 8 if option == "fake_history" else 0.1}, **SMALL))
    assert str(refused.value) == message


def test_what_each_objective_accepts():
    accepted = {name: {opt for opt in ("r1", "clip", "fake_history") if o.refusal(opt) is None} for name, o in OBJECTIVES.items()}
    assert accepted == {"dcgan": {"r1", "fake_history"}, "lsgan": {"r1", "fake_history"}, "cgan": {"r1"},
                        "wgan": {"clip", "fake_history"}, "wgan-gp": {"fake_history"}, "wgan-div": {"fake_history"}}


def test_the_losses_on_known_scores():
    real, fake = paddle.to_tensor([[2.0], [0.0]]), paddle.to_tensor([[-1.0], [1.0]])
    loss, extra = OBJECTIVES["wgan-gp"].critic_loss(real, fake)
    assert float(loss) == pytest.approx(-1.0) and extra == {"wasserstein": pytest.approx(1.0)}
    assert float(Wasserstein.generator_loss(OBJECTIVES["wgan"], fake)) == 0.0
    loss, extra = OBJECTIVES["lsgan"].critic_loss(real, fake)
    assert float(loss) == pytest.approx(0.5 * ((1 + 1) / 2 + (1 + 1) / 2)) and extra == {}
    assert float(OBJECTIVES["lsgan"].generator_loss(fake)) == pytest.approx(0.5 * (4 + 0) / 2)
    bce = lambda x, t: np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))  # noqa: E731
    loss, _ = OBJECTIVES["dcgan"].critic_loss(real, fake)
    assert float(loss) == pytest.approx(bce(np.array([2.0, 0.0]), 0.9) + bce(np.array([-1.0, 1.0]), 0.0), rel=1e-5)
    assert float(OBJECTIVES["dcgan"].generator_loss(fake)) == pytest.approx(bce(np.array([-1.0, 1.0]), 1.0), rel=1e-5)
    assert OBJECTIVES["dcgan"].penalty(None, real, fake, None) is None


def test_only_weight_clipping_clips_and_only_it_trains_with_rmsprop():
    layer = paddle.nn.Linear(2, 2)
    layer.weight.set_value(paddle.full([2, 2], 0.5))
    OBJECTIVES["wgan-gp"].clip_weights(layer, 0.01)
    assert float(layer.weight.max()) == 0.5
    OBJECTIVES["wgan"].clip_weights(layer, 0.01)
    assert float(layer.weight.abs().max()) == pytest.approx(0.01)
    config = TrainConfig(objective="wgan")
    kinds = {name: type(o.optimizer(layer.parameters(), 1e-3, config)).__name__ for name, o in OBJECTIVES.items()}
    assert kinds == {"dcgan": "Adam", "lsgan": "Adam", "wgan": "RMSProp", "wgan-gp": "Adam", "wgan-div": "Adam", "cgan": "Adam"}
