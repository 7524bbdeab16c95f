"""core.export: each graph rewrite computes the same numbers as the layers it replaces.

Weights and inputs are random (float32); the rewrites only sum or order
products differently, so results agree to ~1e-5 of the output's magnitude.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest
from paddle.static import InputSpec

from core.export import (
    BatchStatisticsNorm,
    BilinearDouble,
    ExportableRRDB,
    FirstOutput,
    NearestDouble,
    exportable_super_resolution,
    nearest_double_then_conv,
    translation_exportable,
    upsample_free,
)
from core.nets.animegan import AnimeGenerator
from core.nets.photo2cartoon import ResnetUGATITP2CGenerator
from core.nets.resnet_generator import ResnetGenerator
from core.nets.unet_generator import UnetGenerator
from core.nets.rrdb import RRDBNet
from core.nets.ugatit import ResnetUGATITGenerator


def assert_close(got, want, rtol=1e-5):
    """Equal up to `rtol` of the largest magnitude (rounding scales with the values, not per element)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


def random_input(*shape, seed=0):
    # Negative values too: they exercise the LeakyReLUs and the edges of the resampling.
    return paddle.to_tensor(np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float32))


def tiny_rrdb(scale=4):
    paddle.seed(3)
    net = RRDBNet(in_nc=3, out_nc=3, nf=8, nb=1, gc=4, scale=scale)
    net.eval()
    return net


# ---------------------------------------------------------------- nearest 2x + 3x3 conv


@pytest.mark.parametrize("height,width", [(7, 5), (6, 8), (6, 9)])  # odd, even, mixed: every border case
@pytest.mark.parametrize("bias", [True, False])
def test_nearest_upsampling_then_conv_folds_into_one_transposed_conv(height, width, bias):
    paddle.seed(3)
    conv = nn.Conv2D(5, 7, 3, padding=1, bias_attr=None if bias else False)
    x = random_input(2, 5, height, width)
    with paddle.no_grad():
        want = conv(F.interpolate(x, scale_factor=2, mode="nearest")).numpy()
        folded = nearest_double_then_conv(conv)
        got = folded(x).numpy()
    assert isinstance(folded, nn.Conv2DTranspose) and (folded.bias is None) == (not bias)
    assert want.shape == (2, 7, 2 * height, 2 * width)
    assert_close(got, want)


@pytest.mark.parametrize(
    "conv,message",
    [
        (nn.Conv2D(4, 4, 5, padding=2), "3x3"),
        (nn.Conv2D(4, 4, 3, stride=2, padding=1), "stride 1"),
        (nn.Conv2D(4, 4, 3, padding=0), "padding 1"),
        (nn.Conv2D(4, 4, 3, padding=1, groups=2), "dense"),
        (nn.Conv2D(4, 4, 3, padding=1, dilation=2), "undilated"),
        (nn.Conv2D(4, 4, 3, padding=1, padding_mode="reflect"), "zero-padded"),
    ],
    ids=["5x5", "stride2", "padding0", "groups", "dilation", "reflect"],
)
def test_only_a_plain_3x3_convolution_folds(conv, message):
    with pytest.raises(ValueError, match=message):
        nearest_double_then_conv(conv)


# ---------------------------------------------------------------- RRDB


def test_exportable_rrdb_computes_the_same_function():
    net = tiny_rrdb()
    image = random_input(1, 3, 11, 9)
    with paddle.no_grad():
        want = net(image).numpy()
        got = ExportableRRDB(net)(image).numpy()
    assert want.shape == (1, 3, 44, 36)
    assert_close(got, want)


def test_exportable_rrdb_shares_the_networks_layers():
    net = tiny_rrdb()
    exportable = ExportableRRDB(net)
    assert exportable.net is net  # not a copy: build_engine copies the whole before exporting
    assert not any(isinstance(sub, nn.Conv2DTranspose) for sub in net.sublayers())  # net itself untouched


def test_only_the_x4_rrdb_has_an_exportable_form():
    with pytest.raises(ValueError, match="x4"):
        ExportableRRDB(tiny_rrdb(scale=2))


def test_exportable_super_resolution_picks_the_form():
    x4 = tiny_rrdb()
    exportable = exportable_super_resolution(x4)
    assert isinstance(exportable, ExportableRRDB) and exportable.net is x4
    x2 = tiny_rrdb(scale=2)  # unshuffles its input: exported as it is
    assert exportable_super_resolution(x2) is x2
    other = nn.Sequential(nn.Conv2D(3, 48, 3, padding=1), nn.PixelShuffle(4))
    assert exportable_super_resolution(other) is other


