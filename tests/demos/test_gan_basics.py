"""GAN basics: live training in the background, sampling and walking its checkpoint, clear errors."""
import time

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from core import runtime
from core.apps import gan_basics
from core.errors import LimitExceeded
from core.media import probe_video
from core.train.gan import OBJECTIVES
from demos import gan_basics as tab
from tests import aio


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = gan_basics.LiveRun("dcgan", steps=12, out_dir=tmp_path_factory.mktemp("live"), batch_size=16).start()
    run.wait(timeout=300)
    return run


def test_live_run_trains_in_the_background_and_leaves_a_checkpoint(finished_run):
    snap = finished_run.snapshot()
    assert snap.finished and snap.error is None
    assert [h[0] for h in snap.history] == list(range(1, 13))
    assert snap.grid.shape[2] == 3 and snap.checkpoint.endswith(".pdparams")


def test_the_live_checkpoint_samples_and_walks(finished_run, tmp_path):
    grid = gan_basics.sample("dcgan", 4, 20, checkpoint=finished_run.snapshot().checkpoint, scale=1)
    assert grid.shape == (62, 302, 3)
    reports = []
    video = gan_basics.interpolate("dcgan", [1, 2, 3], 9, tmp_path / "walk.mp4", checkpoint=finished_run.snapshot().checkpoint,
                                   progress=lambda d, t: reports.append(d))
    info = probe_video(video)
    assert (info.width, info.height) == (224, 224) and abs(info.n_frames - 9) <= 1 and reports[-1] == 9


def test_limits_are_enforced_with_clear_messages(tmp_path):
    with pytest.raises(LimitExceeded, match=f"1 to {gan_basics.MAX_LIVE_STEPS} steps"):
        gan_basics.LiveRun("dcgan", steps=100000, out_dir=tmp_path)
    with pytest.raises(gr.Error, match="at least two seeds"):
        aio.run(tab.interpolate("dcgan", "5", 10, "any"))
    with pytest.raises(gr.Error, match="whole numbers separated by commas"):
        aio.run(tab.interpolate("dcgan", "1, two", 10, "any"))
    with pytest.raises(gr.Error, match="no finished live run"):
        tab.sample("dcgan", 1, 10, "any", True, None)
    with pytest.raises(gr.Error, match="learning rate must be a number"):
        tab.start_live("dcgan", 10, "fast", 16, None)
    with pytest.raises(gr.Error, match="between 1e-6 and 1e-2"):
        tab.start_live("dcgan", 10, "0.5", 16, None)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_objective_samples_from_its_shipped_weights(objective):
    path, _, status = tab.sample(objective, 3, 10, "any")
    with Image.open(path) as grid:
        pixels = np.asarray(grid.convert("L"), dtype=np.float32)
    assert 0.03 < (pixels > 128).mean() < 0.5 and status.startswith("Done in")


def test_objective_without_shipped_weights_says_how_to_get_them(registered):
    from core.registry import WEIGHTS

    registered.without(WEIGHTS, "deep_conv.digits_wgan_gp")
    runtime.models.clear()
    with pytest.raises(gr.Error, match="python -m core.train wgan-gp"):
        tab.sample("wgan-gp", 1, 10, "any")


def test_one_live_run_per_session(tmp_path):
    running = gan_basics.LiveRun("dcgan", steps=400, out_dir=tmp_path, batch_size=8).start()
    try:
        with pytest.raises(gr.Error, match="already has a live run"):
            tab.start_live("dcgan", 10, None, 16, running)
    finally:
        running.stop()
        running.wait(timeout=120)
    assert running.snapshot().finished and running.snapshot().step < 400


# ---------------------------------------------------------------- what the live run says while and after it trains


def _snapshot(**fields):
    values = dict(step=0, total=100, history=[], grid=None, finished=False, stopped=False, checkpoint=None,
                  error=None, seconds=0.0)
    values.update(fields)
    return gan_basics.LiveSnapshot(**values)


def test_a_run_trained_to_its_end_says_finished_with_its_rate(finished_run):
    snap = finished_run.snapshot()
    status = tab.live_status(snap)
    assert status.startswith("Finished 12 steps in ") and "steps/s" in status and "Stopped" not in status
    assert not snap.stopped


