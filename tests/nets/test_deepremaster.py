import numpy as np
import paddle
import pytest

from core import models, nets, weights
from core.nets import deepremaster as dr
from core.registry import WEIGHTS, WeightSpec
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

RESTORER = "deepremaster_modelR"
COLORIZER = "deepremaster_modelC"
TINY = {"width": 8}


# ---------------------------------------------------------------- PaddleGAN's numbers


@pytest.mark.parametrize("name", [RESTORER, COLORIZER])
def test_matches_reference(name):
    # The colorizer's inputs are the grey clip [1, 1, 5, 64, 64] and two reference pictures [1, 2, 3, 64, 64].
    manifest = load_manifest(name)
    net = nets.build(name)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    inputs = [paddle.to_tensor(a) for a in recipe_inputs(manifest)]
    with paddle.no_grad():
        out = net(*inputs)
    assert_fingerprint({"output": out}, manifest)


# ---------------------------------------------------------------- the networks


def _tiny(name, seed=0):
    paddle.seed(seed)
    return nets.build(name, **TINY)


@pytest.mark.parametrize("frames", [1, 2, 5, 7])
@pytest.mark.parametrize("height, width", [(16, 16), (20, 36), (48, 32)])
def test_restorer_keeps_the_clip_shape_in_unit_range(frames, height, width):
    net = _tiny(RESTORER)
    clip = paddle.rand([2, 1, frames, height, width]) * 1.4 - 0.2  # also outside [0, 1]
    with paddle.no_grad():
        out = net(clip).numpy()
    assert out.shape == (2, 1, frames, height, width)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_restorer_is_a_clipped_residual():
    # out = clip(x + tanh(f(x))): with the last convolution silent, the network returns its input, clipped.
    net = _tiny(RESTORER)
    last = net.layers[-1]
    last.weight.set_value(paddle.zeros_like(last.weight))
    last.bias.set_value(paddle.zeros_like(last.bias))
    clip = paddle.rand([1, 1, 3, 16, 16]) * 1.4 - 0.2
    with paddle.no_grad():
        out = net(clip).numpy()
    np.testing.assert_array_equal(out, np.clip(clip.numpy(), 0, 1))


def test_restorer_mixes_frames_in_time():
    # 3x3x3 convolutions: the first frame's output depends on the last frame of a 5-frame clip.
    net = _tiny(RESTORER)
    clip = paddle.rand([1, 1, 5, 16, 16]) * 0.5 + 0.25
    changed = clip.numpy().copy()
    changed[:, :, 4] = 1.0 - changed[:, :, 4]
    with paddle.no_grad():
        a = net(clip).numpy()
        b = net(paddle.to_tensor(changed)).numpy()
    assert np.abs(a[:, :, 0] - b[:, :, 0]).max() > 1e-6


@pytest.mark.parametrize("frames", [1, 3, 5])
@pytest.mark.parametrize("height, width, refs, ref_size", [(16, 32, None, None), (48, 16, 1, (24, 40)), (32, 32, 3, (64, 48))])
def test_colorizer_shapes(frames, height, width, refs, ref_size):
    net = _tiny(COLORIZER)
    clip = paddle.rand([1, 1, frames, height, width])
    references = None if refs is None else paddle.rand([1, refs, 3, *ref_size])
    with paddle.no_grad():
        out = net(clip, references).numpy()
    assert out.shape == (1, 2, frames, height, width)
    assert out.min() > 0.0 and out.max() < 1.0  # a sigmoid


def test_sizes_the_networks_cannot_take_are_refused():
    with pytest.raises(ValueError, match="multiples of 16"):
        _tiny(COLORIZER)(paddle.rand([1, 1, 2, 24, 32]))
    with pytest.raises(ValueError, match="multiples of 4"):
        _tiny(RESTORER)(paddle.rand([1, 1, 2, 18, 16]))


