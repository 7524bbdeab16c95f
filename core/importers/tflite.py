"""TensorFlow Lite models read with numpy alone, and the converter of MediaPipe's BlazeFace onto ours.

A ``.tflite`` file is one FlatBuffer. Its layout, as far as this reader needs it:

- byte 0: a little-endian uint32, the offset of the root table (a ``Model``); bytes 4..8: the
  file identifier ``TFL3``.
- A table starts with an int32 that, subtracted from the table's position, gives its vtable. The
  vtable holds uint16s: its own size, the table's size, then one offset per field (0 or past the
  end: the field is absent and takes its default). Scalars sit inline in the table; a table,
  vector or string field holds a uint32 offset from the field itself to its target.
- A vector or string is a uint32 element count followed by the elements (tables: one uint32
  offset per element, each relative to its own position).

The schema (tensorflow/lite/schema/schema.fbs), fields numbered from 0:

- Model: 0 version (uint32, 3), 1 operator_codes, 2 subgraphs, 3 description, 4 buffers.
- SubGraph: 0 tensors, 1 inputs (int32), 2 outputs (int32), 3 operators, 4 name.
- Tensor: 0 shape (int32), 1 type (int8: 0 float32, 1 float16, ...), 2 buffer (uint32, an index
  into Model.buffers; buffer 0 is the empty one), 3 name, 4 quantization.
- Buffer: 0 data (uint8), 1 offset and 2 size (uint64; files over 2 GB keep data after the
  FlatBuffer, at that offset from the start of the file).
- OperatorCode: 0 deprecated_builtin_code (int8), 3 builtin_code (int32); the code is the larger.
- Operator: 0 opcode_index (uint32), 1 inputs, 2 outputs (int32, -1 for an absent optional
  input), 3 builtin_options_type (uint8), 4 builtin_options (a table).
- Conv2DOptions (type 1): 0 padding (0 SAME, 1 VALID), 1 stride_w, 2 stride_h,
  3 fused_activation_function, 4 dilation_w_factor = 1, 5 dilation_h_factor = 1.
  DepthwiseConv2DOptions (type 2): 0 padding, 1 stride_w, 2 stride_h, 3 depth_multiplier,
  4 fused_activation_function, 5 and 6 the dilations.

Every read is checked against the file's length, so a truncated or foreign file is refused with
``CheckpointMismatch`` naming the file, never read past its end. Weights stored as float16 (with
a DEQUANTIZE operator turning them into float32 at run time) are widened exactly here.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import CheckpointMismatch
from core.registry import CONVERTERS

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3

# TensorType values this reader decodes (others are described by name in messages).
FLOAT32, FLOAT16, INT32 = 0, 1, 2
_TENSOR_DTYPES = {FLOAT32: np.dtype("<f4"), FLOAT16: np.dtype("<f2"), INT32: np.dtype("<i4"), 3: np.dtype("u1"),
                  4: np.dtype("<i8"), 9: np.dtype("i1"), 7: np.dtype("<i2"), 10: np.dtype("<f8")}
_TENSOR_TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                      7: "int16", 9: "int8", 10: "float64"}

# BuiltinOperator codes used here.
ADD, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE = 0, 2, 3, 4, 6
MAX_POOL_2D, RELU, RESHAPE, PAD = 17, 19, 22, 34
OPERATOR_NAMES = {ADD: "ADD", CONCATENATION: "CONCATENATION", CONV_2D: "CONV_2D", DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D",
                  DEQUANTIZE: "DEQUANTIZE", MAX_POOL_2D: "MAX_POOL_2D", RELU: "RELU", RESHAPE: "RESHAPE", PAD: "PAD"}

# BuiltinOptions union members and the fields read from them, as (field number, struct format, default).
CONV_2D_OPTIONS, DEPTHWISE_CONV_2D_OPTIONS = 1, 2
_OPTION_FIELDS = {
    CONV_2D_OPTIONS: {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                      "activation": (3, "b", 0), "dilation_w": (4, "i", 1), "dilation_h": (5, "i", 1)},
    DEPTHWISE_CONV_2D_OPTIONS: {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                                "depth_multiplier": (3, "i", 0), "activation": (4, "b", 0),
                                "dilation_w": (5, "i", 1), "dilation_h": (6, "i", 1)},
}
PADDING_SAME, PADDING_VALID = 0, 1
_PADDING_NAMES = {PADDING_SAME: "'SAME'", PADDING_VALID: "'VALID'"}
ACTIVATION_NONE = 0


# ---------------------------------------------------------------- FlatBuffer access


class _FlatBuffer:
    """Bounds-checked little-endian reads from one file's bytes; every failure names the file."""

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.path = path

    def fail(self, problem: str) -> CheckpointMismatch:
        return CheckpointMismatch(f"{self.path} is not a TensorFlow Lite model this reader can use: {problem}")

    def _check(self, position: int, size: int, what: str) -> None:
        if position < 0 or position + size > len(self.data):
            raise self.fail(
                f"{what} at byte {position} ({size} bytes) lies outside the file's {len(self.data)} bytes "
                "(the file is truncated or corrupt)"
            )

    def scalar(self, position: int, fmt: str, what: str):
        size = struct.calcsize("<" + fmt)
        self._check(position, size, what)
        return struct.unpack_from("<" + fmt, self.data, position)[0]

    def table(self, position: int, what: str) -> "_Table":
        vtable = position - self.scalar(position, "i", f"the vtable offset of {what}")
        vtable_size = self.scalar(vtable, "H", f"the vtable of {what}")
        if vtable_size < 4 or vtable_size % 2:
            raise self.fail(f"the vtable of {what} at byte {vtable} has an impossible size {vtable_size}")
        self._check(vtable, vtable_size, f"the vtable of {what}")
        return _Table(self, position, vtable, vtable_size, what)


