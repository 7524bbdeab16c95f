"""The digit GANs' training objectives: one small class per family.

An objective says how the critic and the generator are scored (``critic_loss``, ``generator_loss``),
what else holds the critic to it (``penalty``, ``clip_weights``), which optimizer trains both networks
(``optimizer``), its defaults (learning rate, critic steps, clipping bound, batch norm in its critic),
and which of ``TrainConfig``'s options it refuses, and why (``refusal``). ``OBJECTIVES`` maps each name
the command line takes to one; ``core.train.gan.Trainer`` calls their methods and never their names.

Scores are the critic's raw outputs (logits for the cross-entropy objectives).
"""
from __future__ import annotations

from typing import Callable

_NO_CLIPPING = "weight clipping is wgan's constraint; {name} has its own"
_NO_R1 = "the R1 penalty is for dcgan, lsgan and cgan: the Wasserstein critics have their own constraint"
_NO_HISTORY = "the fake-image history keeps images without their labels, so it is for the unconditional objectives"


class Objective:
    """What every objective shares; the families below override their losses, penalty and defaults."""

    lr = 2e-4
    betas = (0.5, 0.999)  # Adam's
    n_critic = 1  # critic steps per generator step
    clip = 0.0  # bound of the critic's weights after each of its steps (0: no clipping)
    critic_batch_norm = True  # gradient-penalty critics must not mix samples through batch norm
    # TrainConfig options (field names) this objective refuses, each with the one-line reason given.
    refused = {"clip": _NO_CLIPPING}

    def __init__(self, name: str, title: str, conditional: bool = False):
        self.name = name
        self.title = title
        self.conditional = conditional  # its generator and critic take digit labels
        self.refused = dict(type(self).refused)
        if conditional:
            self.refused["fake_history"] = _NO_HISTORY

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def critic_loss(self, real_scores, fake_scores) -> tuple:
        """(loss, extra): the critic's loss and any figures to log with it."""
        raise NotImplementedError

    def generator_loss(self, fake_scores):
        raise NotImplementedError

    def penalty(self, critic: Callable, real, fake, uniform: Callable):
        """A term added to the critic's loss (None: none). ``critic`` scores a batch; ``uniform()`` gives
        this step's per-sample uniform draws, shape (N, 1, 1, 1), for penalties that sample between batches."""
        return None

    def clip_weights(self, critic, bound: float) -> None:
        """Hold the critic's weights to [-bound, bound] after its step (only weight clipping does)."""

    def optimizer(self, parameters, lr: float, config):
        import paddle

        return paddle.optimizer.Adam(learning_rate=lr, beta1=self.betas[0], beta2=self.betas[1], parameters=parameters)

    def refusal(self, option: str) -> str | None:
        """Why this objective refuses the TrainConfig option ``option`` when it is set (None: it accepts it)."""
        message = self.refused.get(option)
        return message.format(name=self.name) if message else None


class CrossEntropy(Objective):
    """DCGAN: binary cross-entropy on the critic's logits."""

    real_label = 0.9  # one-sided label smoothing keeps the discriminator from saturating early

    def critic_loss(self, real_scores, fake_scores):
        import paddle
        import paddle.nn.functional as F

        loss = F.binary_cross_entropy_with_logits(real_scores, paddle.full_like(real_scores, self.real_label)) + (
            F.binary_cross_entropy_with_logits(fake_scores, paddle.zeros_like(fake_scores))
        )
        return loss, {}

    def generator_loss(self, fake_scores):
        import paddle
        import paddle.nn.functional as F

        return F.binary_cross_entropy_with_logits(fake_scores, paddle.ones_like(fake_scores))


class LeastSquares(Objective):
    """LSGAN: real digits scored towards 1, generated ones towards 0."""

    def critic_loss(self, real_scores, fake_scores):
        return 0.5 * (((real_scores - 1) ** 2).mean() + (fake_scores**2).mean()), {}

    def generator_loss(self, fake_scores):
        return 0.5 * ((fake_scores - 1) ** 2).mean()