def test_references_steer_the_colour_once_the_attention_is_open():
    net = _tiny(COLORIZER)
    clip = paddle.rand([1, 1, 2, 32, 32])
    warm = paddle.to_tensor(np.broadcast_to(np.array([0.9, 0.4, 0.1], "float32")[:, None, None], (1, 1, 3, 32, 32)).copy())
    cold = paddle.to_tensor(np.broadcast_to(np.array([0.1, 0.4, 0.9], "float32")[:, None, None], (1, 1, 3, 32, 32)).copy())
    with paddle.no_grad():
        # gamma starts at 0: untrained, the colorizer ignores its references (and gives what it gives without).
        alone = net(clip).numpy()
        np.testing.assert_array_equal(net(clip, warm).numpy(), alone)
        for layer in (net.stattn1, net.stattn2):
            layer.gamma.set_value(paddle.to_tensor([1.0]))
        with_warm, with_cold = net(clip, warm).numpy(), net(clip, cold).numpy()
        np.testing.assert_array_equal(net(clip).numpy(), alone)  # without references those layers are skipped
    assert np.abs(with_warm - with_cold).max() > 1e-4


def test_both_networks_keep_paddlegans_names():
    restorer, colorizer = _tiny(RESTORER), _tiny(COLORIZER)
    assert {"layers.1.bn._mean", "layers.13.weight"} <= set(restorer.state_dict())
    assert {"down1.1.conv3d.weight", "stattn1.gamma", "up1.conv3d.conv3d.weight", "up4.1.bias",
            "reffeatnet2.2.bn._variance"} <= set(colorizer.state_dict())


# ---------------------------------------------------------------- the published use


def test_frame_size_short_side_to_mindim_in_multiples_of_16():
    assert dr.MINDIM == 360 and dr.AUTHORS_MINDIM == 320 and dr.BLOCK_FRAMES == 5
    assert dr.frame_size(640, 480) == (480, 352)  # 360 / 16 = 22.5 rounds to even: 352
    assert dr.frame_size(1920, 1080) == (640, 352)
    assert dr.frame_size(480, 360) == (480, 352)  # already at mindim: only the rounding
    assert dr.frame_size(640, 480, mindim=320) == (432, 320)  # 426.67 / 16 = 26.67 -> 27 * 16
    assert dr.frame_size(360, 640) == (352, 640)  # portrait
    assert dr.frame_size(352, 640) == (352, 656)  # 654.5 / 16 = 40.9 -> 41 * 16


def test_frame_blocks_walk_five_at_a_time_without_overlap():
    assert dr.frame_blocks(12) == [(0, 5), (5, 5), (10, 2)]
    assert dr.frame_blocks(5) == [(0, 5)]
    assert dr.frame_blocks(3) == [(0, 3)]
    assert dr.frame_blocks(0) == []
    covered = [start + i for start, count in dr.frame_blocks(23) for i in range(count)]
    assert covered == list(range(23))


def test_grey_is_opencvs_rgb2gray_on_a_bgr_frame():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    assert dr.GREY_WEIGHTS_RGB == (0.114, 0.587, 0.299)  # red and blue weights swapped with respect to BT.601
    expected = 0.114 * r + 0.587 * g + 0.299 * b
    assert np.abs(dr.grey_frame(rgb) - expected).max() <= 0.5 + 1e-6
    grey_film = np.repeat(rng.integers(0, 256, (8, 8, 1), dtype=np.uint8), 3, axis=2)
    np.testing.assert_array_equal(dr.grey_frame(grey_film), grey_film[..., 0])
    clip = dr.grey_inputs([rgb, grey_film])
    assert clip.shape == (1, 1, 2, 8, 8) and clip.dtype == np.float32
    np.testing.assert_allclose(clip[0, 0, 1], grey_film[..., 0] / 255.0, rtol=0, atol=1e-7)


def test_lab_encoding_against_skimage():
    from skimage import color

    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (6, 10, 3), dtype=np.uint8) for _ in range(3)]
    lightness, chroma = dr.lab_inputs(frames)
    assert lightness.shape == (1, 1, 3, 6, 10) and chroma.shape == (1, 2, 3, 6, 10)
    for t, frame in enumerate(frames):
        lab = color.rgb2lab(frame)
        # L in [0, 100] -> 8 bits (truncated) -> [0, 1]; a, b + 128 -> [0, 1] in steps of 1/255.
        assert np.all(np.abs(lightness[0, 0, t] * 255 - lab[..., 0] * 2.55) < 1 + 1e-4)
        np.testing.assert_allclose(chroma[0, :, t].transpose(1, 2, 0) * 255, lab[..., 1:] + 128, atol=1e-3)
    # Known values: white is L 100, a = b = 0; sRGB red is L 53.24, a 80.09, b 67.20.
    # White's L computes a hair under 100, and the truncation to 8 bits makes it 254.
    white_red = np.array([[[255, 255, 255], [255, 0, 0]]], np.uint8)
    lightness, chroma = dr.lab_inputs([white_red])
    np.testing.assert_allclose(lightness[0, 0, 0, 0], [254 / 255, int(53.24 * 2.55) / 255], atol=1e-6)
    np.testing.assert_allclose(chroma[0, :, 0, 0, 0] * 255, [128, 128], atol=0.01)
    np.testing.assert_allclose(chroma[0, :, 0, 0, 1] * 255, [128 + 80.09, 128 + 67.20], atol=0.01)


