"""A real browser (Debian chromium driven by Playwright) on the launched gallery."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_digits_tab_generates_an_image(page, tmp_path):
    page.get_by_role("tab", name="Digits").click()
    page.locator("#digits-generate").click()
    image = page.locator("#digits-output img")
    image.wait_for(state="visible", timeout=60_000)
    natural_width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert natural_width > 100
    assert "Done in" in page.locator("#digits-status").inner_text(timeout=10_000)
    page.screenshot(path=str(tmp_path / "digits.png"), full_page=True)


def test_every_registered_tab_is_shown(page):
    from core.apps import apps

    for app in apps():
        tab = page.get_by_role("tab", name=app.title)
        tab.first.wait_for(timeout=30_000)  # a loaded machine renders the tab bar late
        assert tab.count() == 1, app.title


def test_gan_basics_samples_and_a_live_run_updates_its_plot(page, tmp_path):
    page.get_by_role("tab", name="GAN basics").click()
    page.locator("#gan-sample").click()
    page.locator("#gan-grid img").wait_for(state="visible", timeout=60_000)

    page.get_by_role("tab", name="Train live").click()
    steps = page.locator("#live-steps input[type=number]")
    steps.fill("30")
    steps.press("Enter")
    page.locator("#live-start").click()
    status = page.locator("#live-status")
    seen = set()
    # The timer refreshes every second; collect distinct progress lines. Allow up to 5 minutes: on a
    # quiet 2-core machine the 30 steps take seconds, on a loaded one (other Paddle processes) minutes.
    for _ in range(600):
        text = status.inner_text()
        if text.startswith("Step"):
            seen.add(text.split(" (")[0])
        if "Finished" in text:
            break
        page.wait_for_timeout(500)
    assert len(seen) >= 2, f"the live status updated only as {seen}"
    assert "Finished 30 steps" in status.inner_text()
    legend = page.locator("#live-plot").inner_text()
    assert "generator" in legend and "critic / discriminator" in legend, legend
    grid = page.locator("#live-grid img")
    grid.wait_for(state="visible", timeout=10_000)
    assert grid.evaluate("img => img.complete ? img.naturalWidth : 0") >= 600  # enlarged, sharp pixels
    page.screenshot(path=str(tmp_path / "gan_basics_live.png"), full_page=True)


def test_gan_basics_paints_eyes_in_every_colour(page, tmp_path):
    """The painted-eyes generator, imported offline when the gallery starts, from the page."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("omniart-eye-generator")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the omniart-eye-generator wheel is not installed")
    page.get_by_role("tab", name="GAN basics").click()
    page.get_by_role("tab", name="Eyes by colour").click()
    page.locator("#eyes-generate").click()
    page.wait_for_function("() => document.querySelectorAll('#eyes-gallery img').length >= 8", timeout=90_000)
    assert "Done in" in page.locator("#eyes-status").inner_text(timeout=10_000)
    page.screenshot(path=str(tmp_path / "eyes.png"), full_page=True)


