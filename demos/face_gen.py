"""Tab "Face generation": StyleGAN2 and DCGAN faces from seeds, style mixing of two seeds, latent walks as video."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/face_gen.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import random
import time

import gradio as gr

from core.apps import face_gen
from demos.common import new_workdir, timed, user_errors
from demos.components import Dropdown, Number, Radio, Slider
from demos.gallery import (choice_rank, clear_on_failure, notice_update, ready_first, tab_intro, tab_page,
                           unavailable_panel, with_state)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

WEIGHTS = [m.weights for m in face_gen.MODELS.values()]


def model_choices() -> list[tuple[str, str]]:
    """(label with the state of its weights here, key): the keys are the API's and never change."""
    return [(with_state(m.label, [m.weights]), key) for key, m in face_gen.MODELS.items()]


MODEL_CHOICES = model_choices()  # at import; the page refreshes the labels on every load
SIZE_CHOICES = [("Full (the model's own size)", "full"), ("512 × 512", "512"), ("256 × 256", "256")]
LIMITS = (
    f"Limits: up to {face_gen.MAX_SEEDS} seeds per request (\"1, 2, 3\" or a range \"10-13\"), seeds 0 to {face_gen.MAX_SEED}; "
    f"walks join 2 to {face_gen.MAX_WALK_SEEDS} seeds in {face_gen.MIN_WALK_FRAMES} to {face_gen.MAX_WALK_FRAMES} frames "
    f"at {face_gen.WALK_FPS} fps. On a CPU one 1024² face takes several seconds; a smaller output size only resizes "
    "the finished image (quicker to save and download), the network always draws at its own size."
)


def _random_seed() -> int:
    return random.randint(0, face_gen.MAX_SEED)


