"""The gallery page builds every tab without loading any weights."""
import pytest

from core import runtime, weights
from core.apps import apps
from demos.gallery import build_gallery


def test_building_the_gallery_loads_no_weights(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("building the UI tried to load weights")

    monkeypatch.setattr(weights, "fetch", refuse)
    monkeypatch.setattr(weights, "load_into", refuse)
    before = set(runtime.models.loaded())
    blocks = build_gallery()
    assert set(runtime.models.loaded()) == before
    api_names = {fn.api_name for fn in blocks.fns.values() if getattr(fn, "api_name", None) and fn.api_visibility == "public"}
    assert api_names == {e for app in apps() for e in app.endpoints}


def test_a_subset_builds_only_the_named_tabs():
    blocks = build_gallery(["digits"])
    assert {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"} == {"digits_generate"}


def test_unknown_demo_name_is_refused():
    with pytest.raises(KeyError, match="unknown application"):
        build_gallery(["nope"])


# ---------------------------------------------------------------- a first visit: states, notices, failures

import gradio as gr  # noqa: E402

from core import importers  # noqa: E402
from core.apps import face_gen, restore, translate  # noqa: E402
from demos import face_gen as face_gen_tab  # noqa: E402
from demos import gallery as gallery_module  # noqa: E402
from demos import lip_sync as lip_sync_tab  # noqa: E402
from demos import restore as restore_tab  # noqa: E402
from demos import translate as translate_tab  # noqa: E402


@pytest.fixture
def no_weights_here(tmp_path, monkeypatch):
    """Offline, an empty cache and weights folder: only shipped and importable weights can run."""
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "weights").mkdir()
    return tmp_path / "weights"


def _place(folder, spec_name):
    """A file where the spec's checkpoint would be (readiness looks for the file only)."""
    (folder / weights.spec(spec_name).filename).write_bytes(b"placed by hand")


def _labels(choices):
    return {value: label for label, value in choices}


def test_every_model_choice_shows_its_state_and_keeps_its_api_value(no_weights_here):
    translate_choices = _labels(translate_tab.model_choices())
    assert list(translate_choices) == list(translate.TRANSLATIONS)  # the API's values, unchanged
    assert translate_choices["horse2zebra"] == "Horse → zebra (CycleGAN) · unavailable offline"
    if importers.source_installed(weights.spec("vintage_photo").packaged):
        assert translate_choices["vintage"].endswith(" · converted on first use, no download")
    upscalers = _labels(restore_tab.upscale_choices())
    assert list(upscalers) == [restore.NONE, *restore.UPSCALERS, *restore.VIDEO_UPSCALERS]
    assert all("(videos only" in upscalers[name] for name in restore.VIDEO_UPSCALERS)
    assert upscalers[restore.NONE] == "No upscaling"
    assert upscalers["lesrcnn_x4"].endswith(" · unavailable offline")
    colorizers = _labels(restore_tab.colorize_choices())
    assert list(colorizers) == [restore.NONE, *restore.COLORIZERS]
    assert all(colorizers[name].endswith(" · unavailable offline") for name in restore.COLORIZERS)
    faces = _labels(face_gen_tab.model_choices())
    assert list(faces) == list(face_gen.MODELS)
    assert faces["ffhq"] == "FFHQ faces (1024²) · unavailable offline"

    _place(no_weights_here, "cyclegan_horse2zebra")
    _place(no_weights_here, "stylegan2_ffhq_1024")
    assert _labels(translate_tab.model_choices())["horse2zebra"] == "Horse → zebra (CycleGAN) · ready"
    assert _labels(face_gen_tab.model_choices())["ffhq"] == "FFHQ faces (1024²) · ready"


def test_online_a_download_says_so_with_its_size_when_the_server_states_one(no_weights_here, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("GAN_GALLERY_OFFLINE")
    probe = gallery_module._DownloadProbe()
    probe._started = True  # no request leaves this test
    monkeypatch.setattr(gallery_module, "_probe", probe)
    label = _labels(translate_tab.model_choices())["horse2zebra"]
    assert label == "Horse → zebra (CycleGAN) · downloads on first use"  # no size is invented
    probe.sizes[weights.spec("cyclegan_horse2zebra").url] = 45_536_128
    assert _labels(translate_tab.model_choices())["horse2zebra"] == "Horse → zebra (CycleGAN) · downloads on first use, 46 MB"
    probe.reachable = False  # the published server could not be reached: this machine is offline
    assert _labels(translate_tab.model_choices())["horse2zebra"] == "Horse → zebra (CycleGAN) · unavailable offline"


def test_the_download_probe_reads_sizes_and_notices_an_unreachable_network(monkeypatch):
    import urllib.request

    class Answer:
        headers = {"Content-Length": "1234567"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    asked = []

    def fake_urlopen(request, timeout):
        asked.append((request.get_method(), request.full_url))
        if "down" in request.full_url:
            raise OSError("Network is unreachable")
        return Answer()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    probe = gallery_module._DownloadProbe()
    probe._run(["https://example.invalid/a.pdparams"])
    assert probe.reachable is True and probe.sizes == {"https://example.invalid/a.pdparams": 1234567}
    assert asked == [("HEAD", "https://example.invalid/a.pdparams")]
    offline = gallery_module._DownloadProbe()
    offline._run(["https://down.invalid/a.pdparams", "https://down.invalid/b.pdparams"])
    assert offline.reachable is False and len(asked) == 2  # stops at the first failure


def _load_events(blocks):
    return [fn for fn in blocks.fns.values() if any(event == "load" for _, event in fn.targets)]


def test_labels_and_notices_are_refreshed_on_every_page_load(no_weights_here):
    blocks = build_gallery()
    loads = _load_events(blocks)
    assert loads and all(fn.api_visibility == "private" and not fn.queue for fn in loads)
    assert face_gen_tab.refresh_models in [fn.fn for fn in loads] and translate_tab.refresh_models in [fn.fn for fn in loads]
    assert restore_tab.refresh_models in [fn.fn for fn in loads]
    # Lip sync has no weights that install offline: its notice shows until one is placed.
    refresh = lip_sync_tab.refresh
    assert refresh in [fn.fn for fn in loads]
    choices, notice = refresh()
    assert notice["visible"] is True and "python -m core.weights download" in notice["value"]
    _place(no_weights_here, "wav2lip_hq")  # downloaded since the server started
    choices, notice = refresh()
    assert _labels(choices["choices"])["hq"] == "Wav2Lip HQ (sharper mouths) · ready"
    assert notice["visible"] is False and notice["value"] == ""
    _place(no_weights_here, "stylegan2_animeface_512")
    assert _labels(face_gen_tab.refresh_models("ffhq")[0]["choices"])["anime"] == "Anime faces (512²) · ready"


def test_a_tab_whose_every_model_is_unavailable_says_so_with_the_command(no_weights_here):
    notice = gallery_module.unavailable_notice(lip_sync_tab.WEIGHTS)
    assert "`python -m core.weights download wav2lip.hq wav2lip.paddlegan`" in notice
    assert notice.count(". ") == 0 and notice.endswith(".")  # one plain sentence
    blocks = lip_sync_tab.build()
    panel = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "lip-sync-unavailable")
    assert panel.visible and panel.value == notice
    # Face generation has a model that installs offline (the DCGAN faces): no notice, whatever StyleGAN2 lacks.
    if importers.source_installed(weights.spec("dcgan.digiface_faces").packaged):
        assert gallery_module.unavailable_notice(face_gen_tab.WEIGHTS) == ""
    # A tab with one model that runs here says nothing.
    assert gallery_module.unavailable_notice(translate_tab.WEIGHTS) == "" or not importers.source_installed(
        weights.spec("vintage_photo").packaged)
    _place(no_weights_here, "wav2lip_hq")
    assert gallery_module.unavailable_notice(lip_sync_tab.WEIGHTS) == ""


def _example_rows(blocks):
    return [b for b in blocks.blocks.values() if isinstance(b, gr.Dataset)]


def test_examples_whose_models_run_here_come_first(no_weights_here):
    from demos.gallery import ready_first

    ranked = ready_first(translate.APP.examples, lambda e: [translate.choose(e.inputs[0]).weights])
    assert [e.inputs[0] for e in ranked][0] == "vintage"
    _place(no_weights_here, "pix2pix_facades")
    ranked = ready_first(translate.APP.examples, lambda e: [translate.choose(e.inputs[0]).weights])
    assert [e.inputs[0] for e in ranked][0] == "facades"  # ready beats converted-on-first-use
    # The tab builds its examples in that order.
    dataset = _example_rows(translate_tab.build())[0]
    assert dataset.samples[0][0] == "facades"
    dataset = _example_rows(restore_tab.build())[0]
    first_models = [m for m in dataset.samples[0][1:3] if m != restore.NONE]
    assert all(gallery_module.weights_state(m).available for m in first_models)


def test_one_application_alone_shows_its_title_once_and_its_page_load_answers():
    for app in apps():
        blocks = build_gallery([app.name])
        texts = [b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and isinstance(b.value, str)]
        assert sum(app.title in text and text.lstrip().startswith("#") for text in texts) == 1, app.name
        refresh_tables = next(fn for fn in _load_events(blocks) if fn.name == "refresh_tables")
        value = refresh_tables.fn()
        assert isinstance(value, str) and value.startswith("| model |")  # one output, one value (was a list: HTTP 500)
    everything = build_gallery()
    tables = next(fn for fn in _load_events(everything) if fn.name == "refresh_tables").fn()
    assert isinstance(tables, list) and len(tables) == len(apps())


def test_every_result_event_clears_its_outputs_on_failure_and_shows_progress_on_one_output():
    blocks = build_gallery()
    fns = list(blocks.fns.values())
    public = [fn for fn in fns if fn.api_visibility == "public"]
    assert public
    for fn in public:
        assert len(fn.show_progress_on or []) == 1 and fn.show_progress_on[0] in fn.outputs, fn.api_name
        failures = [f for f in fns if f.trigger_after == fn._id and f.trigger_only_on_failure]
        assert len(failures) == 1, fn.api_name
        cleanup = failures[0]
        assert cleanup.outputs == fn.outputs and not cleanup.queue and cleanup.api_visibility == "private"
        values = cleanup.fn()
        values = values if isinstance(values, list) else [values]
        for component, value in zip(cleanup.outputs, values):
            assert value == ("" if isinstance(component, gr.Markdown) else None), (fn.api_name, component)