@pytest.mark.skipif(not paddle.__version__.startswith("3."), reason="reads Paddle 3's PIR program (.json); the "
                    "executor this rewrite is for is Paddle 3.3's oneDNN one")
def test_exported_rrdb_program_has_no_interpolation(tmp_path):
    """What Paddle 3.3's oneDNN predictor cannot run is gone from the saved program (and was there before)."""

    def program_bytes(layer, name):
        prefix = str(tmp_path / name / "model")
        static = paddle.jit.to_static(layer, input_spec=[InputSpec([None, 3, None, None], "float32")], full_graph=True)
        paddle.jit.save(static, prefix)
        # The program only (.json with PIR, .pdmodel before it), not the weights.
        return b"".join(path.read_bytes() for path in (tmp_path / name).glob("*.json"))

    assert b"interp" in program_bytes(tiny_rrdb(), "original")  # the check below can fail
    assert b"interp" not in program_bytes(ExportableRRDB(tiny_rrdb()), "exportable")


# ---------------------------------------------------------------- 2x nn.Upsample


@pytest.mark.parametrize("height,width", [(5, 7), (6, 8), (1, 3), (1, 1)])
@pytest.mark.parametrize("mode,replacement", [("nearest", NearestDouble), ("bilinear", BilinearDouble)])
def test_double_upsampling_without_interp_equals_upsample(height, width, mode, replacement):
    x = random_input(2, 3, height, width, seed=height)
    with paddle.no_grad():
        want = nn.Upsample(scale_factor=2, mode=mode)(x).numpy()
        got = replacement()(x).numpy()
    assert want.shape == (2, 3, 2 * height, 2 * width)
    assert_close(got, want)