def test_a_run_stopped_early_says_where_it_stopped_and_reports_rate_and_time_left_while_running(tmp_path):
    run = gan_basics.LiveRun("dcgan", steps=400, out_dir=tmp_path, batch_size=8).start()
    try:
        running = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            snap = run.snapshot()
            if snap.finished:
                break
            if snap.step >= 2:
                running = tab.live_status(snap)
                break
            time.sleep(0.1)
        assert running is not None, "the run made no two steps"
        assert running.startswith(f"Step {snap.step} of 400 (") and "steps/s" in running and "s left)…" in running
    finally:
        run.stop()
        run.wait(timeout=120)
    snap = run.snapshot()
    assert snap.finished and snap.stopped and snap.error is None and 2 <= snap.step < 400
    status = tab.live_status(snap)
    assert status.startswith(f"Stopped at step {snap.step} of 400 after ") and "Finished" not in status
    assert snap.checkpoint and snap.checkpoint.endswith(".pdparams")


def test_status_lines_for_each_moment_of_a_run():
    assert tab.live_status(_snapshot(step=0, seconds=1.2)) == "Step 0 of 100 (1 s)…"  # no rate before the first step
    assert tab.live_status(_snapshot(step=10, seconds=4.0)) == "Step 10 of 100 (4 s, 2.5 steps/s, about 36 s left)…"
    assert tab.live_status(_snapshot(step=100, seconds=20.0, finished=True)).startswith("Finished 100 steps in 20 s (5.0 steps/s)")
    stopped = tab.live_status(_snapshot(step=40, seconds=8.0, finished=True, stopped=True))
    assert stopped.startswith("Stopped at step 40 of 100 after 8 s")
    assert tab.live_status(_snapshot(error="Training stopped: out of memory", finished=True)) == "Training stopped: out of memory"


def test_the_live_grid_is_shown_at_least_600_pixels_wide(finished_run):
    _, grid, status, checkpoint, _ = tab.poll_live(finished_run)
    raw = finished_run.snapshot().grid
    assert grid.shape[1] >= tab.LIVE_GRID_MIN_WIDTH == 600 and grid.shape[1] < 600 + raw.shape[1]
    factor = grid.shape[1] // raw.shape[1]
    assert grid.shape[0] == raw.shape[0] * factor and np.array_equal(grid[::factor, ::factor], raw)  # sharp pixels
    assert status.startswith("Finished") and checkpoint == finished_run.snapshot().checkpoint


def test_sampling_my_live_run_with_another_objective_is_refused(finished_run):
    assert finished_run.objective == "dcgan"
    with pytest.raises(gr.Error, match=r"Your live run trained DCGAN \(binary cross-entropy\), not LSGAN \(least squares\): choose its objective"):
        tab.sample("lsgan", 1, 10, "any", True, finished_run)
    with pytest.raises(gr.Error, match="Your live run trained"):
        aio.run(tab.interpolate("wgan", "1, 2", 4, "any", True, finished_run))
    path, _, status = tab.sample("dcgan", 1, 10, "any", True, finished_run)  # its own objective samples
    assert path.endswith(".png") and status.startswith("Done in")


# ---------------------------------------------------------------- eyes by colour (imported offline)


@pytest.fixture
def eyes_here(tmp_path, monkeypatch):
    """The painted-eyes generator converted from the omniart-eye-generator wheel into this test's cache."""
    import importlib.metadata

    from core import weights

    try:
        importlib.metadata.distribution("omniart-eye-generator")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the omniart-eye-generator wheel (the eyes' weights) is not installed")
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "requests"))
    weights.import_packaged(weights.spec(gan_basics.EYES))
    runtime.models.clear()
    yield tmp_path
    runtime.models.clear()


def test_the_page_lists_the_networks_colours_in_its_order():
    from core.nets.dcgan import OMNIART_EYE_COLOURS

    assert gan_basics.EYE_COLOURS == OMNIART_EYE_COLOURS