@user_errors
async def generate(model, seeds, truncation, size, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    choice = face_gen.check_model(model)
    seeds = face_gen.parse_seeds(seeds)  # refused here, before the queue's worker
    fail_fast_if_missing(choice.weights)  # arguments first: their message holds whatever the weights
    workdir = new_workdir()
    written = await run_heavy(
        face_gen.APP, "core.apps.face_gen:generate_files", model, seeds, truncation, size, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Drawing faces", unit="images"),
    )
    paths = [path for path, _ in written]
    elapsed = time.perf_counter() - start
    status = timed(elapsed) + (f" {len(paths)} images, {elapsed / len(paths):.1f} s each." if len(paths) > 1 else "")
    return [(path, f"seed {seed}") for path, seed in written], paths, status


@user_errors
async def mix(model, seed_a, seed_b, first_layer, last_layer, truncation, size, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    choice = face_gen.check_mixable(model)
    seed_a, seed_b = face_gen.check_seed(seed_a, "seed of source A"), face_gen.check_seed(seed_b, "seed of source B")
    layers = face_gen.check_layers((first_layer, last_layer), face_gen.layer_count(model))
    fail_fast_if_missing(choice.weights)
    workdir = new_workdir()
    paths = await run_heavy(
        face_gen.APP, "core.apps.face_gen:mix_files", model, seed_a, seed_b, layers, truncation, size, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Drawing", unit="images"),
    )
    return (*paths, paths, timed(time.perf_counter() - start))


@user_errors
async def walk(model, seeds, frames, truncation, size, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    choice = face_gen.check_model(model)
    parsed = face_gen.parse_seeds(seeds, minimum=2, maximum=face_gen.MAX_WALK_SEEDS)
    frames = face_gen.check_frames(frames)
    fail_fast_if_missing(choice.weights)
    workdir = new_workdir()
    dest = workdir / f"{model}-walk-{'-'.join(map(str, parsed))}.mp4"
    path = str(await run_heavy(
        face_gen.APP, "core.apps.face_gen:walk", model, parsed, frames, str(dest), truncation, size,
        request=request, workdir=workdir, progress=progress_reporter(progress, "Rendering frames", unit="frames"),
    ))
    elapsed = time.perf_counter() - start
    return path, path, timed(elapsed) + f" {int(frames)} frames, {elapsed / int(frames):.2f} s each."


def _layer_sliders(model):
    if model not in face_gen.STYLEGAN_MODELS:  # no styles to mix: the sliders keep their range
        return gr.update(), gr.update()
    last = face_gen.layer_count(model) - 1
    return gr.update(maximum=last), gr.update(maximum=last)


def default_model() -> str:
    """The first model whose weights are ready here (offline: the imported DCGAN), else the usual default."""
    ranked = sorted(face_gen.MODELS, key=lambda key: choice_rank([face_gen.MODELS[key].weights]))
    return ranked[0] if choice_rank([face_gen.MODELS[ranked[0]].weights]) < choice_rank(
        [face_gen.MODELS[face_gen.DEFAULT_MODEL].weights]) else face_gen.DEFAULT_MODEL


@user_errors  # waits for the server to have imported Paddle (the layer count reads the network registry)
def refresh_models(model):
    """On page load: the models' labels and the tab's notice, with weights fetched since start, and the
    layer sliders' range for the model shown."""
    return gr.update(choices=model_choices()), notice_update(WEIGHTS), *_layer_sliders(model)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = face_gen.APP
    # The chosen model's own count comes with the page load (it reads the network registry, which
    # imports Paddle: not while the server builds its pages).
    last_layer = face_gen.MAX_LAYERS - 1
    with tab_page(app, page) as blocks:
        gr.Markdown(tab_intro(app, show_title, LIMITS))
        notice = unavailable_panel(WEIGHTS, elem_id="face-gen-unavailable")
        with gr.Row():
            model = Dropdown(model_choices(), value=default_model(), label="Model", elem_id="face-gen-model")
            truncation = Slider(0.0, 1.0, value=face_gen.DEFAULT_TRUNCATION, step=0.05, elem_id="face-gen-truncation",
                                   label="Truncation ψ (lower: closer to the average face, fewer artefacts; 1: full variety)")
            size = Radio(SIZE_CHOICES, value="full", label="Output size", elem_id="face-gen-size")

        with gr.Tab("Generate", elem_id="face-gen-tab-generate"):
            with gr.Row():
                seeds = gr.Textbox("42", label=f"Seeds (one, a list \"1, 2, 3\" or a range \"10-13\"; at most {face_gen.MAX_SEEDS})",
                                   elem_id="face-gen-seeds", scale=4)
                dice = gr.Button("🎲 Random seed", size="sm", elem_id="face-gen-random-seed", scale=1)
            run = gr.Button("Generate", variant="primary", elem_id="face-gen-generate")
            gallery = gr.Gallery(label="Generated faces", format="png", columns=4, elem_id="face-gen-gallery", interactive=False)
            files = gr.File(label="Download PNGs", file_count="multiple", elem_id="face-gen-files")
            status = gr.Markdown(elem_id="face-gen-status")
            # Examples whose model runs here come first.
            examples = ready_first(app.examples, lambda example: [face_gen.check_model(example.inputs[0]).weights])
            gr.Examples([list(example.inputs) for example in examples], [model, seeds, truncation, size], cache_examples=False)

        with gr.Tab("Style mixing", elem_id="face-gen-tab-mix"):
            with gr.Row():
                seed_a = Number(7, label="Seed of source A", precision=0, minimum=0, maximum=face_gen.MAX_SEED, elem_id="face-gen-seed-a")
                seed_b = Number(11, label="Seed of source B", precision=0, minimum=0, maximum=face_gen.MAX_SEED, elem_id="face-gen-seed-b")
                mix_dice = gr.Button("🎲 Random seeds", size="sm", elem_id="face-gen-random-pair")
            gr.Markdown("The mix takes source B's style at the chosen layers and A's everywhere else. "
                        "Layers 0–3 (4² to 8²): pose and face shape; 4–7: features, hair style; 8 and up: colours and fine texture.")
            with gr.Row():
                first_layer = Slider(0, last_layer, value=0, step=1, label="First layer from B", elem_id="face-gen-first-layer")
                final_layer = Slider(0, last_layer, value=3, step=1, label="Last layer from B", elem_id="face-gen-last-layer")
            mix_run = gr.Button("Mix", variant="primary", elem_id="face-gen-mix")
            with gr.Row():
                image_a = gr.Image(label="Source A", type="filepath", format="png", interactive=False, elem_id="face-gen-source-a")
                image_b = gr.Image(label="Source B", type="filepath", format="png", interactive=False, elem_id="face-gen-source-b")
                image_mix = gr.Image(label="Mix", type="filepath", format="png", interactive=False, elem_id="face-gen-mix-output")
            mix_files = gr.File(label="Download PNGs", file_count="multiple", elem_id="face-gen-mix-files")
            mix_status = gr.Markdown(elem_id="face-gen-mix-status")

        with gr.Tab("Latent walk", elem_id="face-gen-tab-walk"):
            walk_seeds = gr.Textbox("1, 2, 3", label=f"Seeds to walk through, in order (2 to {face_gen.MAX_WALK_SEEDS})",
                                    elem_id="face-gen-walk-seeds")
            frames = Slider(face_gen.MIN_WALK_FRAMES, face_gen.MAX_WALK_FRAMES, value=48, step=1,
                               label=f"Frames (at {face_gen.WALK_FPS} fps)", elem_id="face-gen-frames")
            walk_run = gr.Button("Render walk", variant="primary", elem_id="face-gen-walk")
            video = gr.Video(label="Latent walk (H.264)", interactive=False, elem_id="face-gen-video")
            video_file = gr.File(label="Download MP4", elem_id="face-gen-video-file")
            walk_status = gr.Markdown(elem_id="face-gen-walk-status")

        dice.click(lambda: str(_random_seed()), outputs=seeds, api_visibility="private", queue=False)
        mix_dice.click(lambda: (_random_seed(), _random_seed()), outputs=[seed_a, seed_b], api_visibility="private", queue=False)
        model.change(user_errors(_layer_sliders), model, [first_layer, final_layer], api_visibility="private", queue=False)
        # Progress and Gradio's error label show on the main result only; a failure empties every output.
        for button, handler, inputs, outputs, main, api_name in (
            (run, generate, [model, seeds, truncation, size], [gallery, files, status], gallery, "face_generate"),
            (mix_run, mix, [model, seed_a, seed_b, first_layer, final_layer, truncation, size],
             [image_a, image_b, image_mix, mix_files, mix_status], image_mix, "face_mix"),
            (walk_run, walk, [model, walk_seeds, frames, truncation, size], [video, video_file, walk_status], video, "face_walk"),
        ):
            event = button.click(handler, inputs, outputs, api_name=api_name, show_progress_on=main, **HEAVY)
            clear_on_failure(event, outputs)
        blocks.load(refresh_models, model, [model, notice, first_layer, final_layer], api_visibility="private", queue=False,
                    show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
