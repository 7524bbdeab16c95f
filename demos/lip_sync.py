"""Tab "Lip sync": the mouth of a face video or photo follows any speech (Wav2Lip)."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/lip_sync.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import time

import gradio as gr

from core import audio
from core.apps import lip_sync
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile
from demos.gallery import (clear_on_failure, notice_update, ready_first, tab_intro, tab_page, unavailable_panel,
                           with_state)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

WEIGHTS = [m.weights for m in lip_sync.MODELS.values()]
SPEECH_FILE_TYPES = [".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".webm", ".mp4", ".mov", ".mkv"]
LIMITS_TEXT = (
    f"Speech up to {lip_sync.MAX_SPEECH_SECONDS} seconds (typed text up to {lip_sync.MAX_TEXT_CHARACTERS} "
    f"characters); face videos up to {lip_sync.MAX_VIDEO_SECONDS} seconds with frames up to 1280 x 720; a photo "
    f"is scaled to at most 1280 x 720 pixels and becomes a {lip_sync.PHOTO_FPS} fps video. The result lasts as long "
    "as the speech and has it as its sound; a video shorter than the speech plays forward, then backward. "
    "Frames where no face is found are kept as they are."
)
LOADING_NOTE = "; this first request also loaded the model"


def model_choices() -> list[tuple[str, str]]:
    """(label with the state of its weights here, key = the API's value)."""
    return [(with_state(m.label, [m.weights]), key) for key, m in lip_sync.MODELS.items()]


def one_of(first, second, what: str, first_name: str, second_name: str):
    """The one input given of two alternatives (a clear message when none or both are)."""
    if first is not None and second is not None:
        raise user_error(f"Give {what} as a {first_name} or as a {second_name}, not both.")
    if first is None and second is None:
        raise user_error(f"Give {what} first: a {first_name} or a {second_name}.")
    return first if first is not None else second


def status_line(result, seconds: float) -> str:
    parts = [f"{result.frames} frames for {result.speech_seconds:.1f} s of speech"]
    if result.frames_without_face:
        parts.append(f"{result.frames_without_face} frame{'s' if result.frames_without_face != 1 else ''} "
                     "without a face, kept unchanged")
    note = LOADING_NOTE if result.loaded_model else ""
    return f"{timed(seconds)} ({'; '.join(parts)}){note}"


@user_errors
async def run_lip_sync(face_video, face_photo, speech_recording, speech_file, text, model,
                       request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    choice = lip_sync.check_model(model)
    face = one_of(face_video, face_photo, "a face", "video", "photo")
    if speech_recording is not None and speech_file is not None:
        raise user_error("Give the speech as a recording or as a file, not both.")
    speech = speech_recording if speech_recording is not None else speech_file
    if text is not None and not isinstance(text, str):
        raise user_error(f"The text to speak must be text; got {type(text).__name__}.")
    typed = bool(text and text.strip())
    if speech is None and not typed:
        raise user_error("Give some speech first: record or upload audio, a video whose sound to use, or text to speak.")
    if speech is not None and typed:
        raise user_error("Give the speech as a recording or file, or as text to speak, not both.")
    if typed:  # named before any work is queued
        audio.checked_text(text)
        audio.require_espeak()
    fail_fast_if_missing(choice.weights)
    workdir = new_workdir()
    result = await run_heavy(
        lip_sync.APP, "core.apps.lip_sync:lip_sync_file", face, speech, text, model,
        str(workdir / f"lip-sync-{choice.key}.mp4"), request=request, workdir=workdir,
        progress=progress_reporter(progress, "Lip-syncing", unit="frames"),
    )
    return result.path, result.path, status_line(result, time.perf_counter() - start)


def refresh():
    return gr.update(choices=model_choices()), notice_update(WEIGHTS)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = lip_sync.APP
    with tab_page(app, page) as blocks:
        gr.Markdown(tab_intro(app, show_title, LIMITS_TEXT))
        notice = unavailable_panel(WEIGHTS, elem_id="lip-sync-unavailable")
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Face**: a video or a photo")
                with gr.Tabs():
                    with gr.Tab("Video", elem_id="lip-sync-face-video-tab"):
                        face_video = gr.Video(label="Face video", sources=["upload", "webcam"], elem_id="lip-sync-face-video")
                    with gr.Tab("Photo", elem_id="lip-sync-face-photo-tab"):
                        face_photo = ImageFile(label="Face photo", sources=["upload", "clipboard", "webcam"],
                                               elem_id="lip-sync-face-photo")
                gr.Markdown("**Speech**: recorded, from a file (its sound, for a video), or typed")
                with gr.Tabs():
                    with gr.Tab("Record or upload audio", elem_id="lip-sync-recording-tab"):
                        recording = gr.Audio(label="Speech", sources=["microphone", "upload"], type="filepath",
                                             elem_id="lip-sync-recording")
                    with gr.Tab("Audio or video file", elem_id="lip-sync-file-tab"):
                        speech_file = gr.File(label="Speech file", file_types=SPEECH_FILE_TYPES, type="filepath",
                                              elem_id="lip-sync-file")
                    with gr.Tab("Type text", elem_id="lip-sync-text-tab"):
                        text = gr.Textbox(label="Text to speak (espeak-ng)", lines=3, max_length=lip_sync.MAX_TEXT_CHARACTERS,
                                          elem_id="lip-sync-text")
                model = Dropdown(model_choices(), value=lip_sync.DEFAULT_MODEL, label="Model", elem_id="lip-sync-model")
                run = gr.Button("Lip-sync", variant="primary", elem_id="lip-sync-run")
            with gr.Column():
                video_out = gr.Video(label="Lip-synced", interactive=False, elem_id="lip-sync-output")
                video_file = gr.File(label="Download MP4", elem_id="lip-sync-download")
                status = gr.Markdown(elem_id="lip-sync-status")
        examples = ready_first(app.examples, lambda example: WEIGHTS[:1])
        gr.Examples(examples=[list(e.inputs) for e in examples], inputs=[face_photo, text], label="Examples",
                    cache_examples=False)
        gr.Markdown("<small>Example credits: " + "; ".join(e.credit for e in examples) + ".</small>")
        outputs = [video_out, video_file, status]
        event = run.click(run_lip_sync, [face_video, face_photo, recording, speech_file, text, model], outputs,
                          api_name="lip_sync", show_progress_on=video_out, **HEAVY)
        clear_on_failure(event, outputs)
        blocks.load(refresh, None, [model, notice], api_visibility="private", queue=False, show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
