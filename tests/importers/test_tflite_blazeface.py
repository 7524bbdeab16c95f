"""MediaPipe's BlazeFace (mediapipe 0.10.21, face_detection_short_range.tflite) converted onto ``blazeface``.

The independent check runs the original .tflite with LiteRT (ai-edge-litert) on the CPU and
compares with our Paddle network carrying the converted weights, on real photos that ship
offline: scikit-image's astronaut, matplotlib's Grace Hopper, and a picture composed of both.
Both sides compute in float32 from the same float16 weights (widened exactly), so only the
order of summation differs.
"""
import hashlib
import importlib.metadata
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

from core.errors import CheckpointMismatch
from core.importers.tflite import FLOAT16, blazeface_from_tflite, read_tflite
from core.nets import blazeface as bf
from core.registry import CONVERTERS, WEIGHTS
from tests.reference import load_manifest

TFLITE = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
TFLITE_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"

# Raw outputs, relative to the output's largest magnitude (logits reach several thousand on the
# black letterbox bars): measured at most 3.1e-6 (1.2e-2 absolute on scores of magnitude 3893).
RAW_RELATIVE_TOLERANCE = 1e-5
# Where it matters, on anchors whose logit lies within +-10 (the sigmoid's working range): measured
# at most 4.4e-5 on logits and 5.3e-5 on their regressors (input pixels).
DECIDING_LOGIT = 10.0
DECIDING_TOLERANCE = 5e-4
# Decoded boxes and keypoints, fractions of the input: measured at most 4e-8.
DECODED_TOLERANCE = 1e-3


def _tflite_path() -> Path:
    # mediapipe is installed --no-deps (requirements-weights.txt) and cannot be imported: look for its file.
    try:
        path = Path(importlib.metadata.distribution("mediapipe").locate_file(TFLITE))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("mediapipe (requirements-weights.txt) is not installed")
    if not path.is_file():
        pytest.skip(f"{path} is missing from the installed mediapipe")
    return path


@pytest.fixture(scope="module")
def tflite_path() -> Path:
    return _tflite_path()


@pytest.fixture(scope="module")
def net(tflite_path):
    """Our network with the converted weights, loaded strictly (exactly the network's names and shapes)."""
    state, overrides = CONVERTERS.get("tflite_blazeface")([tflite_path])
    assert overrides == {}
    network = bf.blazeface(**overrides)
    own = {name: list(t.shape) for name, t in network.state_dict().items()}
    assert {name: list(a.shape) for name, a in state.items()} == own
    assert all(a.dtype == np.float32 for a in state.values())
    network.set_state_dict({name: paddle.to_tensor(a) for name, a in state.items()})
    network.eval()
    return network