class Wasserstein(Objective):
    """The critic estimates the Wasserstein distance (mean real score minus mean fake score); each
    subclass holds it to a Lipschitz constraint of its own, so none takes the R1 penalty."""

    n_critic = 5
    refused = {"clip": _NO_CLIPPING, "r1": _NO_R1}

    def critic_loss(self, real_scores, fake_scores):
        wasserstein = real_scores.mean() - fake_scores.mean()
        return -wasserstein, {"wasserstein": float(wasserstein)}

    def generator_loss(self, fake_scores):
        return -fake_scores.mean()


class WeightClipping(Wasserstein):
    """WGAN (Arjovsky et al. 2017): the critic's weights clipped to a box, trained with RMSProp."""

    lr = 5e-5
    clip = 0.01  # the paper's
    refused = {"r1": _NO_R1}

    def clip_weights(self, critic, bound):
        import paddle

        if bound:
            for p in critic.parameters():
                p.set_value(paddle.clip(p, -bound, bound))

    def optimizer(self, parameters, lr, config):
        import paddle

        return paddle.optimizer.RMSProp(learning_rate=lr, rho=config.rmsprop_rho, epsilon=config.rmsprop_eps,
                                        parameters=parameters)


class GradientPenalty(Wasserstein):
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(|grad D| - 1)^2] at points between real and fake digits."""

    lr = 1e-4
    betas = (0.0, 0.9)
    critic_batch_norm = False
    weight = 10.0

    def penalty(self, critic, real, fake, uniform):
        import paddle

        alpha = uniform()
        mixed = alpha * real + (1 - alpha) * fake
        mixed.stop_gradient = False
        grad = paddle.grad(critic(mixed), mixed, create_graph=True)[0]
        norm = grad.reshape([grad.shape[0], -1]).norm(p=2, axis=1)
        return self.weight * ((norm - 1) ** 2).mean()


class WassersteinDivergence(Wasserstein):
    """WGAN-div (Wu et al. 2018): k * E[|grad D|^p] on real and on fake digits."""

    lr = 1e-4
    betas = (0.0, 0.9)
    critic_batch_norm = False
    k, p = 2.0, 6.0

    def penalty(self, critic, real, fake, uniform):
        import paddle

        real_in = real.detach()
        real_in.stop_gradient = False
        fake_in = fake.detach()
        fake_in.stop_gradient = False
        g_real = paddle.grad(critic(real_in).sum(), real_in, create_graph=True)[0]
        g_fake = paddle.grad(critic(fake_in).sum(), fake_in, create_graph=True)[0]
        p = self.p
        return self.k * (
            (g_real.reshape([g_real.shape[0], -1]) ** 2).sum(axis=1) ** (p / 2)
            + (g_fake.reshape([g_fake.shape[0], -1]) ** 2).sum(axis=1) ** (p / 2)
        ).mean() / 2


def r1_penalty(real_scores, real, gamma: float):
    """gamma/2 * E|grad D(x)|^2 on real digits (Mescheder et al. 2018): ``real`` must require gradients
    and ``real_scores`` be the critic's scores of it. A TrainConfig option of the objectives that accept it."""
    import paddle

    grad = paddle.grad(real_scores.sum(), real, create_graph=True)[0]
    return gamma / 2 * (grad.reshape([grad.shape[0], -1]) ** 2).sum(axis=1).mean()


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        CrossEntropy("dcgan", "DCGAN (binary cross-entropy)"),
        LeastSquares("lsgan", "LSGAN (least squares)"),
        WeightClipping("wgan", "WGAN (weight clipping)"),
        GradientPenalty("wgan-gp", "WGAN-GP (gradient penalty)"),
        WassersteinDivergence("wgan-div", "WGAN-div (Wasserstein divergence)"),
        CrossEntropy("cgan", "Conditional DCGAN", conditional=True),
    )
}
