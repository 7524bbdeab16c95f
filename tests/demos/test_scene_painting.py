"""Paint a scene: the application (core.apps.scene_painting) and its tab (demos.scene_painting).

The three SPADE choices run as narrow variants (the real layouts, sizes and flavours with fewer channels)
registered under the real checkpoint names for the module, their checkpoints written in
GAN_GALLERY_WEIGHTS_DIR as each is stored (ours under 'netG', PhotoPen under 'net_gen', Cityscapes' converted
file flat), so the tab's own choices load them through the real loader.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time

import gradio as gr
import numpy as np
import paddle
import pytest
from PIL import Image

from core import runtime, weights
from core.apps import scene_painting as sp
from core.errors import InputError, WeightsUnavailable
from core.nets.spade import settle_spectral_norms
from core.registry import WEIGHTS
from demos import scene_painting as tab
from tests import aio

TINY = {"digit_scenes": dict(ngf=2, nhidden=4), "cityscapes": dict(ngf=1, nhidden=4), "photopen": dict(ngf=1, nhidden=4)}
SKY, GROUND, DIGIT = (np.array(c, np.uint8) for c in sp.MODELS["digit_scenes"].colours)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as mp:
        for seed, (key, overrides) in enumerate(TINY.items()):
            real = weights.spec(sp.MODELS[key].weights)
            tiny = stack.enter_context(WEIGHTS.scoped(
                real.name, dataclasses.replace(real, net_overrides={**real.net_overrides, **overrides}), real.aliases))
            paddle.seed(seed)
            net = weights.build_network(tiny)
            settle_spectral_norms(net)  # PhotoPen's eval sigma reads the stored vectors
            state = net.state_dict()
            paddle.save({tiny.key: state} if tiny.key else state, str(folder / tiny.filename))
        mp.setenv("GAN_GALLERY_WEIGHTS_DIR", str(folder))
        mp.setenv("GAN_GALLERY_CACHE", str(folder / "cache"))
        mp.setenv("GAN_GALLERY_WORKDIR", str(folder / "requests"))
        runtime.models.clear()
        yield folder
    runtime.models.clear()


def png(path, picture) -> str:
    Image.fromarray(np.asarray(picture, np.uint8)).save(path)
    return str(path)


def scene_map(horizon: int, digit_at: int, side: int = 32, colours=(SKY, GROUND, DIGIT)) -> np.ndarray:
    """Sky above `horizon`, ground below, an 8x8 digit square at column `digit_at` (or three other colours)."""
    top, bottom, square = colours
    picture = np.empty((side, side, 3), np.uint8)
    picture[:horizon], picture[horizon:] = top, bottom
    picture[4:12, digit_at:digit_at + 8] = square
    return picture


# ---------------------------------------------------------------- the painted map


def test_antialiased_edges_snap_to_the_nearer_class_and_the_map_is_resized_nearest():
    choice = sp.MODELS["digit_scenes"]
    painted = np.empty((32, 32, 3), np.float64)
    painted[:, :16], painted[:, 16:] = SKY, DIGIT
    painted[:, 15] = 0.75 * SKY + 0.25 * DIGIT  # a brush's soft edge: blends of the two colours
    painted[:, 16] = 0.3 * SKY + 0.7 * DIGIT
    painted[::5, 3] = SKY.astype(float) - 6  # a little noise (a lossy save)
    indices, unpainted = sp.snap_to_palette(np.round(painted).astype(np.uint8), choice.colours)
    assert unpainted == 0
    expected = np.where(np.arange(32) < 16, 0, 2)[None].repeat(32, 0)
    np.testing.assert_array_equal(indices, expected)
    ids = sp.painted_ids(np.round(painted).astype(np.uint8), choice)
    assert ids.shape == (64, 64) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, expected.repeat(2, 0).repeat(2, 1))  # nearest: no new class at the edge


def test_cityscapes_colours_paint_their_label_ids_and_shared_colours_the_first_id():
    choice = sp.MODELS["cityscapes"]
    road, sky, black, pole = (128, 64, 128), (70, 130, 180), (0, 0, 0), (153, 153, 153)
    painted = np.array([[road, sky], [black, pole]], np.uint8)
    ids = sp.painted_ids(painted, choice)
    assert ids.shape == (512, 1024)
    assert [ids[0, 0], ids[0, -1], ids[-1, 0], ids[-1, -1]] == [7, 23, 0, 17]  # road, sky, unlabeled, pole
    assert len(set(choice.colours)) == len(choice.colours) == 29 and choice.label_nc == 36  # 34 ids, 5 share black, 2 grey


def test_a_map_in_other_colours_is_refused_naming_the_pixels_and_the_colours():
    picture = scene_map(20, 10)
    picture[:2] = (0, 0, 0)  # 64 black pixels of 1024: 6.2 %
    with pytest.raises(InputError) as error:
        sp.painted_ids(picture, sp.MODELS["digit_scenes"])
    message = str(error.value)
    assert "64 of the label map's 1024 pixels (6.2 %)" in message and "at most 1 %" in message
    assert "sky #5A96FF, ground #287828, digit #FF8C00" in message
    picture[:2] = SKY
    picture[0, :5] = (0, 0, 0)  # a few stray pixels are snapped, not refused
    assert sp.painted_ids(picture, sp.MODELS["digit_scenes"]).shape == (64, 64)


# ---------------------------------------------------------------- the pictures


@pytest.mark.parametrize("key, size", [("digit_scenes", (64, 64)), ("photopen", (256, 256)), ("cityscapes", (512, 1024))])
def test_each_model_draws_a_picture_of_its_size(tiny_models, tmp_path, key, size):
    colours = sp.MODELS[key].colours[-3:]  # the digit model's three; the last three classes of the others
    result = sp.paint_scene_file(key, png(tmp_path / "map.png", scene_map(20, 4, colours=colours)), tmp_path)
    picture = np.asarray(Image.open(result.path))
    assert picture.shape == (*size, 3) and picture.dtype == np.uint8 and picture.std() > 0
    assert (result.height, result.width) == size and result.loaded_model
    read_back = np.asarray(Image.open(result.map_path))
    assert read_back.shape == (*size, 3)
    assert result.classes_used == sp.MODELS[key].names[-3:]
    assert {tuple(c) for c in read_back.reshape(-1, 3)} == set(colours)


def test_two_different_maps_give_different_pictures_and_one_map_the_same(tiny_models, tmp_path):
    a = sp.paint_scene("digit_scenes", png(tmp_path / "a.png", scene_map(20, 4))).image
    b = sp.paint_scene("digit_scenes", png(tmp_path / "b.png", scene_map(12, 20))).image
    again = sp.paint_scene("digit_scenes", png(tmp_path / "a.png", scene_map(20, 4))).image
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5
    np.testing.assert_array_equal(a, again)  # no noise: nothing for a seed to change


def test_the_example_is_a_digit_scene_map_in_the_models_colours():
    from core.paths import REPO_ROOT

    example = np.asarray(Image.open(REPO_ROOT / sp.EXAMPLE_MAP).convert("RGB"))
    np.testing.assert_array_equal(example, sp.draw_example_map())
    assert {tuple(c) for c in example.reshape(-1, 3)} == {tuple(SKY), tuple(GROUND), tuple(DIGIT)}


# ---------------------------------------------------------------- the tab


def test_the_tab_paints_from_the_canvas_or_the_upload(tiny_models, tmp_path):
    canvas = png(tmp_path / "canvas.png", scene_map(20, 4))
    upload = png(tmp_path / "upload.png", scene_map(12, 20))
    from_canvas = aio.run(tab.paint_scene(canvas, None, "digit_scenes"))
    from_upload = aio.run(tab.paint_scene(canvas, upload, "digit_scenes"))
    assert "64x64; classes painted: sky, ground, digit" in from_canvas[2]
    assert not np.array_equal(np.asarray(Image.open(from_canvas[0])), np.asarray(Image.open(from_upload[0])))
    update, legend = tab.switch_model("cityscapes")
    assert update["brush"].colors[:2] == ["#000000", "#6F4A00"] and update["value"]["background"].shape == (256, 512, 3)
    assert "road" in legend and "1024 x 512" in legend


def test_refusals_are_clear_and_come_before_any_work(tiny_models, tmp_path, monkeypatch):
    with pytest.raises(gr.Error, match="Paint a label map on the canvas or upload one first"):
        aio.run(tab.paint_scene(None, None, "digit_scenes"))
    with pytest.raises(gr.Error, match="Unknown model 'gaugan'; choose one of: digit_scenes, cityscapes, photopen"):
        aio.run(tab.paint_scene(None, png(tmp_path / "m.png", scene_map(20, 4)), "gaugan"))
    with pytest.raises(gr.Error, match="isn't a readable image"):
        (tmp_path / "not.png").write_bytes(b"not a picture")
        aio.run(tab.paint_scene(None, str(tmp_path / "not.png"), "digit_scenes"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(empty))
    runtime.models.clear()
    start = time.perf_counter()
    ours = weights.spec(sp.MODELS["digit_scenes"].weights)  # a checkout without the trained file
    with WEIGHTS.scoped(ours.name, dataclasses.replace(ours, bundled="assets/weights/not-trained.pdparams"), ours.aliases):
        with pytest.raises(gr.Error, match="not trained yet.*python -m core.train spade --data digit-scenes"):
            aio.run(tab.paint_scene(None, png(tmp_path / "m.png", scene_map(20, 4)), "digit_scenes"))
    with pytest.raises(gr.Error, match="spade_cityscapes.pdparams"):
        aio.run(tab.paint_scene(None, png(tmp_path / "m.png", scene_map(20, 4)), "cityscapes"))
    with pytest.raises(WeightsUnavailable, match="photopen.pdparams"):
        sp.paint_scene("photopen", png(tmp_path / "p.png", scene_map(20, 4, colours=sp.MODELS["photopen"].colours[:3])))
    assert time.perf_counter() - start < 2


def test_the_canvas_hands_over_its_composite_or_else_the_untouched_background(tmp_path):
    """The browser sends no composite for a canvas nobody painted on: its background (the first class
    everywhere, as shown) is the map then; with neither there is nothing to paint."""
    from gradio.data_classes import FileData
    from gradio.components.image_editor import EditorData

    canvas = tab.LabelCanvas(type="filepath", format="png", image_mode="RGB")
    painted, background = png(tmp_path / "painted.png", scene_map(20, 4)), png(tmp_path / "blank.png", np.full((8, 8, 3), SKY))
    assert canvas.preprocess(EditorData(background=FileData(path=background), layers=[], composite=FileData(path=painted))) == painted
    assert canvas.preprocess(EditorData(background=FileData(path=background), layers=[], composite=None)) == background
    assert canvas.preprocess(EditorData(background=None, layers=[], composite=None)) is None