def test_gan_basics_draws_pggans_stages_and_renders_its_growth(page, tmp_path):
    """The shipped PGGAN from the page: a sharp grid of four stages, then the growth as a playable H.264 video."""
    page.get_by_role("tab", name="GAN basics").click()
    page.get_by_role("tab", name="Progressive growing").click()
    page.locator("#pggan-stages").click()
    image = page.locator("#pggan-stages-image img")
    image.wait_for(state="visible", timeout=90_000)
    # four rows (4x4 to 32x32), each digit a 96 px tile: at least 4 x 96 px high
    assert image.evaluate("img => img.complete ? img.naturalHeight : 0") >= 4 * 96
    assert "Done in" in page.locator("#pggan-stages-status").inner_text(timeout=10_000)
    page.locator("#pggan-growth").click()
    video = page.locator("#pggan-growth-video video")
    video.wait_for(state="attached", timeout=180_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#pggan-growth-video video'); return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=60_000)
    assert "Done in" in page.locator("#pggan-growth-status").inner_text(timeout=10_000)
    page.screenshot(path=str(tmp_path / "pggan.png"), full_page=True)


def test_attribute_editing_edits_with_the_trained_digit_editors_and_names_the_others(page, tmp_path):
    from core import weights
    from core.apps.attribute_editing import DIGIT_MODELS

    page.get_by_role("tab", name="Attribute editing").click()
    page.locator("#attributes-digits-tab-button").click()  # "Digits" alone is also the first tab's name
    titles = {key: choice.label.split(" (")[0] for key, choice in DIGIT_MODELS.items()}  # "StarGAN (digits)" -> StarGAN
    untrained = [key for key, choice in DIGIT_MODELS.items() if weights.locate(weights.spec(choice.weights)) is None]
    trained = [key for key in titles if key not in untrained]
    if trained:  # ticked as the page comes: "Edit the digit" edits with them at once
        page.locator("#attributes-digit-run").click()
        gallery = page.locator("#attributes-digit-output img")
        gallery.nth(len(trained)).wait_for(state="visible", timeout=120_000)  # the source and each editor's edit
        assert gallery.count() == 1 + len(trained)
        assert "Done in" in page.locator("#attributes-digit-status").inner_text(timeout=10_000)
        table = page.locator("#attributes-digit-table")
        table.get_by_text(titles[trained[-1]], exact=True).first.wait_for(timeout=30_000)  # a row per edit
        assert all(name in table.inner_text() for name in ("source", "thickness (px)", *(titles[k] for k in trained)))
    if not untrained:
        page.screenshot(path=str(tmp_path / "attribute_editing.png"), full_page=True)
        return
    note = page.locator("#attributes-untrained")
    note.wait_for(state="visible", timeout=30_000)
    assert "not trained yet" in note.inner_text().lower() and "python -m core.train" in note.inner_text()
    assert all(titles[key] in note.inner_text() for key in untrained)
    if trained:  # tick an untrained one as well
        page.locator("#attributes-digit-models label").filter(has_text=titles[untrained[0]]).first.click()
    page.locator("#attributes-digit-run").click()
    toast = page.locator('[data-testid="toast-body"]').filter(has_text="not trained yet")
    toast.first.wait_for(state="visible", timeout=60_000)  # refused at once, naming the training command
    assert f"python -m core.train {untrained[0]}" in toast.first.inner_text()
    page.screenshot(path=str(tmp_path / "attribute_editing.png"), full_page=True)


# The mean (red, green, blue) of a loaded <img>, read back through a canvas (the file is the page's own origin).
MEAN_COLOUR = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const sums = [0, 0, 0];
    for (let i = 0; i < pixels.length; i += 4) { sums[0] += pixels[i]; sums[1] += pixels[i + 1]; sums[2] += pixels[i + 2]; }
    return sums.map(total => total / (pixels.length / 4));
}"""


def test_paint_a_scene_paints_the_canvas_with_the_shipped_model(page, tmp_path):
    page.get_by_role("tab", name="Paint a scene").click()
    legend = page.locator("#scene-painting-legend")
    legend.wait_for(state="visible", timeout=30_000)
    assert "sky" in legend.inner_text() and "digit" in legend.inner_text()
    page.locator("#scene-painting-run").click()  # the canvas starts all sky: a map of one class is a map
    picture = page.locator("#scene-painting-output img")
    picture.wait_for(state="visible", timeout=120_000)
    assert picture.evaluate("img => img.complete ? img.naturalWidth : 0") == 64
    red, green, blue = picture.evaluate(MEAN_COLOUR)
    assert blue > red + 40 and blue > green + 20, (red, green, blue)  # painted all sky: the picture is sky blue
    status = page.locator("#scene-painting-status").inner_text(timeout=10_000)
    assert "Done in" in status and "classes painted: sky" in status, status
    page.screenshot(path=str(tmp_path / "scene_painting.png"), full_page=True)
