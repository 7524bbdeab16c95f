"""ncnn models (a text ``.param`` graph and a binary ``.bin`` of weights) read with numpy alone,
and converters from Real-ESRGAN's, RealSR's and Real-CUGAN's ncnn releases onto our networks.

The ``.param`` file: the magic number 7767517, then "layer_count blob_count",
then one line per layer: type, name, input count, output count, the input and
output blob names, and ``key=value`` parameters. A key of -23300 - k holds
array parameter k as ``count,v1,...,vcount``; a value with a '.' or an 'e' is
a float, otherwise an int.

The ``.bin`` file has no header: each layer that owns weights reads its arrays
in layer order. The weight array of a convolution, a deconvolution or an inner
product starts with a 4-byte storage tag (0 for float32, 0x01306B47 for float16
padded to 4 bytes; other tags mean quantized storage, which this reader refuses);
its bias and a PReLU's slopes are plain float32 without a tag. Every byte must be
used: a short or long file does not belong to its ``.param``.

Converters (registered in ``core.registry.CONVERTERS`` as ``ncnn_rrdb``, ``ncnn_srvgg`` and ``ncnn_realcugan``) follow
the import contract: ``convert(files) -> (state dict in our parameter names, network overrides)``.
They trace the graph and raise CheckpointMismatch for any structure other
than the one our network computes.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from core.errors import CheckpointMismatch
from core.registry import CONVERTERS, NETWORKS

PARAM_MAGIC = 7767517
_ARRAY_KEY_BASE = -23300

TAG_FLOAT32 = 0x00000000
TAG_FLOAT16 = 0x01306B47
TAG_INT8 = 0x000D4B38
# Tags ncnn knows for storage this reader does not decode, named in the error message.
_REFUSED_TAGS = {TAG_INT8: "int8-quantized", 0x0002C056: "float32 with int8 scales"}

# Layer types that read nothing from the .bin (checked in ncnn's src/layer: no load_model).
WEIGHTLESS_TYPES = frozenset(
    {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "ReLU", "Sigmoid", "TanH", "Clip", "Crop", "Noop", "Dropout",
     "Pooling"}
)

ParamValue = Union[int, float, str, tuple]

# ncnn parameter ids used by the converters.
CONV_OUTPUTS, CONV_KERNEL, CONV_DILATION, CONV_STRIDE, CONV_PAD = 0, 1, 2, 3, 4
CONV_BIAS, CONV_WEIGHT_SIZE, CONV_INT8_SCALES, CONV_ACTIVATION, CONV_ACTIVATION_PARAMS = 5, 6, 8, 9, 10
CONV_DYNAMIC_WEIGHT = 19
ACTIVATION_NONE, ACTIVATION_LEAKY_RELU = 0, 2
INTERP_NEAREST, INTERP_BICUBIC = 1, 3
ELTWISE_SUM, BINARY_ADD = 1, 0
# Deconvolution shares the Convolution ids above (outputs, kernel, stride, padding, bias, weight size,
# activation); these are its own.
DECONV_OUTPUT_PADDING_AND_SIZE = (18, 19, 20, 21)
DECONV_DYNAMIC_WEIGHT = 28
INNER_OUTPUTS, INNER_BIAS, INNER_WEIGHT_SIZE, INNER_INT8_SCALES, INNER_ACTIVATION = 0, 1, 2, 8, 9
ACTIVATION_RELU, ACTIVATION_SIGMOID = 1, 4
POOLING_TYPE, POOLING_GLOBAL, POOLING_AVERAGE = 0, 4, 1
BINARY_MUL = 2
CROP_STARTS, CROP_ENDS, CROP_AXES = 9, 10, 11


@dataclass
class NcnnLayer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue]
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # "weight", "bias", "slope"

    def param(self, key: int, default: ParamValue = 0) -> ParamValue:
        return self.params.get(key, default)


@dataclass
class NcnnModel:
    param_path: Path
    bin_path: Optional[Path]
    layers: list[NcnnLayer]

    @property
    def input_blobs(self) -> list[str]:
        return [blob for layer in self.layers if layer.type == "Input" for blob in layer.outputs]

    @property
    def output_blobs(self) -> list[str]:
        """Blobs that no layer consumes: the graph's results."""
        consumed = {blob for layer in self.layers for blob in layer.inputs}
        return [blob for layer in self.layers for blob in layer.outputs if blob not in consumed]


# ---------------------------------------------------------------- .param


def _parse_scalar(text: str) -> ParamValue:
    if text[:1].isalpha() or text[:1] == '"':
        return text.strip('"')
    if "." in text or "e" in text.lower():
        return float(text)
    return int(text)


def _parse_params(tokens: Sequence[str], where: str) -> dict[int, ParamValue]:
    params: dict[int, ParamValue] = {}
    for token in tokens:
        key_text, sep, value = token.partition("=")
        try:
            if not sep:
                raise ValueError("no '='")
            key = int(key_text)
            if key <= _ARRAY_KEY_BASE:
                count_text, *items = value.split(",")
                if int(count_text) != len(items):
                    raise ValueError(f"array declares {count_text} values but has {len(items)}")
                params[_ARRAY_KEY_BASE - key] = tuple(_parse_scalar(item) for item in items)
            elif "," in value:
                params[key] = tuple(_parse_scalar(item) for item in value.split(","))
            else:
                params[key] = _parse_scalar(value)
        except ValueError as exc:
            raise CheckpointMismatch(f"{where}: cannot read parameter {token!r} ({exc}).") from None
    return params