def test_lab_round_trip_returns_the_frames():
    from skimage import color

    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(2)]
    back = dr.colour_from_outputs(*dr.lab_inputs(frames))
    assert back.shape == (2, 12, 12, 3) and back.dtype == np.uint8
    # Where a and b lie within the +-100 the output keeps, only the 8-bit lightness and the
    # truncations to 8 bits stand between a frame and its round trip: a few levels, more in a
    # channel near 0 (where sRGB is steepest).
    inside = np.stack([np.all(np.abs(color.rgb2lab(f)[..., 1:]) <= 100, axis=-1) for f in frames])
    error = np.abs(back.astype(int) - np.stack(frames).astype(int)).max(axis=-1)
    mid = np.all((np.stack(frames) >= 32) & (np.stack(frames) <= 223), axis=-1)
    assert inside.mean() > 0.9 and error[inside].max() <= 8 and error[mid].max() <= 3 and error.mean() < 2
    # Chroma (0.5, 0.5) is grey: the lightness alone, through L * 100.
    grey = dr.colour_from_outputs(np.full((1, 1, 1, 2, 2), 0.5, np.float32), np.full((1, 2, 1, 2, 2), 128 / 255, np.float32))
    expected = int(color.lab2rgb(np.array([[[50.0, 0.0, 0.0]]]))[0, 0, 0] * 255)
    assert np.all(np.abs(grey.astype(int) - expected) <= 1) and np.ptp(grey) == 0


