"""Image translation: the application (core.apps.translate) and its tab (demos.translate).

Checkpoints are written by the tests in the published layout (file name and
top-level key of each weight spec). Behaviour tests use tiny variants of the
networks through the spec's ``net_overrides``; one request runs the real
AnimeGANv2 configuration, and the fast path is compared with dygraph.
"""
from __future__ import annotations

import dataclasses
import subprocess
import time
import tracemalloc
from fractions import Fraction

import gradio as gr
import numpy as np
import paddle
import pytest
from PIL import Image

from core import face, models, runtime, weights
from core.apps import translate
from core.registry import WEIGHTS
from core.errors import InputError, LimitExceeded, NoFaceFound, WeightsUnavailable
from tests.clips import make_clip
from tests import aio
from core.media import ffmpeg_exe, iter_video_frames, probe_video, write_png
from demos import translate as translate_tab

TINY = {  # by the architecture of each choice's network
    "cyclegan_resnet9": dict(ngf=8, n_blocks=1),
    "pix2pix_unet256": dict(ngf=4),
    "animeganv2": dict(ngf=4),
    "ugatit_light": dict(ngf=4, n_blocks=1),
    "ugatit_p2c": dict(ngf=4),
}


def write_checkpoint(directory, spec_name, net):
    """Add `net` to the spec's file under the spec's key (several specs can share one file)."""
    spec = weights.spec(spec_name)
    path = directory / spec.filename
    saved = paddle.load(str(path)) if path.exists() else {}
    if spec.key:
        saved[spec.key] = net.state_dict()
    else:
        saved = net.state_dict()
    paddle.save(saved, str(path))
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty weights folder and cache, dygraph engine, no loaded models; undone afterwards."""
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "requests"))
    monkeypatch.setenv("GAN_GALLERY_ENGINE", "dygraph")
    (tmp_path / "weights").mkdir()
    runtime.models.clear()
    yield tmp_path / "weights"
    runtime.models.clear()


@pytest.fixture
def tiny_models(isolated, registered):
    """Every model's checkpoint is a tiny variant (registered for this test) whose file the test wrote."""
    for seed, translation in enumerate(translate.TRANSLATIONS.values()):
        spec = weights.spec(translation.weights)
        tiny = registered(WEIGHTS, spec.name, dataclasses.replace(spec, net_overrides=TINY[architecture(translation)]), spec.aliases)
        paddle.seed(seed)
        write_checkpoint(isolated, spec.name, weights.build_network(tiny))
    return isolated


def architecture(translation) -> str:
    return weights.network_of(weights.spec(translation.weights)).architecture