def read_param(path: Union[str, Path]) -> list[NcnnLayer]:
    """The layers of an ncnn text ``.param`` file, in file order, without weights."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CheckpointMismatch(f"{path} is not an ncnn text .param file (it is not text; binary .param.bin files are not read).") from None
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        first = " ".join(lines[0]) if lines else "nothing"
        raise CheckpointMismatch(f"{path} is not an ncnn .param file: it starts with {first[:40]!r}, expected the magic number {PARAM_MAGIC}.")
    try:
        layer_count, blob_count = (int(v) for v in lines[1])
    except (IndexError, ValueError):
        raise CheckpointMismatch(f"{path}: the second line must hold the layer and blob counts.") from None
    layers = []
    for number, tokens in enumerate(lines[2:], start=3):
        where = f"{path} line {number}"
        try:
            kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        except (IndexError, ValueError):
            raise CheckpointMismatch(f"{where}: expected 'type name input_count output_count ...', got {' '.join(tokens)[:80]!r}.") from None
        blobs = tokens[4 : 4 + n_in + n_out]
        if len(blobs) != n_in + n_out:
            raise CheckpointMismatch(f"{where}: layer {name} declares {n_in} inputs and {n_out} outputs but names {len(blobs)} blobs.")
        params = _parse_params(tokens[4 + n_in + n_out :], f"{where} (layer {name})")
        layers.append(NcnnLayer(kind, name, tuple(blobs[:n_in]), tuple(blobs[n_in:]), params))
    if len(layers) != layer_count:
        raise CheckpointMismatch(f"{path} declares {layer_count} layers but holds {len(layers)}: the file is truncated or edited.")
    blobs = {blob for layer in layers for blob in layer.outputs}
    if len(blobs) != blob_count:
        raise CheckpointMismatch(f"{path} declares {blob_count} blobs but its layers produce {len(blobs)}.")
    return layers


# ---------------------------------------------------------------- .bin


class _BinReader:
    """Sequential reads from the .bin, with errors that name the layer being read."""

    def __init__(self, path: Path):
        self.path = path
        self.data = path.read_bytes()
        self.offset = 0

    def _take(self, size: int, what: str, layer: NcnnLayer) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise CheckpointMismatch(
                f"{self.path} ends at byte {len(self.data)} while reading the {what} of layer {layer.name} "
                f"({size} bytes from offset {self.offset}): the file is truncated or does not belong to its .param."
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def float32(self, count: int, what: str, layer: NcnnLayer) -> np.ndarray:
        """`count` little-endian float32 values without a storage tag (biases, slopes)."""
        return np.frombuffer(self._take(4 * count, what, layer), dtype="<f4").astype(np.float32)

    def tagged(self, count: int, what: str, layer: NcnnLayer) -> np.ndarray:
        """`count` values preceded by a storage tag (convolution weights)."""
        tag = int.from_bytes(self._take(4, f"{what} storage tag", layer), "little")
        if tag == TAG_FLOAT32:
            return self.float32(count, what, layer)
        if tag == TAG_FLOAT16:
            padded = (2 * count + 3) // 4 * 4
            return np.frombuffer(self._take(padded, what, layer)[: 2 * count], dtype="<f2").astype(np.float32)
        kind = _REFUSED_TAGS.get(tag, "an unknown storage")
        raise CheckpointMismatch(
            f"{self.path}: the {what} of layer {layer.name} uses {kind} format (tag 0x{tag:08X}); "
            f"only float32 (tag 0x{TAG_FLOAT32:08X}) and float16 (tag 0x{TAG_FLOAT16:08X}) weights can be imported."
        )


def _int_param(layer: NcnnLayer, key: int, path: Path) -> int:
    value = layer.param(key)
    if not isinstance(value, int) or value < 0:
        raise CheckpointMismatch(f"{path}: layer {layer.name} has parameter {key}={value!r}, expected a count.")
    return value


def _read_convolution(layer: NcnnLayer, reader: _BinReader, param_path: Path) -> None:
    if layer.param(CONV_INT8_SCALES):
        raise CheckpointMismatch(f"{param_path}: layer {layer.name} is an int8-quantized convolution, which cannot be imported.")
    if layer.param(CONV_DYNAMIC_WEIGHT):
        return  # weights arrive as an input blob, nothing is stored
    layer.weights["weight"] = reader.tagged(_int_param(layer, CONV_WEIGHT_SIZE, param_path), "weights", layer)
    if layer.param(CONV_BIAS):
        layer.weights["bias"] = reader.float32(_int_param(layer, CONV_OUTPUTS, param_path), "bias", layer)


def _read_prelu(layer: NcnnLayer, reader: _BinReader, param_path: Path) -> None:
    layer.weights["slope"] = reader.float32(_int_param(layer, 0, param_path), "slopes", layer)


def _read_deconvolution(layer: NcnnLayer, reader: _BinReader, param_path: Path) -> None:
    if layer.param(DECONV_DYNAMIC_WEIGHT):
        return  # weights arrive as an input blob, nothing is stored
    layer.weights["weight"] = reader.tagged(_int_param(layer, CONV_WEIGHT_SIZE, param_path), "weights", layer)
    if layer.param(CONV_BIAS):
        layer.weights["bias"] = reader.float32(_int_param(layer, CONV_OUTPUTS, param_path), "bias", layer)


def _read_inner_product(layer: NcnnLayer, reader: _BinReader, param_path: Path) -> None:
    if layer.param(INNER_INT8_SCALES):
        raise CheckpointMismatch(f"{param_path}: layer {layer.name} is an int8-quantized inner product, which cannot be imported.")
    layer.weights["weight"] = reader.tagged(_int_param(layer, INNER_WEIGHT_SIZE, param_path), "weights", layer)
    if layer.param(INNER_BIAS):
        layer.weights["bias"] = reader.float32(_int_param(layer, INNER_OUTPUTS, param_path), "bias", layer)


_WEIGHT_READERS = {"Convolution": _read_convolution, "PReLU": _read_prelu, "Deconvolution": _read_deconvolution,
                   "InnerProduct": _read_inner_product}


def read_model(param_path: Union[str, Path], bin_path: Union[str, Path]) -> NcnnModel:
    """Read an ncnn model: the graph of `param_path` with each layer's weights from `bin_path`."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    layers = read_param(param_path)
    reader = _BinReader(bin_path)
    for layer in layers:
        read_weights = _WEIGHT_READERS.get(layer.type)
        if read_weights is not None:
            read_weights(layer, reader, param_path)
        elif layer.type not in WEIGHTLESS_TYPES:
            raise CheckpointMismatch(
                f"{param_path}: layer {layer.name} has type {layer.type}, whose weights this reader does not know how to read."
            )
    left = len(reader.data) - reader.offset
    if left:
        raise CheckpointMismatch(
            f"{bin_path} has {left} bytes left after the last layer's weights (read {reader.offset} of {len(reader.data)}): "
            f"it does not belong to {param_path.name}."
        )
    return NcnnModel(param_path, bin_path, layers)