@dataclass(frozen=True)
class _Table:
    buffer: _FlatBuffer
    position: int
    vtable: int
    vtable_size: int
    what: str

    def _field_position(self, number: int) -> int | None:
        slot = 4 + 2 * number
        if slot >= self.vtable_size:
            return None
        offset = self.buffer.scalar(self.vtable + slot, "H", f"field {number} of {self.what}")
        return self.position + offset if offset else None

    def scalar(self, number: int, fmt: str, default, name: str):
        position = self._field_position(number)
        return default if position is None else self.buffer.scalar(position, fmt, f"{self.what}.{name}")

    def _target(self, number: int, name: str) -> int | None:
        position = self._field_position(number)
        if position is None:
            return None
        return position + self.buffer.scalar(position, "I", f"the offset of {self.what}.{name}")

    def subtable(self, number: int, name: str) -> "_Table | None":
        target = self._target(number, name)
        return None if target is None else self.buffer.table(target, f"{self.what}.{name}")

    def _vector(self, number: int, element_size: int, name: str) -> tuple[int, int]:
        """(position of the first element, count); an absent vector is empty."""
        target = self._target(number, name)
        if target is None:
            return 0, 0
        count = self.buffer.scalar(target, "I", f"the length of {self.what}.{name}")
        self.buffer._check(target + 4, count * element_size, f"the {count} elements of {self.what}.{name}")
        return target + 4, count

    def array(self, number: int, dtype: str, name: str) -> np.ndarray:
        """A vector of scalars as a numpy array (a copy, so the file's bytes can go)."""
        dtype = np.dtype(dtype)
        start, count = self._vector(number, dtype.itemsize, name)
        return np.frombuffer(self.buffer.data, dtype=dtype, count=count, offset=start).copy() if count else np.zeros(0, dtype)

    def string(self, number: int, name: str) -> str:
        start, count = self._vector(number, 1, name)
        return self.buffer.data[start:start + count].decode("utf-8", errors="replace")

    def tables(self, number: int, name: str) -> list["_Table"]:
        start, count = self._vector(number, 4, name)
        items = []
        for i in range(count):
            slot = start + 4 * i
            items.append(self.buffer.table(slot + self.buffer.scalar(slot, "I", f"{self.what}.{name}[{i}]"),
                                           f"{self.what}.{name}[{i}]"))
        return items


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class TfliteTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    type: int
    buffer: int

    @property
    def type_name(self) -> str:
        return _TENSOR_TYPE_NAMES.get(self.type, f"type {self.type}")


@dataclass(frozen=True)
class TfliteOperator:
    index: int
    code: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return OPERATOR_NAMES.get(self.code, f"operator {self.code}")


