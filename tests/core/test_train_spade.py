"""SPADE trained here (core.train.spade): losses that move on a tiny configuration, exact resumes, exports that
load (also as the ``spade.digit_scenes`` checkpoint), the IoU judge, folders of label/image pairs, the CLI."""
import dataclasses

import numpy as np
import paddle
import pytest
from PIL import Image

from core import models, runtime, weights
from core.checkpoint_io import read_checkpoint_file
from core.registry import WEIGHTS
from core.train import spade as trainer_module
from core.train.spade import (BAR, SceneConfig, SceneTrainer, digit_scene_data, folder_data, judge_scenes,
                              load_scene_generator, scene_iou)

TINY = dict(batch_size=4, ngf=2, nhidden=4, ndf=4, n_layers_d=2, num_d=2, seed=1)


@pytest.fixture(scope="module")
def scenes():
    return digit_scene_data(24, seed=3)


def tiny(**changes):
    return SceneConfig(**{**TINY, **changes})


def weights_of(net) -> dict:
    return {name: value.numpy().copy() for name, value in net.state_dict().items()}


def test_a_short_run_lowers_feature_matching_and_writes_its_outputs(scenes, tmp_path):
    trainer = SceneTrainer(tiny(steps=30, sample_every=30, checkpoint_every=30), out_dir=tmp_path, data=scenes)
    history = list(trainer.run())
    assert len(history) == 30 and all(np.isfinite([e.loss_d, e.loss_g, *e.extra.values()]).all() for e in history)
    early, late = history[:5], history[-5:]
    mean = lambda entries, key: np.mean([key(e) for e in entries])  # noqa: E731
    assert mean(late, lambda e: e.extra["feat"]) < 0.9 * mean(early, lambda e: e.extra["feat"])
    assert mean(late, lambda e: e.extra["hinge_g"]) < mean(early, lambda e: e.extra["hinge_g"])
    assert mean(late, lambda e: e.loss_g) < 0.9 * mean(early, lambda e: e.loss_g)  # 10 x feature matching + hinge
    assert mean(late, lambda e: e.loss_d) < mean(early, lambda e: e.loss_d)  # the critic learns to tell them apart
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_000030.png"))
    assert grid.shape == (2 + 8 * 66, 2 + 3 * 66, 3)  # per scene: painted map | generated | real, 64 px + padding
    painted = grid[2:66, 2:66].reshape(-1, 3)
    palette = {tuple(c) for c in np.unique(painted, axis=0)}
    assert palette <= set(scenes.colours)  # the label map drawn in the class colours
    assert (tmp_path / "checkpoint.pdparams").is_file() and len((tmp_path / "losses.jsonl").read_text().splitlines()) == 30


def test_resume_continues_exactly_as_the_uninterrupted_run(scenes, tmp_path):
    straight = SceneTrainer(tiny(steps=6), data=scenes)
    straight_history = list(straight.run())
    first = SceneTrainer(tiny(steps=6), data=scenes)
    list(first.run(steps=3))
    first.save(tmp_path / "half.pdparams")
    resumed = SceneTrainer.resume(tmp_path / "half.pdparams", data=scenes)
    assert resumed.step == 3
    assert [(e.loss_d, e.loss_g) for e in resumed.run()] == [(e.loss_d, e.loss_g) for e in straight_history[3:]]
    for net in ("g", "d"):  # parameters, spectral-norm vectors and batch-norm statistics alike
        a, b = weights_of(getattr(resumed, net)), weights_of(getattr(straight, net))
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{net}.{name}")
    with pytest.raises(ValueError, match="only steps, lr_g and lr_d may change"):
        SceneTrainer.resume(tmp_path / "half.pdparams", data=scenes, batch_size=2)


def test_an_export_loads_as_the_generator_it_trained_and_as_the_checkpoint_spec(scenes, tmp_path, monkeypatch):
    trainer = SceneTrainer(tiny(steps=2), data=scenes)
    list(trainer.run())
    spec = weights.spec("spade.digit_scenes")
    path = trainer.export_generator(tmp_path / spec.filename)
    generator = load_scene_generator(path)
    assert generator.labels == ("sky", "ground", "digit") and generator.colours == scenes.colours
    assert not generator.training
    drawn = trainer_module.generate(generator, scenes.label_maps[:3], 3)
    np.testing.assert_array_equal(drawn, trainer.generate(scenes.label_maps[:3]))
    assert drawn.shape == (3, 3, 64, 64) and -1 <= drawn.min() and drawn.max() <= 1
    # The same file is what the gallery's checkpoint spec reads (netG, the recorded configuration).
    overrides = {**spec.net_overrides, "ngf": 2, "nhidden": 4}
    assert trainer.generator_config == overrides
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    with WEIGHTS.scoped(spec.name, dataclasses.replace(spec, net_overrides=overrides)):
        runtime.models.clear()
        net = models.create("spade.digit_scenes", pretrained=True)
        np.testing.assert_array_equal(trainer_module.generate(net, scenes.label_maps[:3], 3), drawn)
    runtime.models.clear()
    with pytest.raises(ValueError, match="records no SPADE generator"):
        load_scene_generator(_flat(tmp_path, trainer))