def model_from_files(files: Iterable[Union[str, Path]]) -> NcnnModel:
    """Read the model from a list holding one ``.param`` and one ``.bin`` path (any order)."""
    files = [Path(f) for f in files]
    params = [f for f in files if f.suffix == ".param"]
    bins = [f for f in files if f.suffix == ".bin"]
    if len(params) != 1 or len(bins) != 1 or len(files) != 2:
        raise CheckpointMismatch(f"an ncnn model needs one .param and one .bin file, got {[f.name for f in files]}.")
    return read_model(params[0], bins[0])


# ---------------------------------------------------------------- graph tracing


class _GraphWalk:
    """Walks the layers in file order (Split layers skipped) and checks what each one is.

    `sources(layer)` names the layers that computed its inputs, looking through
    Splits, so a check can say "this conv reads the output of that layer".
    """

    def __init__(self, model: NcnnModel, network: str):
        self.model = model
        self.network = network
        self.layers = [layer for layer in model.layers if layer.type != "Split"]
        self.position = 0
        self._producer: dict[str, Optional[NcnnLayer]] = {}
        for layer in model.layers:
            for blob in layer.outputs:
                self._producer[blob] = self._producer.get(layer.inputs[0]) if layer.type == "Split" and layer.inputs else layer

    def fail(self, layer: Optional[NcnnLayer], expected: str):
        at = f"layer {layer.name} ({layer.type})" if layer else "the end of the graph"
        raise CheckpointMismatch(f"{self.model.param_path}: at {at}, expected {expected} of {self.network}.")

    def peek(self) -> Optional[NcnnLayer]:
        return self.layers[self.position] if self.position < len(self.layers) else None

    def take(self, kind: str, what: str) -> NcnnLayer:
        layer = self.peek()
        if layer is None or layer.type != kind:
            self.fail(layer, f"{what} (an ncnn {kind} layer)")
        self.position += 1
        return layer

    def sources(self, layer: NcnnLayer) -> list[Optional[NcnnLayer]]:
        """The layers whose outputs `layer` reads (None for a blob nothing produced before)."""
        return [self._producer.get(blob) for blob in layer.inputs]

    def expect_sources(self, layer: NcnnLayer, sources: Sequence[NcnnLayer], what: str) -> None:
        if self.sources(layer) != list(sources):
            names = ", ".join(s.name for s in sources)
            self.fail(layer, f"{what} reading [{names}]")

    def expect(self, layer: NcnnLayer, condition: bool, what: str) -> None:
        if not condition:
            self.fail(layer, what)

    def finish(self) -> None:
        if self.peek() is not None:
            self.fail(self.peek(), "the end of the graph")

    def conv(self, what: str, reads: NcnnLayer, outputs: Optional[int] = None, leaky_relu: Optional[float] = None) -> NcnnLayer:
        """Take a 3x3, stride 1, padding 1 convolution with bias, optionally with a fused LeakyReLU."""
        layer = self.take("Convolution", what)
        self.expect_sources(layer, [reads], what)
        self.expect(layer, _conv_geometry(layer) == _PLAIN_3X3 and {"weight", "bias"} <= set(layer.weights), f"{what}: a 3x3 convolution, stride 1, padding 1, with bias")
        if outputs is not None:
            self.expect(layer, layer.param(CONV_OUTPUTS) == outputs, f"{what} with {outputs} output channels")
        if leaky_relu is None:
            self.expect(layer, layer.param(CONV_ACTIVATION) == ACTIVATION_NONE, f"{what} without a fused activation")
        else:
            activation = (layer.param(CONV_ACTIVATION), layer.param(CONV_ACTIVATION_PARAMS, ()))
            self.expect(layer, _same(activation, (ACTIVATION_LEAKY_RELU, (leaky_relu,))), f"{what} with a fused LeakyReLU({leaky_relu})")
        return layer

    def interp(self, what: str, reads: NcnnLayer, mode: int, scale: Optional[float] = None) -> NcnnLayer:
        layer = self.take("Interp", what)
        self.expect_sources(layer, [reads], what)
        height_scale, width_scale = float(layer.param(1, 1.0)), float(layer.param(2, 1.0))
        fixed_scale = all(not layer.param(key) for key in (3, 4, 5, 6, 9)) and height_scale == width_scale
        self.expect(layer, layer.param(0) == mode and fixed_scale, f"{what}: mode {mode}, one scale for both axes, no size or corner alignment")
        if scale is not None:
            self.expect(layer, width_scale == scale, f"{what} by {scale}")
        return layer

    def add(self, what: str, reads: Sequence[NcnnLayer]) -> NcnnLayer:
        layer = self.take("BinaryOp", what)
        self.expect(layer, layer.param(0) == BINARY_ADD and not layer.param(1), f"{what}: an addition of two blobs")
        self.expect(layer, sorted(map(id, self.sources(layer))) == sorted(map(id, reads)), f"{what} of {[s.name for s in reads]}")
        return layer


