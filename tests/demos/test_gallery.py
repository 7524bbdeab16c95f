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
