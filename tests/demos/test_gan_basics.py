"""GAN basics: live training in the background, sampling and walking its checkpoint, clear errors."""
import asyncio

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
        asyncio.run(tab.interpolate("dcgan", "5", 10, "any"))
    with pytest.raises(gr.Error, match="whole numbers separated by commas"):
        asyncio.run(tab.interpolate("dcgan", "1, two", 10, "any"))
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


def test_objective_without_shipped_weights_says_how_to_get_them(monkeypatch):
    from core import weights

    weights.specs()
    monkeypatch.delitem(weights._SPECS, "digits_wgan_gp")
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