def _conv_geometry(layer: NcnnLayer) -> dict[str, tuple]:
    """Kernel, stride, dilation and padding of an ncnn Convolution, with ncnn's defaults filled in."""
    p = layer.param
    kernel_w, stride_w, dilation_w, pad_left = p(CONV_KERNEL), p(CONV_STRIDE, 1), p(CONV_DILATION, 1), p(CONV_PAD)
    pad_top = p(14, pad_left)
    return {
        "kernel": (p(11, kernel_w), kernel_w),
        "stride": (p(13, stride_w), stride_w),
        "dilation": (p(12, dilation_w), dilation_w),
        "padding": (pad_top, p(16, pad_top), pad_left, p(15, pad_left)),
    }


_PLAIN_3X3 = {"kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1), "padding": (1, 1, 1, 1)}


def _same(got, want) -> bool:
    """Equality with float tolerance for the decimal text of the .param (0.2 is written 2.000000e-01)."""
    if isinstance(want, tuple):
        return isinstance(got, tuple) and len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    if isinstance(want, float):
        return isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-6)
    return got == want


def _conv_arrays(layer: NcnnLayer, name: str, in_channels: int, path: Path) -> dict[str, np.ndarray]:
    """`layer`'s weight as [out, in, k, k] (ncnn stores it in that order) and its bias, under `name`."""
    out_channels, kernel = layer.param(CONV_OUTPUTS), layer.param(CONV_KERNEL)
    weight = layer.weights["weight"]
    if weight.size != out_channels * in_channels * kernel * kernel:
        raise CheckpointMismatch(
            f"{path}: layer {layer.name} holds {weight.size} weights, expected {out_channels}x{in_channels}x{kernel}x{kernel} for {name}."
        )
    return {f"{name}.weight": weight.reshape(out_channels, in_channels, kernel, kernel), f"{name}.bias": layer.weights["bias"]}


def _overrides(net: str, found: dict) -> dict:
    """The constructor arguments in `found` that differ from the factory defaults of network `net`."""
    defaults = {k: p.default for k, p in inspect.signature(NETWORKS.get(net).factory).parameters.items()}
    return {k: v for k, v in found.items() if defaults.get(k, inspect.Parameter.empty) != v}


# ---------------------------------------------------------------- Real-ESRGAN RRDBNet


RRDB_NET = "rrdb_x4"
_LEAKY_SLOPE = 0.2
_RESIDUAL_SCALE = 0.2


def _dense_block(walk: _GraphWalk, block_input: NcnnLayer, name: str, nf: int, gc: int, state: dict) -> NcnnLayer:
    """Five densely connected convs and the scaled residual; returns the Eltwise that ends the block."""
    features = [block_input]
    for index in range(1, 6):
        what = f"{name}.conv{index}"
        if index == 1:
            reads = block_input
        else:
            reads = walk.take("Concat", f"the concatenation feeding {what}")
            walk.expect(reads, not reads.param(0), f"the concatenation feeding {what} along channels")
            walk.expect_sources(reads, features, f"the concatenation feeding {what}")
        last = index == 5
        conv = walk.conv(what, reads, outputs=nf if last else gc, leaky_relu=None if last else _LEAKY_SLOPE)
        state.update(_conv_arrays(conv, what, nf + (index - 1) * gc, walk.model.param_path))
        features.append(conv)
    return _scaled_residual(walk, features[-1], block_input, f"the residual sum of {name}")