@dataclass
class TfliteModel:
    """The first subgraph of a .tflite file: tensors, operators in execution order, constant data."""

    path: Path
    tensors: list[TfliteTensor]
    operators: list[TfliteOperator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    buffers: list[bytes]
    description: str = ""

    def fail(self, problem: str) -> CheckpointMismatch:
        return CheckpointMismatch(f"{self.path}: {problem}")

    def raw_constant(self, index: int) -> np.ndarray | None:
        """The data stored for tensor `index` in its own type, or None when it has none."""
        tensor = self.tensors[index]
        data = self.buffers[tensor.buffer] if tensor.buffer < len(self.buffers) else b""
        if not data:
            return None
        dtype = _TENSOR_DTYPES.get(tensor.type)
        if dtype is None:
            raise self.fail(f"tensor {tensor.name!r} holds {tensor.type_name} data, which this reader does not decode")
        count = int(np.prod(tensor.shape)) if tensor.shape else 1
        if len(data) != count * dtype.itemsize:
            raise self.fail(f"tensor {tensor.name!r} of shape {list(tensor.shape)} ({tensor.type_name}) "
                            f"has {len(data)} bytes of data, not {count * dtype.itemsize}")
        return np.frombuffer(data, dtype=dtype).reshape(tensor.shape).copy()

    def producer(self, index: int) -> TfliteOperator | None:
        for operator in self.operators:
            if index in operator.outputs:
                return operator
        return None

    def float_constant(self, index: int, what: str) -> np.ndarray:
        """Tensor `index` as float32: stored float32, stored float16, or a DEQUANTIZE of stored float16."""
        tensor = self.tensors[index]
        source = index
        if tensor.buffer == 0 or not self.buffers[tensor.buffer]:
            producer = self.producer(index)
            if producer is None or producer.code != DEQUANTIZE or not producer.inputs or producer.inputs[0] < 0:
                raise self.fail(f"{what} (tensor {tensor.name!r}) is not a constant")
            source = producer.inputs[0]
        value = self.raw_constant(source)
        stored = self.tensors[source]
        if value is None or stored.type not in (FLOAT32, FLOAT16):
            raise self.fail(f"{what} (tensor {stored.name!r}, {stored.type_name}) is not a float constant; "
                            "quantized weights are not supported")
        return value.astype(np.float32)  # float16 -> float32 is exact


def _operator_code(table: _Table) -> int:
    # Codes up to 127 sit in the old int8 field; newer ones only in builtin_code (the larger wins).
    return max(table.scalar(0, "b", 0, "deprecated_builtin_code"), table.scalar(3, "i", 0, "builtin_code"))


def _options(table: _Table, options_type: int) -> dict:
    fields = _OPTION_FIELDS.get(options_type)
    options_table = table.subtable(4, "builtin_options") if fields else None
    if options_table is None:
        return {}
    return {name: options_table.scalar(number, fmt, default, name) for name, (number, fmt, default) in fields.items()}


def read_tflite(path: Path | str) -> TfliteModel:
    """Parse a .tflite file (its first subgraph); CheckpointMismatch for anything else or anything cut short."""
    path = Path(path)
    data = path.read_bytes()
    buffer = _FlatBuffer(data, path)
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise buffer.fail(f"it does not carry the FlatBuffer identifier {FILE_IDENTIFIER.decode()} at bytes 4-8 "
                          f"(found {data[4:8]!r}; {len(data)} bytes)")
    model = buffer.table(buffer.scalar(0, "I", "the root offset"), "Model")
    version = model.scalar(0, "I", 0, "version")
    if version != SCHEMA_VERSION:
        raise buffer.fail(f"schema version {version}, not {SCHEMA_VERSION}")

    codes = [_operator_code(t) for t in model.tables(1, "operator_codes")]
    subgraphs = model.tables(2, "subgraphs")
    if not subgraphs:
        raise buffer.fail("it has no subgraph")
    graph = subgraphs[0]

    buffers = []
    for i, table in enumerate(model.tables(4, "buffers")):
        offset, size = table.scalar(1, "Q", 0, "offset"), table.scalar(2, "Q", 0, "size")
        if offset > 1:  # data kept after the FlatBuffer (files over 2 GB)
            buffer._check(offset, size, f"the data of buffer {i}")
            buffers.append(data[offset:offset + size])
        else:
            buffers.append(table.array(0, "u1", "data").tobytes())

    tensors = []
    for i, table in enumerate(graph.tables(0, "tensors")):
        tensor = TfliteTensor(
            index=i,
            name=table.string(3, "name"),
            shape=tuple(int(v) for v in table.array(0, "<i4", "shape")),
            type=table.scalar(1, "b", FLOAT32, "type"),
            buffer=table.scalar(2, "I", 0, "buffer"),
        )
        if tensor.buffer >= len(buffers):
            raise buffer.fail(f"tensor {tensor.name!r} names buffer {tensor.buffer} of {len(buffers)}")
        tensors.append(tensor)

    operators = []
    for i, table in enumerate(graph.tables(3, "operators")):
        opcode_index = table.scalar(0, "I", 0, "opcode_index")
        if opcode_index >= len(codes):
            raise buffer.fail(f"operator {i} names operator code {opcode_index} of {len(codes)}")
        inputs = tuple(int(v) for v in table.array(1, "<i4", "inputs"))
        outputs = tuple(int(v) for v in table.array(2, "<i4", "outputs"))
        if any(t >= len(tensors) or t < -1 for t in inputs + outputs):
            raise buffer.fail(f"operator {i} names a tensor beyond the {len(tensors)} there are")
        options_type = table.scalar(3, "B", 0, "builtin_options_type")
        operators.append(TfliteOperator(i, codes[opcode_index], inputs, outputs, _options(table, options_type)))

    def indices(number, name):
        values = tuple(int(v) for v in graph.array(number, "<i4", name))
        if any(not 0 <= t < len(tensors) for t in values):
            raise buffer.fail(f"the subgraph's {name} name a tensor beyond the {len(tensors)} there are")
        return values

    return TfliteModel(path, tensors, operators, indices(1, "inputs"), indices(2, "outputs"), buffers,
                       model.string(3, "description"))


# ---------------------------------------------------------------- MediaPipe BlazeFace -> blazeface

# Our blocks that halve the resolution (core.nets.blazeface: BACKBONE1_BLOCKS, BACKBONE2_BLOCKS).
_BLAZEFACE_STRIDE_2_BLOCKS = {"backbone1.4", "backbone1.7", "backbone2.0"}
_BLAZEFACE_BLOCKS = [f"backbone1.{i}" for i in range(2, 13)] + [f"backbone2.{i}" for i in range(5)]
_BLAZEFACE_OUTPUTS = {(1, 896, 16): "regressors", (1, 896, 1): "scores"}


def _convolutions(model: TfliteModel) -> list[TfliteOperator]:
    allowed = {ADD, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE, MAX_POOL_2D, RELU, RESHAPE, PAD}
    for operator in model.operators:
        if operator.code not in allowed:
            raise model.fail(f"operator {operator.index} is a {operator.name}, which BlazeFace does not use")
    return [op for op in model.operators if op.code in (CONV_2D, DEPTHWISE_CONV_2D)]


def _expect_convolution(model: TfliteModel, op: TfliteOperator, ours: str, code: int, kernel: int, stride: int) -> None:
    """`op` is the convolution our `ours` computes: kind, kernel size, stride, 'SAME' padding, no fused activation."""
    options = op.options
    weight_shape = model.tensors[op.inputs[1]].shape
    found = (f"a {op.name} with a {weight_shape} kernel, stride {options.get('stride_h')}x{options.get('stride_w')}, "
             f"padding {_PADDING_NAMES.get(options.get('padding'), options.get('padding'))}, "
             f"activation {options.get('activation')}")
    fits = (
        op.code == code
        and len(op.inputs) == 3
        and len(weight_shape) == 4 and weight_shape[1:3] == (kernel, kernel)
        and options.get("stride_h") == options.get("stride_w") == stride
        # For a 1x1 stride-1 kernel 'SAME' and 'VALID' both mean no padding.
        and (options.get("padding") == PADDING_SAME or (kernel == 1 and stride == 1 and options.get("padding") == PADDING_VALID))
        and options.get("activation") == ACTIVATION_NONE
        and options.get("dilation_h") == options.get("dilation_w") == 1
        and options.get("depth_multiplier", 1) == 1
    )
    if not fits:
        want = f"a {OPERATOR_NAMES[code]} {kernel}x{kernel}, stride {stride}, 'SAME' padding, without fused activation"
        raise model.fail(f"operator {op.index} should be {ours} ({want}) but is {found}")


def _conv_arrays(model: TfliteModel, op: TfliteOperator, ours: str) -> dict[str, np.ndarray]:
    """A convolution's kernel and bias in our layout: OHWI -> OIHW, depthwise 1HWC -> C1HW."""
    kernel = model.float_constant(op.inputs[1], f"the kernel of {ours}")
    bias = model.float_constant(op.inputs[2], f"the bias of {ours}")
    axes = (3, 0, 1, 2) if op.code == DEPTHWISE_CONV_2D else (0, 3, 1, 2)
    return {f"{ours}.weight": np.ascontiguousarray(kernel.transpose(axes)), f"{ours}.bias": bias}


@CONVERTERS.register("tflite_blazeface")
def blazeface_from_tflite(files: list[Path]) -> tuple[dict[str, np.ndarray], dict]:
    """MediaPipe's face_detection_short_range.tflite (BlazeFace front, 128x128) onto ``blazeface``.

    The graph is checked to be BlazeFace as our network computes it: a 5x5 stride-2 stem, 16
    blocks of (3x3 depthwise, 1x1 pointwise) convolutions with stride 2 where our blocks have
    it, and four 1x1 heads; outputs regressors [1, 896, 16] and scores [1, 896, 1].
    """
    if len(files) != 1:
        raise CheckpointMismatch(f"BlazeFace's TFLite import takes one .tflite file, got {len(files)}: {files}")
    model = read_tflite(files[0])
    output_shapes = sorted(model.tensors[t].shape for t in model.outputs)
    if output_shapes != sorted(_BLAZEFACE_OUTPUTS):
        raise model.fail(f"outputs of shapes {output_shapes}, not BlazeFace's {sorted(_BLAZEFACE_OUTPUTS)}")
    convolutions = _convolutions(model)
    expected = 1 + 2 * len(_BLAZEFACE_BLOCKS) + 4
    if len(convolutions) != expected:
        raise model.fail(f"{len(convolutions)} convolutions, not BlazeFace's {expected}")

    stem, *block_convs = convolutions[:1 + 2 * len(_BLAZEFACE_BLOCKS)]
    _expect_convolution(model, stem, "backbone1.0", CONV_2D, 5, 2)
    state = _conv_arrays(model, stem, "backbone1.0")
    features = _single_consumer(model, stem.outputs[0], RELU, "the ReLU after backbone1.0").outputs[0]
    block_outputs = {}
    for i, block in enumerate(_BLAZEFACE_BLOCKS):
        depthwise, pointwise = block_convs[2 * i:2 * i + 2]
        stride = 2 if block in _BLAZEFACE_STRIDE_2_BLOCKS else 1
        _expect_convolution(model, depthwise, f"{block}.convs.0", DEPTHWISE_CONV_2D, 3, stride)
        _expect_convolution(model, pointwise, f"{block}.convs.1", CONV_2D, 1, 1)
        if depthwise.inputs[0] != features or pointwise.inputs[0] != depthwise.outputs[0]:
            raise model.fail(f"operators {depthwise.index} and {pointwise.index} ({block}) do not read the "
                             "previous block's output one after the other")
        state.update(_conv_arrays(model, depthwise, f"{block}.convs.0"))
        state.update(_conv_arrays(model, pointwise, f"{block}.convs.1"))
        residual = _single_consumer(model, pointwise.outputs[0], ADD, f"the residual sum of {block}")
        features = _single_consumer(model, residual.outputs[0], RELU, f"the ReLU of {block}").outputs[0]
        block_outputs[block] = features

    # The heads: 1x1 convolutions, two on the 16x16 map (end of backbone1), two on the 8x8 one (end of backbone2).
    maps = {block_outputs["backbone1.12"]: "8", block_outputs["backbone2.4"]: "16"}
    for head in convolutions[-4:]:
        per_anchor = model.tensors[head.inputs[1]].shape[0] if len(head.inputs) > 1 else 0
        # Scores: one value per anchor (2 or 6 channels); boxes: 16 per anchor (32 or 96).
        ours = f"{'classifier' if per_anchor in (2, 6) else 'regressor'}_{maps.get(head.inputs[0], '?')}"
        if ours.endswith("?") or f"{ours}.weight" in state:
            raise model.fail(f"operator {head.index} is not one of BlazeFace's four heads")
        _expect_convolution(model, head, ours, CONV_2D, 1, 1)
        state.update(_conv_arrays(model, head, ours))
    return state, {}


def _single_consumer(model: TfliteModel, tensor: int, code: int, what: str) -> TfliteOperator:
    """The one operator of kind `code` that reads `tensor` (BlazeFace's graph has exactly one)."""
    readers = [op for op in model.operators if tensor in op.inputs and op.code == code]
    if len(readers) != 1:
        raise model.fail(f"{what}: {len(readers)} {OPERATOR_NAMES[code]} operators read tensor "
                         f"{model.tensors[tensor].name!r}, not one")
    return readers[0]