def upsampling_stack():
    paddle.seed(4)
    return nn.Sequential(
        nn.Conv2D(3, 4, 3, padding=1),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Sequential(nn.Conv2D(4, 4, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear")),
        nn.Conv2D(4, 2, 3, padding=1),
    )


def test_upsample_free_copy_computes_the_same_function():
    layer = upsampling_stack()
    kept = [type(sub) for sub in layer.sublayers()]
    free = upsample_free(layer)
    assert free is not layer
    assert not any(isinstance(sub, nn.Upsample) for sub in free.sublayers())
    assert sum(isinstance(sub, (NearestDouble, BilinearDouble)) for sub in free.sublayers()) == 2
    assert [type(sub) for sub in layer.sublayers()] == kept  # the original keeps its Upsample layers
    x = random_input(1, 3, 5, 6)
    with paddle.no_grad():
        assert_close(free(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize(
    "upsample",
    [
        None,
        nn.Upsample(scale_factor=3, mode="nearest"),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        nn.Upsample(scale_factor=2, mode="bicubic"),
        nn.Upsample(size=[8, 8], mode="nearest"),
    ],
    ids=["none", "x3", "align_corners", "bicubic", "fixed_size"],
)
def test_upsample_free_returns_the_layer_itself_when_nothing_is_replaced(upsample):
    layer = nn.Sequential(nn.Conv2D(3, 3, 3, padding=1), *([upsample] if upsample is not None else []))
    assert upsample_free(layer) is layer


@pytest.mark.parametrize(
    "make,size",
    [(lambda: AnimeGenerator(ngf=4), (36, 44)), (lambda: ResnetUGATITGenerator(ngf=4, n_blocks=1, light=True), (36, 44)),
     (lambda: ResnetUGATITP2CGenerator(ngf=4), (64, 80))],  # photo2cartoon: sides divisible by its 4 hourglass levels
    ids=["animeganv2", "ugatit_light", "photo2cartoon"],
)
def test_upsample_free_networks_give_the_same_numbers(make, size):
    """The networks the translate app exports: AnimeGANv2 (bilinear), U-GAT-IT and photo2cartoon (nearest)."""
    paddle.seed(3)
    net = make()
    net.eval()
    original = {key: value.numpy().copy() for key, value in net.state_dict().items()}
    exported = upsample_free(net)
    assert exported is not net
    assert any(isinstance(sub, nn.Upsample) for sub in net.sublayers())
    assert not any(isinstance(sub, nn.Upsample) for sub in exported.sublayers())
    x = random_input(1, 3, *size)
    with paddle.no_grad():
        want, got = net(x), exported(x)
    # U-GAT-IT also returns its CAM logits and heatmap: every output agrees.
    want, got = (out if isinstance(out, (tuple, list)) else (out,) for out in (want, got))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g.numpy(), w.numpy())
    assert all(np.array_equal(value.numpy(), original[key]) for key, value in net.state_dict().items())


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_statistics_norm_equals_a_batch_norm_on_the_batch_in_eval_mode(batch):
    from core.nets.resnet_generator import make_norm

    paddle.seed(4)
    norm = make_norm("batch", 5)
    norm.weight.set_value(np.random.default_rng(1).uniform(0.5, 2, 5).astype(np.float32))
    norm.bias.set_value(np.random.default_rng(2).uniform(-1, 1, 5).astype(np.float32))
    norm.eval()
    x = random_input(batch, 5, 7, 9) * 3 + 1  # an offset mean, as after a ReLU
    with paddle.no_grad():
        assert_close(BatchStatisticsNorm(norm)(x).numpy(), norm(x).numpy())


def test_pix2pix_exported_copy_has_no_batch_norm_and_gives_the_same_numbers():
    """pix2pix's U-Net normalises by the batch's statistics in eval mode, which oneDNN's passes fold into the
    running statistics (off by the whole output range); the copy spells the statistics out."""
    paddle.seed(3)
    net = UnetGenerator(3, 3, num_downs=8, ngf=4, norm_type="batch")
    net.eval()
    exported = translation_exportable(net)
    assert any(isinstance(sub, nn.BatchNorm) for sub in net.sublayers())
    assert not any(isinstance(sub, nn.BatchNorm) for sub in exported.sublayers())
    x = random_input(1, 3, 256, 256)
    with paddle.no_grad():
        assert_close(exported(x).numpy(), net(x).numpy())


@pytest.mark.skipif(not paddle.__version__.startswith("3."), reason="reads Paddle 3's PIR program (.json)")
def test_pix2pix_exported_program_has_no_batch_norm_op(tmp_path):
    paddle.seed(3)
    net = UnetGenerator(3, 3, num_downs=8, ngf=4, norm_type="batch")
    net.eval()
    program = {}
    for layer, name in ((net, "original"), (translation_exportable(net), "exported")):
        static = paddle.jit.to_static(layer, input_spec=[InputSpec([1, 3, 256, 256], "float32")], full_graph=True)
        paddle.jit.save(static, str(tmp_path / name / "model"))
        program[name] = (tmp_path / name / "model.json").read_bytes()
    op = b'"#":"1.batch_norm'  # an op; parameter names keep the word
    assert op in program["original"] and op not in program["exported"]


def test_deoldify_with_its_normalised_convolutions_folded_gives_the_same_numbers():
    """DeOldify's spectral- and weight-normalised convolutions become plain ones holding the normalised weights
    (constant in eval mode), including the self-attention's 1-D ones; the original keeps its own."""
    from core import nets
    from core.export import normalised_convs_folded
    from core.nets.deoldify import SpectralConv, WeightNormConv2D

    paddle.seed(6)
    net = nets.build("deoldify", backbone="resnet18", encoder_width=8, decoder_width=16)
    net.eval()
    folded = normalised_convs_folded(net)
    kinds = (SpectralConv, WeightNormConv2D)
    assert sum(isinstance(sub, SpectralConv) for sub in net.sublayers()) > 10
    assert any(isinstance(sub, WeightNormConv2D) for sub in net.sublayers())
    assert not any(isinstance(sub, kinds) for sub in folded.sublayers())
    assert any(isinstance(sub, nn.Conv1D) for sub in folded.sublayers())  # the attention's query, key, value
    x = random_input(1, 3, 64, 64)
    with paddle.no_grad():
        assert_close(folded(x).numpy(), net(x).numpy())
    assert sum(isinstance(sub, SpectralConv) for sub in net.sublayers()) > 10


# ---------------------------------------------------------------- video networks: resizes, warps, flow


@pytest.mark.parametrize("height,width", [(64, 72), (65, 70)])
@pytest.mark.parametrize(
    "kwargs,interpolate",
    [
        (dict(scale=4), dict(scale_factor=4, align_corners=False)),
        (dict(scale=2, align_corners=True), dict(scale_factor=2, align_corners=True)),
        (dict(size=[96, 64]), dict(size=[96, 64], align_corners=False)),  # up in H, down in W
    ],
    ids=["x4", "x2_corners", "size"],
)
def test_bilinear_resize_by_gathers_equals_interpolate(height, width, kwargs, interpolate):
    from core.export import resize_bilinear

    x = random_input(2, 3, height, width, seed=width)
    with paddle.no_grad():
        want = F.interpolate(x, mode="bilinear", **interpolate).numpy()
        got = resize_bilinear(x, **kwargs).numpy()
    assert_close(got, want)


def test_bilinear_resize_to_the_same_size_is_the_identity():
    from core.export import resize_bilinear

    x = random_input(1, 2, 64, 96)
    np.testing.assert_array_equal(resize_bilinear(x, size=[64, 96]).numpy(), x.numpy())


@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
def test_warp_by_flow_equals_flow_warp(padding_mode):
    from core.export import warp_by_flow
    from core.nets.basicvsr import flow_warp

    x, flow = random_input(2, 4, 9, 11, seed=1), random_input(2, 2, 9, 11, seed=2) * 3
    with paddle.no_grad():
        assert_close(warp_by_flow(x, flow, padding_mode).numpy(), flow_warp(x, flow, padding_mode).numpy())


@pytest.mark.parametrize("height,width", [(64, 64), (66, 70)])  # a multiple of 32, and a resize on both sides
@pytest.mark.parametrize("tiny", [True, False], ids=["modified_spynet", "spynet"])
def test_exportable_flow_pyramid_equals_spynet(height, width, tiny):
    from core.export import ExportableFlowPyramid
    from core.nets.basicvsr import SPyNet
    from core.nets.msvsr import ModifiedSPyNet

    paddle.seed(6)
    spynet = ModifiedSPyNet(num_blocks=3, tiny=True) if tiny else SPyNet()
    spynet.eval()
    ref, supp = (paddle.to_tensor(np.random.default_rng(s).random((1, 3, height, width), dtype=np.float32)) for s in (1, 2))
    with paddle.no_grad():
        assert_close(ExportableFlowPyramid(spynet)(ref, supp).numpy(), spynet(ref, supp).numpy(), rtol=1e-4)


def tiny_video_net(name):
    from core import nets

    paddle.seed(7)
    overrides = {
        "ppmsvsr_reds_x4": {"mid_channels": 8, "num_init_blocks": 1, "num_blocks": 1, "num_reconstruction_blocks": 1,
                            "deform_groups": 2, "stage1_groups": 2, "stage1_blocks": 1},
        "basicvsrpp": {"mid_channels": 8, "num_blocks": 1, "extract_blocks": 1, "reconstruction_blocks": 1,
                       "deform_groups": 2, "hr_channels": 8},
        "basicvsr": {"mid_channels": 8, "num_blocks": 1, "hr_channels": 8},
    }[name]
    net = nets.build(name, **overrides)
    net.eval()
    return net


@pytest.mark.parametrize("name", ["ppmsvsr_reds_x4", "basicvsrpp"])
def test_exportable_video_upscalers_compute_the_same_function(name):
    from core.export import exportable_video_upscaler

    net = tiny_video_net(name)
    exportable = exportable_video_upscaler(net)
    assert exportable.net is net  # shared: build_engine copies the whole before exporting
    clip = paddle.to_tensor(np.random.default_rng(3).random((1, 3, 3, 64, 70), dtype=np.float32))
    with paddle.no_grad():
        want = net(clip).numpy()
        got = exportable(clip).numpy()
    assert got.shape == (1, 3, 3, 256, 280)
    assert_close(got, want)


def test_other_video_networks_have_no_exportable_form():
    from core.export import exportable_video_upscaler

    with pytest.raises(ValueError, match="BasicVSRNet"):
        exportable_video_upscaler(tiny_video_net("basicvsr"))


# ---------------------------------------------------------------- DeepRemaster


@pytest.mark.parametrize("frames,height,width", [(1, 5, 7), (3, 6, 8)])
def test_double_space_trilinear_equals_interpolate(frames, height, width):
    from core.export import double_space_trilinear
    from core.nets.deepremaster import _double_space

    x = paddle.to_tensor(np.random.default_rng(frames).uniform(-2, 2, (2, 3, frames, height, width)).astype(np.float32))
    with paddle.no_grad():
        assert_close(double_space_trilinear(x).numpy(), _double_space(x).numpy())


@pytest.mark.parametrize("name", ["deepremaster_restorer", "deepremaster_colorizer"])
def test_exportable_remaster_copies_compute_the_same_function(name):
    from core import nets
    from core.export import exportable_remaster
    from core.nets.deepremaster import SourceReferenceAttention, Upsample

    paddle.seed(8)
    net = nets.build(name, width=8)
    net.eval()
    for sub in net.sublayers():  # open the attention (0 at initialisation), so it counts
        if isinstance(sub, SourceReferenceAttention):
            sub.gamma.set_value(paddle.to_tensor([0.5]))
    exportable = exportable_remaster(net)
    assert exportable is not net and any(isinstance(sub, Upsample) for sub in net.sublayers())
    rng = np.random.default_rng(4)
    inputs = [paddle.to_tensor(rng.random((1, 1, 3, 32, 48), dtype=np.float32))]
    if name == "deepremaster_colorizer":
        inputs.append(paddle.to_tensor(rng.random((1, 2, 3, 32, 32), dtype=np.float32)))
    with paddle.no_grad():
        assert_close(exportable(*inputs).numpy(), net(*inputs).numpy())


# ---------------------------------------------------------------- reflection pads


@pytest.mark.parametrize("widths", [[1, 1, 1, 1], [3, 3, 3, 3], [1, 2, 3, 4], [0, 2, 0, 5], [4, 0, 2, 0]])
@pytest.mark.parametrize("size", [(6, 7), (9, 5)])
def test_reflect_pad_by_concat_equals_the_reflect_pad(widths, size):
    from core.export import ReflectPadByConcat

    pad = nn.Pad2D(widths, mode="reflect")  # left, right, top, bottom: asymmetric widths catch a swapped axis
    x = random_input(2, 3, *size)
    with paddle.no_grad():
        np.testing.assert_array_equal(ReflectPadByConcat(pad)(x).numpy(), pad(x).numpy())


@pytest.mark.parametrize(
    "make", [lambda: ResnetGenerator(3, 3, ngf=4, n_blocks=2),
             # U-GAT-IT's also return CAM logits and a heatmap: the picture alone is exported, as the app does
             lambda: FirstOutput(ResnetUGATITGenerator(ngf=4, n_blocks=1, light=True)),
             lambda: FirstOutput(ResnetUGATITP2CGenerator(ngf=4)),
             lambda: AnimeGenerator(ngf=4),
             lambda: UnetGenerator(3, 3, num_downs=5, ngf=4, norm_type="batch")],
    ids=["cyclegan", "ugatit_light", "photo2cartoon", "animeganv2", "pix2pix"])
def test_translation_fast_paths_serve_any_size(make, tmp_path, monkeypatch):
    """The exported copy has no reflection pad, interp op or batch norm left, and its one graph (sizes read at run
    time) gives dygraph's numbers at sizes other than the one it was verified on."""
    from core import runtime

    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    paddle.seed(5)
    net = make()
    net.eval()
    exportable = translation_exportable(net)
    assert not any(isinstance(sub, (nn.Pad2D, nn.Upsample, nn.BatchNorm, nn.GroupNorm)) for sub in exportable.sublayers())
    sample = random_input(1, 3, 64, 64).numpy()
    run = runtime.build_engine(exportable, [InputSpec([None, 3, None, None], "float32")], [sample], kinds=["onednn"])
    assert run.kind == "onednn"
    reference = runtime.DygraphRunner(net)
    for shape in [(1, 3, 32, 64), (2, 3, 96, 64)]:  # photo2cartoon and the 5-level U-Net: sides divisible by 32
        picture = random_input(*shape, seed=sum(shape)).numpy()
        got, want = run(picture)[0], reference(picture)[0]
        assert got.shape == want.shape == shape
        # photo2cartoon's float32 rounding alone reaches 2e-4 of its range here: both engines are held to float64,
        # as the fast path's own verification does (runtime.FLOAT64_REFEREE_MARGIN)
        exact = runtime.float64_outputs(net, [picture])[0]
        error = lambda out: np.abs(out - exact).max() / np.abs(exact).max()  # noqa: E731
        assert error(got) <= max(1e-4, runtime.FLOAT64_REFEREE_MARGIN * error(want))


# ---------------------------------------------------------------- U-GAT-IT's instance-layer norms


@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (1, 3, 16, 16)])
def test_instance_layer_norm_by_moments_equals_the_norm(adaptive, shape):
    from core.export import InstanceLayerNormByMoments
    from core.nets.ugatit import InstanceLayerNorm

    rng = np.random.default_rng(7)
    norm = InstanceLayerNorm(shape[1], adaptive=adaptive)
    norm.rho.set_value(rng.uniform(0, 1, norm.rho.shape).astype(np.float32))  # a real blend, not 0.9 or 0 everywhere
    if not adaptive:
        norm.gamma.set_value(rng.uniform(0.5, 2, norm.gamma.shape).astype(np.float32))
        norm.beta.set_value(rng.uniform(-1, 1, norm.beta.shape).astype(np.float32))
    # channels with their own offsets and scales, as activations have: the layer's statistics differ from theirs
    x = random_input(*shape) * paddle.to_tensor(rng.uniform(0.2, 5, (1, shape[1], 1, 1)).astype(np.float32)) \
        + paddle.to_tensor(rng.uniform(-3, 3, (1, shape[1], 1, 1)).astype(np.float32))
    affine = [paddle.to_tensor(rng.uniform(-2, 2, (shape[0], shape[1])).astype(np.float32)) for _ in range(2)] \
        if adaptive else []
    with paddle.no_grad():
        assert_close(InstanceLayerNormByMoments(norm)(x, *affine).numpy(), norm(x, *affine).numpy())


# ---------------------------------------------------------------- AnimeGANv2's one-group norms


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (1, 3, 64, 48)])
def test_one_group_norm_equals_the_group_norm(affine, shape):
    from core.export import OneGroupNorm

    rng = np.random.default_rng(8)
    norm = nn.GroupNorm(1, shape[1], weight_attr=None if affine else False, bias_attr=None if affine else False)
    if affine:
        norm.weight.set_value(rng.uniform(0.5, 2, shape[1]).astype(np.float32))
        norm.bias.set_value(rng.uniform(-1, 1, shape[1]).astype(np.float32))
    # channels with their own offsets and scales: the picture's statistics are not any channel's
    x = random_input(*shape) * paddle.to_tensor(rng.uniform(0.2, 5, (1, shape[1], 1, 1)).astype(np.float32)) \
        + paddle.to_tensor(rng.uniform(-3, 3, (1, shape[1], 1, 1)).astype(np.float32))
    with paddle.no_grad():
        assert_close(OneGroupNorm(norm)(x).numpy(), norm(x).numpy())


