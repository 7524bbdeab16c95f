"""Tab "Attribute editing": StarGAN, AttGAN and STGAN change attributes of a face in a photo, or of a digit."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/attribute_editing.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import time

import gradio as gr
import numpy as np

from core.apps import attribute_editing as ae
from core.checkpoints.digit_editors import training_command
from demos.common import new_workdir, timed, user_error, user_errors
from demos.components import Dropdown, ImageFile, Number, Radio, Slider
from demos.gallery import (clear_on_failure, notice_update, ready_first, tab_intro, tab_page, unavailable_panel,
                           with_state)
from demos.heavy import HEAVY, fail_fast_if_missing, progress_reporter, run_heavy

FACE_WEIGHTS = [m.weights for m in ae.FACE_MODELS.values()]
DIGIT_WEIGHTS = [m.weights for m in ae.DIGIT_MODELS.values()]
DIGIT_CLASSES = ["any"] + [str(d) for d in range(10)]
DIGIT_SOURCES = [("a bundled MNIST digit", "bundled"), ("my drawing", "drawing")]
LOADING_NOTE = "; this first request also loaded the models"
TABLE_HEADERS = ["digit", "read as", *(title for _, title in ae.MEASURE_COLUMNS)]  # ae.measure_table's
FACES_TEXT = (
    "**Faces** (published CelebA models, PaddlePaddle/models' PaddleCV/gan; fetched on first use): the largest face "
    f"(or each, up to {ae.MAX_FACES}) is aligned as CelebA's faces are (eyes level, at CelebA's mean eye positions, "
    "128x128), edited, and pasted back. *No attribute classifier runs here: the models are told the face has only "
    "what you tick under “This face has” (nothing by default), and each attribute you tick under “Change” is set "
    "if the face lacks it, unset if it has it.* StarGAN knows only hair colour (black, blond, brown), male and young, "
    "and ignores the rest; intensity 1 edits as the library's infer.py does (AttGAN, STGAN; StarGAN has none). "
    f"Photos up to {ae.MAX_PHOTO_PIXELS // 1_000_000} megapixels, shrunk to {ae.MAX_SIDE} pixels a side."
)
DIGITS_TEXT = (
    "**Digits** (editors we train on MNIST at 32x32, `core/train/attributes.py`): a bundled digit or one you draw "
    f"(scaled into a {ae.MNIST_BOX}x{ae.MNIST_BOX} box and centred by its centre of mass in 28x28, as MNIST's were) "
    "is made thicker or thinner, slanted right or upright, wider or narrower. Its thickness, slant and width are "
    "measured before and after (Morpho-MNIST's measures, `core/train/morphometry.py`); an attribute is on when its "
    "measure passes the median of the digit's class. Intensity 1 edits as the editors were trained and judged; "
    "higher pushes AttGAN's and STGAN's edits further, lower holds them back (StarGAN has none)."
)


def pretty(attribute: str) -> str:
    return attribute.replace("_", " ").capitalize()


def face_model_choices() -> list[tuple[str, str]]:
    return [(with_state(m.label, [m.weights]), key) for key, m in ae.FACE_MODELS.items()]


def digit_model_choices() -> list[tuple[str, str]]:
    return [(with_state(m.label, [m.weights]), key) for key, m in ae.DIGIT_MODELS.items()]


def default_digit_models() -> list[str]:
    """The editors ticked for a visitor: those with weights here, so that "Edit the digit" works as it comes (all
    three when none has any, so that it names the command that trains each)."""
    untrained = {m.key for m in ae.untrained_editors()}
    return [key for key in ae.DIGIT_MODELS if key not in untrained] or list(ae.DIGIT_MODELS)


def untrained_note() -> str:
    """One line naming the digit editors whose files are not here yet, with the command that makes each."""
    missing = ae.untrained_editors()
    if not missing:
        return ""
    names = ", ".join(m.label.split(" (")[0] for m in missing)
    commands = "; ".join(f"`{training_command(m.key)}`" for m in missing)
    return f"⚠️ **Not trained yet:** the digit editors {names} have no weights in this checkout. Train them with {commands}."


# ---------------------------------------------------------------- components that name what they refuse


class CheckboxGroup(gr.CheckboxGroup):
    """``gr.CheckboxGroup`` whose refusals name the field: not a list, or a value outside the choices."""

    def preprocess(self, payload):
        label = self.label or "This choice"
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise user_error(f"{label} must be a list of choices; got {type(payload).__name__}.")
        try:
            return super().preprocess(payload)
        except gr.Error as error:
            raise user_error(f"{label}: {error.message}") from None


class DigitSketchpad(gr.Sketchpad):
    """``gr.Sketchpad`` whose pictures are checked by ``core.media`` (readable, within the drawing's pixel
    limit, judged from the header) before Gradio decodes them; a bad one is refused naming the field."""

    # Gradio names a component's front end after its class; a subclass of the Sketchpad template must say
    # it is drawn as the image editor (as gr.Sketchpad is).
    def get_block_name(self) -> str:
        return "imageeditor"

    def preprocess(self, payload):
        from core.errors import InputError
        from core.media import read_image

        if payload is None:
            return None
        label = self.label or "The drawing"
        files = [payload.background, payload.composite, *(payload.layers or [])] if payload.id is None else []
        for file in files:
            if file is None:
                continue
            if file.path is None:
                raise user_error(f"{label}: no file was received (upload the picture, do not embed it).")
            try:
                read_image(file.path, max_pixels=ae.MAX_DRAWING_PIXELS)
            except InputError as refused:
                raise user_error(f"{label}: {refused}") from None
        try:
            return super().preprocess(payload)
        except Exception:  # noqa: BLE001 - anything Gradio cannot read as a picture
            raise user_error(f"{label}: the drawing could not be read as a picture.") from None


# ---------------------------------------------------------------- faces


def check_flag(value, label: str) -> bool:
    if not isinstance(value, bool):
        raise user_error(f"{label} must be true or false; got {str(value)[:40]!r}.")
    return value


def face_status(result, seconds: float, has) -> str:
    told = ", ".join(has) if has else "nothing"
    parts = [f"{result.faces} face{'s' if result.faces != 1 else ''} edited",
             f"the models were told the face has: {told}"]
    parts += list(result.skipped)
    note = LOADING_NOTE if result.loaded_models else ""
    return f"{timed(seconds)} ({'; '.join(parts)}){note}"


@user_errors
async def run_face_edit(photo, models, change, has, intensity, every_face, request: gr.Request = None,
                        progress=gr.Progress()):
    start = time.perf_counter()
    every_face = check_flag(every_face, "Every face")
    chosen = ae.check_models(models, ae.FACE_MODELS)
    change = ae.check_attributes(change, "the attributes to change")
    has = ae.check_attributes(has, "the attributes the face has")
    intensity = ae.check_intensity(intensity)
    if not change:
        raise user_error("Tick at least one attribute to change.")
    for model in chosen:
        ae.face_request(model, change, has)  # conflicting asks are named before any work is queued
    if photo is None:
        raise user_error("Upload a photo with a face first.")
    fail_fast_if_missing(*(m.weights for m in chosen))
    workdir = new_workdir()
    result = await run_heavy(
        ae.APP, "core.apps.attribute_editing:edit_faces_file", photo, [m.key for m in chosen], change, has, intensity,
        every_face, str(workdir), request=request, workdir=workdir,
        progress=progress_reporter(progress, "Editing faces"),
    )
    pictures = [(result.original, "original"), *result.results]
    return pictures, list(result.crops), face_status(result, time.perf_counter() - start, has)


# ---------------------------------------------------------------- digits


def source_digit(source, seed, digit_class, drawing):
    """(uint8 28x28, class or None, a few words on where it came from) of the digit asked for."""
    if source == "bundled":
        digit, label, index = ae.bundled_digit(seed, digit_class)
        return digit, label, f"bundled digit #{index}, a {label}"
    if source != "drawing":
        raise user_error(f"Digit from must be bundled or drawing; got {str(source)[:40]!r}.")
    composite = drawing.get("composite") if isinstance(drawing, dict) else None
    if composite is None:
        raise user_error("Draw a digit first (or choose a bundled digit).")
    return ae.normalise_drawing(np.asarray(composite, dtype=np.uint8)), None, "your drawing"


def digit_status(result, seconds: float, origin: str, directions: dict, intensity: float) -> str:
    asked = ", ".join(f"{a.replace('_', ' ')}: {d}" for a, d in directions.items())
    if intensity != ae.DEFAULT_INTENSITY:
        asked += f" at intensity {intensity:g}"
    read = f"the digit classifier reads a {result.read_as}"
    told = "; ".join(result.told)
    return f"{timed(seconds)} ({origin}, {read}; asked {asked}). Labels given, told → asked: {told}."


@user_errors
async def run_digit_edit(source, seed, digit_class, drawing, thick, slanted_right, wide, models,
                         intensity=ae.DEFAULT_INTENSITY, request: gr.Request = None, progress=gr.Progress()):
    start = time.perf_counter()
    chosen = ae.check_models(models, ae.DIGIT_MODELS, "editor")
    directions = ae.check_directions({"thick": thick, "slanted_right": slanted_right, "wide": wide})
    intensity = ae.check_intensity(intensity)
    digit, label, origin = source_digit(source, seed, digit_class, drawing)
    ae.require_trained(chosen)  # "not trained yet", with core.weights' message, before any work is queued
    fail_fast_if_missing(ae.CLASSIFIER)
    workdir = new_workdir()
    result = await run_heavy(
        ae.APP, "core.apps.attribute_editing:edit_digit_file", digit, label, directions, [m.key for m in chosen],
        intensity, str(workdir), request=request, workdir=workdir, progress=progress_reporter(progress, "Editing the digit"),
    )
    status = digit_status(result, time.perf_counter() - start, origin, directions, intensity)
    return list(result.pictures), [list(row) for row in result.rows], status


# ---------------------------------------------------------------- the tab


def refresh():
    note = untrained_note()
    return (gr.update(choices=face_model_choices()), gr.update(choices=digit_model_choices(), value=default_digit_models()),
            notice_update(FACE_WEIGHTS), gr.update(value=note, visible=bool(note)))


def direction_radio(label: str, elem_id: str, value: str = "keep") -> Radio:
    return Radio([("more", "more"), ("less", "less"), ("keep", "keep")], value=value, label=label, elem_id=elem_id)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = ae.APP
    attribute_choices = [(pretty(a), a) for a in ae.FACE_ATTRIBUTES]
    with tab_page(app, page) as blocks:
        gr.Markdown(tab_intro(app, show_title))
        with gr.Tabs():
            with gr.Tab("Faces", elem_id="attributes-faces-tab"):
                gr.Markdown(FACES_TEXT)
                notice = unavailable_panel(FACE_WEIGHTS, elem_id="attributes-unavailable")
                with gr.Row():
                    with gr.Column():
                        photo = ImageFile(label="Photo with a face", sources=["upload", "clipboard", "webcam"],
                                          elem_id="attributes-photo")
                        change = CheckboxGroup(attribute_choices, value=[], label="Change", elem_id="attributes-change")
                        has = CheckboxGroup(attribute_choices, value=[], label="This face has (what the models are told)",
                                            elem_id="attributes-has")
                        intensity = Slider(ae.MIN_INTENSITY, ae.MAX_INTENSITY, value=ae.DEFAULT_INTENSITY, step=0.1,
                                           label="Intensity (AttGAN, STGAN)", elem_id="attributes-intensity")
                        face_models = CheckboxGroup(face_model_choices(), value=list(ae.FACE_MODELS), label="Models",
                                                    elem_id="attributes-face-models")
                        every_face = gr.Checkbox(value=False, label=f"Every face (up to {ae.MAX_FACES})",
                                                 elem_id="attributes-every-face")
                        run_faces = gr.Button("Edit the face", variant="primary", elem_id="attributes-face-run")
                    with gr.Column():
                        face_results = gr.Gallery(label="Original and each model's edit", columns=2, format="png",
                                                  interactive=False, elem_id="attributes-face-output")
                        face_crops = gr.Gallery(label="Aligned faces (128x128) and their edits", columns=4, format="png",
                                                interactive=False, elem_id="attributes-face-crops")
                        face_status = gr.Markdown(elem_id="attributes-face-status")
                examples = ready_first(app.examples, lambda example: FACE_WEIGHTS)
                gr.Examples(examples=[[e.inputs[0], list(e.inputs[1])] for e in examples], inputs=[photo, change],
                            label="Examples", cache_examples=False)
                gr.Markdown("<small>Example credits: " + "; ".join(e.credit for e in examples) + ".</small>")
            with gr.Tab("Digits", elem_id="attributes-digits-tab"):
                gr.Markdown(DIGITS_TEXT)
                untrained = gr.Markdown(untrained_note(), visible=bool(untrained_note()), elem_id="attributes-untrained")
                with gr.Row():
                    with gr.Column():
                        source = Radio(DIGIT_SOURCES, value="bundled", label="Digit from", elem_id="attributes-digit-source")
                        with gr.Row():
                            seed = Number(label="Seed", value=0, precision=0, minimum=0, maximum=ae.MAX_SEED,
                                          elem_id="attributes-digit-seed")
                            digit_class = Dropdown(DIGIT_CLASSES, value="any", label="Which digit",
                                                   elem_id="attributes-digit-class")
                        drawing = DigitSketchpad(label="Drawing", type="numpy", canvas_size=(280, 280),
                                                 elem_id="attributes-drawing")
                        thick = direction_radio("Thickness", "attributes-thick", "more")
                        slanted = direction_radio("Slant to the right", "attributes-slant")
                        wide = direction_radio("Width", "attributes-wide")
                        digit_intensity = Slider(ae.MIN_INTENSITY, ae.MAX_INTENSITY, value=ae.DEFAULT_INTENSITY,
                                                 step=0.1, label="Intensity (AttGAN, STGAN; 1: as trained)",
                                                 elem_id="attributes-digit-intensity")
                        digit_models = CheckboxGroup(digit_model_choices(), value=default_digit_models(), label="Editors",
                                                     elem_id="attributes-digit-models")
                        run_digit = gr.Button("Edit the digit", variant="primary", elem_id="attributes-digit-run")
                    with gr.Column():
                        digit_results = gr.Gallery(label="Source and each editor's result (8x)", columns=4, format="png",
                                                   interactive=False, elem_id="attributes-digit-output")
                        table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Measured",
                                             elem_id="attributes-digit-table")
                        digit_status = gr.Markdown(elem_id="attributes-digit-status")
        face_outputs = [face_results, face_crops, face_status]
        event = run_faces.click(run_face_edit, [photo, face_models, change, has, intensity, every_face], face_outputs,
                                api_name="edit_face_attributes", show_progress_on=face_results, **HEAVY)
        clear_on_failure(event, face_outputs)
        digit_outputs = [digit_results, table, digit_status]
        event = run_digit.click(run_digit_edit, [source, seed, digit_class, drawing, thick, slanted, wide, digit_models,
                                                 digit_intensity],
                                digit_outputs, api_name="edit_digit", show_progress_on=digit_results, **HEAVY)
        clear_on_failure(event, digit_outputs)
        blocks.load(refresh, None, [face_models, digit_models, notice, untrained], api_visibility="private", queue=False,
                    show_progress="hidden")
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