def photo(height, width, seed=0):
    """A smooth colourful picture (gradients plus a disc), uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    disc = ((y - 0.5) ** 2 + (x - 0.5) ** 2 < 0.1).astype(float)
    image = np.stack([x, y, 0.5 * disc + 0.25 * np.sin(7 * x + seed)], axis=-1)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def test_the_tab_offers_every_model_of_the_issue():
    assert set(translate.TRANSLATIONS) == {"vintage", "horse2zebra", "zebra2horse", "facades", "anime_hayao", "selfie2anime", "photo2cartoon"}
    assert translate.APP.endpoints == ("translate_image", "translate_video", "translate_batch", "translate_portrait")
    assert translate.choose("Horse → zebra (CycleGAN)").key == "horse2zebra"
    with pytest.raises(InputError, match="choose one of: vintage, horse2zebra"):
        translate.choose("monet")


DOWNLOADED = [k for k, t in translate.TRANSLATIONS.items() if not weights.spec(t.weights).packaged]


@pytest.mark.parametrize("model", DOWNLOADED)
def test_missing_weights_are_reported_at_once_with_file_and_place(isolated, model):
    spec = weights.spec(translate.choose(model).weights)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as error:
        translate.translate_image(model, photo(40, 40))
    assert time.perf_counter() - start < 2.0
    message = str(error.value)
    assert spec.filename in message and str(isolated) in message and "Place the file" in message
    assert not runtime.models.loaded()


def test_the_tab_builds_without_weights_and_turns_the_refusal_into_a_gradio_error(isolated, tmp_path):
    blocks = translate_tab.build()
    public = {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"}
    assert public == set(translate.APP.endpoints)
    source = write_png(photo(40, 48), tmp_path / "in.png")
    start = time.perf_counter()
    with pytest.raises(gr.Error, match="CycleGAN_horse2zebra.pdparams"):
        aio.run(translate_tab.translate_image("horse2zebra", str(source)))
    assert time.perf_counter() - start < 2.0
    assert "not downloaded" in translate_tab.describe("facades")


def test_a_full_request_with_the_real_animegan_configuration(isolated, tmp_path):
    paddle.seed(1)
    write_checkpoint(isolated, "animeganv2_hayao", models.create("animeganv2_hayao"))
    source = write_png(photo(50, 70), tmp_path / "in.png")
    image_path, file_path, status = aio.run(translate_tab.translate_image("anime_hayao", str(source)))
    with Image.open(image_path) as result:
        assert result.format == "PNG" and result.size == (70, 50) and result.mode == "RGB"
        pixels = np.asarray(result)
    assert file_path == image_path and status.startswith("Done in") and "(70x50)" in status and "loaded the model" in status
    assert pixels.std() > 1  # a picture, not a flat colour
    # AnimeGAN's post-processing keeps the photo's mean brightness (up to clipping and truncation).
    luma = np.array([0.299, 0.587, 0.114])
    assert abs(pixels.reshape(-1, 3).mean(0) @ luma - photo(50, 70).reshape(-1, 3).mean(0) @ luma) < 12
    assert "ready" in translate_tab.describe("anime_hayao")


@pytest.mark.slow
def test_vintage_works_offline_with_the_imported_weights(isolated, tmp_path):
    """A fresh cache, no network: the first request imports vintagify's generator and translates a real photo."""
    assert "not imported yet" in translate_tab.describe("vintage")
    image_path, _, status = aio.run(translate_tab.translate_image("vintage", "assets/examples/chelsea.jpg"))
    source = np.asarray(Image.open("assets/examples/chelsea.jpg").convert("RGB"), dtype=np.float32)
    with Image.open(image_path) as result:
        pixels = np.asarray(result.convert("RGB"), dtype=np.float32)
    assert pixels.shape == source.shape and "loaded the model" in status
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # The same scene (structure kept) with a different look (colours changed).
    assert np.corrcoef((pixels @ luma).ravel(), (source @ luma).ravel())[0, 1] > 0.8
    assert np.abs(pixels - source).mean() > 10
    assert "ready" in translate_tab.describe("vintage")


def test_each_cyclegan_direction_reads_its_own_key_of_the_shared_file(tiny_models):
    image = photo(36, 44)
    forward, backward = translate.translate_image("horse2zebra", image), translate.translate_image("zebra2horse", image)
    assert not np.array_equal(forward, backward)
    assert sorted(paddle.load(str(tiny_models / "CycleGAN_horse2zebra.pdparams"))) == ["netG_A", "netG_B"]


@pytest.mark.parametrize("model", [k for k, t in translate.TRANSLATIONS.items() if not t.portrait])
@pytest.mark.parametrize("size", [(37, 53), (64, 33)])
def test_odd_sizes_come_back_at_the_input_size(tiny_models, model, size):
    result = translate.translate_image(model, photo(*size))
    assert result.shape == (*size, 3) and result.dtype == np.uint8


def test_limits_are_enforced_with_the_limit_in_the_message(tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (1100, 1000)).save(big)
    with pytest.raises(LimitExceeded, match="limit is 1.0 megapixels"):
        translate.translate_image("horse2zebra", str(big))
    with pytest.raises(InputError, match="at least 32 pixels"):
        translate.translate_image("horse2zebra", photo(20, 64))
    with pytest.raises(InputError, match="Upload an image"):
        translate.translate_image("horse2zebra", None)


def test_framing_follows_paddlegan():
    anime = translate.choose("anime_hayao").framing
    # ResizeToScale((256, 256), 32): short sides grow to 256, long ones drop to a multiple of 32.
    assert [anime.network_side(s) for s in (40, 256, 257, 300, 1000)] == [256, 256, 256, 288, 992]
    assert anime.to_network(photo(300, 100)).shape == (288, 256, 3)
    cyclegan = translate.choose("horse2zebra").framing
    padded = cyclegan.to_network(photo(37, 53))
    assert padded.shape == (40, 56, 3) and np.array_equal(padded[:37, :53], photo(37, 53))
    for key in ("facades", "selfie2anime", "photo2cartoon"):
        assert translate.choose(key).framing.to_network(photo(50, 90)).shape == (256, 256, 3)


@pytest.mark.parametrize("model", ["horse2zebra", "facades"])
def test_normalisation_round_trips(model):
    """With a network that returns its input, the result is the input (within resampling and truncation)."""
    image = photo(64, 64)
    result = translate.translate_array(translate.choose(model), lambda x: [x], image)
    error = np.abs(result.astype(int) - image)
    if model == "horse2zebra":  # padded and cropped: only truncation can differ
        assert error.max() <= 1
    else:  # resized to 256 x 256 and back: sharp edges blur a little
        assert error.mean() < 2


