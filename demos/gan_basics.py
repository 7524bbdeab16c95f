"""Tab "GAN basics": sample the classic objectives, walk their latent space, train one live; watch PGGAN grow; paint eyes by colour."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/gan_basics.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import random
import time

import gradio as gr
import pandas as pd

from core.apps import gan_basics
from core.errors import InputError, LimitExceeded
from core.media import write_png
from core.train.gan import OBJECTIVES
from demos.common import new_workdir, timed, user_errors
from demos.components import Dropdown, Number, Slider
from demos.gallery import clear_on_failure, tab_intro, tab_page
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

OBJECTIVE_CHOICES = [(o.title, o.name) for o in OBJECTIVES.values()]
DIGIT_CHOICES = ["any"] + [str(d) for d in range(10)]


def _digit(value):
    return None if value in (None, "", "any") else value


def _checkpoint(use_live: bool, run, objective: str):
    if not use_live:
        return None
    snapshot = run.snapshot() if run is not None else None
    if snapshot is None or not snapshot.checkpoint:
        raise InputError("There is no finished live run in this session yet: train one in “Train live” first.")
    if run.objective != objective:
        raise InputError(
            f"Your live run trained {OBJECTIVES[run.objective].title}, not {OBJECTIVES[objective].title}: "
            "choose its objective to sample it, or untick “use my live run”."
        )
    return snapshot.checkpoint


@user_errors
def sample(objective, seed, count, digit, use_live=False, run=None):
    # Light: a digit generator draws 100 digits in a fraction of a second, so this runs in the
    # server's process with its own capacity, not behind the heavy queue.
    start = time.perf_counter()
    gan_basics.check_objective(objective)
    grid = gan_basics.sample(objective, seed, count, _digit(digit), checkpoint=_checkpoint(use_live, run, objective))
    path = write_png(grid, new_workdir() / f"{objective}-seed{int(seed)}.png")
    return str(path), str(path), timed(time.perf_counter() - start)


def _parse_seeds(text) -> list[int]:
    try:
        seeds = [int(s) for s in str(text if text is not None else "").replace(",", " ").split()]
    except ValueError:
        raise InputError(f"Seeds are whole numbers separated by commas, like “1, 2, 3”; got {str(text)[:80]!r}.") from None
    if len(seeds) > gan_basics.MAX_WALK_SEEDS:
        raise LimitExceeded(f"A walk goes through at most {gan_basics.MAX_WALK_SEEDS} seeds; got {len(seeds)}.")
    return seeds


def _whole_number(value, what: str, low: int, high: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"The {what} must be a whole number from {low} to {high}; got {str(value)[:40]!r}.") from None
    if not number.is_integer() or not low <= number <= high:
        raise InputError(f"The {what} must be a whole number from {low} to {high}; got {value!r}.")
    return int(number)


@user_errors
async def interpolate(objective, seeds, frames, digit, use_live=False, run=None, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    gan_basics.check_objective(objective)
    seeds = _parse_seeds(seeds)
    frames = _whole_number(frames, "number of frames", 2, gan_basics.MAX_WALK_FRAMES)
    checkpoint = _checkpoint(use_live, run, objective)
    workdir = new_workdir()
    path = await run_heavy(
        gan_basics.APP, "core.apps.gan_basics:interpolate", objective, seeds, frames, str(workdir / f"{objective}-walk.mp4"),
        _digit(digit), checkpoint=checkpoint,
        request=request, workdir=workdir, progress=progress_reporter(progress, "Rendering frames", unit="frames"),
    )
    return str(path), str(path), timed(time.perf_counter() - start)


@user_errors
def pggan_stages(seed, count):
    # Light, like `sample`: four small generators draw ten digits in milliseconds.
    start = time.perf_counter()
    gan_basics.check_digit_count(count)
    fail_fast_if_missing(gan_basics.PGGAN)
    path = gan_basics.pggan_stage_file(seed, count, new_workdir())
    return path, path, timed(time.perf_counter() - start)


@user_errors
async def pggan_growth(seed, count, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    gan_basics.check_digit_count(count)
    fail_fast_if_missing(gan_basics.PGGAN)
    workdir = new_workdir()
    path = await run_heavy(
        gan_basics.APP, "core.apps.gan_basics:pggan_growth", seed, count, str(workdir / f"pggan-growth-seed{int(seed)}.mp4"),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Rendering frames", unit="frames"),
    )
    return str(path), str(path), timed(time.perf_counter() - start)


EYE_COLOUR_CHOICES = [("every colour, one latent", "all")] + [(c, c) for c in gan_basics.EYE_COLOURS]


def _colours(text) -> list[str]:
    colours = [c.strip().lower() for c in str(text if text is not None else "").replace(",", " ").split()]
    for colour in colours:
        gan_basics.check_colour(colour)
    if len(colours) < 2:
        raise InputError("A walk between colours needs at least two colours, like “blue, green, brown”.")
    if len(colours) > gan_basics.MAX_WALK_SEEDS:
        raise LimitExceeded(f"A walk goes through at most {gan_basics.MAX_WALK_SEEDS} colours; got {len(colours)}.")
    return colours


@user_errors
async def eyes(seed, colour, count, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    if colour != "all":
        gan_basics.check_colour(colour)
    fail_fast_if_missing(gan_basics.EYES)
    workdir = new_workdir()
    written = await run_heavy(
        gan_basics.APP, "core.apps.gan_basics:eyes_files", seed, colour, count, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Painting eyes", unit="eyes"),
    )
    return written, [path for path, _ in written], timed(time.perf_counter() - start)


@user_errors
async def eye_walk(seed, colours, frames, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    colours = _colours(colours)
    frames = _whole_number(frames, "number of frames", 2, gan_basics.MAX_WALK_FRAMES)
    fail_fast_if_missing(gan_basics.EYES)
    workdir = new_workdir()
    path = await run_heavy(
        gan_basics.APP, "core.apps.gan_basics:eye_walk", seed, colours, frames, str(workdir / "eye-walk.mp4"),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Rendering frames", unit="frames"),
    )
    return str(path), str(path), timed(time.perf_counter() - start)


def _learning_rate(text) -> float | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"The learning rate must be a number like 0.0002, or empty for the default; got {text[:40]!r}.") from None


@user_errors
def start_live(objective, steps, lr, batch_size, run):
    if run is not None and not run.snapshot().finished:
        raise InputError("This session already has a live run; stop it before starting another.")
    gan_basics.check_objective(objective)
    steps = _whole_number(steps, "number of steps", 1, gan_basics.MAX_LIVE_STEPS)
    batch_size = _whole_number(batch_size, "batch size", 8, 128)
    run = gan_basics.LiveRun(objective, steps, new_workdir(), lr=_learning_rate(lr), batch_size=batch_size).start()
    return run, gr.Timer(active=True), "Training started…"


def stop_live(run):
    if run is None:
        return "Nothing is running."
    if run.snapshot().finished:
        return gr.skip()
    run.stop()
    return "Stopping after the current step…"


LIVE_GRID_MIN_WIDTH = 600


def _enlarged(grid):
    """The sample grid enlarged by a whole factor (sharp pixels) to at least LIVE_GRID_MIN_WIDTH wide."""
    if grid is None:
        return None
    factor = max(1, -(-LIVE_GRID_MIN_WIDTH // grid.shape[1]))
    return grid.repeat(factor, axis=0).repeat(factor, axis=1)


def live_status(snap) -> str:
    if snap.error:
        return snap.error
    if snap.finished and snap.stopped:
        return (f"Stopped at step {snap.step} of {snap.total} after {snap.seconds:.0f} s. "
                "Download the checkpoint, or tick “use my live run” to sample it.")
    if snap.finished:
        return (f"Finished {snap.step} steps in {snap.seconds:.0f} s ({snap.steps_per_second:.1f} steps/s). "
                "Download the checkpoint, or tick “use my live run” to sample it.")
    left = f", about {snap.seconds_left:.0f} s left" if snap.seconds_left is not None and snap.step else ""
    rate = f", {snap.steps_per_second:.1f} steps/s" if snap.step else ""
    return f"Step {snap.step} of {snap.total} ({snap.seconds:.0f} s{rate}{left})…"


def poll_live(run):
    if run is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
    snap = run.snapshot()
    rows = [(s, v, curve) for s, d, g in snap.history for v, curve in ((d, "critic / discriminator"), (g, "generator"))]
    # No rows yet: leave the plot alone (an empty frame would fix the colour scale as numeric).
    plot = pd.DataFrame(rows, columns=["step", "loss", "curve"]) if rows else gr.skip()
    return plot, _enlarged(snap.grid), live_status(snap), snap.checkpoint, gr.Timer(active=not snap.finished)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = gan_basics.APP
    with tab_page(app, page) as blocks:
        if show_title:
            gr.Markdown(tab_intro(app))
        run = gr.State(None)
        with gr.Tab("Sample"):
            with gr.Row():
                with gr.Column():
                    objective = Dropdown(OBJECTIVE_CHOICES, value="cgan", label="Objective", elem_id="gan-objective")
                    with gr.Row():
                        seed = Number(label="Seed", value=1, precision=0, minimum=0, maximum=gan_basics.MAX_SEED, elem_id="gan-seed")
                        dice = gr.Button("🎲", size="sm")
                    count = Slider(1, gan_basics.MAX_COUNT, value=40, step=1, label="How many digits")
                    digit = Dropdown(DIGIT_CHOICES, value="any", label="Digit (conditional GAN only)")
                    use_live = gr.Checkbox(label="Use my live run's checkpoint instead of the shipped weights")
                    go = gr.Button("Sample", variant="primary", elem_id="gan-sample")
                with gr.Column():
                    grid = gr.Image(label="Samples", type="filepath", format="png", interactive=False, elem_id="gan-grid")
                    grid_file = gr.File(label="Download PNG")
                    grid_status = gr.Markdown()
        with gr.Tab("Latent walk"):
            with gr.Row():
                with gr.Column():
                    walk_objective = Dropdown(OBJECTIVE_CHOICES, value="cgan", label="Objective")
                    seeds = gr.Textbox(value="1, 2, 3", label=f"Seeds to walk through (2 to {gan_basics.MAX_WALK_SEEDS})")
                    frames = Slider(2, gan_basics.MAX_WALK_FRAMES, value=72, step=1, label="Frames (24 per second)")
                    walk_digit = Dropdown(DIGIT_CHOICES, value="3", label="Digit (conditional GAN only)")
                    walk_live = gr.Checkbox(label="Use my live run's checkpoint")
                    walk_go = gr.Button("Render walk", variant="primary", elem_id="gan-walk")
                with gr.Column():
                    video = gr.Video(label="Latent walk (H.264)", elem_id="gan-walk-video")
                    video_file = gr.File(label="Download MP4")
                    walk_status = gr.Markdown()
        with gr.Tab("Progressive growing"):
            gr.Markdown(
                "PGGAN (Karras et al. 2018) learns small first: generator and critic start at 4×4 and grow to 8×8, "
                "16×16 and 32×32, each new resolution faded in while the layers below keep training. This one grew "
                "on the 70,000 MNIST digits here. Each row draws the same latents with the generator as it was when "
                "that stage ended (4×4 at the top); the video shows the growth, fades included."
            )
            with gr.Row():
                with gr.Column():
                    grow_seed = Number(label="Seed", value=3, precision=0, minimum=0, maximum=gan_basics.MAX_SEED,
                                       elem_id="pggan-seed")
                    grow_count = Slider(1, gan_basics.MAX_PGGAN_DIGITS, value=6, step=1, label="How many digits",
                                        elem_id="pggan-count")
                    grow_go = gr.Button("Draw every stage", variant="primary", elem_id="pggan-stages")
                    grow_video_go = gr.Button("Render the growth", elem_id="pggan-growth")
                with gr.Column():
                    stages_image = gr.Image(label="4×4, 8×8, 16×16, 32×32 (top to bottom)", type="filepath", format="png",
                                            interactive=False, elem_id="pggan-stages-image")
                    stages_file = gr.File(label="Download PNG")
                    stages_status = gr.Markdown(elem_id="pggan-stages-status")
                    growth_video = gr.Video(label="Growth (H.264)", interactive=False, elem_id="pggan-growth-video")
                    growth_file = gr.File(label="Download MP4")
                    growth_status = gr.Markdown(elem_id="pggan-growth-status")
        with gr.Tab("Eyes by colour"):
            gr.Markdown(
                "A conditional GAN on pictures: a DCGAN that paints an eye (128×128) from a random latent and one of "
                f"{len(gan_basics.EYE_COLOURS)} iris colours, trained on eyes cropped from paintings (OmniArt; "
                "omniart-eye-generator, MIT; imported offline). The same latent in every colour shows what the "
                "condition alone changes; a walk blends the colour condition from one colour to the next."
            )
            with gr.Row():
                with gr.Column():
                    eye_seed = Number(label="Seed", value=7, precision=0, minimum=0, maximum=gan_basics.MAX_SEED, elem_id="eyes-seed")
                    eye_colour = Dropdown(EYE_COLOUR_CHOICES, value="all", label="Iris colour", elem_id="eyes-colour")
                    eye_count = Slider(1, gan_basics.MAX_EYES, value=8, step=1, label="How many eyes (one colour)",
                                       elem_id="eyes-count")
                    eye_go = gr.Button("Paint eyes", variant="primary", elem_id="eyes-generate")
                    eye_walk_colours = gr.Textbox("blue, green, hazel, brown", label="Walk through these colours",
                                                  elem_id="eyes-walk-colours")
                    eye_frames = Slider(2, gan_basics.MAX_WALK_FRAMES, value=72, step=1, label="Frames (24 per second)",
                                        elem_id="eyes-frames")
                    eye_walk_go = gr.Button("Render colour walk", elem_id="eyes-walk")
                with gr.Column():
                    eye_gallery = gr.Gallery(label="Eyes", format="png", columns=4, interactive=False, elem_id="eyes-gallery")
                    eye_files = gr.File(label="Download PNGs", file_count="multiple", elem_id="eyes-files")
                    eye_status = gr.Markdown(elem_id="eyes-status")
                    eye_video = gr.Video(label="Colour walk (H.264)", interactive=False, elem_id="eyes-video")
                    eye_video_file = gr.File(label="Download MP4", elem_id="eyes-video-file")
                    eye_walk_status = gr.Markdown(elem_id="eyes-walk-status")
        with gr.Tab("Train live"):
            gr.Markdown(
                f"Train a generator on 5,000 handwritten digits right here: up to {gan_basics.MAX_LIVE_STEPS} steps, "
                "one run per visitor. The plot and samples refresh every second."
            )
            with gr.Row():
                with gr.Column():
                    live_objective = Dropdown(OBJECTIVE_CHOICES, value="dcgan", label="Objective", elem_id="live-objective")
                    live_steps = Slider(10, gan_basics.MAX_LIVE_STEPS, value=100, step=10, label="Generator steps", elem_id="live-steps")
                    live_lr = gr.Textbox(value="", label="Learning rate (empty: the objective's default)", placeholder="e.g. 0.0002")
                    live_batch = Slider(8, 128, value=64, step=8, label="Batch size")
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
        # Progress and Gradio's error label show on the main result only; a failure empties every output.
        sampled = go.click(sample, [objective, seed, count, digit, use_live, run], [grid, grid_file, grid_status],
                           api_name="gan_sample", show_progress_on=grid)
        clear_on_failure(sampled, [grid, grid_file, grid_status])
        walked = walk_go.click(interpolate, [walk_objective, seeds, frames, walk_digit, walk_live, run], [video, video_file, walk_status],
                               api_name="gan_interpolate", show_progress_on=video, **HEAVY)
        clear_on_failure(walked, [video, video_file, walk_status])
        staged = grow_go.click(pggan_stages, [grow_seed, grow_count], [stages_image, stages_file, stages_status],
                               api_name="pggan_stages", show_progress_on=stages_image)
        clear_on_failure(staged, [stages_image, stages_file, stages_status])
        grown = grow_video_go.click(pggan_growth, [grow_seed, grow_count], [growth_video, growth_file, growth_status],
                                    api_name="pggan_growth", show_progress_on=growth_video, **HEAVY)
        clear_on_failure(grown, [growth_video, growth_file, growth_status])
        painted = eye_go.click(eyes, [eye_seed, eye_colour, eye_count], [eye_gallery, eye_files, eye_status],
                               api_name="eyes_generate", show_progress_on=eye_gallery, **HEAVY)
        clear_on_failure(painted, [eye_gallery, eye_files, eye_status])
        eye_walked = eye_walk_go.click(eye_walk, [eye_seed, eye_walk_colours, eye_frames],
                                       [eye_video, eye_video_file, eye_walk_status], api_name="eyes_walk",
                                       show_progress_on=eye_video, **HEAVY)
        clear_on_failure(eye_walked, [eye_video, eye_video_file, eye_walk_status])
        started = live_start.click(start_live, [live_objective, live_steps, live_lr, live_batch, run], [run, timer, live_status],
                                   api_visibility="private", show_progress_on=live_status)
        clear_on_failure(started, [live_status])  # the run (a State) and the timer are left alone
        live_stop.click(stop_live, run, live_status, api_visibility="private")
        timer.tick(poll_live, run, [plot, live_grid, live_status, live_file, timer], api_visibility="private", show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