def test_only_one_group_norms_are_spelled_out():
    from core.export import OneGroupNorm, one_group_norms_spelled_out

    layer = nn.Sequential(nn.GroupNorm(1, 4), nn.GroupNorm(2, 4))
    copy = one_group_norms_spelled_out(layer)
    assert isinstance(copy[0], OneGroupNorm) and isinstance(copy[1], nn.GroupNorm)
    untouched = nn.Sequential(nn.GroupNorm(2, 4))
    assert one_group_norms_spelled_out(untouched) is untouched


# ---------------------------------------------------------------- StyleGAN2's FIR blurs


@pytest.mark.parametrize("taps,pad,gain", [([1, 3, 3, 1], (1, 1), 4.0), ([1, 3, 3, 1], (2, 1), 1.0), ([1, 2, 1], (1, 1), 1.0),
                                           ([1, 3, 3, 1], (0, 0), 1.0)])
def test_blur_by_depthwise_conv_equals_the_blur(taps, pad, gain):
    from core.export import BlurByDepthwiseConv
    from core.nets.stylegan2 import Blur

    blur = Blur(taps, pad=pad, gain=gain)
    x = random_input(2, 5, 11, 8)
    with paddle.no_grad():
        assert_close(BlurByDepthwiseConv(blur)(x).numpy(), blur(x).numpy())


