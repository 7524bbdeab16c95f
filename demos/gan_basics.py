"""Tab "GAN basics": sample the classic objectives, walk their latent space, train one live."""
from __future__ import annotations

import random
import time

import gradio as gr
import pandas as pd

from core.apps import gan_basics
from core.errors import InputError
from core.media import write_png
from core.train.gan import OBJECTIVES
from demos.common import HEAVY, new_workdir, timed, user_errors

OBJECTIVE_CHOICES = [(o.title, o.name) for o in OBJECTIVES.values()]
DIGIT_CHOICES = ["any"] + [str(d) for d in range(10)]


def _digit(value):
    return None if value in (None, "", "any") else value


def _checkpoint(use_live: bool, run):
    if not use_live:
        return None
    snapshot = run.snapshot() if run is not None else None
    if snapshot is None or not snapshot.checkpoint:
        raise InputError("There is no finished live run in this session yet: train one in “Train live” first.")
    return snapshot.checkpoint


@user_errors
def sample(objective, seed, count, digit, use_live=False, run=None):
    start = time.perf_counter()
    grid = gan_basics.sample(objective, seed, count, _digit(digit), checkpoint=_checkpoint(use_live, run))
    path = write_png(grid, new_workdir() / f"{objective}-seed{int(seed)}.png")
    return str(path), str(path), timed(time.perf_counter() - start)


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(text).replace(",", " ").split()]
    except ValueError:
        raise InputError(f"Seeds are whole numbers separated by commas, like “1, 2, 3”; got {text!r}.") from None
    return seeds


@user_errors
def interpolate(objective, seeds, frames, digit, use_live=False, run=None, progress=gr.Progress()):
    start = time.perf_counter()
    path = gan_basics.interpolate(
        objective, _parse_seeds(seeds), int(frames), new_workdir() / f"{objective}-walk.mp4", _digit(digit),
        checkpoint=_checkpoint(use_live, run), progress=lambda done, total: progress(done / total, desc="Rendering frames"),
    )
    return str(path), str(path), timed(time.perf_counter() - start)


def _learning_rate(text) -> float | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"The learning rate must be a number like 0.0002, or empty for the default; got {text!r}.") from None


@user_errors
def start_live(objective, steps, lr, batch_size, run):
    if run is not None and not run.snapshot().finished:
        raise InputError("This session already has a live run; stop it before starting another.")
    run = gan_basics.LiveRun(objective, int(steps), new_workdir(), lr=_learning_rate(lr), batch_size=int(batch_size)).start()
    return run, gr.Timer(active=True), "Training started…"


def stop_live(run):
    if run is not None:
        run.stop()
    return "Stopping after the current step…" if run is not None else "Nothing is running."


def poll_live(run):
    if run is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
    snap = run.snapshot()
    rows = [(s, v, curve) for s, d, g in snap.history for v, curve in ((d, "critic / discriminator"), (g, "generator"))]
    # No rows yet: leave the plot alone (an empty frame would fix the colour scale as numeric).
    plot = pd.DataFrame(rows, columns=["step", "loss", "curve"]) if rows else gr.skip()
    if snap.error:
        status = snap.error
    elif snap.finished:
        status = f"Finished {snap.step} steps in {snap.seconds:.0f} s. Download the checkpoint, or tick “use my live run” to sample it."
    else:
        status = f"Step {snap.step} of {snap.total} ({snap.seconds:.0f} s)…"
    return plot, snap.grid, status, snap.checkpoint, gr.Timer(active=not snap.finished)