def _scaled_residual(walk: _GraphWalk, branch: NcnnLayer, skip: NcnnLayer, what: str) -> NcnnLayer:
    """An Eltwise sum: 0.2 * branch + 1.0 * skip (ESRGAN's residual scaling)."""
    layer = walk.take("Eltwise", what)
    walk.expect(layer, layer.param(0) == ELTWISE_SUM, f"{what} (an Eltwise sum)")
    coefficients = dict(zip(map(id, walk.sources(layer)), layer.param(1, ())))
    walk.expect(
        layer,
        len(layer.inputs) == 2 and _same((coefficients.get(id(branch)), coefficients.get(id(skip))), (_RESIDUAL_SCALE, 1.0)),
        f"{what}: {_RESIDUAL_SCALE} x {branch.name} + 1.0 x {skip.name}",
    )
    return layer


def _walk_from_first_conv(files: list[Path], what: str, name: str):
    """Open the model, take its input and first 3x3 conv (stored under `name`).

    Returns (walk, .param path, the input layer, the conv layer, its input channels, the state dict so far).
    """
    model = model_from_files(files)
    walk = _GraphWalk(model, what)
    image = walk.take("Input", "the input image")
    first = walk.conv(name, image)
    in_nc = first.weights["weight"].size // (first.param(CONV_OUTPUTS) * 9)
    return walk, model.param_path, image, first, in_nc, _conv_arrays(first, name, in_nc, model.param_path)