@pytest.fixture(scope="module")
def litert(tflite_path):
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_path=str(tflite_path), num_threads=2)
    interpreter.allocate_tensors()
    (image,) = interpreter.get_input_details()
    outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}

    def run(x: np.ndarray):
        interpreter.set_tensor(image["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))  # NCHW -> NHWC
        interpreter.invoke()
        return interpreter.get_tensor(outputs["regressors"]), interpreter.get_tensor(outputs["classificators"])

    return run


# ---------------------------------------------------------------- the file and the reader


def test_the_pinned_file_is_the_one_the_spec_names(tflite_path):
    assert hashlib.sha256(tflite_path.read_bytes()).hexdigest() == TFLITE_SHA256
    spec = WEIGHTS.get("blazeface.mediapipe_short_range")
    assert spec.packaged.files == ((TFLITE, TFLITE_SHA256),)
    assert spec.packaged.distribution == "mediapipe" and spec.packaged.version == "0.10.21"
    assert spec.packaged.converter == "tflite_blazeface" and spec.architecture == "blazeface"


def test_reader_finds_the_74_float16_weights_in_the_manifest_s_order(tflite_path):
    model = read_tflite(tflite_path)
    assert [model.tensors[i].shape for i in model.inputs] == [(1, 128, 128, 3)]
    assert sorted(model.tensors[i].name for i in model.outputs) == ["classificators", "regressors"]
    weights = [t for t in model.tensors if t.type == FLOAT16]
    params = [(name, shape) for name, shape, kind in load_manifest("face_blazeface")["state_dict"] if kind == "param"]
    assert len(weights) == len(params) == 74
    for tensor, (name, shape) in zip(weights, params):
        value = model.raw_constant(tensor.index)
        assert value.dtype == np.float16 and value.shape == tensor.shape
        # Keras names: conv2d_k/Kernel, depthwise_conv2d_k/Bias, classificator_8/..., regressor_16/...
        assert tensor.name.endswith("/Kernel" if name.endswith(".weight") else "/Bias"), (tensor.name, name)
        if len(tensor.shape) == 4:
            axes = (3, 0, 1, 2) if tensor.name.startswith("depthwise") else (0, 3, 1, 2)
            assert [tensor.shape[a] for a in axes] == shape, (tensor.name, name)
        else:
            assert list(tensor.shape) == shape
    heads = [t.name.split("/")[0] for t in weights[-8::2]]
    assert heads == ["classificator_8", "classificator_16", "regressor_8", "regressor_16"]


def test_converted_weights_are_the_float16_values_widened(tflite_path):
    model = read_tflite(tflite_path)
    state, _ = blazeface_from_tflite([tflite_path])
    stem = next(t for t in model.tensors if t.name == "conv2d/Kernel")
    depthwise = next(t for t in model.tensors if t.name == "depthwise_conv2d_11/Kernel")
    np.testing.assert_array_equal(state["backbone1.0.weight"], model.raw_constant(stem.index).astype(np.float32).transpose(0, 3, 1, 2))
    # depthwise_conv2d_11 is the 12th block: backbone2.0, the stride-2 block that starts backbone2.
    np.testing.assert_array_equal(state["backbone2.0.convs.0.weight"][:, 0], model.raw_constant(depthwise.index)[0].transpose(2, 0, 1))


def test_a_truncated_file_is_refused_with_its_name(tflite_path, tmp_path):
    data = tflite_path.read_bytes()
    for size in (6, 2000, len(data) // 2, len(data) - 100):
        cut = tmp_path / f"cut-{size}.tflite"
        cut.write_bytes(data[:size])
        with pytest.raises(CheckpointMismatch) as refused:
            blazeface_from_tflite([cut])
        assert str(cut) in str(refused.value)
        assert "truncated" in str(refused.value) or "identifier" in str(refused.value)


def test_a_file_of_another_kind_is_refused_with_its_name(tmp_path):
    for name, content in {"weights.pdparams": b"\x80\x04\x95" + bytes(200), "notes.tflite": b"just some text, not a model\n"}.items():
        foreign = tmp_path / name
        foreign.write_bytes(content)
        with pytest.raises(CheckpointMismatch, match="TFL3") as refused:
            read_tflite(foreign)
        assert str(foreign) in str(refused.value)


def test_a_tflite_model_of_another_network_is_refused(tflite_path, tmp_path, monkeypatch):
    # The real file with one stride changed in the parsed graph: the converter names the block.
    import core.importers.tflite as tflite

    real = tflite.read_tflite

    def altered(path):
        model = real(path)
        for op in model.operators:
            if op.code == tflite.DEPTHWISE_CONV_2D and op.options["stride_w"] == 2:
                op.options.update(stride_w=1, stride_h=1)
                break
        return model

    monkeypatch.setattr(tflite, "read_tflite", altered)
    with pytest.raises(CheckpointMismatch, match=r"backbone1\.4\.convs\.0.*stride 2"):
        tflite.blazeface_from_tflite([tflite_path])
    with pytest.raises(CheckpointMismatch, match="one .tflite file"):
        tflite.blazeface_from_tflite([tflite_path, tflite_path])


# ---------------------------------------------------------------- against LiteRT on photos


def _photos() -> dict[str, np.ndarray]:
    skimage_data = pytest.importorskip("skimage.data")
    matplotlib = pytest.importorskip("matplotlib")
    from PIL import Image

    astronaut = skimage_data.astronaut()
    grace_hopper = np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))

    def square_256(image):
        return np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR))

    # Two faces side by side: the astronaut's head (a 320-pixel square from the top) and Grace
    # Hopper letterboxed to a square, each 256 pixels wide, letterboxed to a square in turn.
    # At 128x128 input the faces are about 19 and 27 pixels wide, as large as alone.
    head = astronaut[0:320, 65:385]
    both = np.concatenate([square_256(head), square_256(bf.letterbox_square(grace_hopper)[0])], axis=1)
    return {"astronaut": astronaut, "grace_hopper": grace_hopper, "two_faces": both}


