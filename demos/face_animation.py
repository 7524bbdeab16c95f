"""Tab "Face animation": a photo's faces move like the face of a driving video (First Order Motion)."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/face_animation.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import time

import gradio as gr

from core.apps import face_animation
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile
from demos.gallery import (clear_on_failure, notice_update, ready_first, tab_intro, tab_page, unavailable_panel,
                           with_state)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

WEIGHTS = [m.weights for m in face_animation.MODELS.values()]
LIMITS_TEXT = (
    f"Driving videos up to {face_animation.MAX_VIDEO_SECONDS} seconds with frames up to 1280 x 720; the result "
    f"has the photo's size (at most {face_animation.MAX_SOURCE_SIDE} pixels a side) and the driving video's frame "
    f"rate and sound. Up to {face_animation.MAX_FACES} faces with “several people”. On a 2-core CPU the full model "
    "takes about 1.5 s a frame, the mobile one about 0.5 s."
)
OPTIONS_TEXT = (
    "**Relative motion** moves the photo's face by how the driving face moved since the reference frame (keeps the "
    "photo's face shape); off, the photo copies the driving face's pose as it is. **Adapt movement scale** scales "
    "that motion by the ratio of the two faces' sizes. **Find best frame** takes as reference the driving frame "
    "posed most like the photo, instead of the first. **Crop to the face** cuts both around their faces "
    "(off: the whole picture is animated)."
)
LOADING_NOTE = "; this first request also loaded the model"


def model_choices() -> list[tuple[str, str]]:
    """(label with the state of its weights here, key = the API's value)."""
    return [(with_state(m.label, [m.weights]), key) for key, m in face_animation.MODELS.items()]


def flag(value, name: str) -> bool:
    """A checkbox's value from the page or the API: true or false, nothing else."""
    if isinstance(value, bool):
        return value
    raise user_error(f"{name} must be true or false; got {value!r}.")


@user_errors
async def animate(source, driving, model, relative, adapt_scale, find_best_frame, auto_crop, multi_person,
                  request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    choice = face_animation.check_model(model)
    options = [flag(v, n) for v, n in ((relative, "Relative motion"), (adapt_scale, "Adapt movement scale"),
                                       (find_best_frame, "Find best frame"), (auto_crop, "Crop to the face"),
                                       (multi_person, "Several people"))]
    if source is None:
        raise user_error("Upload a source photo first.")
    if driving is None:
        raise user_error("Upload or record a driving video first.")
    fail_fast_if_missing(choice.weights)
    workdir = new_workdir()
    result = await run_heavy(
        face_animation.APP, "core.apps.face_animation:animate_file", source, driving, model, *options,
        str(workdir / f"animated-{choice.key}.mp4"), request=request, workdir=workdir,
        progress=progress_reporter(progress, "Animating", unit="frames"),
    )
    seconds = time.perf_counter() - start
    faces = f"{result.faces} face{'s' if result.faces != 1 else ''}" if result.faces else "the whole photo"
    reference = f", reference frame {result.initial_frame + 1}" if options[2] else ""
    note = LOADING_NOTE if result.loaded_model else ""
    return result.path, result.path, f"{timed(seconds)} ({result.frames} frames, {faces}{reference}){note}"


@user_errors
async def preview(source, auto_crop, multi_person, request: gr.Request = None, progress=gr.Progress()):
    """The faces found in the photo and the squares that would be animated: needs no First Order Motion weights."""
    start = time.perf_counter()
    auto_crop, multi_person = flag(auto_crop, "Crop to the face"), flag(multi_person, "Several people")
    if source is None:
        raise user_error("Upload a source photo first.")
    fail_fast_if_missing(face_animation.DETECTOR)
    workdir = new_workdir()
    result = await run_heavy(
        face_animation.APP, "core.apps.face_animation:preview_file", source, auto_crop, multi_person, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Finding faces"),
    )
    found = f"{result.faces} face{'s' if result.faces != 1 else ''} found" if result.faces else "the whole photo is the crop"
    return result.path, f"{timed(time.perf_counter() - start)} ({found}; the yellow squares are what is animated)"


def refresh():
    return gr.update(choices=model_choices()), notice_update(WEIGHTS)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = face_animation.APP
    with tab_page(app, page) as blocks:
        gr.Markdown(tab_intro(app, show_title, LIMITS_TEXT))
        notice = unavailable_panel(WEIGHTS, elem_id="face-animation-unavailable")
        with gr.Row():
            with gr.Column():
                source = ImageFile(label="Source photo", sources=["upload", "clipboard", "webcam"], elem_id="face-animation-source")
                driving = gr.Video(label="Driving video (a face)", sources=["upload", "webcam"], elem_id="face-animation-driving")
                model = Dropdown(model_choices(), value=face_animation.DEFAULT_MODEL, label="Model", elem_id="face-animation-model")
                with gr.Row():
                    relative = gr.Checkbox(True, label="Relative motion", elem_id="face-animation-relative")
                    adapt_scale = gr.Checkbox(True, label="Adapt movement scale", elem_id="face-animation-adapt")
                    find_best = gr.Checkbox(False, label="Find best frame", elem_id="face-animation-best")
                    auto_crop = gr.Checkbox(True, label="Crop to the face", elem_id="face-animation-crop")
                    multi_person = gr.Checkbox(False, label="Several people", elem_id="face-animation-multi")
                gr.Markdown(OPTIONS_TEXT)
                with gr.Row():
                    find_faces = gr.Button("Find faces", elem_id="face-animation-preview-run")
                    run = gr.Button("Animate", variant="primary", elem_id="face-animation-run")
            with gr.Column():
                video_out = gr.Video(label="Animated", interactive=False, elem_id="face-animation-output")
                video_file = gr.File(label="Download MP4", elem_id="face-animation-download")
                status = gr.Markdown(elem_id="face-animation-status")
                faces_out = gr.Image(label="Faces found", type="filepath", format="png", interactive=False,
                                     elem_id="face-animation-preview")
                faces_status = gr.Markdown(elem_id="face-animation-preview-status")
        examples = ready_first(app.examples, lambda example: WEIGHTS[:1])
        gr.Examples(examples=[list(e.inputs) for e in examples], inputs=[source, driving], label="Examples", cache_examples=False)
        gr.Markdown("<small>Example credits: " + "; ".join(e.credit for e in examples) + ".</small>")
        outputs = [video_out, video_file, status]
        event = run.click(animate, [source, driving, model, relative, adapt_scale, find_best, auto_crop, multi_person],
                          outputs, api_name="face_animate", show_progress_on=video_out, **HEAVY)
        clear_on_failure(event, outputs)
        preview_event = find_faces.click(preview, [source, auto_crop, multi_person], [faces_out, faces_status],
                                         api_name="face_preview", show_progress_on=faces_out, **HEAVY)
        clear_on_failure(preview_event, [faces_out, faces_status])
        blocks.load(refresh, None, [model, notice], api_visibility="private", queue=False, show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
