"""Tab "Restore": a photo or a video in, upscaled and/or colourised out (before/after view, PNG or MP4 download)."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from core.apps import restore
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile, Slider
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

UPSCALE_CHOICES = [("No upscaling", restore.NONE)] + [(c.label, c.weights) for c in restore.UPSCALERS.values()]
COLORIZE_CHOICES = [("No colorization", restore.NONE)] + [(c.label, c.weights) for c in restore.COLORIZERS.values()]


def limits_text() -> str:
    return (
        f"**Limits.** Photos: up to {restore.MAX_UPSCALE_PIXELS / 1e6:.1f} megapixels when upscaling "
        f"(e.g. 1024×1024 in, 4096×4096 out), {restore.MAX_COLORIZE_PIXELS / 1e6:.1f} megapixels for colorization alone. "
        f"Videos: up to **{restore.MAX_VIDEO_SECONDS} seconds**, frames up to "
        f"{restore.MAX_VIDEO_UPSCALE_FRAME_PIXELS:,} pixels (e.g. 320×240) when upscaling, "
        f"{restore.MAX_VIDEO_FRAME_PIXELS:,} pixels (e.g. 1280×720) for colorization alone. "
        "Colorization runs first, then upscaling. On 2 CPU cores a 256×256 photo takes about 1 s with animevideov3, "
        "6 s with LESRCNN, 30–45 s with Real-ESRGAN x4plus, RealSR or ESRGAN, and 25 s to colorize at render factor 32; "
        "a video costs that per frame, so videos default to animevideov3."
    )


def _size(width_height) -> str:
    return f"{width_height[0]}×{width_height[1]}"


@user_errors
async def restore_photo(photo, upscaler, colorizer, render_factor, request: gr.Request = None, progress=gr.Progress()):
    if not photo:
        raise user_error("Upload a photo first.")
    checked = restore.check_request(upscaler, colorizer, render_factor)  # bad choices are refused before the worker
    fail_fast_if_missing(checked.upscaler, checked.colorizer)
    start = time.perf_counter()
    workdir = new_workdir()
    result = await run_heavy(
        restore.APP, "core.apps.restore:restore_photo_files", photo, upscaler, colorizer, render_factor, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Restoring"),
    )
    status = (f"{_size(result.size_in)} → {_size(result.size_out)}: {', '.join(result.steps)}. "
              f"{timed(time.perf_counter() - start)}")
    return (result.before_path, result.after_path), result.path, result.path, status


@user_errors
async def restore_clip(video, upscaler, colorizer, render_factor, request: gr.Request = None, progress=gr.Progress()):
    if not video:
        raise user_error("Upload a video first.")
    checked = restore.check_request(upscaler, colorizer, render_factor)
    fail_fast_if_missing(checked.upscaler, checked.colorizer)
    start = time.perf_counter()
    stem = Path(str(video)).stem[:60] or "video"
    workdir = new_workdir()
    result = await run_heavy(
        restore.APP, "core.apps.restore:restore_video", video, str(workdir / f"{stem}-restored.mp4"),
        upscaler, colorizer, render_factor,
        request=request, workdir=workdir, progress=progress_reporter(progress, "Restoring frames", unit="frames"),
    )
    status = (
        f"{result.frames} frames at {float(result.fps):.3g} fps, {_size(result.size_in)} → {_size(result.size_out)}: "
        f"{', '.join(result.steps)}. {timed(time.perf_counter() - start)}"
    )
    return str(result.path), str(result.path), status


def build() -> gr.Blocks:
    app = restore.APP
    with gr.Blocks(title=app.title) as blocks:
        gr.Markdown(f"### {app.emoji} {app.title}\n{app.description}")
        with gr.Row():
            upscaler = Dropdown(UPSCALE_CHOICES, value=restore.DEFAULT_PHOTO_UPSCALER, label="Upscale with", elem_id="restore-upscaler")
            colorizer = Dropdown(COLORIZE_CHOICES, value=restore.NONE, label="Colorize with", elem_id="restore-colorizer")
            render_factor = Slider(
                restore.MIN_RENDER_FACTOR, restore.MAX_RENDER_FACTOR, value=restore.DEFAULT_RENDER_FACTOR, step=1,
                label=f"Render factor (colour is computed at {restore.RENDER_BASE}× this, in pixels; higher: more detail, slower)",
                interactive=False, elem_id="restore-render-factor",
            )
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
                        download = gr.File(label="Download PNG", elem_id="restore-download")
                        status = gr.Markdown(elem_id="restore-status")
                gr.Examples(
                    [list(example.inputs) for example in app.examples],
                    [photo, upscaler, colorizer, render_factor],
                    cache_examples=False,
                    label="Examples (public-domain photos)",
                )
            with gr.Tab("Video", id="restore-video-tab") as video_tab:
                with gr.Row():
                    with gr.Column():
                        video = gr.Video(label=f"Video (up to {restore.MAX_VIDEO_SECONDS} s)", sources=["upload"], elem_id="restore-video")
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
        run_photo.click(
            restore_photo, [photo, upscaler, colorizer, render_factor], [compare, result, download, status],
            api_name="restore_image", **HEAVY,
        )
        run_video.click(
            restore_clip, [video, upscaler, colorizer, render_factor], [video_result, video_download, video_status],
            api_name="restore_video", **HEAVY,
        )
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
