"""Score a digit generator with the bundled classifier (issue: quality measured, not eyeballed).

    python -m core.train.quality [--weights digits_cgan] [--samples 1000]
    python -m core.train.quality --checkpoint runs/wgan-gp/checkpoint.pdparams   # a training checkpoint
    python -m core.train.quality --weights digits_wgan_div --seed 1             # another 1,000 latents
    python -m core.train.quality --checkpoint runs/wgan/checkpoint.pdparams --critic-ink [--train-critic 500]
    python -m core.train.quality --checkpoint assets/weights/digits_pggan.pdparams     # PGGAN's 32x32 digits

Reports mean top-class confidence, the share of each predicted class, and for
a conditional generator how often the requested digit is recognised. ``--critic-ink``
reports instead how closely a checkpoint's critic scores real digits by their ink (after
training the critic alone, with ``--train-critic``).
"""
from core.runtime import configure_process

configure_process()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402

import numpy as np  # noqa: E402


@dataclass
class Quality:
    samples: int
    mean_confidence: float
    class_shares: list  # share of samples predicted as 0..9
    requested_accuracy: float | None  # conditional generators only


def classifier():
    from core import models

    return models.network("digits_classifier.mnist_5k")


PADDED_SIDE = 32  # PGGAN grows to 32x32: MNIST's 28x28 padded by 2 on each side (core.train.pggan.real_digits)


def score(images: np.ndarray, requested: np.ndarray | None = None) -> Quality:
    """Score generated images (N, 1, 28, 28) in [-1, 1]; 32x32 digits (PGGAN's) are read at their central 28x28,
    where their training digits had all their ink."""
    from core.train.classifier import predict

    if images.shape[-2:] == (PADDED_SIDE, PADDED_SIDE):
        margin = (PADDED_SIDE - 28) // 2
        images = images[..., margin:margin + 28, margin:margin + 28]
    probabilities = predict(classifier(), images.astype(np.float32))
    predicted = probabilities.argmax(1)
    shares = np.bincount(predicted, minlength=10) / len(predicted)
    accuracy = float((predicted == requested).mean()) if requested is not None else None
    return Quality(len(images), float(probabilities.max(1).mean()), [round(float(s), 4) for s in shares], accuracy)


def sample_generator(generator, n: int, seed: int = 0, conditional: bool = False):
    """n samples, digits 0-9 requested in turn; labels only for a conditional generator."""
    from core.train.sampling import draw

    images, labels = draw(generator, seed, n)
    return images, (labels if conditional else None)


def score_weights(spec_name: str, n: int = 1000, seed: int = 0) -> Quality:
    from core import models

    generator = models.create(spec_name, pretrained=True)
    conditional = getattr(generator, "n_class", 0) > 0
    images, labels = sample_generator(generator, n, seed, conditional)
    return score(images, labels)


def score_checkpoint(path, n: int = 1000, seed: int = 0, trained: bool = False) -> Quality:
    """Score the generator of a checkpoint written by ``python -m core.train`` (its config says how to build it):
    the moving average where the run keeps one, or with ``trained`` the trained weights themselves."""
    from core import nets, weights
    from core.train.gan import OBJECTIVES, generator_name

    saved = weights.load_saved(path)
    if isinstance(saved.get("meta"), dict) and "generator" in saved["meta"]:  # a PGGAN run's checkpoint or export
        from core.train.pggan import load_generator

        if trained:
            raise ValueError("--trained-weights: a PGGAN file is scored with the weights it samples")
        images, _ = sample_generator(load_generator(path), n, seed)
        return score(images)
    config = saved["meta"]["config"]
    generator = nets.build(generator_name(config["objective"]), latent_dim=config["latent_dim"], ngf=config["ngf"])
    state = saved.get("netG_live", saved["netG"]) if trained else saved["netG"]
    weights.load_state_strict(generator, state, str(path))
    images, labels = sample_generator(generator, n, seed, OBJECTIVES[config["objective"]].conditional)
    return score(images, labels)


def critic_ink(path, n: int = 2000, train_critic: int = 0) -> dict:
    """How far a training checkpoint's critic scores by ink alone: the correlation, over n of its training
    digits, of its score with each digit's ink (pixels mapped to [0, 1] and summed), and the mean ink of
    those digits and of n samples of its generator as the critic sees them (trained weights, in training
    mode). With ``train_critic`` the critic first trains that many steps alone against the generator, to
    show where its optimum for that generator lies (what it showed for each objective: docs/training.md)."""
    import paddle

    from core.train.gan import Trainer
    from core.train.sampling import draw

    run = Trainer.resume(path)  # the checkpoint's own networks and data, as training saw them
    if train_critic:
        run.train_critic(train_critic)
    chosen = np.random.RandomState(0).permutation(len(run.images))[:n]
    images = run.images[chosen]
    with paddle.no_grad():
        run.d.eval()
        extra = [paddle.to_tensor(run.labels[chosen])] if run.spec.conditional else []
        scores = run.d(paddle.to_tensor(images), *extra).numpy()[:, 0]
    # In training batches, so that the generator's batch norm sees batches the size the critic saw.
    batch = run.config.batch_size
    fakes = [draw(run.g, seed=k, count=min(batch, n - start))[0] for k, start in enumerate(range(0, n, batch))]
    ink = _ink(images)
    return {"critic_ink_correlation": round(float(np.corrcoef(scores, ink)[0, 1]), 4),
            "real_ink": round(float(ink.mean()), 2), "fake_ink": round(float(_ink(np.concatenate(fakes)).mean()), 2)}


def _ink(images: np.ndarray) -> np.ndarray:
    return (images + 1).sum(axis=(1, 2, 3)) / 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train.quality")
    parser.add_argument("--weights", default="digits_cgan")
    parser.add_argument("--checkpoint", help="score a training checkpoint instead of shipped weights")
    parser.add_argument("--trained-weights", action="store_true",
                        help="with --checkpoint: score the trained weights, not the moving average the run keeps with --ema")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="latent seed; over 1,000 samples the confidence varies by about 0.01 between seeds")
    parser.add_argument("--critic-ink", action="store_true",
                        help="with --checkpoint: the correlation of its critic's score with each real digit's ink, "
                        "and the mean ink of real digits and of its generator's samples, instead")
    parser.add_argument("--train-critic", type=int, default=0, metavar="STEPS",
                        help="with --critic-ink: first train the critic alone this many steps against the generator")
    args = parser.parse_args(argv)
    if args.train_critic and not args.critic_ink:
        parser.error("--train-critic goes with --critic-ink")
    if args.train_critic < 0:
        parser.error("--train-critic takes a number of steps, 0 or more")
    if args.trained_weights and not args.checkpoint:
        parser.error("--trained-weights goes with --checkpoint (a shipped file holds one generator)")
    if args.critic_ink:
        if not args.checkpoint:
            parser.error("--critic-ink needs --checkpoint (shipped files hold no critic)")
        print(json.dumps(critic_ink(args.checkpoint, train_critic=args.train_critic)))
        return 0
    if args.checkpoint:
        quality = score_checkpoint(args.checkpoint, args.samples, args.seed, trained=args.trained_weights)
    else:
        quality = score_weights(args.weights, args.samples, args.seed)
    print(json.dumps(asdict(quality), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
