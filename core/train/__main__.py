"""python -m core.train OBJECTIVE [options]: train a digit GAN on CPU, one GPU or several.

Several GPUs (data parallel, the batch split across ranks; Paddle's launcher takes a
script path, not a module, so this file also runs as a script):
    python -m paddle.distributed.launch --devices 0,1 core/train/__main__.py dcgan --steps 5000
"""
import sys

if not __package__:  # run as a script (the distributed launcher): make the repository importable
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.runtime import configure_process  # noqa: E402

configure_process()  # before paddle is imported

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tqdm import tqdm  # noqa: E402

from core.train.gan import OBJECTIVES, TrainConfig, Trainer  # noqa: E402


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {value}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    parser.add_argument("objective", choices=sorted(OBJECTIVES))
    parser.add_argument("--data", help="digits .npz, an MNIST idx3-ubyte file or its directory (default: bundled 5k MNIST)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int, help="generator steps in all, counted from the start (default 2000)")
    length.add_argument("--epochs", type=_positive_float,
                        help="alternative to --steps: passes over the data by the critic, counted from the start")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="(a resumed run keeps its own)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the objective's; may be changed when resuming)")
    parser.add_argument("--ngf", type=int, default=32, help="generator width")
    parser.add_argument("--ndf", type=int, default=64, help="critic width")
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--ema", type=float, help="decay of a moving average of the generator's weights, e.g. 0.995 "
                        "(sampled and exported instead of the last step's weights; default off; when resuming it may be turned on, "
                        "changed, or turned off with 0 to sample and export the trained weights themselves)")
    parser.add_argument("--minibatch-std", type=int, default=0, metavar="GROUP",
                        help="give the critic a minibatch standard-deviation feature over groups of GROUP samples, e.g. 4 "
                        "(counters dropped digit classes; default off)")
    parser.add_argument("--no-critic-batch-norm", dest="critic_batch_norm", action="store_false",
                        help="drop the critic's batch norm (dcgan, lsgan, wgan, cgan have it; it normalises away how often "
                        "a batch shows a feature, such as a digit class; a resumed run keeps its own)")
    parser.add_argument("--critic-layer-norm", action="store_true",
                        help="give the critic a per-sample layer norm in place of batch norm (any objective; "
                        "a resumed run keeps its own)")
    parser.add_argument("--critic-depth", type=int, choices=(2, 3), default=2,
                        help="strided convolutions in the critic: 2, or 3 so that each feature the head sees covers most "
                        "of a digit (a resumed run keeps its own)")
    parser.add_argument("--r1", type=float, default=0.0, metavar="GAMMA",
                        help="zero-centred gradient penalty on real digits, GAMMA/2 * E|grad D|^2, for dcgan, lsgan and cgan "
                        "(drops the discriminator's batch norm; default off)")
    parser.add_argument("--n-critic", type=_positive_int, metavar="N",
                        help="critic steps per generator step (default: the objective's, 5 for wgan*, 1 otherwise; "
                        "may be changed when resuming)")
    parser.add_argument("--critic-bursts", action="store_true",
                        help="the WGAN paper's schedule: 100 critic steps for each of the first 25 generator steps and "
                        "every 500th, N otherwise (may be turned on when resuming)")
    parser.add_argument("--rmsprop-eps", type=_positive_float, metavar="EPS",
                        help="RMSProp's epsilon, for wgan (default 1e-14; Paddle adds it inside the square root, where its own "
                        "default 1e-6 slows the generator's small gradients; may be changed when resuming)")
    parser.add_argument("--rmsprop-rho", type=_fraction, metavar="RHO",
                        help="decay of RMSProp's mean square, for wgan (default 0.95, Paddle's; PyTorch's 0.99 averages "
                        "over five times as many steps; may be changed when resuming)")
    parser.add_argument("--clip", type=_positive_float, metavar="C",
                        help="bound of wgan's weight clipping (default 0.01, the paper's; may be changed when resuming)")
    parser.add_argument("--fake-history", type=_positive_int, metavar="N",
                        help="keep N of the generator's past images and draw half of each critic batch's fakes from them "
                        "(unconditional objectives; default off; may be turned on or resized when resuming)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/digits", help="directory for losses.jsonl, samples/ and checkpoint.pdparams")
    parser.add_argument("--export", help="also write the generator alone ({'netG': ...}) to this file at the end")
    parser.add_argument("--resume", help="a checkpoint.pdparams to continue from exactly")
    return parser.parse_args(argv)


def steps_for_epochs(epochs: float, trainer: Trainer) -> int:
    """Generator steps in which the critic sees the run's data ``epochs`` times, with the run's own
    batch size and critic steps (a resumed run's, not this command line's defaults)."""
    per_step = trainer.config.batch_size * trainer.config.critic_steps
    return max(1, round(epochs * len(trainer.images) / per_step))


def main(argv=None) -> int:
    args = parse_args(argv)
    import paddle

    from core.runtime import use_best_device

    device = use_best_device()
    world = None
    if paddle.distributed.get_world_size() > 1:
        paddle.distributed.init_parallel_env()
        world = (paddle.distributed.get_rank(), paddle.distributed.get_world_size())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.resume:
            changeable = {"steps": args.steps, "ema": args.ema, "lr": args.lr, "n_critic": args.n_critic,
                          "rmsprop_eps": args.rmsprop_eps, "rmsprop_rho": args.rmsprop_rho,
                          "critic_bursts": args.critic_bursts or None, "clip": args.clip,
                          "fake_history": args.fake_history}
            changes = {name: value for name, value in changeable.items() if value is not None}
            trainer = Trainer.resume(args.resume, out_dir=out, world=world, **changes)
        else:
            config = TrainConfig(
                objective=args.objective, steps=args.steps or 2000, batch_size=args.batch_size, lr=args.lr,
                latent_dim=args.latent_dim, ngf=args.ngf, ndf=args.ndf, ema=args.ema or 0.0, seed=args.seed, data=args.data,
                minibatch_std=args.minibatch_std, critic_batch_norm=args.critic_batch_norm,
                critic_layer_norm=args.critic_layer_norm, critic_depth=args.critic_depth, r1=args.r1,
                n_critic=args.n_critic or 0, critic_bursts=args.critic_bursts, fake_history=args.fake_history or 0,
            )
            if args.rmsprop_eps is not None:
                config.rmsprop_eps = args.rmsprop_eps
            if args.rmsprop_rho is not None:
                config.rmsprop_rho = args.rmsprop_rho
            if args.clip is not None:
                config.clip = args.clip
            trainer = Trainer(config, out_dir=out, world=world)
    except ValueError as refused:  # an option that does not fit the objective or the checkpoint
        print(f"python -m core.train: error: {refused}", file=sys.stderr)
        return 2
    if args.epochs is not None:
        trainer.config.steps = steps_for_epochs(args.epochs, trainer)
    start = time.perf_counter()
    bar = tqdm(total=trainer.config.steps, initial=trainer.step, desc=f"{args.objective} on {device}", unit="step")
    for entry in trainer.run():
        bar.update(1)
        bar.set_postfix(loss_d=f"{entry.loss_d:.3f}", loss_g=f"{entry.loss_g:.3f}")
    bar.close()
    if args.export and (world is None or world[0] == 0):
        trainer.export_generator(Path(args.export))
    print(f"trained {trainer.step} steps in {time.perf_counter() - start:.0f} s; checkpoint {out / 'checkpoint.pdparams'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
