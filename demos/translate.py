"""Tab "Image translation": pick a model, upload a picture or a short video, get the translated result."""
from __future__ import annotations

import time

import gradio as gr

from core.apps import translate
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

MODEL_CHOICES = [(t.label, t.key) for t in translate.TRANSLATIONS.values()]
DEFAULT_MODEL = "vintage"  # its weights are imported offline, so it works on a fresh install
LOADING_NOTE = "; this first request also loaded the model and checked its fast path"

LIMITS_TEXT = (
    f"Pictures up to {translate.MAX_PIXELS / 1e6:.1f} megapixels (e.g. 1024 x 1024), at least "
    f"{translate.MIN_SIDE} pixels a side; the result has the picture's size. Videos up to "
    f"{translate.VIDEO_MAX_SECONDS} seconds with frames up to {translate.VIDEO_MAX_PIXELS / 1e6:.2f} megapixels "
    "(e.g. 640 x 360); sound is kept. On a CPU a frame takes from a tenth of a second to a few seconds, "
    "depending on the model."
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
async def translate_image(model, image, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    translation = translate.choose(model)  # an unknown model is refused here, before the queue's worker
    if image is None:
        raise user_error("Upload an image (or pick an example) first.")
    fail_fast_if_missing(translation.weights)
    workdir = new_workdir()
    result = await run_heavy(
        translate.APP, "core.apps.translate:translate_image_file", model, image, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Translating"),
    )
    note = LOADING_NOTE if result.loaded_model else ""
    return result.path, result.path, f"{timed(time.perf_counter() - start)} ({result.width}x{result.height}){note}"


@user_errors
async def translate_video(model, video, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    translation = translate.choose(model)
    if video is None:
        raise user_error("Upload a video first.")
    fail_fast_if_missing(translation.weights)
    workdir = new_workdir()
    result = await run_heavy(
        translate.APP, "core.apps.translate:translate_video_file", model, video, str(workdir / f"{translation.key}.mp4"),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Translating frames", unit="frames"),
    )
    seconds = time.perf_counter() - start
    rate = result.frames / seconds if seconds > 0 else 0.0
    note = LOADING_NOTE if result.loaded_model else ""
    return result.path, result.path, f"{timed(seconds)} ({result.frames} frames, {rate:.1f} frames/s){note}"


def build() -> gr.Blocks:
    app = translate.APP
    with gr.Blocks(title=app.title) as blocks:
        gr.Markdown(f"### {app.emoji} {app.title}\n{app.description}\n\n{LIMITS_TEXT}")
        model = Dropdown(MODEL_CHOICES, value=DEFAULT_MODEL, label="Model", elem_id="translate-model")
        note = gr.Markdown(model_note(DEFAULT_MODEL), elem_id="translate-model-note")
        with gr.Tab("Picture"):
            with gr.Row():
                with gr.Column():
                    image = ImageFile(label="Picture", sources=["upload", "clipboard"], elem_id="translate-image")
                    run_image = gr.Button("Translate picture", variant="primary", elem_id="translate-image-run")
                with gr.Column():
                    image_out = gr.Image(label="Result", type="filepath", format="png", interactive=False, elem_id="translate-image-output")
                    image_file = gr.File(label="Download PNG", elem_id="translate-image-download")
                    image_status = gr.Markdown(elem_id="translate-image-status")
            gr.Examples(
                examples=[list(example.inputs) for example in app.examples],
                inputs=[model, image],
                label="Examples",
                cache_examples=False,
            )
            gr.Markdown("<small>Example credits: " + "; ".join(e.credit for e in app.examples) + ".</small>")
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
        run_image.click(translate_image, [model, image], [image_out, image_file, image_status], api_name="translate_image", **HEAVY)
        run_video.click(translate_video, [model, video], [video_out, video_file, video_status], api_name="translate_video", **HEAVY)
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