def test_reference_canvas_and_fitting():
    assert dr.reference_canvas([(400, 300), (300, 300)]) == (298, 256)  # mean aspect 7/6
    assert dr.reference_canvas([(300, 600)]) == (256, 512)
    assert dr.reference_canvas([(256, 256)]) == (256, 256)
    # Two pictures on their mean aspect's canvas, 298 x 256 here: the long side to 298, both sides
    # floored to multiples of 16, centred on black.
    wide = np.full((150, 200, 3), 200, np.uint8)  # -> 288 x 208 (298 / 200 * 150 = 223.5 -> 208)
    square = np.full((300, 300, 3), 100, np.uint8)  # -> 288 x 288, cropped to the canvas's 256 rows
    refs = dr.reference_pictures([wide, square])
    assert refs.shape == (1, 2, 3, 256, 298) and refs.dtype == np.float32
    fitted = refs[0, 0, 0]
    assert np.all(fitted[:24] == 0) and np.all(fitted[-24:] == 0)
    assert np.all(fitted[:, :5] == 0) and np.all(fitted[:, -5:] == 0)
    np.testing.assert_allclose(fitted[24:-24, 5:-5], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(refs[0, 1, :, :, 5:-5], 100 / 255, atol=1e-6)
    assert np.all(refs[0, 1, :, :, :5] == 0)
    # A picture that is the canvas already is used as it is.
    exact = np.random.default_rng(4).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    np.testing.assert_allclose(dr.reference_pictures([exact])[0, 0], exact.transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_a_block_remasters_through_both_paths():
    restorer, colorizer = _tiny(RESTORER), _tiny(COLORIZER)
    rng = np.random.default_rng(3)
    frames = [rng.integers(60, 200, (16, 32, 3), dtype=np.uint8) for _ in range(3)]
    refs = dr.reference_pictures([rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)])
    coloured = dr.remaster_block(restorer, colorizer, frames, refs)
    assert coloured.shape == (3, 16, 32, 3) and coloured.dtype == np.uint8
    assert dr.remaster_block(restorer, colorizer, frames).shape == (3, 16, 32, 3)
    # Restoration only keeps each frame's own chroma: with the residual silent, the frames come back.
    last = restorer.layers[-1]
    last.weight.set_value(paddle.zeros_like(last.weight))
    last.bias.set_value(paddle.zeros_like(last.bias))
    kept = dr.remaster_block(restorer, None, frames)
    assert np.abs(kept.astype(int) - np.stack(frames).astype(int)).max() <= 4


# ---------------------------------------------------------------- checkpoints


def test_weight_specs_share_the_published_file():
    r, c = weights.spec("deepremaster_restorer.paddlegan"), weights.spec("deepremaster_colorizer.paddlegan")
    assert (r.architecture, r.key) == (RESTORER, "modelR") and (c.architecture, c.key) == (COLORIZER, "modelC")
    assert r.url == c.url == "https://paddlegan.bj.bcebos.com/applications/deep_remaster.pdparams"
    assert r.filename == c.filename == "deep_remaster.pdparams"
    assert "CC BY-NC-SA 4.0" in r.licence and r.licence == c.licence
    assert weights.default_spec(RESTORER) is r and weights.default_spec(COLORIZER) is c
    assert weights.spec(RESTORER) is r and weights.spec(COLORIZER) is c


@pytest.mark.parametrize("name, key", [(RESTORER, "modelR"), (COLORIZER, "modelC")])
def test_published_layout_loads_strictly(name, key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(name, key, TINY, tmp_path, monkeypatch, registered)


def test_one_file_holds_both_networks(tmp_path, monkeypatch, registered):
    # PaddleGAN's file: {'modelR': ..., 'modelC': ...}; two checkpoints read it, each under its key.
    restorer, colorizer = _tiny(RESTORER, seed=1), _tiny(COLORIZER, seed=2)
    paddle.save({"modelR": restorer.state_dict(), "modelC": colorizer.state_dict()}, str(tmp_path / "tiny_remaster.pdparams"))
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))
    for net_name, key, original in ((RESTORER, "modelR", restorer), (COLORIZER, "modelC", colorizer)):
        spec_name = f"{nets.network(net_name).architecture}.test_only_shared"
        registered(WEIGHTS, spec_name, WeightSpec(name=spec_name, architecture=net_name, filename="tiny_remaster.pdparams",
                                                  key=key, net_overrides=TINY))
        loaded = models.create(net_name, pretrained=spec_name)
        assert not loaded.training
        expected = original.state_dict()
        for name, tensor in loaded.state_dict().items():
            np.testing.assert_array_equal(tensor.numpy(), expected[name].numpy(), err_msg=f"{key} {name}")


@pytest.mark.parametrize("name", [RESTORER, COLORIZER])
def test_exported_networks_run_on_onednn_like_dygraph(name, tmp_path):
    """The Restore tab's fast path: any block length and frame size (and number of references),
    equal to dygraph within the tolerance the runtime verifies with (core.models.Export.tolerance)."""
    import copy

    from paddle.static import InputSpec

    from core import runtime
    from core.export import exportable_remaster
    from core.models import Export

    net = _tiny(name, seed=3)
    net.eval()
    for sub in net.sublayers():  # open the attention (0 at initialisation), so it counts
        if isinstance(sub, dr.SourceReferenceAttention):
            sub.gamma.set_value(paddle.to_tensor([0.5]))
    specs = [InputSpec([1, 1, None, None, None], "float32")]
    if name == COLORIZER:
        specs.append(InputSpec([1, None, 3, None, None], "float32"))
    prefix = str(tmp_path / "model")
    paddle.jit.save(paddle.jit.to_static(copy.deepcopy(exportable_remaster(net)), input_spec=specs, full_graph=True), prefix)
    fast = runtime.PredictorRunner(prefix, "onednn", 1, runtime.passes_to_skip(prefix))
    rng = np.random.default_rng(5)
    for frames, height, width, refs in ((5, 32, 48, 1), (2, 48, 32, 3)):
        inputs = [rng.random((1, 1, frames, height, width), dtype=np.float32)]
        if name == COLORIZER:
            inputs.append(rng.random((1, refs, 3, 32, 48), dtype=np.float32))
        with paddle.no_grad():
            want = net(*[paddle.to_tensor(a) for a in inputs]).numpy()
        got = fast(*inputs)
        assert got[0].shape == want.shape
        assert runtime._max_relative_error(got, [want]) <= Export.tolerance