def test_a_float16_export_is_half_the_file_and_loads_back_as_float32(scenes, tmp_path):
    trainer = SceneTrainer(tiny(steps=1), data=scenes)
    list(trainer.run())
    full = trainer.export_generator(tmp_path / "full.pdparams")
    trainer.export_precision = "float16"
    half = trainer.export_generator(tmp_path / "half.pdparams")
    stored = read_checkpoint_file(half)
    assert stored["meta"]["stored_as"] == "float16"
    assert {str(np.asarray(v).dtype) for v in stored["netG"].values()} <= {"float16", "int64", "int32"}
    assert half.stat().st_size < 0.6 * full.stat().st_size
    generator = load_scene_generator(half)
    assert all(p.dtype == paddle.float32 for p in generator.parameters())
    drawn = trainer_module.generate(generator, scenes.label_maps[:3], 3)
    exact = trainer.generate(scenes.label_maps[:3])
    difference = np.abs(drawn - exact)
    assert 0 < difference.mean() < 1e-3 and difference.max() < 0.05  # rounded weights: nearly the same pictures
    trainer.export_precision = "bfloat16"
    with pytest.raises(ValueError, match="choose one of float32, float16"):
        trainer.export_generator(tmp_path / "other.pdparams")


def _flat(folder, trainer):
    """A generator saved without its configuration (as PaddleGAN saves them)."""
    path = folder / "flat.pdparams"
    paddle.save(trainer.g.state_dict(), str(path))
    return path


def test_the_default_configuration_is_the_checkpoint_specs():
    trainer_config = SceneTrainer.__new__(SceneTrainer)
    trainer_config.config, trainer_config.data = SceneConfig(), digit_scene_data(1)
    assert trainer_config._generator_config() == weights.spec("spade.digit_scenes").net_overrides


def test_the_judge_passes_real_scenes_and_fails_shuffled_maps(scenes):
    assert scene_iou(scenes.images, scenes.label_maps) > 0.9
    assert scene_iou(scenes.images, np.roll(scenes.label_maps, 1, axis=0)) < 0.7
    untrained = SceneTrainer(tiny(steps=1), data=scenes).g
    iou = judge_scenes(untrained, n=6)
    assert 0.0 <= iou < BAR


def _pairs(folder, count=4, side=40):
    rng = np.random.default_rng(0)
    (folder / "labels").mkdir(parents=True)
    (folder / "images").mkdir()
    for i in range(count):
        labels = np.zeros((side, side), np.uint8)
        labels[side // 2:] = 1
        labels[5:15, 5 + i:15 + i] = 2
        Image.fromarray(labels).save(folder / "labels" / f"s{i}.png")
        picture = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(picture).save(folder / "images" / f"s{i}{'.jpg' if i % 2 else '.png'}")
    return folder


def test_a_folder_of_label_and_image_pairs_trains_at_its_size(tmp_path):
    folder = _pairs(tmp_path / "pairs")
    data = folder_data(folder, 32)
    assert data.label_maps.shape == (4, 32, 32) and data.images.shape == (4, 3, 32, 32)
    assert data.classes == ("class 0", "class 1", "class 2") and len(set(data.colours)) == 3
    trainer = SceneTrainer(tiny(data=str(folder), size=32, steps=1), data=data)
    assert len(list(trainer.run())) == 1 and trainer.generate(data.label_maps[:1]).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="more than --classes 2"):
        folder_data(folder, 32, classes=2)
    Image.new("RGB", (8, 8)).save(folder / "labels" / "rgb.png")
    Image.new("RGB", (8, 8)).save(folder / "images" / "rgb.png")
    with pytest.raises(ValueError, match="one class id per pixel"):
        folder_data(folder, 32)
    (folder / "labels" / "lonely.png").write_bytes((folder / "labels" / "s0.png").read_bytes())
    with pytest.raises(ValueError, match="lonely.png has no picture"):
        folder_data(folder, 32)


def test_the_command_line_trains_resumes_exports_and_refuses(tmp_path, capsys):
    out, export = tmp_path / "run", tmp_path / "scenes.pdparams"
    common = ["spade", "--out", str(out), "--scenes", "8", "--batch-size", "4", "--ngf", "2", "--ndf", "4"]
    assert trainer_module.main(common + ["--steps", "1", "--export", str(export), "--export-precision", "float16"]) == 0
    assert load_scene_generator(export).labels == ("sky", "ground", "digit")
    assert read_checkpoint_file(export)["meta"]["stored_as"] == "float16"
    assert trainer_module.main(["spade", "--out", str(out), "--resume", str(out / "checkpoint.pdparams"), "--steps", "2"]) == 0
    assert SceneTrainer.resume(out / "checkpoint.pdparams").step == 2
    assert trainer_module.main(["spade", "--data", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "must hold labels/" in capsys.readouterr().err
    assert trainer_module.main(["spade", "--data", str(tmp_path), "--size", "48", "--out", str(out)]) == 2
    assert "multiple of 32" in capsys.readouterr().err
