"""Tab "Paint a scene": paint a label map with one brush per class (or upload one), SPADE draws the picture."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/scene_painting.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import hashlib
import os
import time
from pathlib import Path

import gradio as gr
import numpy as np

from core.apps import scene_painting
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile
from demos.gallery import (clear_on_failure, notice_update, ready_first, tab_intro, tab_page, unavailable_panel,
                           with_state)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

WEIGHTS = [m.weights for m in scene_painting.MODELS.values()]
# A painted canvas arriving as bytes (the browser's blob upload) larger than this is refused undecoded.
MAX_CANVAS_BYTES = int(os.environ.get("GAN_GALLERY_MAX_CANVAS_BYTES", str(16 << 20)))
CANVAS_WIDTH = 512  # the canvas's width in pixels; its height follows the model's aspect
LOADING_NOTE = "; this first request also loaded the model"
LIMITS_TEXT = (
    f"Label maps up to {scene_painting.MAX_PIXELS / 1e6:.1f} megapixels. Each pixel is snapped to the nearest class "
    "colour (a brush's soft edge goes to one side or the other); at most "
    f"{100 * scene_painting.MAX_UNPAINTED_SHARE:g} % of the pixels may be far from every class colour. The map is "
    "resized to the model's size (nearest neighbour). An uploaded map, when there is one, is used instead of the "
    "canvas. None of these models takes noise: the same map always gives the same picture."
)


class LabelCanvas(gr.ImageEditor):
    """``gr.ImageEditor`` whose handler receives the flattened canvas as a PNG path, undecoded (decoded later in a
    worker by ``core.media`` within the app's pixel limit); None when nothing was sent."""

    # The front end is Gradio's image editor: Gradio names it after the class (see demos.components.ImageFile).
    def get_block_name(self) -> str:
        return "imageeditor"

    def get_config(self, cls=None):
        return super().get_config(cls or gr.ImageEditor)

    def preprocess(self, payload):
        if payload is None:
            return None
        composite = payload.composite
        if payload.id is not None:
            cached = self.blob_storage.pop(payload.id, None)
            composite = cached.composite if cached is not None else composite
        if composite is None:
            # An untouched canvas sends no composite; its background (the first class everywhere) is the map shown.
            composite = payload.background
        if composite is None:
            return None
        if isinstance(composite, (bytes, bytearray, memoryview)):
            data = bytes(composite)
            if len(data) > MAX_CANVAS_BYTES:
                raise user_error(f"{self.label}: the painted canvas holds {len(data) / 1e6:.1f} MB; the limit is "
                                 f"{MAX_CANVAS_BYTES / 1e6:.1f} MB.")
            folder = Path(self.GRADIO_CACHE) / hashlib.sha256(data).hexdigest()[:32]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "canvas.png"
            path.write_bytes(data)
            return str(path)
        if composite.path is None:
            raise user_error(f"{self.label}: no painted canvas was received.")
        return str(composite.path)


def model_choices() -> list[tuple[str, str]]:
    """(label with the state of its weights here, key = the API's value)."""
    return [(with_state(m.label, [m.weights]), key) for key, m in scene_painting.MODELS.items()]


def blank_canvas(choice) -> np.ndarray:
    """The canvas filled with the first class's colour, at the model's aspect (so nothing is left unpainted)."""
    height, width = choice.size
    rows = max(32, round(CANVAS_WIDTH * height / width))
    return np.broadcast_to(np.asarray(choice.colours[0], np.uint8), (rows, CANVAS_WIDTH, 3)).copy()


def brush_for(choice) -> gr.Brush:
    colours = [scene_painting.hex_colour(c) for c in choice.colours]
    return gr.Brush(colors=colours, default_color=colours[-1], color_mode="fixed", default_size=12)


def legend(choice) -> str:
    swatches = " ".join(
        f"<span style='display:inline-block;white-space:nowrap;margin-right:0.8em'><span style='display:inline-block;"
        f"width:0.9em;height:0.9em;border:1px solid #888;background:{scene_painting.hex_colour(c)}'></span> {name}</span>"
        for name, c in zip(choice.names, choice.colours)
    )
    height, width = choice.size
    return f"**{choice.label}**: {choice.about} The picture is {width} x {height}.  \nClasses and their colours: {swatches}"


@user_errors
def switch_model(model):
    choice = scene_painting.choose(model)
    canvas = {"background": blank_canvas(choice), "layers": [], "composite": None}
    return gr.update(value=canvas, brush=brush_for(choice)), legend(choice)


def status_line(result, seconds: float) -> str:
    note = LOADING_NOTE if result.loaded_model else ""
    classes = ", ".join(result.classes_used)
    return f"{timed(seconds)} ({result.width}x{result.height}; classes painted: {classes}){note}"


@user_errors
async def paint_scene(painted, label_map, model, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    choice = scene_painting.choose(model)
    source = label_map if label_map is not None else painted
    if source is None:
        raise user_error("Paint a label map on the canvas or upload one first.")
    scene_painting.require_weights(choice)  # our own model, not trained yet: said so with the command
    fail_fast_if_missing(choice.weights)
    workdir = new_workdir()
    result = await run_heavy(
        scene_painting.APP, "core.apps.scene_painting:paint_scene_file", model, source, str(workdir),
        request=request, workdir=workdir, progress=progress_reporter(progress, "Painting the scene"),
    )
    return result.path, result.map_path, status_line(result, time.perf_counter() - start)


def refresh():
    return gr.update(choices=model_choices()), notice_update(WEIGHTS)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = scene_painting.APP
    first = scene_painting.MODELS[scene_painting.DEFAULT_MODEL]
    with tab_page(app, page) as blocks:
        gr.Markdown(tab_intro(app, show_title, LIMITS_TEXT))
        notice = unavailable_panel(WEIGHTS, elem_id="scene-painting-unavailable")
        model = Dropdown(model_choices(), value=scene_painting.DEFAULT_MODEL, label="Model", elem_id="scene-painting-model")
        about = gr.Markdown(legend(first), elem_id="scene-painting-legend")
        with gr.Row():
            with gr.Column():
                with gr.Tabs():
                    with gr.Tab("Paint", elem_id="scene-painting-paint-tab"):
                        canvas = LabelCanvas(
                            value={"background": blank_canvas(first), "layers": [], "composite": None},
                            label="Label map", type="filepath", format="png", image_mode="RGB", brush=brush_for(first),
                            sources=(), transforms=(), layers=False, elem_id="scene-painting-canvas",
                        )
                    with gr.Tab("Upload", elem_id="scene-painting-upload-tab"):
                        upload = ImageFile(label="Colour-coded label map (PNG)", sources=["upload", "clipboard"],
                                           elem_id="scene-painting-upload")
                run = gr.Button("Paint the scene", variant="primary", elem_id="scene-painting-run")
            with gr.Column():
                picture = gr.Image(label="Scene", type="filepath", format="png", interactive=False,
                                   elem_id="scene-painting-output")
                snapped = gr.Image(label="Label map as the model read it", type="filepath", format="png",
                                   interactive=False, elem_id="scene-painting-snapped")
                status = gr.Markdown(elem_id="scene-painting-status")
        examples = ready_first(app.examples, lambda example: [scene_painting.choose(example.inputs[1]).weights])
        gr.Examples(examples=[list(e.inputs) for e in examples], inputs=[upload, model], label="Examples",
                    cache_examples=False)
        gr.Markdown("<small>Example credits: " + "; ".join(e.credit for e in examples) + ".</small>")
        model.change(switch_model, model, [canvas, about], api_visibility="private", queue=False)
        outputs = [picture, snapped, status]
        event = run.click(paint_scene, [canvas, upload, model], outputs, api_name="paint_scene",
                          show_progress_on=picture, **HEAVY)
        clear_on_failure(event, outputs)
        blocks.load(refresh, None, [model, notice], api_visibility="private", queue=False, show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