def _network_input(image: np.ndarray):
    from PIL import Image

    square, letterbox = bf.letterbox_square(image)
    small = np.asarray(Image.fromarray(square).resize((bf.INPUT_SIZE, bf.INPUT_SIZE), Image.BILINEAR))
    return bf.to_network_input(small), letterbox


# Face centres in image pixels (checked by eye on the photos), and how far the detection may be.
EXPECTED_FACES = {
    "astronaut": [(225, 128)],
    "grace_hopper": [(268, 245)],
    "two_faces": [(128, 102), (389, 105)],
}
CENTRE_SLACK_PIXELS = 25


@pytest.mark.parametrize("photo", sorted(EXPECTED_FACES))
def test_our_network_matches_litert_on_photos(photo, net, litert):
    image = _photos()[photo]
    x, letterbox = _network_input(image)
    with paddle.no_grad():
        ours = [t.numpy() for t in net(paddle.to_tensor(x))]
    reference = litert(x)
    for name, mine, theirs in zip(("regressors", "scores"), ours, reference):
        assert mine.shape == theirs.shape
        worst = np.abs(mine - theirs).max()
        assert worst <= RAW_RELATIVE_TOLERANCE * np.abs(theirs).max(), f"{photo} {name}: max |diff| {worst:.3g}"
    deciding = np.abs(reference[1][0, :, 0]) <= DECIDING_LOGIT
    assert deciding.sum() > 100
    for name, mine, theirs in zip(("regressors", "scores"), ours, reference):
        worst = np.abs(mine[0, deciding] - theirs[0, deciding]).max()
        assert worst <= DECIDING_TOLERANCE, f"{photo} {name} on anchors with |logit| <= {DECIDING_LOGIT}: {worst:.3g}"

    boxes, keypoints, scores = bf.detect(*ours)
    their_boxes, their_keypoints, their_scores = bf.detect(*reference)
    assert len(boxes) == len(their_boxes) == len(EXPECTED_FACES[photo]), (scores, their_scores)
    np.testing.assert_allclose(boxes, their_boxes, atol=DECODED_TOLERANCE)
    np.testing.assert_allclose(keypoints, their_keypoints, atol=DECODED_TOLERANCE)
    np.testing.assert_allclose(scores, their_scores, atol=1e-4)

    # Each face where it is on the photo, its keypoints laid out like a face (MediaPipe's order).
    pixel_boxes = bf.to_image_pixels(boxes, letterbox)
    pixel_keypoints = bf.to_image_pixels(keypoints, letterbox)
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in pixel_boxes)
    for found, expected in zip(centres, sorted(EXPECTED_FACES[photo])):
        assert np.hypot(found[0] - expected[0], found[1] - expected[1]) < CENTRE_SLACK_PIXELS, (photo, centres)
    for points in pixel_keypoints:
        right_eye, left_eye, nose, mouth, right_ear, left_ear = points
        assert right_ear[0] < right_eye[0] < nose[0] < left_eye[0] < left_ear[0]  # the person's right on the left
        assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_cpu_time_of_one_forward(net):
    x = paddle.to_tensor(np.zeros((1, 3, 128, 128), np.float32))
    with paddle.no_grad():
        net(x)
        start = time.perf_counter()
        for _ in range(10):
            net(x)
    per_forward = (time.perf_counter() - start) / 10
    print(f"BlazeFace forward, 1x3x128x128, dygraph CPU: {per_forward * 1000:.1f} ms")
    assert per_forward < 1.0  # a detector this small taking a second means something is badly wrong
