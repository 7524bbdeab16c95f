"""Tab "Digits": a seed and a count in, a grid of generated handwritten digits out."""
from __future__ import annotations

if __name__ == "__main__":  # run alone (`python demos/digits.py`): find the repository, set threads before Paddle
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    __import__("core.runtime").runtime.configure_process()

import random
import time

import gradio as gr

from core.apps import digits
from core.media import write_png
from demos.common import new_workdir, timed, user_errors
from demos.components import Dropdown, Number, Slider
from demos.gallery import clear_on_failure, tab_intro, tab_page

DIGIT_CHOICES = ["any"] + [str(d) for d in range(10)]


@user_errors
def generate(seed, count, digit):
    start = time.perf_counter()
    grid = digits.generate(seed, count, None if digit in (None, "any") else digit)
    path = write_png(grid, new_workdir() / f"digits-seed{int(seed)}.png")
    return str(path), str(path), timed(time.perf_counter() - start)


def build(show_title: bool = True, page: gr.Blocks | None = None) -> gr.Blocks:
    app = digits.APP
    with tab_page(app, page) as blocks:
        if show_title:
            gr.Markdown(tab_intro(app))
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    seed = Number(label="Seed", value=7, precision=0, minimum=0, maximum=digits.MAX_SEED, elem_id="digits-seed")
                    dice = gr.Button("🎲 Random seed", size="sm")
                count = Slider(1, digits.MAX_COUNT, value=20, step=1, label="How many digits", elem_id="digits-count")
                digit = Dropdown(DIGIT_CHOICES, value="any", label="Which digit (any: 0-9 in columns)", elem_id="digits-digit")
                run = gr.Button("Generate", variant="primary", elem_id="digits-generate")
            with gr.Column():
                image = gr.Image(label="Generated digits", type="filepath", format="png", elem_id="digits-output", interactive=False)
                download = gr.File(label="Download PNG", elem_id="digits-download")
                status = gr.Markdown(elem_id="digits-status")
        dice.click(lambda: random.randint(0, digits.MAX_SEED), outputs=seed, api_visibility="private", queue=False)
        # Progress and Gradio's error label show on the image only; a failure empties every output.
        event = run.click(generate, [seed, count, digit], [image, download, status], api_name="digits_generate",
                          show_progress_on=image)
        clear_on_failure(event, [image, download, status])
    return blocks


if __name__ == "__main__":
    from demos.common import launch_alone

    launch_alone(build)