def test_one_latent_in_every_colour_changes_only_the_iris(eyes_here):
    painted = gan_basics.eyes(7, "all", 1)
    assert [caption for _, caption in painted] == list(gan_basics.EYE_COLOURS)
    pictures = {caption: picture.astype(float) for picture, caption in painted}
    assert all(p.shape == (gan_basics.EYE_SIDE, gan_basics.EYE_SIDE, 3) for p in pictures.values())
    blue, brown = pictures["blue"], pictures["brown"]
    assert (blue[..., 2] - blue[..., 0]).mean() > (brown[..., 2] - brown[..., 0]).mean()
    grey = pictures["grayscale"]
    assert np.abs(grey - grey.mean(axis=2, keepdims=True)).mean() < np.abs(blue - blue.mean(axis=2, keepdims=True)).mean()
    again = gan_basics.eyes(7, "blue", 3)
    assert [caption for _, caption in again][0] == "blue, seed 7 #1" and np.array_equal(again[0][0], painted[1][0])
    assert not np.array_equal(again[0][0], again[1][0])


def test_eye_requests_are_refused_by_name(eyes_here):
    with pytest.raises(Exception, match="Unknown eye colour 'purple'"):
        gan_basics.eyes(1, "purple", 2)
    with pytest.raises(LimitExceeded, match="from 1 to 16; got 40"):
        gan_basics.eyes(1, "blue", 40)
    with pytest.raises(Exception, match="at least two colours"):
        aio.run(tab.eye_walk(1, "blue", 10))
    with pytest.raises(gr.Error, match="Unknown eye colour 'teal'"):
        aio.run(tab.eye_walk(1, "blue, teal", 10))


def test_the_colour_walk_is_a_video_from_the_first_colour_to_the_last(eyes_here):
    from core.media import iter_video_frames

    video, download, status = aio.run(tab.eye_walk(3, "blue, brown", 6))
    assert video == download and probe_video(video).n_frames == 6 and status.startswith("Done in")
    frames = [f.astype(float) for f in iter_video_frames(video)]
    start, end = (gan_basics.eyes(3, colour, 1)[0][0].astype(float) for colour in ("blue", "brown"))
    assert np.abs(frames[0] - start).mean() < np.abs(frames[0] - end).mean()
    assert np.abs(frames[-1] - end).mean() < np.abs(frames[-1] - start).mean()
    gallery, files, status = aio.run(tab.eyes(3, "green", 4))
    assert len(files) == 4 and [c for _, c in gallery][-1] == "green, seed 3 #4"


# ---------------------------------------------------------------- progressive growing (PGGAN)


@pytest.fixture(scope="module")
def grown_file(tmp_path_factory):
    """A PGGAN of the shipped widths grown through all four stages in a few steps, exported as the trainer does."""
    from core.train.pggan import PGGANConfig, PGGANTrainer

    trainer = PGGANTrainer(PGGANConfig(stage_images=48, batch_size=8, seed=3, ema=0.5))  # 6 steps a stage
    list(trainer.run())
    folder = tmp_path_factory.mktemp("pggan")
    return trainer.export_generator(folder / "digits_pggan.pdparams"), trainer


@pytest.fixture
def pggan_here(grown_file, tmp_path, monkeypatch):
    """The grown file placed by hand (GAN_GALLERY_WEIGHTS_DIR), where the gallery looks first."""
    path, trainer = grown_file
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(path.parent))
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "requests"))
    runtime.models.clear()
    yield path, trainer
    runtime.models.clear()


def _draw(net, z, stage, alpha=1.0):
    import paddle

    with paddle.no_grad():
        return net.generate(paddle.to_tensor(z), stage, alpha).numpy()[:, 0]


def _tiles(images) -> np.ndarray:
    from core.media import to_uint8

    factor = gan_basics.PGGAN_TILE // images.shape[-1]
    return np.concatenate([to_uint8(i).repeat(factor, axis=0).repeat(factor, axis=1) for i in images], axis=1)


def _kept(trainer, side):
    from core import nets

    net = nets.build("pggan", stage=gan_basics.PGGAN_SIDES.index(side))
    net.set_state_dict(trainer.stage_snapshots[side])
    return net


