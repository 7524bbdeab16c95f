"""A first visit to the offline gallery in a real browser: what each model choice says about its weights,
a tab with no runnable model, and what a failed request leaves on the page.

An error must leave one message (Gradio's notice) and empty the outputs: not the previous result with
its "Done in ..." status under it, nor one red "Error" label per output.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

TOAST = '[data-testid="toast-body"]'
# Gradio's status tracker marks each output of a failed event with <span class="error">Error</span>.
ERROR_LABEL = "span.error:not([class*=toast])"


def visible_count(page, selector: str) -> int:
    return sum(element.is_visible() for element in page.locator(selector).all())


def error_shown_once(page, containing: str) -> None:
    """One notice with the message, and once the failure's follow-up has run, no red label on any output."""
    page.locator(TOAST).filter(has_text=containing).first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(1000)  # the failure follow-up (not queued) clears the outputs
    assert visible_count(page, TOAST) == 1, page.locator(TOAST).all_inner_texts()
    assert visible_count(page, ERROR_LABEL) == 0


def close_toasts(page) -> None:
    for button in page.locator('[data-testid="toast-close"]').all():
        if button.is_visible():
            button.click()


def test_an_error_clears_the_previous_result_and_shows_one_message(page, tmp_path):
    page.get_by_role("tab", name="Digits").click()
    page.locator("#digits-generate").click()
    page.locator("#digits-output img").wait_for(state="visible", timeout=60_000)
    status = page.locator("#digits-status")
    assert "Done in" in status.inner_text(timeout=10_000)

    seed = page.locator("#digits-seed input")
    seed.fill("-5")
    seed.press("Tab")
    page.locator("#digits-generate").click()
    error_shown_once(page, "Seed must be a number from 0")
    assert "Done in" not in status.inner_text() and status.inner_text().strip() == ""
    assert visible_count(page, "#digits-output img") == 0
    assert visible_count(page, "#digits-download a") == 0
    page.screenshot(path=str(tmp_path / "digits-error.png"), full_page=True)


def test_model_choices_show_their_state_and_a_failed_translation_clears_its_result(page, tmp_path):
    page.get_by_role("tab", name="Image translation").click()
    model = page.locator("#translate-model input")
    model.wait_for(state="visible", timeout=30_000)
    assert " · " in model.input_value()  # the chosen model's state, in its label
    model.click()
    options = page.get_by_role("option")
    options.first.wait_for(state="visible", timeout=10_000)
    labels = options.all_inner_texts()
    assert any("Horse → zebra (CycleGAN) · unavailable offline" in label for label in labels), labels
    assert any("Photo → vintage photo (CycleGAN, vintagify) · " in label for label in labels), labels
    page.keyboard.press("Escape")

    # The picture input renders (it once stayed "Loading..."), and the model that works offline translates it.
    picture = tmp_path / "picture.png"
    y, x = np.mgrid[0:64, 0:80]
    Image.fromarray(np.stack([x * 3, y * 3, (x + y) * 2], axis=-1).astype(np.uint8)).save(picture)
    page.locator("#translate-image input[type=file]").set_input_files(str(picture))
    page.locator("#translate-image img").wait_for(state="visible", timeout=30_000)
    page.locator("#translate-image-run").click()
    page.locator("#translate-image-output img").wait_for(state="visible", timeout=180_000)
    status = page.locator("#translate-image-status")
    assert "Done in" in status.inner_text(timeout=10_000)

    # A model whose weights are not here, offline: one message, the previous result and status gone.
    model.click()
    page.get_by_role("option").filter(has_text="Horse → zebra").first.click()
    page.locator("#translate-image-run").click()
    error_shown_once(page, "CycleGAN_horse2zebra.pdparams")
    assert status.inner_text().strip() == ""
    assert visible_count(page, "#translate-image-output img") == 0
    page.screenshot(path=str(tmp_path / "translate-error.png"), full_page=True)


def test_a_tab_with_no_model_that_can_run_says_so_at_the_top(page):
    page.get_by_role("tab", name="Lip sync").click()
    notice = page.locator("#lip-sync-unavailable")
    notice.wait_for(state="visible", timeout=30_000)
    text = notice.inner_text()
    assert "None of this tab's models can run here yet" in text
    assert "python -m core.weights download wav2lip.hq wav2lip.paddlegan" in text
    label = page.locator("#lip-sync-model input").input_value()
    assert label.endswith(" · unavailable offline"), label
    # It sits above the model choice.
    assert notice.bounding_box()["y"] < page.locator("#lip-sync-model").bounding_box()["y"]


def test_face_generation_opens_on_the_faces_that_install_offline(page):
    page.get_by_role("tab", name="Face generation").click()
    model = page.locator("#face-gen-model input")
    model.wait_for(state="visible", timeout=30_000)
    assert model.input_value().startswith("DCGAN faces"), model.input_value()
    assert not page.locator("#face-gen-unavailable").is_visible()