def test_only_blurs_without_crops_become_depthwise_convolutions():
    from core.export import BlurByDepthwiseConv, blurs_by_depthwise_conv
    from core.nets.stylegan2 import Blur

    layer = nn.Sequential(Blur([1, 3, 3, 1], pad=(1, 1)), Blur([1, 3, 3, 1], pad=(2, -1)))
    copy = blurs_by_depthwise_conv(layer)
    assert isinstance(copy[0], BlurByDepthwiseConv) and isinstance(copy[1], Blur)
    untouched = nn.Sequential(nn.Conv2D(3, 3, 3))
    assert blurs_by_depthwise_conv(untouched) is untouched


# ---------------------------------------------------------------- First Order Motion's heatmap averages


@pytest.mark.parametrize("with_jacobian", [True, False])
def test_heatmap_averages_by_matmul_equal_the_broadcast_sums(with_jacobian):
    from core.export import HeatmapAveragesByMatmul, keypoint_detector_exportable
    from core.nets.first_order import HeatmapAverages, KeypointDetector

    rng = np.random.default_rng(9)
    n, k, h, w = 2, 3, 7, 9
    heatmap = F.softmax(paddle.to_tensor(rng.normal(0, 3, (n, k, h * w)).astype(np.float32)), axis=2)
    maps = paddle.to_tensor(rng.normal(0, 1, (n, k, 4, h * w)).astype(np.float32)) if with_jacobian else None
    want, got = HeatmapAverages()(heatmap, h, w, maps), HeatmapAveragesByMatmul()(heatmap, h, w, maps)
    assert_close(got[0].numpy(), want[0].numpy())
    if with_jacobian:
        assert got[1].shape == want[1].shape == [n, k, 2, 2]
        assert_close(got[1].numpy(), want[1].numpy())
    else:
        assert got[1] is None and want[1] is None
    detector = keypoint_detector_exportable(KeypointDetector(block_expansion=4, num_kp=3, max_features=16, num_blocks=2))
    assert isinstance(detector.averages, HeatmapAveragesByMatmul)


