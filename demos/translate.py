"""Tab "Image translation": pick a model, upload a picture or a short video, get the translated result."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/translate.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import time
from pathlib import Path

import gradio as gr

from core import runtime
from core.apps import translate
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile, precision_radio
from demos.gallery import (
    MAX_BATCH_PICTURES, batch_panel, batch_paths, clear_on_failure, notice_update, ready_first, run_batch,
    tab_intro, tab_page, unavailable_panel, with_state,
)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

DEFAULT_MODEL = "vintage"  # its weights are imported offline, so it works on a fresh install
WEIGHTS = [t.weights for t in translate.TRANSLATIONS.values()]


def model_choices() -> list[tuple[str, str]]:
    """(label with the state of its weights here, key): the keys are the API's and never change."""
    return [(with_state(t.label, translate.checkpoints(t)), t.key) for t in translate.TRANSLATIONS.values()]


MODEL_CHOICES = model_choices()  # at import; the page refreshes the labels on every load
LOADING_NOTE = "; this first request also loaded the model and checked its fast path"

LIMITS_TEXT = (
    f"Pictures up to {translate.MAX_PIXELS / 1e6:.1f} megapixels (e.g. 1024 x 1024), at least "
    f"{translate.MIN_SIDE} pixels a side; the result has the picture's size. Videos up to "
    f"{translate.VIDEO_MAX_SECONDS} seconds with frames up to {translate.VIDEO_MAX_PIXELS / 1e6:.2f} megapixels "
    "(e.g. 640 x 360); sound is kept. On a CPU a frame takes from a tenth of a second to a few seconds, "
    "depending on the model."
)
FACES_TEXT = (
    "For the face models (selfie → anime, photo → cartoon): every face of the picture (up to "
    f"{translate.MAX_PORTRAIT_FACES}) is found, cut out upright, stylised and pasted back, and each stylised face "
    "comes back on its own too. The Picture tab gives the pasted-back picture alone."
)
BATCH_TEXT = (
    f"Up to {MAX_BATCH_PICTURES} pictures at once, each within the limits above; they run one after another "
    "within one request's time budget, and the results come back together and as one ZIP."
)


def model_note(model: str) -> str:
    """The chosen model's description and whether its weights are here yet."""
    from core import weights

    translation = translate.choose(model)
    spec = weights.spec(translation.weights)
    return f"**{translation.label}**: {translation.about}  \n_{spec.licence}; weights `{spec.filename}`: {weights.readiness(spec)}._"


@user_errors
def describe(model):
    return model_note(model)


