"""SPADE trained here: a semantic label map to a picture, on digit scenes or on a folder of label/image pairs.

    python -m core.train spade --data digit-scenes|DIR [--steps N] [--out DIR] [--export FILE [--export-precision float16]] [--judge]

The generator is ``core.nets.spade`` (PaddleCV's flavour: batch norm, LeakyReLU, its spectral norm) in the small
configuration of ``core.checkpoints.spade_scenes`` (64x64, ngf 8, 16 hidden SPADE channels); its input is the label
map one-hot plus one channel of the label map's edges (``semantic_input(..., edges=True)``). The critic is
``core.nets.spade_critic``: two PatchGAN scales on (label map, picture) pairs. The losses are Park et al.'s
(2019) without the parts that do not apply here:

- hinge GAN loss: the critic minimises ``relu(1 - D(real)) + relu(1 + D(fake))``, the generator ``-D(fake)``,
  each averaged over patches and over the scales;
- feature matching (weight 10): the L1 distance between the critic's intermediate features of the real and
  of the generated pair, every layer but the last, averaged over the scales;
- left out: the VGG perceptual loss (its ImageNet VGG-19 weights cannot be fetched offline) and the VAE style
  encoder (neither published SPADE uses one; the picture follows from the label map alone).

Adam with SPADE's two time-scale rule: generator 1e-4, critic 4e-4, betas (0, 0.9); one critic step per
generator step, generator first (as SPADE alternates).

Data. ``digit-scenes``: ``core.train.digit_scenes`` (sky, ground, 1-3 MNIST digits; 64x64), ``--scenes`` of them
drawn from ``--seed``. A folder ``DIR``: ``DIR/labels/*.png`` (one integer class id per pixel, a grey or palette
PNG) and ``DIR/images/<same stem>.png|.jpg|.jpeg`` (RGB); both resized to ``--size`` squared (nearest for the
labels, area for the pictures); the classes are 0 .. the largest id found (or ``--classes``).

The judge (issue #24): ``judge_scenes(generator, n)`` draws ``n`` held-out scenes (seed ``JUDGE_SEED``), runs the
generator on their label maps and segments its pictures by colour (``digit_scenes.segment_by_colour``): the mean
IoU against the label maps, which must reach 0.8. Real scenes score about 0.97, a map of another scene 0.54.

Resuming (``--resume``) continues exactly: the batch order depends only on the seed and the batches served, and
the spectral norms' vectors, batch-norm statistics and both optimizers are in the checkpoint.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.checkpoints.spade_scenes import DIGIT_SCENE_CLASSES, DIGIT_SCENE_COLOURS, SPADE_DIGIT_SCENES, TRAIN_COMMAND
from core.train.gan import StepLog, TrainerBase, _local_optimizer_state, _portable_optimizer_state, train_with_bar

DIGIT_SCENES = "digit-scenes"
LABELS_FOLDER, IMAGES_FOLDER = "labels", "images"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
JUDGE_SEED = 9  # held out: training draws from --seed (0 by default), the judge's colours from seed 0's scenes
EXPORT_PRECISIONS = ("float32", "float16")
BAR = 0.8  # the issue's: mean IoU of the colour segmentation against the painted map
_ORDER_SALT = 21
_GRID_SCENES = 8


@dataclass
class SceneConfig:
    data: str = DIGIT_SCENES
    steps: int = 6000  # generator steps in all
    batch_size: int = 8
    lr_g: float = 1e-4  # SPADE's two time-scale update rule
    lr_d: float = 4e-4
    betas: tuple = (0.0, 0.9)
    lambda_feat: float = 10.0
    ngf: int = SPADE_DIGIT_SCENES["ngf"]
    nhidden: int = SPADE_DIGIT_SCENES["nhidden"]
    ndf: int = 32
    n_layers_d: int = 3
    num_d: int = 2
    scenes: int = 2000  # digit scenes drawn for training
    size: int = SPADE_DIGIT_SCENES["crop_size"]  # a folder's pictures are resized to size x size
    classes: int = 0  # a folder: 0 = the largest id found + 1
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500

    def __post_init__(self):
        self.betas = tuple(self.betas)
        if self.batch_size < 1 or self.steps < 0:
            raise ValueError(f"batch_size must be positive and steps not negative; got {self.batch_size}, {self.steps}")
        if self.size < 32 or self.size % 32:
            raise ValueError(f"size must be a multiple of 32 (SPADE upsamples a size/32 grid five times); got {self.size}")
        if self.data == DIGIT_SCENES and self.size != SPADE_DIGIT_SCENES["crop_size"]:
            raise ValueError(f"digit scenes are {SPADE_DIGIT_SCENES['crop_size']}x{SPADE_DIGIT_SCENES['crop_size']}; --size is for a folder")


# ---------------------------------------------------------------- data


class SceneData:
    """Label maps int64 (N, H, W) and pictures float32 (N, 3, H, W) in [-1, 1], with class names and colours."""

    def __init__(self, label_maps: np.ndarray, images: np.ndarray, classes: tuple, colours: tuple):
        if len(label_maps) != len(images) or label_maps.shape[1:] != images.shape[2:]:
            raise ValueError(f"{len(label_maps)} label maps {label_maps.shape[1:]} do not pair with {len(images)} pictures {images.shape[2:]}")
        self.label_maps, self.images = label_maps.astype(np.int64), images.astype(np.float32)
        self.classes, self.colours = tuple(classes), tuple(tuple(int(v) for v in c) for c in colours)

    def __len__(self) -> int:
        return len(self.label_maps)

    @property
    def side(self) -> int:
        return self.label_maps.shape[-1]

    def batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        return self.label_maps[indices], self.images[indices]


def digit_scene_data(count: int, seed: int = 0) -> SceneData:
    from core.train.digit_scenes import digit_scenes

    scenes = digit_scenes(count, seed=seed)
    return SceneData(scenes.label_maps, scenes.images, DIGIT_SCENE_CLASSES, DIGIT_SCENE_COLOURS)


def default_colours(count: int) -> tuple:
    """Distinct colours for `count` classes (hues around the circle, alternating brightness)."""
    from skimage.color import hsv2rgb

    hsv = np.array([[(k / max(count, 1)) % 1.0, 0.75, 1.0 if k % 2 == 0 else 0.6] for k in range(count)])
    return tuple(tuple(int(v) for v in np.round(hsv2rgb(hsv[None])[0, k] * 255)) for k in range(count))


def folder_data(folder: str | Path, size: int, classes: int = 0) -> SceneData:
    """Label/picture pairs from ``folder/labels/*.png`` and ``folder/images/<stem>.png|jpg|jpeg``."""
    from PIL import Image

    folder = Path(folder)
    labels_dir, images_dir = folder / LABELS_FOLDER, folder / IMAGES_FOLDER
    if not labels_dir.is_dir() or not images_dir.is_dir():
        raise ValueError(f"{folder} must hold {LABELS_FOLDER}/ (integer class-id PNGs) and {IMAGES_FOLDER}/ (pictures of the same names)")
    label_files = sorted(labels_dir.glob("*.png"))
    if not label_files:
        raise ValueError(f"{labels_dir} holds no .png label maps")
    maps, pictures = [], []
    for label_file in label_files:
        picture_file = next((images_dir / f"{label_file.stem}{s}" for s in IMAGE_SUFFIXES
                             if (images_dir / f"{label_file.stem}{s}").is_file()), None)
        if picture_file is None:
            raise ValueError(f"{label_file.name} has no picture {images_dir}/{label_file.stem}.png|.jpg|.jpeg")
        with Image.open(label_file) as label_image:
            if label_image.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(f"{label_file} is a {label_image.mode} image; a label map holds one class id per pixel (grey or palette PNG)")
            maps.append(np.asarray(label_image.resize((size, size), Image.NEAREST), dtype=np.int64))
        with Image.open(picture_file) as picture:
            pictures.append(np.asarray(picture.convert("RGB").resize((size, size), Image.BOX), dtype=np.float32))
    label_maps = np.stack(maps)
    found = int(label_maps.max()) + 1
    count = classes or found
    if found > count:
        raise ValueError(f"the label maps hold class ids up to {found - 1}, more than --classes {count} allows")
    images = np.stack(pictures).transpose(0, 3, 1, 2) / 127.5 - 1.0
    return SceneData(label_maps, images, tuple(f"class {k}" for k in range(count)), default_colours(count))


def load_data(config: SceneConfig) -> SceneData:
    if config.data == DIGIT_SCENES:
        return digit_scene_data(config.scenes, config.seed)
    return folder_data(config.data, config.size, config.classes)


def generator_input(label_maps, n_classes: int):
    """SPADE's input from int label maps (N, H, W): one-hot classes and the label map's edges (paddle)."""
    from core.nets.spade import semantic_input

    return semantic_input(label_maps, n_classes, edges=True)


# ---------------------------------------------------------------- losses


def hinge_critic_loss(real_outputs, fake_outputs):
    """Mean over scales of relu(1 - real) + relu(1 + fake), each averaged over its patches."""
    import paddle.nn.functional as F

    total = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        total = total + F.relu(1.0 - real[-1]).mean() + F.relu(1.0 + fake[-1]).mean()
    return total / len(real_outputs)


def hinge_generator_loss(fake_outputs):
    return sum(-fake[-1].mean() for fake in fake_outputs) / len(fake_outputs)


def feature_matching_loss(real_outputs, fake_outputs):
    """L1 between the critic's intermediate features of real and generated pairs, averaged over scales."""
    total = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        for real_feature, fake_feature in zip(real[:-1], fake[:-1]):
            total = total + (fake_feature - real_feature.detach()).abs().mean()
    return total / len(real_outputs)


# ---------------------------------------------------------------- training


class SceneTrainer(TrainerBase):
    """SPADE generator, critic, their optimizers and the data; ``run()`` yields a log entry per generator step."""

    export_precision = "float32"  # how export_generator stores the weights (EXPORT_PRECISIONS)

    def __init__(self, config: SceneConfig, out_dir: str | Path | None = None, data: SceneData | None = None):
        import paddle

        from core import nets

        self.config = config
        self.world = None
        self.out_dir = Path(out_dir) if out_dir else None
        self.data = data if data is not None else load_data(config)
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if len(self.data) < config.batch_size:
            raise ValueError(f"{len(self.data)} scenes are fewer than one batch of {config.batch_size}")
        paddle.seed(config.seed)
        self.generator_config = self._generator_config()
        self.g = nets.build("spade", **self.generator_config)
        self.d = nets.build("spade_critic", semantic_nc=self.semantic_nc, ndf=config.ndf, n_layers=config.n_layers_d,
                            num_D=config.num_d)
        self.g.train()
        self.d.train()
        beta1, beta2 = config.betas
        self.opt_g = paddle.optimizer.Adam(learning_rate=config.lr_g, beta1=beta1, beta2=beta2, parameters=self.g.parameters())
        self.opt_d = paddle.optimizer.Adam(learning_rate=config.lr_d, beta1=beta1, beta2=beta2, parameters=self.d.parameters())
        self.g_ema = None  # SPADE samples its trained weights
        self.step = 0
        self._batches_served = 0
        self.history: list[StepLog] = []

    @property
    def n_classes(self) -> int:
        return len(self.data.classes)

    @property
    def semantic_nc(self) -> int:
        return self.n_classes + 1

    def _generator_config(self) -> dict:
        side = self.data.side
        return {**SPADE_DIGIT_SCENES, "semantic_nc": self.semantic_nc, "crop_size": side, "ngf": self.config.ngf,
                "nhidden": self.config.nhidden}

    def _next_batch(self):
        import paddle

        n, batch = len(self.data), self.config.batch_size
        epoch, within = divmod(self._batches_served, n // batch)
        order = np.random.default_rng([self.config.seed, epoch, _ORDER_SALT]).permutation(n)
        self._batches_served += 1
        labels, images = self.data.batch(order[within * batch:(within + 1) * batch])
        return generator_input(labels, self.n_classes), paddle.to_tensor(images)

    def train_step(self) -> StepLog:
        import paddle

        start = time.perf_counter()
        config = self.config
        seg, real = self._next_batch()
        # Generator: the critic fixed, its features of the real pair as targets.
        for p in self.d.parameters():
            p.stop_gradient = True
        try:
            fake = self.g(seg)
            fake_outputs = self.d(seg, fake)
            with paddle.no_grad():  # the targets of feature matching
                real_outputs = self.d(seg, real)
            adversarial = hinge_generator_loss(fake_outputs)
            matching = feature_matching_loss(real_outputs, fake_outputs)
            loss_g = adversarial + config.lambda_feat * matching
            self.opt_g.clear_grad()
            loss_g.backward()
            self.opt_g.step()
        finally:
            for p in self.d.parameters():
                p.stop_gradient = False
        # Critic: the same pair against the generated one (detached).
        loss_d = hinge_critic_loss(self.d(seg, real), self.d(seg, fake.detach()))
        self.opt_d.clear_grad()
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.clear_grad()  # the critic's backward never reaches the generator, but keep its grads clean
        self.step += 1
        entry = StepLog(self.step, float(loss_d), float(loss_g), time.perf_counter() - start,
                        {"hinge_g": float(adversarial), "feat": float(matching)})
        self.history.append(entry)
        return entry

    # ------------------------------------------------------------ outputs

    def generate(self, label_maps: np.ndarray) -> np.ndarray:
        """The generator's pictures (N, 3, H, W) in [-1, 1] for int label maps, in eval mode."""
        return generate(self.g, label_maps, self.n_classes)

    def sample_grid(self) -> np.ndarray:
        """One row per fixed scene (the data's first eight): label map colours | generated | real."""
        from core.train.sampling import grid_image

        labels, real = self.data.batch(np.arange(min(_GRID_SCENES, len(self.data))))
        palette = np.asarray(self.data.colours, np.float32) / 127.5 - 1.0
        painted = palette[labels].transpose(0, 3, 1, 2)
        tiles = np.stack([painted, self.generate(labels), real], axis=1).reshape(-1, *real.shape[1:])
        return grid_image(tiles, columns=3)

    def _meta(self) -> dict:
        return {"step": self.step, "batches_served": self._batches_served,
                "config": {**asdict(self.config), "betas": list(self.config.betas)},
                "generator": {"architecture": "spade", **self.generator_config},
                "labels": list(self.data.classes), "colours": [list(c) for c in self.data.colours]}

    def state(self) -> dict:
        return {
            "netG": self.g.state_dict(),
            "netD": self.d.state_dict(),
            "optG": _portable_optimizer_state(self.opt_g.state_dict(), self.g),
            "optD": _portable_optimizer_state(self.opt_d.state_dict(), self.d),
            "meta": self._meta(),
        }

    def export_generator(self, path: Path) -> Path:
        """``{"netG": ..., "meta": {"generator": architecture and arguments, "labels", "colours", ...}}``:
        ``load_scene_generator(path)`` builds it, and so does the ``spade.digit_scenes`` checkpoint spec.

        With ``export_precision`` "float16" the float32 weights are stored rounded to float16 (half the file;
        every loader casts them back to float32 through ``core.weights.load_state_strict``)."""
        import paddle

        from core.weights import save_checkpoint

        if self.export_precision not in EXPORT_PRECISIONS:
            raise ValueError(f"export precision {self.export_precision!r}: choose one of {', '.join(EXPORT_PRECISIONS)}")
        meta = {k: v for k, v in self._meta().items() if k != "batches_served"}
        state = self.g.state_dict()
        if self.export_precision == "float16":
            state = {name: value.astype("float16") if value.dtype == paddle.float32 else value
                     for name, value in state.items()}
        return save_checkpoint({"netG": state, "meta": {**meta, "stored_as": self.export_precision}}, path)

    @classmethod
    def resume(cls, path: str | Path, out_dir=None, data=None, **changes) -> "SceneTrainer":
        """Continue a checkpoint exactly; ``changes`` may set ``steps``, ``lr_g`` or ``lr_d``."""
        from core.checkpoint_io import read_checkpoint_file
        from core.weights import load_state_strict

        unknown = set(changes) - {"steps", "lr_g", "lr_d"}
        if unknown:
            raise ValueError(f"a resumed run keeps its {', '.join(sorted(unknown))}; only steps, lr_g and lr_d may change")
        saved = read_checkpoint_file(path)
        meta = saved.get("meta")
        if not (isinstance(meta, dict) and "optD" in saved and meta.get("generator", {}).get("architecture") == "spade"):
            raise ValueError(f"{path} is not a SPADE training checkpoint")
        trainer = cls(SceneConfig(**{**meta["config"], **changes}), out_dir=out_dir, data=data)
        load_state_strict(trainer.g, saved["netG"], str(path))
        load_state_strict(trainer.d, saved["netD"], str(path))
        trainer.opt_g.set_state_dict(_local_optimizer_state(saved["optG"], trainer.g))
        trainer.opt_d.set_state_dict(_local_optimizer_state(saved["optD"], trainer.d))
        trainer.step = int(meta["step"])
        trainer._batches_served = int(meta["batches_served"])
        return trainer


def generate(generator, label_maps: np.ndarray, n_classes: int, batch: int = 50) -> np.ndarray:
    """`generator`'s pictures (N, 3, H, W) in [-1, 1] for int label maps (N, H, W), in eval mode (restored after)."""
    import paddle

    was_training = generator.training
    generator.eval()
    try:
        with paddle.no_grad():
            parts = [generator(generator_input(label_maps[i:i + batch], n_classes)).numpy()
                     for i in range(0, len(label_maps), batch)]
    finally:
        if was_training:
            generator.train()
    return np.concatenate(parts)


def load_scene_generator(path: str | Path):
    """A SPADE generator from a training checkpoint or export, in eval mode, with ``labels`` and ``colours``
    (what its classes are called and painted with) set on it."""
    from core import nets, weights
    from core.checkpoint_io import read_checkpoint_file

    saved = read_checkpoint_file(path)
    meta = saved.get("meta") if isinstance(saved.get("meta"), dict) else {}
    recorded = meta.get("generator")
    if not isinstance(recorded, dict) or recorded.get("architecture") != "spade" or "netG" not in saved:
        raise ValueError(f"{path} records no SPADE generator (meta.generator)")
    net = nets.build("spade", **{k: v for k, v in recorded.items() if k != "architecture"})
    weights.load_state_strict(net, saved["netG"], str(path))
    net.eval()
    net.labels = tuple(meta.get("labels", ()))
    net.colours = tuple(tuple(int(v) for v in c) for c in meta.get("colours", ()))
    return net


# ---------------------------------------------------------------- the judge


def scene_iou(images: np.ndarray, label_maps: np.ndarray) -> float:
    """Mean IoU of the colour segmentation of digit-scene pictures (N, 3, H, W) in [-1, 1] against label maps."""
    from core.train.digit_scenes import mean_iou, segment_by_colour

    return mean_iou(segment_by_colour(images), label_maps)


def judge_scenes(generator, n: int = 200, seed: int = JUDGE_SEED) -> float:
    """The issue's judge: the mean IoU of the colour segmentation of the generator's pictures for `n` held-out
    digit scenes against their label maps (the bar is ``BAR``, 0.8)."""
    from core.train.digit_scenes import digit_scenes

    maps = digit_scenes(n, seed=seed).label_maps
    return scene_iou(generate(generator, maps, len(DIGIT_SCENE_CLASSES)), maps)


# ---------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.train spade",
                                     description="Train SPADE (label map -> picture) on digit scenes or label/image pairs.")
    parser.add_argument("model", choices=("spade",))
    parser.add_argument("--data", default=DIGIT_SCENES,
                        help=f"{DIGIT_SCENES} (drawn offline from MNIST and scikit-image textures) or a folder with "
                        f"{LABELS_FOLDER}/*.png (class ids) and {IMAGES_FOLDER}/ (pictures of the same names)")
    parser.add_argument("--steps", type=_positive_int, help="generator steps in all, counted from the start (default 6000)")
    parser.add_argument("--batch-size", type=_positive_int, default=8)
    parser.add_argument("--scenes", type=_positive_int, default=2000, help=f"{DIGIT_SCENES}: how many to draw (default 2000)")
    parser.add_argument("--size", type=_positive_int, default=64, help="a folder: pictures resized to this square (a multiple of 32)")
    parser.add_argument("--classes", type=int, default=0, help="a folder: the number of classes (default: the largest id + 1)")
    parser.add_argument("--ngf", type=_positive_int, default=SPADE_DIGIT_SCENES["ngf"], help="generator width")
    parser.add_argument("--ndf", type=_positive_int, default=32, help="critic width")
    parser.add_argument("--lr-g", type=float, help="generator learning rate (default 1e-4; may change when resuming)")
    parser.add_argument("--lr-d", type=float, help="critic learning rate (default 4e-4; may change when resuming)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/spade", help="run folder (default runs/spade)")
    parser.add_argument("--resume", help="continue this training checkpoint exactly (may change --steps, --lr-g, --lr-d)")
    parser.add_argument("--export", help="also write the generator alone to this .pdparams")
    parser.add_argument("--export-precision", choices=EXPORT_PRECISIONS, default="float32",
                        help="store the exported weights in this dtype (float16: half the file; loaders cast them "
                        "back to float32)")
    parser.add_argument("--judge", action="store_true", help=f"{DIGIT_SCENES}: after training, print the mean IoU judge "
                        f"on 200 held-out scenes (the bar is {BAR})")
    return parser.parse_args(argv)


def main(argv) -> int:
    import json
    import sys


    from core.runtime import use_best_device

    args = parse_args(argv)
    device = use_best_device()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.resume:
            changes = {"steps": args.steps, "lr_g": args.lr_g, "lr_d": args.lr_d}
            trainer = SceneTrainer.resume(args.resume, out_dir=out, **{k: v for k, v in changes.items() if v is not None})
        else:
            config = SceneConfig(data=args.data, steps=args.steps or 6000, batch_size=args.batch_size, scenes=args.scenes,
                                 size=args.size, classes=args.classes, ngf=args.ngf, ndf=args.ndf, seed=args.seed,
                                 **{k: v for k, v in (("lr_g", args.lr_g), ("lr_d", args.lr_d)) if v is not None})
            trainer = SceneTrainer(config, out_dir=out)
    except ValueError as refused:
        print(f"python -m core.train: error: {refused}", file=sys.stderr)
        return 2
    trainer.export_precision = args.export_precision
    seconds = train_with_bar(trainer, f"spade on {device}", lambda e: {"loss_d": f"{e.loss_d:.3f}", "hinge_g": f"{e.extra['hinge_g']:.3f}",
                                                               "feat": f"{e.extra['feat']:.3f}"}, args.export)
    print(f"trained {trainer.step} steps in {seconds:.0f} s; checkpoint {out / 'checkpoint.pdparams'}")
    if args.judge and trainer.config.data == DIGIT_SCENES:
        # The file that ships is judged, as loaded (rounded to its stored precision).
        iou = judge_scenes(load_scene_generator(args.export) if args.export else trainer.g)
        print(json.dumps({"mean_iou": round(iou, 4), "bar": BAR, "passes": iou >= BAR}))
    return 0


__all__ = ["SceneConfig", "SceneTrainer", "SceneData", "judge_scenes", "load_scene_generator", "main", "TRAIN_COMMAND"]