# ---------------------------------------------------------------- eval-mode batch norms (SPADE)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_as_depthwise_conv_equals_the_eval_norm(affine):
    from core.export import BatchNormAsDepthwiseConv, batch_norms_as_depthwise_convs

    rng = np.random.default_rng(10)
    norm = nn.BatchNorm2D(6, weight_attr=None if affine else False, bias_attr=None if affine else False)
    norm._mean.set_value(rng.uniform(-2, 2, 6).astype(np.float32))
    norm._variance.set_value(rng.uniform(0.1, 4, 6).astype(np.float32))
    if affine:
        norm.weight.set_value(rng.uniform(0.5, 2, 6).astype(np.float32))
        norm.bias.set_value(rng.uniform(-1, 1, 6).astype(np.float32))
    norm.eval()
    x = random_input(2, 6, 9, 13) * 3
    with paddle.no_grad():
        assert_close(BatchNormAsDepthwiseConv(norm)(x).numpy(), norm(x).numpy())
    layer = nn.Sequential(nn.Conv2D(6, 6, 1), norm)
    layer.eval()
    assert isinstance(batch_norms_as_depthwise_convs(layer)[1], BatchNormAsDepthwiseConv)
    layer.train()
    assert batch_norms_as_depthwise_convs(layer) is layer  # training norms use the batch's statistics