@user_errors
async def translate_image(model, image, precision=None, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    translation = translate.choose(model)  # an unknown model is refused here, before the queue's worker
    if image is None:
        raise user_error("Upload an image (or pick an example) first.")
    fail_fast_if_missing(*translate.checkpoints(translation))
    workdir = new_workdir()
    result = await run_heavy(
        translate.APP, "core.apps.translate:translate_image_file", model, image, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Translating"), precision=precision,
    )
    note = LOADING_NOTE if result.loaded_model else ""
    ran = runtime.precision_note(precision, result.precision)
    return result.path, result.path, f"{timed(time.perf_counter() - start)} ({result.width}x{result.height}{ran}){note}"


@user_errors
async def translate_portrait(model, image, precision=None, request: gr.Request = None, progress=gr.Progress()):
    """A portrait model on every face: the picture with them pasted back, then each stylised crop; a ZIP of all."""
    start = time.perf_counter()
    translation = translate.choose(model)
    if not translation.portrait:
        raise user_error(f"{translation.label} runs on whole pictures; for faces choose "
                         f"{' or '.join(t.key for t in translate.TRANSLATIONS.values() if t.portrait)}.")
    if image is None:
        raise user_error("Upload a picture with a face first.")
    fail_fast_if_missing(*translate.checkpoints(translation))
    workdir = new_workdir()
    result = await run_heavy(
        translate.APP, "core.apps.translate:translate_portraits_file", model, image, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Stylising faces"), precision=precision,
    )
    gallery = [(result.path, "the picture")] + [(crop, f"face {i + 1}") for i, crop in enumerate(result.crops)]
    note = LOADING_NOTE if result.loaded_model else ""
    ran = runtime.precision_note(precision, result.precision)
    faces = len(result.crops)
    return gallery, result.zip_path, f"{timed(time.perf_counter() - start)} ({faces} face{'s' if faces != 1 else ''}{ran}){note}"


@user_errors
async def translate_video(model, video, precision=None, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    translation = translate.choose(model)
    if video is None:
        raise user_error("Upload a video first.")
    fail_fast_if_missing(*translate.checkpoints(translation))
    workdir = new_workdir()
    result = await run_heavy(
        translate.APP, "core.apps.translate:translate_video_file", model, video, str(workdir / f"{translation.key}.mp4"),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Translating frames", unit="frames"),
        precision=precision,
    )
    seconds = time.perf_counter() - start
    rate = result.frames / seconds if seconds > 0 else 0.0
    note = LOADING_NOTE if result.loaded_model else ""
    ran = runtime.precision_note(precision, result.precision)
    return result.path, result.path, f"{timed(seconds)} ({result.frames} frames, {rate:.1f} frames/s{ran}){note}"


@user_errors
async def translate_batch(model, files, precision=None, request: gr.Request = None, progress=gr.Progress()):
    """Several pictures through one model: a gallery of results, a ZIP of them all, a status line."""
    start = time.perf_counter()
    translation = translate.choose(model)
    paths = batch_paths(files)
    fail_fast_if_missing(*translate.checkpoints(translation))
    outcome = await run_batch(
        translate.APP, "core.apps.translate:translate_image_file", paths,
        job_args=lambda path, workdir: (model, path, str(workdir)), result_file=lambda result: result.path,
        request=request, progress=progress, precision=precision,
    )
    gallery = [(result.path, Path(path).name) for path, result in outcome.results]
    ran = runtime.precision_note(precision, outcome.results[0][1].precision)  # run_batch refuses an empty outcome
    status = f"{timed(time.perf_counter() - start)} {len(outcome.results)} of {len(paths)} pictures with {translation.label}{ran}."
    if outcome.skipped:
        status += " Skipped: " + "; ".join(outcome.skipped)
    return gallery, outcome.zip_path, status


def refresh_models():
    """On page load: the models' labels and the tab's notice, with weights fetched since start."""
    return gr.update(choices=model_choices()), notice_update(WEIGHTS)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = translate.APP
    with tab_page(app, page) as blocks:
        gr.Markdown(tab_intro(app, show_title, LIMITS_TEXT))
        notice = unavailable_panel(WEIGHTS, elem_id="translate-unavailable")
        model = Dropdown(model_choices(), value=DEFAULT_MODEL, label="Model", elem_id="translate-model")
        note = gr.Markdown(model_note(DEFAULT_MODEL), elem_id="translate-model-note")
        precision = precision_radio("translate-precision")
        with gr.Tab("Picture"):
            with gr.Row():
                with gr.Column():
                    image = ImageFile(label="Picture", sources=["upload", "clipboard"], elem_id="translate-image")
                    run_image = gr.Button("Translate picture", variant="primary", elem_id="translate-image-run")
                with gr.Column():
                    image_out = gr.Image(label="Result", type="filepath", format="png", interactive=False, elem_id="translate-image-output")
                    image_file = gr.File(label="Download PNG", elem_id="translate-image-download")
                    image_status = gr.Markdown(elem_id="translate-image-status")
            # Examples whose model runs here (no download) come first.
            examples = ready_first(app.examples, lambda example: [translate.choose(example.inputs[0]).weights])
            gr.Examples(
                examples=[list(example.inputs) for example in examples],
                inputs=[model, image],
                label="Examples",
                cache_examples=False,
            )
            gr.Markdown("<small>Example credits: " + "; ".join(e.credit for e in examples) + ".</small>")
        with gr.Tab("Faces"):
            gr.Markdown(FACES_TEXT)
            with gr.Row():
                with gr.Column():
                    portrait = ImageFile(label="Picture with faces", sources=["upload", "clipboard", "webcam"],
                                         elem_id="translate-portrait")
                    run_portrait = gr.Button("Stylise faces", variant="primary", elem_id="translate-portrait-run")
                with gr.Column():
                    portrait_out = gr.Gallery(label="The picture, then each face", columns=3, elem_id="translate-portrait-output")
                    portrait_zip = gr.File(label="Download ZIP", elem_id="translate-portrait-download")
                    portrait_status = gr.Markdown(elem_id="translate-portrait-status")
        with gr.Tab("Several pictures"):
            gr.Markdown(BATCH_TEXT)
            batch, run_batch_button, batch_out, batch_zip, batch_status = batch_panel("translate", "Pictures", "Translate pictures")
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    video = gr.Video(label="Video", sources=["upload"], elem_id="translate-video")
                    run_video = gr.Button("Translate video", variant="primary", elem_id="translate-video-run")
                with gr.Column():
                    video_out = gr.Video(label="Result", interactive=False, elem_id="translate-video-output")
                    video_file = gr.File(label="Download MP4", elem_id="translate-video-download")
                    video_status = gr.Markdown(elem_id="translate-video-status")
        model.change(describe, model, note, api_visibility="private", queue=False)
        # Progress and Gradio's error label show on the result only; a failure empties every output.
        for button, handler, source, outputs, api_name in (
            (run_image, translate_image, image, [image_out, image_file, image_status], "translate_image"),
            (run_batch_button, translate_batch, batch, [batch_out, batch_zip, batch_status], "translate_batch"),
            (run_video, translate_video, video, [video_out, video_file, video_status], "translate_video"),
            (run_portrait, translate_portrait, portrait, [portrait_out, portrait_zip, portrait_status], "translate_portrait"),
        ):
            event = button.click(handler, [model, source, precision], outputs, api_name=api_name,
                                 show_progress_on=outputs[0], **HEAVY)
            clear_on_failure(event, outputs)
        blocks.load(refresh_models, None, [model, notice], api_visibility="private", queue=False, show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
