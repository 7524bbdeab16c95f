"""The ncnn reader on tiny .param/.bin files written here, byte by byte."""
import struct

import numpy as np
import pytest

from core.errors import CheckpointMismatch
from core.importers.ncnn import TAG_FLOAT16, TAG_FLOAT32, TAG_INT8, model_from_files, read_model, read_param

# Conv 2->3 channels, 1x1 kernel with bias (6 weights, 3 biases), then a PReLU with 3 slopes.
GRAPH = """7767517
4 4
Input            in       0 1 data 0=5 1=4 2=2
Convolution      conv     1 1 data c 0=3 1=1 5=1 6=6 9=2 -23310=1,2.000000e-01
PReLU            act      1 1 c p 0=3
Interp           up       1 1 p output 0=1 1=2.000000e+00 2=2.000000e+00
"""
WEIGHTS = np.arange(6, dtype=np.float32).reshape(3, 2) / 8 - 0.25  # all exact in float16 too
BIAS = np.array([0.5, -1.5, 2.25], dtype=np.float32)
SLOPES = np.array([0.125, 0.25, -0.5], dtype=np.float32)


def tag(value: int) -> bytes:
    return struct.pack("<I", value)


def fp32(values) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def write(tmp_path, param_text: str, data: bytes):
    (tmp_path / "m.param").write_text(param_text)
    (tmp_path / "m.bin").write_bytes(data)
    return tmp_path / "m.param", tmp_path / "m.bin"


def test_float32_weights_bias_and_slopes_are_read_in_layer_order(tmp_path):
    model = read_model(*write(tmp_path, GRAPH, tag(TAG_FLOAT32) + fp32(WEIGHTS) + fp32(BIAS) + fp32(SLOPES)))
    conv, prelu = model.layers[1], model.layers[2]
    np.testing.assert_array_equal(conv.weights["weight"], WEIGHTS.ravel())
    np.testing.assert_array_equal(conv.weights["bias"], BIAS)
    np.testing.assert_array_equal(prelu.weights["slope"], SLOPES)
    assert all(a.dtype == np.float32 for layer in model.layers for a in layer.weights.values())
    assert model.layers[0].weights == {} and model.layers[3].weights == {}
    assert model.input_blobs == ["data"] and model.output_blobs == ["output"]


def test_params_keep_ints_floats_and_arrays_apart(tmp_path):
    layers = read_param(write(tmp_path, GRAPH, b"")[0])
    assert [(l.type, l.name, l.inputs, l.outputs) for l in layers][1] == ("Convolution", "conv", ("data",), ("c",))
    conv, up = layers[1].params, layers[3].params
    assert conv == {0: 3, 1: 1, 5: 1, 6: 6, 9: 2, 10: (0.2,)}  # -23310 is array parameter 10
    assert isinstance(conv[6], int) and isinstance(conv[10][0], float)
    assert up[1] == 2.0 and isinstance(up[1], float) and up[0] == 1 and isinstance(up[0], int)


def test_float16_weights_are_widened_and_padded_to_four_bytes(tmp_path):
    # A conv from one channel: 3 half floats take 6 bytes, padded to 8 before the untagged float32 bias.
    graph = GRAPH.replace("6=6", "6=3")
    half = np.array([0.5, -2.0, 1 / 3], dtype="<f2")
    data = tag(TAG_FLOAT16) + half.tobytes() + b"\x00\x00" + fp32(BIAS) + fp32(SLOPES)
    model = read_model(*write(tmp_path, graph, data))
    np.testing.assert_array_equal(model.layers[1].weights["weight"], half.astype(np.float32))
    np.testing.assert_array_equal(model.layers[1].weights["bias"], BIAS)
    np.testing.assert_array_equal(model.layers[2].weights["slope"], SLOPES)


def test_a_convolution_without_bias_reads_no_bias(tmp_path):
    model = read_model(*write(tmp_path, GRAPH.replace(" 5=1", ""), tag(TAG_FLOAT32) + fp32(WEIGHTS) + fp32(SLOPES)))
    assert set(model.layers[1].weights) == {"weight"}
    np.testing.assert_array_equal(model.layers[2].weights["slope"], SLOPES)


def test_truncated_file_names_the_layer_being_read(tmp_path):
    data = tag(TAG_FLOAT32) + fp32(WEIGHTS) + fp32(BIAS) + fp32(SLOPES)
    with pytest.raises(CheckpointMismatch, match=r"ends at byte 48 while reading the slopes of layer act .*truncated"):
        read_model(*write(tmp_path, GRAPH, data[:-4]))


def test_extra_bytes_mean_the_files_do_not_belong_together(tmp_path):
    data = tag(TAG_FLOAT32) + fp32(WEIGHTS) + fp32(BIAS) + fp32(SLOPES) + fp32([1.0])
    with pytest.raises(CheckpointMismatch, match=r"4 bytes left after the last layer's weights"):
        read_model(*write(tmp_path, GRAPH, data))


@pytest.mark.parametrize("storage,message", [(TAG_INT8, r"int8-quantized format \(tag 0x000D4B38\)"), (0x12345678, r"an unknown storage format \(tag 0x12345678\)")])
def test_quantized_or_unknown_storage_is_refused(tmp_path, storage, message):
    data = tag(storage) + bytes(8) + fp32(BIAS) + fp32(SLOPES)
    with pytest.raises(CheckpointMismatch, match=r"weights of layer conv uses " + message):
        read_model(*write(tmp_path, GRAPH, data))


def test_bad_magic_and_wrong_counts_are_refused(tmp_path):
    with pytest.raises(CheckpointMismatch, match=r"not an ncnn \.param file.*'7767518'.*7767517"):
        read_param(write(tmp_path, GRAPH.replace("7767517", "7767518"), b"")[0])
    with pytest.raises(CheckpointMismatch, match=r"declares 5 layers but holds 4"):
        read_param(write(tmp_path, GRAPH.replace("4 4", "5 4"), b"")[0])
    with pytest.raises(CheckpointMismatch, match=r"line 4 \(layer conv\): cannot read parameter '-23310=2,2.000000e-01'"):
        read_param(write(tmp_path, GRAPH.replace("-23310=1", "-23310=2"), b"")[0])


def test_layer_types_with_unknown_weights_are_refused(tmp_path):
    graph = GRAPH.replace("Interp           up", "BatchNorm        up")
    data = tag(TAG_FLOAT32) + fp32(WEIGHTS) + fp32(BIAS) + fp32(SLOPES)
    with pytest.raises(CheckpointMismatch, match=r"layer up has type BatchNorm"):
        read_model(*write(tmp_path, graph, data))


def test_model_from_files_wants_one_param_and_one_bin_in_any_order(tmp_path):
    param, weights = write(tmp_path, GRAPH, tag(TAG_FLOAT32) + fp32(WEIGHTS) + fp32(BIAS) + fp32(SLOPES))
    assert len(model_from_files([weights, param]).layers) == 4
    with pytest.raises(CheckpointMismatch, match="one .param and one .bin"):
        model_from_files([param])