# ---------------------------------------------------------------- Real-CUGAN


@pytest.mark.parametrize("size,widths", [((4, 3), (3, 2, 1, 4)), ((4, 3), (5, 7, 9, 11)), ((6, 5), (0, 13, 6, 0)),
                                         ((1, 1), (2, 3, 4, 5)), ((2, 7), (19, 20, 19, 19))])
def test_mirror_pad_by_gather_equals_the_reflect_pad_of_any_width(size, widths):
    from core.export import MirrorPadByGather
    from core.nets.realcugan import reflect_pad

    image = paddle.rand([2, 3, *size])
    with paddle.no_grad():
        np.testing.assert_array_equal(MirrorPadByGather()(image, *widths).numpy(), reflect_pad(image, *widths).numpy())


@pytest.mark.parametrize("border", [1, 4, 20])
def test_crop_by_conv_is_the_crop_exactly(border):
    from core.export import CropByConv
    from core.nets.realcugan import SkipCrop

    x = paddle.to_tensor(np.random.default_rng(border).normal(0, 100, (2, 5, 2 * border + 7, 2 * border + 3)).astype(np.float32))
    with paddle.no_grad():
        np.testing.assert_array_equal(CropByConv(border)(x).numpy(), SkipCrop(border)(x).numpy())


def test_squeeze_excite_by_pooling_equals_the_block():
    from core.export import SqueezeExciteByPooling
    from core.nets.realcugan import SqueezeExcite

    paddle.seed(6)
    block = SqueezeExcite(16)
    x = random_input(2, 16, 13, 9) * 3 + 1
    with paddle.no_grad():
        assert_close(SqueezeExciteByPooling(block)(x).numpy(), block(x).numpy())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_realcugan_fast_path_serves_every_tile_size_with_one_graph(scale, tmp_path, monkeypatch):
    """Exported once with run-time sizes: pictures smaller than its border (mirrored periodically), odd sizes and
    sizes off its downsampling multiple all give dygraph's numbers."""
    from core import nets, runtime
    from core.export import MirrorPadByGather, realcugan_exportable
    from core.nets.realcugan import ReflectPad, SkipCrop, SqueezeExcite

    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    paddle.seed(scale)
    net = nets.build("realcugan", scale=scale)
    net.eval()
    exportable = realcugan_exportable(net)
    assert any(isinstance(s, MirrorPadByGather) for s in exportable.sublayers())
    assert not any(isinstance(s, (ReflectPad, nn.Upsample, SkipCrop, SqueezeExcite)) for s in exportable.sublayers())
    assert any(isinstance(s, ReflectPad) for s in net.sublayers())  # the network itself is untouched
    sample = np.random.default_rng(0).random((1, 3, 24, 24), dtype=np.float32)
    run = runtime.build_engine(exportable, [InputSpec([None, 3, None, None], "float32")], [sample], kinds=["onednn"])
    assert run.kind == "onednn"
    reference = runtime.DygraphRunner(net)
    for shape in [(1, 3, 9, 7), (2, 3, 30, 41)]:
        picture = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
        got, want = run(picture)[0], reference(picture)[0]
        assert got.shape == want.shape == (shape[0], 3, scale * shape[2], scale * shape[3])
        assert_close(got, want, rtol=1e-4)