@CONVERTERS.register("ncnn_rrdb")
def rrdb_from_ncnn(files: list[Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Real-ESRGAN's RRDBNet x4 (realesrgan-x4plus, -x4plus-anime) onto ``realsr_rrdb_x4``; also RealSR's
    DF2K x4 (REALSR_DF2K_UP4X), whose ncnn graph is the same layer for layer.

    The number of blocks (nb), features (nf) and growth channels (gc) come from
    the graph; every block is checked to be ESRGAN's RRDB exactly. The overrides
    hold only what differs from the network's defaults (x4plus: none; anime: nb 6).
    """
    walk, path, _, first, in_nc, state = _walk_from_first_conv(files, "Real-ESRGAN's RRDBNet x4", "conv_first")
    nf = first.param(CONV_OUTPUTS)

    features, nb, gc = first, 0, None
    # A trunk block starts with a conv with a fused activation; the trunk conv after the last block has none.
    while (layer := walk.peek()) is not None and layer.type == "Convolution" and layer.param(CONV_ACTIVATION) != ACTIVATION_NONE:
        gc = gc or layer.param(CONV_OUTPUTS)
        block_input = features
        for dense in (1, 2, 3):
            features = _dense_block(walk, features, f"RRDB_trunk.{nb}.RDB{dense}", nf, gc, state)
        features = _scaled_residual(walk, features, block_input, f"the residual sum of RRDB_trunk.{nb}")
        nb += 1
    if nb == 0:
        walk.fail(walk.peek(), "the first RRDB block (a conv with a fused LeakyReLU)")

    trunk = walk.conv("trunk_conv", features, outputs=nf)
    state.update(_conv_arrays(trunk, "trunk_conv", nf, path))
    features = walk.add("the long skip (conv_first + trunk_conv)", [first, trunk])
    for name in ("upconv1", "upconv2"):
        upsampled = walk.interp(f"the nearest x2 upsampling before {name}", features, INTERP_NEAREST, 2.0)
        features = walk.conv(name, upsampled, outputs=nf, leaky_relu=_LEAKY_SLOPE)
        state.update(_conv_arrays(features, name, nf, path))
    features = walk.conv("HRconv", features, outputs=nf, leaky_relu=_LEAKY_SLOPE)
    state.update(_conv_arrays(features, "HRconv", nf, path))
    last = walk.conv("conv_last", features)
    state.update(_conv_arrays(last, "conv_last", nf, path))
    walk.finish()
    found = {"in_nc": in_nc, "out_nc": last.param(CONV_OUTPUTS), "nf": nf, "nb": nb, "gc": gc, "scale": 4}
    return state, _overrides(RRDB_NET, found)


# ---------------------------------------------------------------- Real-ESRGAN SRVGGNetCompact


SRVGG_NET = "srvgg_compact"


@CONVERTERS.register("ncnn_srvgg")
def srvgg_from_ncnn(files: list[Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Real-ESRGAN's SRVGGNetCompact (realesr-animevideov3-x2/x3/x4) onto ``srvgg_compact``.

    The x2 and x3 files hold the x4 network followed by a bicubic resampling
    (Interp mode 3 by 0.5 or 0.75): that becomes ``scale`` 2 or 3 with ``upscale`` 4.
    The overrides always include ``scale`` (4 for the x4 file), plus any size
    that differs from the network's defaults.
    """
    walk, path, image, first, in_nc, state = _walk_from_first_conv(files, "Real-ESRGAN's SRVGGNetCompact", "body.0")
    num_feat = first.param(CONV_OUTPUTS)

    index, features = 0, first
    while True:
        prelu = walk.take("PReLU", f"the activation body.{index + 1}")
        walk.expect_sources(prelu, [features], f"the activation body.{index + 1}")
        walk.expect(prelu, prelu.param(0) == num_feat, f"the activation body.{index + 1} with {num_feat} slopes")
        state[f"body.{index + 1}._weight"] = prelu.weights["slope"]  # Paddle's nn.PReLU names its slopes _weight
        index += 2
        features = walk.conv(f"body.{index}", prelu)
        state.update(_conv_arrays(features, f"body.{index}", num_feat, path))
        if (layer := walk.peek()) is None or layer.type != "PReLU":
            break
        walk.expect(features, features.param(CONV_OUTPUTS) == num_feat, f"body.{index} with {num_feat} output channels")

    shuffle = walk.take("PixelShuffle", "the pixel shuffle after the last convolution")
    walk.expect_sources(shuffle, [features], "the pixel shuffle after the last convolution")
    upscale = shuffle.param(0, 1)
    walk.expect(shuffle, isinstance(upscale, int) and upscale > 1 and not shuffle.param(1), "a pixel shuffle in PyTorch's channel order (mode 0)")
    out_nc, remainder = divmod(features.param(CONV_OUTPUTS), upscale * upscale)
    walk.expect(features, remainder == 0 and out_nc == in_nc, f"a last convolution with {in_nc} x {upscale * upscale} outputs")
    base = walk.interp("the nearest upsampling of the input", image, INTERP_NEAREST, float(upscale))
    result = walk.add("the sum of the upscaled residual and the upsampled input", [shuffle, base])

    scale = upscale
    if walk.peek() is not None:
        resample = walk.interp(f"the bicubic resampling of the x{upscale} result", result, INTERP_BICUBIC)
        factor = float(resample.param(2, 1.0))
        scale = round(factor * upscale)
        walk.expect(resample, 1 <= scale < upscale and math.isclose(factor * upscale, scale, rel_tol=1e-6), "a resampling to an integer scale below the network's")
    walk.finish()
    found = {"in_nc": in_nc, "out_nc": out_nc, "num_feat": num_feat, "num_conv": index // 2 - 1, "upscale": upscale}
    # The output scale shapes no parameter, so a strict state-dict check cannot catch a wrong one: always state it.
    return state, {**_overrides(SRVGG_NET, found), "scale": scale}


# ---------------------------------------------------------------- Real-CUGAN (UpCunet, SE variant)


REALCUGAN_NET = "realcugan"
_CUGAN_LEAKY_SLOPE = 0.1
_CUGAN_SE_REDUCTION = 8
# The upsampler's last transposed convolution (kernel, stride, padding) -> the scale it gives.
_CUGAN_UPSAMPLER_HEADS = {(4, 2, 3): 2, (5, 3, 2): 3}


def _expect_activation(walk: _GraphWalk, layer: NcnnLayer, key: int, kind: int, values: tuple, what: str) -> None:
    """The fused activation at parameter `key` (its parameters at `key` + 1, as ncnn numbers them) is `kind`."""
    names = {ACTIVATION_NONE: "without a fused activation", ACTIVATION_RELU: "with a fused ReLU",
             ACTIVATION_SIGMOID: "with a fused sigmoid",
             ACTIVATION_LEAKY_RELU: f"with a fused LeakyReLU({', '.join(map(str, values))})"}
    found = (layer.param(key), layer.param(key + 1, ()))
    walk.expect(layer, _same(found, (kind, values)), f"{what} {names[kind]}")


def _cugan_kernel(walk: _GraphWalk, kind: str, what: str, reads: NcnnLayer, outputs: int, in_channels: int, geometry: tuple,
                  leaky: bool, state: dict) -> NcnnLayer:
    """Take a convolution or transposed convolution with bias; put its arrays in `state` under `what`.

    geometry: (kernel, stride, padding), square. ncnn stores both kinds' weights as [out, in, k, k];
    Paddle's transposed convolution wants [in, out, k, k].
    """
    layer = walk.take(kind, what)
    walk.expect_sources(layer, [reads], what)
    kernel, stride, padding = geometry
    want = {"kernel": (kernel, kernel), "stride": (stride, stride), "dilation": (1, 1), "padding": (padding,) * 4}
    plain = kind == "Convolution" or not any(layer.param(key) for key in DECONV_OUTPUT_PADDING_AND_SIZE)
    walk.expect(layer, _conv_geometry(layer) == want and plain and {"weight", "bias"} <= set(layer.weights),
                f"{what}: a {kernel}x{kernel} {kind.lower()}, stride {stride}, padding {padding}, with bias")
    walk.expect(layer, layer.param(CONV_OUTPUTS) == outputs, f"{what} with {outputs} output channels")
    activation = (ACTIVATION_LEAKY_RELU, (_CUGAN_LEAKY_SLOPE,)) if leaky else (ACTIVATION_NONE, ())
    _expect_activation(walk, layer, CONV_ACTIVATION, *activation, what)
    arrays = _conv_arrays(layer, what, in_channels, walk.model.param_path)
    if kind == "Deconvolution":
        arrays[f"{what}.weight"] = np.ascontiguousarray(arrays[f"{what}.weight"].transpose(1, 0, 2, 3))
    state.update(arrays)
    return layer


def _cugan_conv(walk, what, reads, outputs, in_channels, state, kernel=3, stride=1, leaky=True) -> NcnnLayer:
    return _cugan_kernel(walk, "Convolution", what, reads, outputs, in_channels, (kernel, stride, 0), leaky, state)


def _cugan_up(walk, what, reads, channels, state) -> NcnnLayer:
    """The 2x2, stride 2 transposed convolution (with LeakyReLU) that brings a level back up."""
    return _cugan_kernel(walk, "Deconvolution", what, reads, channels, channels, (2, 2, 0), True, state)


def _inner_product(walk: _GraphWalk, what: str, reads: NcnnLayer, outputs: int, inputs: int, activation: int, state: dict) -> NcnnLayer:
    """An InnerProduct with bias onto our ``nn.Linear`` (Paddle keeps its weight as [in, out])."""
    layer = walk.take("InnerProduct", what)
    walk.expect_sources(layer, [reads], what)
    weight = layer.weights["weight"]
    walk.expect(layer, layer.param(INNER_OUTPUTS) == outputs and weight.size == outputs * inputs and "bias" in layer.weights,
                f"{what}: {inputs} -> {outputs} with bias")
    _expect_activation(walk, layer, INNER_ACTIVATION, activation, (), what)
    state[f"{what}.weight"] = np.ascontiguousarray(weight.reshape(outputs, inputs).T)
    state[f"{what}.bias"] = layer.weights["bias"]
    return layer


def _squeeze_excite(walk: _GraphWalk, features: NcnnLayer, name: str, channels: int, state: dict) -> NcnnLayer:
    """Global mean, ReLU(linear), sigmoid(linear), channel-wise product; returns the product."""
    pool = walk.take("Pooling", f"the global mean of {name}")
    walk.expect_sources(pool, [features], f"the global mean of {name}")
    walk.expect(pool, pool.param(POOLING_TYPE) == POOLING_AVERAGE and pool.param(POOLING_GLOBAL) == 1,
                f"the global mean of {name}: global average pooling")
    hidden = channels // _CUGAN_SE_REDUCTION
    squeeze = _inner_product(walk, f"{name}.squeeze", pool, hidden, channels, ACTIVATION_RELU, state)
    excite = _inner_product(walk, f"{name}.excite", squeeze, channels, hidden, ACTIVATION_SIGMOID, state)
    product = walk.take("BinaryOp", f"the channel weighting of {name}")
    walk.expect(product, product.param(0) == BINARY_MUL and not product.param(1), f"the channel weighting of {name}: a product of two blobs")
    walk.expect(product, sorted(map(id, walk.sources(product))) == sorted(map(id, [features, excite])),
                f"the channel weighting of {name}: {features.name} x {excite.name}")
    return product


def _valid_pair(walk, reads, name, in_channels, mid, out, squeeze_excite, state) -> NcnnLayer:
    """Two unpadded 3x3 convs with LeakyReLU(0.1), optionally followed by squeeze-and-excitation."""
    first = _cugan_conv(walk, f"{name}.conv1", reads, mid, in_channels, state)
    second = _cugan_conv(walk, f"{name}.conv2", first, out, mid, state)
    return _squeeze_excite(walk, second, f"{name}.se", out, state) if squeeze_excite else second


def _border_crop(walk: _GraphWalk, reads: NcnnLayer, border: int, what: str) -> NcnnLayer:
    """The Crop that trims `border` pixels from each side of `reads`' output.

    ncnn's exporter writes a skip's crop anywhere between its source and its use, so the crop
    is found by what it reads rather than by its place in the file.
    """
    for index in range(walk.position, len(walk.layers)):
        layer = walk.layers[index]
        if layer.type == "Crop" and walk.sources(layer) == [reads]:
            del walk.layers[index]
            params = (set(layer.params), layer.param(CROP_STARTS), layer.param(CROP_ENDS), layer.param(CROP_AXES))
            walk.expect(layer, params == ({CROP_STARTS, CROP_ENDS, CROP_AXES}, (border, border), (-border, -border), (-2, -1)),
                        f"{what}: {border} pixels off each side of the height and width")
            return layer
    walk.fail(walk.peek(), f"{what} (a Crop of {reads.name})")


def _shallow_unet(walk: _GraphWalk, image: NcnnLayer, in_nc: int, state: dict) -> tuple[NcnnLayer, int]:
    """Real-CUGAN's first U-Net (our ``upsampler``); returns its last layer and the scale it enlarges by."""
    top = _valid_pair(walk, image, "upsampler.encode", in_nc, 32, 64, False, state)
    down = _cugan_conv(walk, "upsampler.down", top, 64, 64, state, kernel=2, stride=2)
    middle = _valid_pair(walk, down, "upsampler.middle", 64, 128, 64, True, state)
    skip = _border_crop(walk, top, 4, "the crop of the upsampler's skip")
    up = _cugan_up(walk, "upsampler.up", middle, 64, state)
    joined = walk.add("the upsampler's skip sum", [skip, up])
    merge = _cugan_conv(walk, "upsampler.merge", joined, 64, 64, state)
    head = walk.peek()
    geometry = None if head is None else (head.param(CONV_KERNEL), head.param(CONV_STRIDE, 1), head.param(CONV_PAD))
    if geometry not in _CUGAN_UPSAMPLER_HEADS:
        walk.fail(head, f"upsampler.head, a transposed convolution of (kernel, stride, padding) in {sorted(_CUGAN_UPSAMPLER_HEADS)}")
    outputs = head.param(CONV_OUTPUTS)
    walk.expect(head, outputs in (3, 64), "upsampler.head with 3 (x2, x3) or 64 (x4) output channels")
    head = _cugan_kernel(walk, "Deconvolution", "upsampler.head", merge, outputs, 64, geometry, False, state)
    return head, _CUGAN_UPSAMPLER_HEADS[geometry]


def _deep_unet(walk: _GraphWalk, upscaled: NcnnLayer, features: int, state: dict) -> NcnnLayer:
    """Real-CUGAN's second U-Net (our ``refiner``); returns its last convolution."""
    level1 = _valid_pair(walk, upscaled, "refiner.encode1", features, 32, 64, False, state)
    down1 = _cugan_conv(walk, "refiner.down1", level1, 64, 64, state, kernel=2, stride=2)
    level2 = _valid_pair(walk, down1, "refiner.encode2", 64, 64, 128, True, state)
    down2 = _cugan_conv(walk, "refiner.down2", level2, 128, 128, state, kernel=2, stride=2)
    level3 = _valid_pair(walk, down2, "refiner.bottom", 128, 256, 128, True, state)
    skip2 = _border_crop(walk, level2, 4, "the crop of the refiner's middle skip")
    up2 = _cugan_up(walk, "refiner.up2", level3, 128, state)
    joined2 = walk.add("the refiner's middle skip sum", [skip2, up2])
    decoded = _valid_pair(walk, joined2, "refiner.decode2", 128, 64, 64, True, state)
    skip1 = _border_crop(walk, level1, 16, "the crop of the refiner's top skip")
    up1 = _cugan_up(walk, "refiner.up1", decoded, 64, state)
    joined1 = walk.add("the refiner's top skip sum", [skip1, up1])
    merge = _cugan_conv(walk, "refiner.merge", joined1, 64, 64, state)
    return _cugan_conv(walk, "refiner.head", merge, features, 64, state, leaky=False)


@CONVERTERS.register("ncnn_realcugan")
def realcugan_from_ncnn(files: list[Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Real-CUGAN's UpCunet x2/x3/x4 (realcugan-ncnn-vulkan's models-se) onto ``realcugan``.

    The graphs hold the network alone: the reflected padding, the crop to the exact size
    and (x4) the nearest-upsampled input added at the end are done by the program around
    it, and by our network itself. The overrides always hold ``scale`` (it shapes the
    upsampler's last layer, but a strict check would not tell x2 from x4's first U-Net).
    """
    model = model_from_files(files)
    walk = _GraphWalk(model, "Real-CUGAN's UpCunet (SE)")
    image = walk.take("Input", "the input image")
    first = walk.peek()
    walk.expect(first, first is not None and first.type == "Convolution" and first.param(CONV_OUTPUTS) == 32 and "weight" in first.weights,
                "upsampler.encode.conv1 (an ncnn Convolution layer with 32 outputs)")
    in_nc = first.weights["weight"].size // (32 * 9)
    state: dict[str, np.ndarray] = {}
    upscaled, scale = _shallow_unet(walk, image, in_nc, state)
    features = upscaled.param(CONV_OUTPUTS)
    # Claimed first: the exporter writes this crop in the middle of the refiner's layers.
    centre = _border_crop(walk, upscaled, 20, "the crop of the upsampler's result to the refiner's size")
    refined = _deep_unet(walk, upscaled, features, state)
    result = walk.add("the sum of the refiner's correction and the upsampler's result", [refined, centre])
    out_nc = features
    if features == 64:
        walk.expect(upscaled, scale == 2, "an x2 upsampler in the x4 network")
        to_pixels = walk.peek()
        walk.expect(to_pixels, to_pixels is not None and to_pixels.type == "Convolution" and to_pixels.param(CONV_OUTPUTS) % 4 == 0,
                    "to_pixels, a convolution to colours x 2^2 channels")
        out_nc = to_pixels.param(CONV_OUTPUTS) // 4
        to_pixels = _cugan_conv(walk, "to_pixels", result, out_nc * 4, 64, state, leaky=False)
        trimmed = _border_crop(walk, to_pixels, 1, "the crop of to_pixels' output")
        shuffle = walk.take("PixelShuffle", "the pixel shuffle to x4")
        walk.expect_sources(shuffle, [trimmed], "the pixel shuffle to x4")
        walk.expect(shuffle, shuffle.param(0) == 2 and not shuffle.param(1), "the pixel shuffle by 2 in PyTorch's channel order (mode 0)")
        scale = 4
    walk.finish()
    found = {"in_nc": in_nc, "out_nc": out_nc}
    return state, {**_overrides(REALCUGAN_NET, found), "scale": scale}