def test_each_row_is_the_generator_as_it_ended_that_stage(pggan_here):
    from core import models

    _, trainer = pggan_here
    grid = gan_basics.pggan_stages(5, 3)
    tile = gan_basics.PGGAN_TILE
    assert grid.shape == (4 * tile + 3 * 4, 3 * tile, 3) and grid.dtype == np.uint8
    z = gan_basics.pggan_latents(5, 3, 128)
    for stage, side in enumerate(gan_basics.PGGAN_SIDES):
        row = grid[stage * (tile + 4):stage * (tile + 4) + tile, :, 0]
        np.testing.assert_array_equal(row, _tiles(_draw(_kept(trainer, side), z, stage)))
        block = tile // side  # the stage's own pixels, enlarged: flat blocks of that size
        assert (row.reshape(side, block, 3 * side, block) == row[::block, ::block][:, None, :, None]).all()
    # What the growth shows is each stage as it was: the final generator drawn at 4x4 is another picture.
    assert not np.array_equal(grid[:tile, :, 0], _tiles(_draw(models.network(gan_basics.PGGAN), z, 0)))


def test_an_export_without_stage_states_draws_every_stage_from_the_final_generator(pggan_here, tmp_path, monkeypatch):
    import paddle

    from core.checkpoint_io import read_checkpoint_file

    path, _ = pggan_here
    saved = read_checkpoint_file(path)
    older = tmp_path / "older" / path.name
    older.parent.mkdir()
    paddle.save({"netG": saved["netG"], "meta": saved["meta"]}, str(older))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(older.parent))
    runtime.models.clear()
    generators = gan_basics.grown_generators()
    assert all(generators[side] is generators[32] for side in gan_basics.PGGAN_SIDES)
    grid = gan_basics.pggan_stages(2, 1)
    np.testing.assert_array_equal(grid[:gan_basics.PGGAN_TILE, :, 0],
                                  _tiles(_draw(generators[32], gan_basics.pggan_latents(2, 1, 128), 0)))


def test_the_growth_video_holds_each_stage_and_fades_into_the_next(pggan_here):
    from core.media import iter_video_frames

    _, trainer = pggan_here
    plan = gan_basics.growth_frames()
    hold, fade = gan_basics.GROWTH_HOLD_FRAMES, gan_basics.GROWTH_FADE_FRAMES
    assert len(plan) == hold + 3 * (fade + hold) and plan[0] == (4, 0, 1.0) and plan[-1] == (32, 3, 1.0)
    assert [alpha for _, _, alpha in plan[hold:hold + fade]] == pytest.approx([(i + 1) / fade for i in range(fade)])
    video, download, status = aio.run(tab.pggan_growth(4, 2))
    assert video == download and status.startswith("Done in")
    info = probe_video(video)
    assert (info.n_frames, info.width, info.height) == (len(plan), 2 * gan_basics.PGGAN_TILE, gan_basics.PGGAN_TILE)
    frames = [f[..., 0].astype(float) for f in iter_video_frames(video)]
    z = gan_basics.pggan_latents(4, 2, 128)
    first = _tiles(_draw(_kept(trainer, 4), z, 0)).astype(float)
    last = _tiles(_draw(_kept(trainer, 32), z, 3)).astype(float)
    assert np.abs(frames[0] - first).mean() < 6 and np.abs(frames[-1] - last).mean() < 6  # H.264's loss only
    assert np.abs(frames[0] - last).mean() > 3 * np.abs(frames[-1] - last).mean()


@pytest.mark.parametrize("count", [0, 11, 2.5, "many"])
def test_pggan_requests_outside_the_limits_are_refused_by_name(pggan_here, count):
    with pytest.raises(gr.Error, match="number of digits must be a whole number from 1 to 10"):
        tab.pggan_stages(1, count)
    with pytest.raises(gr.Error, match="from 1 to 10"):
        aio.run(tab.pggan_growth(1, count))


def test_without_the_grown_file_the_tab_says_how_to_grow_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_GALLERY_OFFLINE", "1")
    from core import weights

    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path)  # a checkout without the shipped file
    assert weights.locate(weights.spec(gan_basics.PGGAN)) is None
    runtime.models.clear()
    with pytest.raises(gr.Error, match="digits_pggan.pdparams"):
        tab.pggan_stages(1, 3)