def test_brightness_matching_scales_to_the_source_luma():
    source = np.full((4, 4, 3), 120, np.float32)
    result = np.full((4, 4, 3), 60, np.float32)
    assert np.allclose(translate.match_brightness(result, source), 120)


@pytest.mark.parametrize("model", ["horse2zebra", "anime_hayao", "facades", "selfie2anime", "photo2cartoon"])
def test_fast_path_is_used_and_matches_dygraph(model, monkeypatch, tmp_path):
    """Every translation network has a verified fast path (pix2pix's batch statistics spelled out, photo2cartoon's
    upsampling without interp ops; U-GAT-IT's and photo2cartoon's float32 layer norms judged against float64)."""
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    translation = translate.choose(model)
    paddle.seed(5)
    net = models.create(translation.network, **TINY[architecture(translation)])
    export = translate.export_of(translation)
    run = models.prepare_runner(net, export)
    assert run.kind in ("onednn", "gpu")
    side = translation.framing.fixed_side
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, side or 36, side or 44)).astype(np.float32)
    expected = runtime.DygraphRunner(export.wrap(net) if export.wrap else net)(x)[0]
    assert np.abs(run(x)[0] - expected).max() < 1e-3 * np.abs(expected).max()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """2 s, 10 fps, 48 x 40, with a tone."""
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 48, 40, 10, 2)


def test_video_is_translated_frame_by_frame_with_sound_and_progress(tiny_models, clip, tmp_path):
    reports = []
    result = translate.translate_video("horse2zebra", clip, tmp_path / "out.mp4", progress=lambda d, t: reports.append((d, t)))
    source, out = probe_video(clip), probe_video(result.path)
    assert result.frames == 20 and (out.width, out.height) == (48, 40)
    assert out.fps == Fraction(10) and out.has_audio and abs(out.duration_s - source.duration_s) < 0.15
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == 20 and len(done) >= 5


def test_video_frames_go_through_the_picture_path(isolated, clip, tmp_path, monkeypatch):
    monkeypatch.setattr(translate, "runner", lambda translation: lambda x: [-x])  # a "network" that inverts colours
    result = translate.translate_video("facades", clip, tmp_path / "out.mp4")
    first_in = next(iter(iter_video_frames(clip))).astype(int)
    first_out = next(iter(iter_video_frames(result.path))).astype(int)
    assert np.abs((255 - first_in) - first_out).mean() < 12  # H.264 is lossy; inversion is not subtle


def test_video_memory_does_not_grow_with_length(tiny_models, tmp_path):
    def peak_bytes(seconds):
        source = tmp_path / f"{seconds}.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={seconds}",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(source)], check=True)
        tracemalloc.start()
        try:
            translate.translate_video("horse2zebra", source, tmp_path / f"out{seconds}.mp4")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    translate.translate_image("horse2zebra", photo(48, 64))  # load the model outside the measurement
    short, long = peak_bytes(1), peak_bytes(6)
    assert long < short * 1.5 + 200_000, (short, long)


def test_video_limits_are_checked_before_any_frame(tiny_models, tmp_path):
    long_clip = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=12",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(long_clip)], check=True)
    with pytest.raises(LimitExceeded, match="limit is 10 seconds"):
        translate.translate_video("horse2zebra", long_clip, tmp_path / "no.mp4")
    assert not (tmp_path / "no.mp4").exists()


def test_video_tab_returns_the_mp4_and_the_rate(tiny_models, clip):
    video_path, file_path, status = aio.run(translate_tab.translate_video("horse2zebra", str(clip), progress=lambda *a, **k: None))
    assert video_path == file_path and video_path.endswith(".mp4") and probe_video(video_path).n_frames == 20
    assert status.startswith("Done in") and "20 frames" in status


def test_facade_example_is_the_drawn_label_map():
    with Image.open(translate.REPO_ROOT / translate.FACADE_EXAMPLE) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), translate.draw_facade_labels())
    colours = {tuple(c) for c in translate.draw_facade_labels().reshape(-1, 3)}
    assert colours <= set(translate.FACADE_COLOURS.values()) and len(colours) == len(translate.FACADE_CLASSES)


# ---------------------------------------------------------------- several pictures at once


