"""Fixtures shared by the tab tests."""
from __future__ import annotations

import pytest

from core import face, runtime, weights


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A private cache (BlazeFace imported into it, for the face applications), weights folder and request
    folder; no loaded models before or after."""
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "requests"))
    (tmp_path / "weights").mkdir()
    weights.import_packaged(weights.spec(face.DETECTOR))
    runtime.models.clear()
    yield tmp_path
    runtime.models.clear()
