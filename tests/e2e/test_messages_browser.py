"""What a person sees in the page when a model's weights are missing (offline gallery, real browser).

Gradio renders gr.Error text as HTML: a message is checked here as the toast shows it, whole,
down to its last sentence (the command that downloads the file).
"""
from __future__ import annotations

import os

import pytest

from core import weights
from core.apps import face_gen
from core.errors import WeightsUnavailable
from tests.e2e.conftest import server_env

pytestmark = pytest.mark.browser


def message_in_the_gallery(gallery, spec_name: str) -> str:
    """What core.weights says about `spec_name` under the launched gallery's settings (its cache, offline)."""
    settings = server_env(gallery.log_path.parent)  # the environment start_server gave the gallery
    with pytest.MonkeyPatch.context() as mp:
        for variable in ("GAN_GALLERY_WEIGHTS_DIR", "GAN_GALLERY_CACHE", "GAN_GALLERY_OFFLINE", "HF_HUB_OFFLINE"):
            if variable in settings:
                mp.setenv(variable, settings[variable])
            else:
                mp.delenv(variable, raising=False)
        spec = weights.spec(spec_name)
        assert weights.locate(spec) is None, f"{spec.filename} is in the gallery's cache: nothing to report"
        with pytest.raises(WeightsUnavailable) as missing:
            weights.fetch(spec)
    return str(missing.value)


def toast_text(page, containing: str) -> str:
    toast = page.locator('[data-testid="toast-body"]').filter(has_text=containing)
    toast.first.wait_for(state="visible", timeout=60_000)
    return toast.first.locator('[data-testid="toast-text"]').inner_text()


def test_missing_face_weights_show_the_whole_message_in_the_toast(page, gallery, tmp_path):
    spec_name = face_gen.MODELS[face_gen.DEFAULT_MODEL].weights
    expected = message_in_the_gallery(gallery, spec_name)
    filename = weights.spec(spec_name).filename
    assert expected.startswith("This model's weights are not on this machine, and this machine is offline. ")
    last_sentence = f"To download it, run this where the network is reachable: python -m core.weights download {spec_name}"
    assert expected.endswith(last_sentence)

    page.get_by_role("tab", name="Face generation").click()
    page.locator("#face-gen-model input").click()  # offline the tab opens on the DCGAN faces, which run
    page.get_by_role("option").filter(has_text="FFHQ faces").first.click()
    page.locator("#face-gen-generate").click()
    shown = toast_text(page, filename)
    page.screenshot(path=str(tmp_path / "missing_weights_toast.png"), full_page=True)

    assert " ".join(expected.split()) in " ".join(shown.split())
    assert last_sentence in shown
    assert os.sep + filename in shown  # the exact path to place it at