def test_several_pictures_come_back_as_a_gallery_and_one_zip(tiny_models, tmp_path):
    import zipfile

    sources = [str(write_png(photo(40 + 4 * i, 48, seed=i), tmp_path / f"in{i}.png")) for i in range(3)]
    big = tmp_path / "big.png"
    Image.new("RGB", (1100, 1000)).save(big)  # over the one-picture limit: refused alone, the others go on
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    reports = []
    gallery, zip_path, status = aio.run(translate_tab.translate_batch(
        "horse2zebra", [sources[0], str(big), sources[1], str(notes), sources[2]],
        progress=lambda value, desc=None, **kwargs: reports.append((value, desc)),
    ))
    assert [caption for _, caption in gallery] == ["in0.png", "in1.png", "in2.png"]
    for (path, _), i in zip(gallery, range(3)):
        with Image.open(path) as result:
            assert result.format == "PNG" and result.size == (48, 40 + 4 * i)
    with zipfile.ZipFile(zip_path) as bundle:
        assert bundle.namelist() == ["01-in0.png", "02-in1.png", "03-in2.png"]
        assert bundle.read("02-in1.png") == open(gallery[1][0], "rb").read()
    assert "3 of 5 pictures" in status and "big.png" in status and "limit is 1.0 megapixels" in status
    assert "notes.png" in status
    descriptions = [desc for _, desc in reports]
    assert descriptions[0].startswith("Picture 1 of 5") and any(d.startswith("Picture 5 of 5") for d in descriptions)
    values = [value for value, _ in reports]
    assert values == sorted(values) and values[-1] <= 1


def test_several_pictures_keep_the_per_request_limits(isolated, tmp_path):
    source = str(write_png(photo(40, 48), tmp_path / "in.png"))
    with pytest.raises(gr.Error, match="At most 8 pictures go in one request; got 9"):
        aio.run(translate_tab.translate_batch("vintage", [source] * 9))
    with pytest.raises(gr.Error, match="Upload 1 to 8 pictures first"):
        aio.run(translate_tab.translate_batch("vintage", None))
    with pytest.raises(gr.Error, match="Unknown model 'monet'"):
        aio.run(translate_tab.translate_batch("monet", [source]))
    start = time.perf_counter()
    with pytest.raises(gr.Error, match="CycleGAN_horse2zebra.pdparams"):  # offline and missing: refused at once
        aio.run(translate_tab.translate_batch("horse2zebra", [source, source]))
    assert time.perf_counter() - start < 2.0


def test_pictures_that_all_fail_are_named_and_a_batch_shares_one_budget(tiny_models, tmp_path, monkeypatch):
    from core.serving import BudgetExceeded
    from demos import gallery, heavy

    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    with pytest.raises(gr.Error, match="None of the 2 pictures could be used. The file notes.png isn't a readable image"):
        aio.run(translate_tab.translate_batch("horse2zebra", [str(notes), str(notes)]))

    budgets = []

    async def over_budget(app, target, *args, **kwargs):
        budgets.append(app.budget_s())
        if len(budgets) == 2:
            raise BudgetExceeded("past its budget")
        return await original(app, target, *args, **kwargs)

    original = heavy.run_heavy
    monkeypatch.setattr(heavy, "run_heavy", over_budget)
    source = str(write_png(photo(40, 48), tmp_path / "in.png"))
    with pytest.raises(gr.Error, match="ran past this tab's time budget of 600 seconds at picture 2"):
        aio.run(translate_tab.translate_batch("horse2zebra", [source, source, source]))
    assert budgets[0] <= translate.APP.budget_s() and budgets[1] <= budgets[0]  # what is left, not a new budget each
    assert gallery.MAX_BATCH_PICTURES == 8


# ---------------------------------------------------------------- portraits (faces found by BlazeFace)


@pytest.fixture
def portraits(tiny_models):
    """The tiny translation models, BlazeFace imported into the test's cache, and random FCN-HRNet face
    segmentation weights (full size: it has no narrower variant) under their published name."""
    try:
        weights.import_packaged(weights.spec(face.DETECTOR))
    except WeightsUnavailable as error:
        pytest.skip(str(error))
    paddle.seed(3)
    spec = weights.spec("fcn_hrnet_w18.faceseg")
    paddle.save(weights.build_network(spec).state_dict(), str(tiny_models / spec.filename))
    return tiny_models


def astronaut_file(folder) -> str:
    from skimage import data

    path = folder / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return str(path)


