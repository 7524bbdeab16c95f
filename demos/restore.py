"""Tab "Restore": a photo or a video in, upscaled, colourised, its faces restored and (videos) remastered
(before/after view, PNG or MP4 download)."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/restore.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import time
from pathlib import Path

import gradio as gr

from core.apps import restore
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile, Slider, precision_radio
from demos.gallery import (
    MAX_BATCH_PICTURES, batch_panel, batch_paths, clear_on_failure, notice_update, ready_first, run_batch,
    tab_intro, tab_page, unavailable_panel, with_state,
)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

WEIGHTS = [c.weights for c in (*restore.UPSCALERS.values(), *restore.VIDEO_UPSCALERS.values(),
                                 *restore.COLORIZERS.values(), *restore.FACE_ENHANCERS.values())]
WEIGHTS += [restore.REMASTER_RESTORER, restore.REMASTER_COLORIZER]

# Seconds for one 256×256 photo on this repository's 2-core CPU machine: one run each of
# core.apps.restore.restore_image through the fast path (oneDNN), model already loaded (2026-12-03).
CPU_SECONDS_256 = {
    "realesr_animevideov3_x2": 0.6,
    "realesr_animevideov3_x3": 1.1,
    "realesr_animevideov3_x4": 2.4,
    "realesrgan_x4plus_anime": 9.1,
    "realesrgan_x4plus": 30.2,
}


def upscale_choices() -> list[tuple[str, str]]:
    """(label with the state of its weights here, the choice's key = the API's value); the video networks last."""
    choices = (*restore.UPSCALERS.values(), *restore.VIDEO_UPSCALERS.values())
    return [("No upscaling", restore.NONE)] + [(with_state(c.label, [c.weights]), c.key) for c in choices]


def face_choices() -> list[tuple[str, str]]:
    return [("No face enhancement", restore.NONE)] + [(with_state(c.label, [c.weights]), c.key)
                                                      for c in restore.FACE_ENHANCERS.values()]


def remaster_choices() -> list[tuple[str, str]]:
    label = "DeepRemaster: restore old film (noise, scratches, contrast); colour from reference pictures if given"
    return [("No remastering", restore.NONE),
            (with_state(label, [restore.REMASTER_RESTORER, restore.REMASTER_COLORIZER]), restore.REMASTER)]


def colorize_choices() -> list[tuple[str, str]]:
    return [("No colorization", restore.NONE)] + [(with_state(c.label, [c.weights]), c.key) for c in restore.COLORIZERS.values()]


UPSCALE_CHOICES = upscale_choices()  # at import; the page refreshes the labels on every load
COLORIZE_CHOICES = colorize_choices()
FACE_CHOICES = face_choices()
REMASTER_CHOICES = remaster_choices()


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def speeds_text() -> str:
    """How long the upscalers take here, from CPU_SECONDS_256."""
    x = CPU_SECONDS_256
    return (
        "On this 2-core CPU one 256×256 photo took (one run each, model loaded): "
        f"{_seconds(x['realesr_animevideov3_x2'])}, {_seconds(x['realesr_animevideov3_x3'])} and "
        f"{_seconds(x['realesr_animevideov3_x4'])} with animevideov3 x2, x3 and x4 (the default on a CPU), "
        f"{_seconds(x['realesrgan_x4plus_anime'])} with Real-ESRGAN x4plus anime and "
        f"**{_seconds(x['realesrgan_x4plus'])} with Real-ESRGAN x4plus**, the sharpest on real photos "
        "(RealSR and ESRGAN are the same network, as slow); from earlier runs, about 6 s with LESRCNN and 25 s to "
        "colorize at render factor 32. Time grows with the pixels (a 512×512 photo takes four times as long), and "
        "a video costs that per frame, so videos default to animevideov3 x4."
    )


def limits_text() -> str:
    return (
        f"**Limits.** Photos: up to {restore.MAX_UPSCALE_PIXELS / 1e6:.1f} megapixels when upscaling "
        f"(e.g. 1024×1024 in, 4096×4096 out), {restore.MAX_COLORIZE_PIXELS / 1e6:.1f} megapixels for colorization alone; "
        f"up to {MAX_BATCH_PICTURES} photos at once under “Several photos”. "
        f"Videos: up to **{restore.MAX_VIDEO_SECONDS} seconds**, frames up to "
        f"{restore.MAX_VIDEO_UPSCALE_FRAME_PIXELS:,} pixels (e.g. 320×240) when upscaling, "
        f"{restore.MAX_VIDEO_FRAME_PIXELS:,} pixels (e.g. 1280×720) otherwise. "
        f"Upscaling across frames (PP-MSVSR, BasicVSR++) needs frames of at least {restore.MIN_VSR_FRAME_SIDE}×"
        f"{restore.MIN_VSR_FRAME_SIDE}. **Remastering** (DeepRemaster) works at most at "
        f"{restore.REMASTER_CPU_FRAME_PIXELS:,} pixels a frame (e.g. 192×144; the remastered video keeps that size) "
        f"and on at most {restore.REMASTER_CPU_MAX_FRAMES} frames on a CPU: its attention grows with the square of "
        "the frame's area and it took about 90 s a frame at the published 480×352 here (on a GPU it works at the "
        f"published size); up to {restore.MAX_REFERENCES} reference colour pictures. Faces: the "
        f"{restore.MAX_FACES} largest per picture. "
        "Photos: colorization, then upscaling, then faces. Videos: remastering, upscaling, colorization, then faces. "
        + speeds_text()
    )


def _size(width_height) -> str:
    return f"{width_height[0]}×{width_height[1]}"


@user_errors
async def restore_photo(photo, upscaler, colorizer, render_factor, output_size="", output_format="png",
                        quality=restore.DEFAULT_QUALITY, face_enhancer=restore.NONE, precision=None,
                        request: gr.Request = None, progress=gr.Progress()):
    if not photo:
        raise user_error("Upload a photo first.")
    # Bad choices are refused before the worker.
    checked = restore.check_request(upscaler, colorizer, render_factor, face_enhancer)
    restore.check_output(output_size, output_format, quality)
    fail_fast_if_missing(*checked.checkpoints)
    start = time.perf_counter()
    workdir = new_workdir()
    result = await run_heavy(
        restore.APP, "core.apps.restore:restore_photo_files", photo, upscaler, colorizer, render_factor, str(workdir),
        output_size=output_size, output_format=output_format, quality=quality, face_enhancer=face_enhancer,
        request=request, workdir=workdir, progress=progress_reporter(progress, "Restoring"), precision=precision,
    )
    status = (f"{_size(result.size_in)} → {_size(result.size_out)}: {', '.join(result.steps)}. "
              f"{timed(time.perf_counter() - start)}")
    return (result.before_path, result.after_path), result.path, result.path, status


def reference_paths(files) -> list[str]:
    """The paths of the reference pictures uploaded (none, one or several), at most MAX_REFERENCES."""
    if files is None:
        return []
    if isinstance(files, (str, Path)):
        files = [files]
    paths = [str(getattr(f, "path", None) or getattr(f, "name", None) or f) for f in files]
    if len(paths) > restore.MAX_REFERENCES:
        raise user_error(f"At most {restore.MAX_REFERENCES} reference pictures go in one request; got {len(paths)}.")
    return paths


@user_errors
async def restore_clip(video, upscaler, colorizer, render_factor, face_enhancer=restore.NONE, remaster=restore.NONE,
                       references=None, precision=None, request: gr.Request = None, progress=gr.Progress()):
    if not video:
        raise user_error("Upload a video first.")
    checked = restore.check_request(upscaler, colorizer, render_factor, face_enhancer, remaster, video=True)
    pictures = reference_paths(references)
    if pictures and not checked.remaster:
        raise user_error("Reference pictures colour a remastered video: choose remastering too, or remove them.")
    fail_fast_if_missing(*checked.checkpoints, *([restore.REMASTER_COLORIZER] if pictures else []))
    start = time.perf_counter()
    stem = Path(str(video)).stem[:60] or "video"
    workdir = new_workdir()
    result = await run_heavy(
        restore.APP, "core.apps.restore:restore_video", video, str(workdir / f"{stem}-restored.mp4"),
        upscaler, colorizer, render_factor, face_enhancer=face_enhancer, remaster=remaster, references=pictures,
        request=request, workdir=workdir, progress=progress_reporter(progress, "Restoring frames", unit="frames"),
        precision=precision,
    )
    status = (
        f"{result.frames} frames at {float(result.fps):.3g} fps, {_size(result.size_in)} → {_size(result.size_out)}: "
        f"{', '.join(result.steps)}. {timed(time.perf_counter() - start)}"
    )
    return str(result.path), str(result.path), status


@user_errors
async def restore_batch(photos, upscaler, colorizer, render_factor, output_size="", output_format="png",
                        quality=restore.DEFAULT_QUALITY, face_enhancer=restore.NONE, precision=None,
                        request: gr.Request = None, progress=gr.Progress()):
    """Several photos with the same settings: a gallery of results, a ZIP of the full-size results, a status line."""
    start = time.perf_counter()
    checked = restore.check_request(upscaler, colorizer, render_factor, face_enhancer)
    restore.check_output(output_size, output_format, quality)
    paths = batch_paths(photos, "photos")
    fail_fast_if_missing(*checked.checkpoints)
    outcome = await run_batch(
        restore.APP, "core.apps.restore:restore_photo_files", paths,
        job_args=lambda path, workdir: (path, upscaler, colorizer, render_factor, str(workdir), output_size,
                                        output_format, quality, face_enhancer),
        result_file=lambda result: result.path, request=request, progress=progress, what="photo", precision=precision,
    )
    gallery = [(result.after_path, f"{Path(path).name}: {_size(result.size_in)} → {_size(result.size_out)}")
               for path, result in outcome.results]
    steps = outcome.results[0][1].steps
    status = f"{len(outcome.results)} of {len(paths)} photos: {', '.join(steps)}. {timed(time.perf_counter() - start)}"
    if outcome.skipped:
        status += " Skipped: " + "; ".join(outcome.skipped)
    return gallery, outcome.zip_path, status


def refresh_models():
    """On page load: the models' labels and the tab's notice, with weights fetched since start."""
    return (gr.update(choices=upscale_choices()), gr.update(choices=colorize_choices()), gr.update(choices=face_choices()),
            gr.update(choices=remaster_choices()), notice_update(WEIGHTS))


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = restore.APP
    with tab_page(app, page) as blocks:
        if show_title:
            gr.Markdown(tab_intro(app))
        notice = unavailable_panel(WEIGHTS, elem_id="restore-unavailable")
        with gr.Row():
            upscaler = Dropdown(upscale_choices(), value=restore.DEFAULT_PHOTO_UPSCALER, label="Upscale with", elem_id="restore-upscaler")
            colorizer = Dropdown(colorize_choices(), value=restore.NONE, label="Colorize with", elem_id="restore-colorizer")
            render_factor = Slider(
                restore.MIN_RENDER_FACTOR, restore.MAX_RENDER_FACTOR, value=restore.DEFAULT_RENDER_FACTOR, step=1,
                label=f"Render factor (colour is computed at {restore.RENDER_BASE}× this, in pixels; higher: more detail, slower)",
                interactive=False, elem_id="restore-render-factor",
            )
            face_enhancer = Dropdown(face_choices(), value=restore.NONE, label="Enhance faces (after upscaling)",
                                     elem_id="restore-face-enhancer")
        with gr.Row():
            output_size = gr.Textbox("", label="Output size (photos)", placeholder=restore.OUTPUT_SIZE_HELP,
                                     elem_id="restore-output-size")
            output_format = Dropdown([(label, key) for key, label in restore.OUTPUT_FORMATS.items()], value="png",
                                     label="Format (photos)", elem_id="restore-output-format")
            quality = Slider(1, 100, value=restore.DEFAULT_QUALITY, step=1, label="Quality (JPEG, WebP)",
                             interactive=False, elem_id="restore-quality")
            precision = precision_radio("restore-precision")
        gr.Markdown(limits_text(), elem_id="restore-limits")
        with gr.Tabs():
            with gr.Tab("Photo", id="restore-photo-tab"):
                with gr.Row():
                    with gr.Column():
                        photo = ImageFile(
                            label="Photo", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                            elem_id="restore-photo",
                        )
                        run_photo = gr.Button("Restore photo", variant="primary", elem_id="restore-photo-run")
                    with gr.Column():
                        compare = gr.ImageSlider(
                            label="Before / after (the photo resized bicubic to the result's size)", type="filepath", format="png", interactive=False,
                            elem_id="restore-compare",
                        )
                        result = gr.Image(label="Result (PNG)", type="filepath", format="png", interactive=False, elem_id="restore-result")
                        download = gr.File(label="Download (the format chosen above)", elem_id="restore-download")
                        status = gr.Markdown(elem_id="restore-status")
                # Examples whose models run here (no download) come first.
                examples = ready_first(app.examples, lambda example: [n for n in example.inputs[1:3] if n != restore.NONE])
                gr.Examples(
                    [list(example.inputs) for example in examples],
                    [photo, upscaler, colorizer, render_factor],
                    cache_examples=False,
                    label="Examples (public-domain photos)",
                )
            with gr.Tab("Several photos", id="restore-batch-tab"):
                gr.Markdown(
                    f"Up to {MAX_BATCH_PICTURES} photos at once with the settings above, each within the photo limits; "
                    "they run one after another within one request's time budget, and the results come back together "
                    "and as one ZIP of full-size PNGs."
                )
                batch, run_batch_button, batch_out, batch_zip, batch_status = batch_panel("restore", "Photos", "Restore photos")
            with gr.Tab("Video", id="restore-video-tab") as video_tab:
                with gr.Row():
                    with gr.Column():
                        video = gr.Video(label=f"Video (up to {restore.MAX_VIDEO_SECONDS} s)", sources=["upload"], elem_id="restore-video")
                        remaster = Dropdown(remaster_choices(), value=restore.NONE, label="Remaster first (old film)",
                                            elem_id="restore-remaster")
                        # No file_types: core.media reads each picture and names one that is not a picture.
                        references = gr.File(
                            label=f"Reference colour pictures for remastering (optional, up to {restore.MAX_REFERENCES}; "
                            "without them the film is restored, not coloured)", file_count="multiple",
                            elem_id="restore-references",
                        )
                        run_video = gr.Button("Restore video", variant="primary", elem_id="restore-video-run")
                    with gr.Column():
                        video_result = gr.Video(label="Result (MP4, source fps and audio kept)", interactive=False, elem_id="restore-video-result")
                        video_download = gr.File(label="Download MP4", elem_id="restore-video-download")
                        video_status = gr.Markdown(elem_id="restore-video-status")
        # Videos default to the frame model on a CPU; a choice the user made is kept.
        video_tab.select(
            lambda current: restore.default_video_upscaler() if current == restore.DEFAULT_PHOTO_UPSCALER else current,
            upscaler, upscaler, api_visibility="private", queue=False,
        )
        colorizer.change(
            lambda choice: gr.update(interactive=choice != restore.NONE), colorizer, render_factor,
            api_visibility="private", queue=False,
        )
        output_format.change(lambda fmt: gr.update(interactive=fmt != "png"), output_format, quality,
                             api_visibility="private", queue=False)
        settings = [upscaler, colorizer, render_factor]
        photo_settings = [*settings, output_size, output_format, quality, face_enhancer, precision]
        video_settings = [*settings, face_enhancer, remaster, references, precision]
        # Progress and Gradio's error label show on the result only; a failure empties every output.
        for button, handler, inputs, outputs, api_name in (
            (run_photo, restore_photo, [photo, *photo_settings], [compare, result, download, status], "restore_image"),
            (run_batch_button, restore_batch, [batch, *photo_settings], [batch_out, batch_zip, batch_status], "restore_batch"),
            (run_video, restore_clip, [video, *video_settings], [video_result, video_download, video_status], "restore_video"),
        ):
            event = button.click(handler, inputs, outputs, api_name=api_name, show_progress_on=outputs[0], **HEAVY)
            clear_on_failure(event, outputs)
        blocks.load(refresh_models, None, [upscaler, colorizer, face_enhancer, remaster, notice], api_visibility="private",
                    queue=False, show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