# ---------------------------------------------------------------- SPADE


@pytest.mark.parametrize("in_size,out_size", [(64, 2), (64, 16), (48, 64), (30, 7)])
def test_nearest_resize_by_gather_equals_nearest_interpolate(in_size, out_size):
    from core.export import NearestResizeByGather
    from core.nets.spade import NearestResize

    x = paddle.rand([1, 4, in_size, in_size + 3])
    size = [out_size, out_size * 2]
    with paddle.no_grad():
        np.testing.assert_array_equal(NearestResizeByGather()(x, size).numpy(), NearestResize()(x, size).numpy())


@pytest.mark.parametrize("flavour,overrides", [
    ("paddlecv", dict(semantic_nc=4, ngf=2, nhidden=4, crop_size=64, norm_G="spectralspadebatch3x3")),
    ("photopen", dict(semantic_nc=5, ngf=2, nhidden=4, crop_size=64, aspect_ratio=2.0, norm_G="spectralspadeinstance3x3")),
    # PhotoPen's own: batch norms without scale and shift, which Paddle 3.3's predictor cannot build as they are
    ("photopen", dict(semantic_nc=5, ngf=2, nhidden=4, crop_size=64, norm_G="spectralspadebatch3x3")),
])
def test_spade_fast_path_equals_dygraph(flavour, overrides, tmp_path, monkeypatch):
    """Spectral convolutions folded, label-map resizes as gathers, upsamplings as repeats: the exported graph
    verifies on oneDNN and gives dygraph's picture (the app's own Export, at the network's size)."""
    from core import models, nets, runtime
    from core.apps.scene_painting import _map_export
    from core.nets.spade import NearestResize, SpectralNormConv2D, semantic_input, settle_spectral_norms

    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    paddle.seed(6)
    net = nets.build("spade", flavour=flavour, **overrides)
    settle_spectral_norms(net)
    net.eval()
    exportable = _map_export().rewrite(net)
    assert not any(isinstance(s, (SpectralNormConv2D, NearestResize, nn.Upsample)) for s in exportable.sublayers())
    assert not any(isinstance(s, nn.BatchNorm2D) and s.weight is None for s in exportable.sublayers())
    run = models.prepare_runner(net, _map_export())
    assert run.kind == "onednn"
    height, width = net.output_size
    ids = np.zeros((1, height, width), np.int64)
    ids[:, height // 2:] = 1
    ids[:, 5:20, 10:30] = 2
    label_map = semantic_input(ids, net.semantic_nc - 1, edges=True).numpy()
    want = runtime.DygraphRunner(net)(label_map)[0]
    got = run(label_map)[0]
    assert got.shape == want.shape == (1, 3, height, width)
    assert_close(got, want, rtol=1e-4)