def build() -> gr.Blocks:
    app = gan_basics.APP
    with gr.Blocks(title=app.title) as blocks:
        gr.Markdown(f"### {app.emoji} {app.title}\n{app.description}")
        run = gr.State(None)
        with gr.Tab("Sample"):
            with gr.Row():
                with gr.Column():
                    objective = gr.Dropdown(OBJECTIVE_CHOICES, value="cgan", label="Objective", elem_id="gan-objective")
                    with gr.Row():
                        seed = gr.Number(label="Seed", value=1, precision=0, minimum=0, maximum=gan_basics.MAX_SEED, elem_id="gan-seed")
                        dice = gr.Button("🎲", size="sm")
                    count = gr.Slider(1, gan_basics.MAX_COUNT, value=40, step=1, label="How many digits")
                    digit = gr.Dropdown(DIGIT_CHOICES, value="any", label="Digit (conditional GAN only)")
                    use_live = gr.Checkbox(label="Use my live run's checkpoint instead of the shipped weights")
                    go = gr.Button("Sample", variant="primary", elem_id="gan-sample")
                with gr.Column():
                    grid = gr.Image(label="Samples", type="filepath", format="png", interactive=False, elem_id="gan-grid")
                    grid_file = gr.File(label="Download PNG")
                    grid_status = gr.Markdown()
        with gr.Tab("Latent walk"):
            with gr.Row():
                with gr.Column():
                    walk_objective = gr.Dropdown(OBJECTIVE_CHOICES, value="cgan", label="Objective")
                    seeds = gr.Textbox(value="1, 2, 3", label="Seeds to walk through (two or more)")
                    frames = gr.Slider(2, gan_basics.MAX_WALK_FRAMES, value=72, step=1, label="Frames (24 per second)")
                    walk_digit = gr.Dropdown(DIGIT_CHOICES, value="3", label="Digit (conditional GAN only)")
                    walk_live = gr.Checkbox(label="Use my live run's checkpoint")
                    walk_go = gr.Button("Render walk", variant="primary", elem_id="gan-walk")
                with gr.Column():
                    video = gr.Video(label="Latent walk (H.264)", elem_id="gan-walk-video")
                    video_file = gr.File(label="Download MP4")
                    walk_status = gr.Markdown()
        with gr.Tab("Train live"):
            gr.Markdown(
                f"Train a generator on 5,000 handwritten digits right here: up to {gan_basics.MAX_LIVE_STEPS} steps, "
                "one run per visitor. The plot and samples refresh every second."
            )
            with gr.Row():
                with gr.Column():
                    live_objective = gr.Dropdown(OBJECTIVE_CHOICES, value="dcgan", label="Objective", elem_id="live-objective")
                    live_steps = gr.Slider(10, gan_basics.MAX_LIVE_STEPS, value=100, step=10, label="Generator steps", elem_id="live-steps")
                    live_lr = gr.Textbox(value="", label="Learning rate (empty: the objective's default)", placeholder="e.g. 0.0002")
                    live_batch = gr.Slider(8, 128, value=64, step=8, label="Batch size")
                    with gr.Row():
                        live_start = gr.Button("Start", variant="primary", elem_id="live-start")
                        live_stop = gr.Button("Stop", variant="stop", elem_id="live-stop")
                    live_status = gr.Markdown(elem_id="live-status")
                with gr.Column():
                    plot = gr.LinePlot(None, x="step", y="loss", color="curve", label="Losses", elem_id="live-plot")
                    live_grid = gr.Image(label="Samples (fixed noise)", type="numpy", format="png", interactive=False, elem_id="live-grid")
                    live_file = gr.File(label="Checkpoint")
        timer = gr.Timer(1.0, active=False)

        dice.click(lambda: random.randint(0, gan_basics.MAX_SEED), outputs=seed, api_visibility="private", queue=False)
        go.click(sample, [objective, seed, count, digit, use_live, run], [grid, grid_file, grid_status], api_name="gan_sample", **HEAVY)
        walk_go.click(interpolate, [walk_objective, seeds, frames, walk_digit, walk_live, run], [video, video_file, walk_status],
                      api_name="gan_interpolate", **HEAVY)
        live_start.click(start_live, [live_objective, live_steps, live_lr, live_batch, run], [run, timer, live_status],
                         api_visibility="private")
        live_stop.click(stop_live, run, live_status, api_visibility="private")
        timer.tick(poll_live, run, [plot, live_grid, live_status, live_file, timer], api_visibility="private", show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