def disc_mask(crop) -> np.ndarray:
    """A face mask for tests: a disc in the middle of the crop (random segmentation weights give no shape)."""
    y, x = np.mgrid[0:256, 0:256]
    return ((x - 128) ** 2 + (y - 128) ** 2 < 90 ** 2).astype(np.float32)


def test_the_face_mask_comes_from_the_segmentation_network(portraits):
    from skimage import data

    crop = np.asarray(Image.fromarray(data.astronaut()[40:296, 100:356]))
    mask = translate._face_mask(translate.choose("photo2cartoon"), crop)
    assert mask.shape == (256, 256) and set(np.unique(mask)) <= {0.0, 1.0}
    assert translate._face_mask(translate.choose("selfie2anime"), crop) is None


@pytest.mark.parametrize("model", ["selfie2anime", "photo2cartoon"])
def test_portrait_models_stylise_each_face_and_paste_it_back(portraits, model, monkeypatch):
    from skimage import data

    monkeypatch.setattr(translate, "_face_mask", lambda translation, crop: disc_mask(crop) if translation.mask_weights else None)
    source = data.astronaut()
    result = translate.translate_portraits(model, astronaut_file(portraits))
    assert result.image.shape == source.shape and len(result.crops) == 1 and result.crops[0].shape == (256, 256, 3)
    changed = np.abs(result.image.astype(int) - source).sum(axis=2) > 0
    assert changed[90:170, 180:270].mean() > 0.9  # the face is the network's
    assert not changed[400:, :150].any() and not changed[:40, 400:].any()  # far from it, the photo is untouched
    assert np.array_equal(translate.translate_image(model, astronaut_file(portraits)), result.image)
    if model == "photo2cartoon":  # outside the face's mask the crop is white, and the photo is kept
        assert (result.crops[0][disc_mask(None) == 0] == 255).all()


def test_a_portrait_model_on_a_picture_without_a_face_says_so(portraits):
    with pytest.raises(NoFaceFound, match="No face was found"):
        translate.translate_image("selfie2anime", photo(64, 64))


def test_the_faces_tab_returns_the_picture_each_face_and_a_zip(portraits, monkeypatch):
    import zipfile

    gallery, zip_path, status = aio.run(translate_tab.translate_portrait("photo2cartoon", astronaut_file(portraits)))
    assert [caption for _, caption in gallery] == ["the picture", "face 1"] and "(1 face)" in status
    assert sorted(zipfile.ZipFile(zip_path).namelist()) == ["photo2cartoon-face1.png", "photo2cartoon.png"]
    with pytest.raises(gr.Error, match="runs on whole pictures; for faces choose selfie2anime or photo2cartoon"):
        aio.run(translate_tab.translate_portrait("horse2zebra", astronaut_file(portraits)))


# ---------------------------------------------------------------- precision


def test_bf16_on_a_cpu_without_it_is_refused_by_name_before_any_work(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2"})
    source = str(write_png(photo(40, 48), tmp_path / "in.png"))
    with pytest.raises(gr.Error, match=r"bf16 needs a CPU with AVX512-BF16 or AMX-BF16.*choose Exact \(fp32\)"):
        aio.run(translate_tab.translate_image("horse2zebra", source, "bf16"))
    assert not list((tmp_path / "requests").glob("*/*.png"))  # refused before the job: nothing written


@pytest.mark.skipif(not runtime.bf16_supported(), reason="this CPU has no bf16 instructions")
@pytest.mark.parametrize("handler", ["translate_image", "translate_batch"])
def test_bf16_on_this_cpu_translates_within_its_floor_and_says_so(tiny_models, tmp_path, monkeypatch, handler):
    monkeypatch.delenv("GAN_GALLERY_ENGINE")  # the fast path, in both precisions
    source = str(write_png(photo(64, 80), tmp_path / "in.png"))
    results = {}
    for precision in ("fp32", "bf16"):
        if handler == "translate_image":
            path, _, status = aio.run(translate_tab.translate_image("horse2zebra", source, precision))
        else:
            gallery, _, status = aio.run(translate_tab.translate_batch("horse2zebra", [source], precision,
                                                                       progress=lambda *a, **k: None))
            path = gallery[0][0]
        results[precision] = (np.asarray(Image.open(path)).astype(np.float64), status)
    (exact, exact_status), (fast, fast_status) = results["fp32"], results["bf16"]
    assert "bf16" not in exact_status and "in bf16" in fast_status
    assert fast.shape == exact.shape == (64, 80, 3) and not np.array_equal(fast, exact)
    assert 10 * np.log10(255 ** 2 / np.mean((fast - exact) ** 2)) >= 40  # on the 8-bit picture as well
