"""Wav2Lip: PaddleGAN's layout and numbers (shared/reference wav2lip_hq), sequences, input and output helpers."""
import numpy as np
import paddle
import pytest

from core.nets import wav2lip as wl
from core.registry import NETWORKS, WEIGHTS
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import apply_recipe, assert_fingerprint, assert_same_layout, load_manifest, recipe_inputs

TOTAL_PARAMS = 36_320_787  # PaddleGAN's Wav2Lip, batch-norm statistics included (Paddle lists them as params)


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("wav2lip_hq")


@pytest.fixture(scope="module")
def recipe_net(manifest):
    net = wl.Wav2Lip()
    apply_recipe(net, manifest)
    return net


@pytest.fixture(scope="module")
def seeded_net():
    """Paddle's default initialisation (outputs that vary a lot with the input), eval mode."""
    paddle.seed(7)
    net = wl.Wav2Lip()
    net.eval()
    return net


def inputs(seed, batch, steps=None):
    """Random (mel, faces) of `batch` windows, or of `batch` sequences of `steps` windows (PaddleGAN's 5-D layout)."""
    rng = np.random.default_rng(seed)
    if steps is None:
        mel = rng.standard_normal((batch, 1, wl.NUM_MELS, wl.MEL_STEPS), dtype=np.float32)
        faces = rng.random((batch, wl.FACE_CHANNELS, wl.IMAGE_SIZE, wl.IMAGE_SIZE), dtype=np.float32)
    else:
        mel = rng.standard_normal((batch, steps, 1, wl.NUM_MELS, wl.MEL_STEPS), dtype=np.float32)
        faces = rng.random((batch, wl.FACE_CHANNELS, steps, wl.IMAGE_SIZE, wl.IMAGE_SIZE), dtype=np.float32)
    return mel, faces


def run(net, mel, faces):
    with paddle.no_grad():
        return net(paddle.to_tensor(mel), paddle.to_tensor(faces)).numpy()


# ---------------------------------------------------------------- PaddleGAN's layout and numbers


def test_layout_is_paddlegan_s(manifest, recipe_net):
    assert_same_layout(recipe_net, manifest)
    assert len(recipe_net.state_dict()) == len(manifest["state_dict"]) == 302
    count = sum(int(np.prod(p.shape)) for p in recipe_net.parameters())
    assert count == manifest["total_params"] == TOTAL_PARAMS
    # Decoder stages open with a transposed convolution: Paddle stores its weight [in, out, k, k].
    assert list(recipe_net.face_decoder_blocks[1][0].conv_block[0].weight.shape) == [1024, 512, 3, 3]


def test_fingerprint_matches_paddlegan(manifest, recipe_net):
    mel, faces = recipe_inputs(manifest)
    assert mel.shape == (2, 1, wl.NUM_MELS, wl.MEL_STEPS) and faces.shape == (2, 6, wl.IMAGE_SIZE, wl.IMAGE_SIZE)
    assert_fingerprint({"output": run(recipe_net, mel, faces)}, manifest)


def test_registered_with_its_configuration_and_checkpoints():
    assert NETWORKS.get("wav2lip_hq").architecture == "wav2lip"
    assert NETWORKS.get("wav2lip").default_weights == NETWORKS.get("wav2lip_hq").default_weights == "wav2lip.hq"
    assert NETWORKS.get("wav2lip").description.startswith("Wav2Lip")
    hq, plain = WEIGHTS.get("wav2lip.hq"), WEIGHTS.get("wav2lip.paddlegan")
    assert (hq.architecture, hq.filename, hq.key) == ("wav2lip_hq", "wav2lip_hq.pdparams", None)
    assert hq.url == "https://paddlegan.bj.bcebos.com/models/wav2lip_hq.pdparams"
    assert (plain.architecture, plain.filename, plain.key) == ("wav2lip", "wav2lip.pdparams", None)
    assert plain.url.startswith("https://paddlegan.bj.bcebos.com/")
    assert WEIGHTS.canonical("wav2lip_hq") == "wav2lip.hq" and WEIGHTS.canonical("wav2lip") == "wav2lip.paddlegan"
    for spec in (hq, plain):
        assert "non-commercial" in spec.licence and "LRS2" in spec.licence


def test_a_narrow_network_keeps_every_layer_name_and_the_shapes_of_its_ends():
    """width < 1 (tests, benchmarks): the same state-dict names, fewer channels, the same input and output."""
    full, narrow = wl.wav2lip(), wl.wav2lip(width=0.125)
    assert list(narrow.state_dict()) == list(full.state_dict())
    assert narrow.face_encoder_blocks[0][0].conv_block[0].weight.shape == [2, 6, 7, 7]
    narrow.eval()
    mel, faces = inputs(1, 2, None)
    assert run(narrow, mel, faces).shape == (2, 3, wl.IMAGE_SIZE, wl.IMAGE_SIZE)


def test_checkpoint_roundtrip(tmp_path, monkeypatch, registered):
    # No width parameter: the full network (~145 MB file in tmp_path), flat as PaddleGAN saves it.
    assert_checkpoint_roundtrip("wav2lip_hq", None, {}, tmp_path, monkeypatch, registered)


# ---------------------------------------------------------------- what the numbers above can't see


def test_sequences_fold_into_the_batch(seeded_net):
    """[B, T, 1, 80, 16] mel with [B, 6, T, 96, 96] faces -> [B, 3, T, 96, 96], window by window the 4-D result."""
    batch, steps = 2, 3
    mel, faces = inputs(1, batch, steps)
    sequence = run(seeded_net, mel, faces)
    assert sequence.shape == (batch, 3, steps, wl.IMAGE_SIZE, wl.IMAGE_SIZE)
    flat_mel = mel.reshape(batch * steps, 1, wl.NUM_MELS, wl.MEL_STEPS)
    flat_faces = faces.transpose(0, 2, 1, 3, 4).reshape(batch * steps, 6, wl.IMAGE_SIZE, wl.IMAGE_SIZE)
    windows = run(seeded_net, flat_mel, flat_faces).reshape(batch, steps, 3, wl.IMAGE_SIZE, wl.IMAGE_SIZE)
    np.testing.assert_allclose(sequence, windows.transpose(0, 2, 1, 3, 4), rtol=1e-5, atol=1e-6)
    # Every window is its own: the windows differ, so a mixed-up fold would show.
    assert np.abs(windows[0, 0] - windows[0, 1]).max() > 1e-3 and np.abs(windows[0, 0] - windows[1, 0]).max() > 1e-3


def test_output_is_a_bgr_image_in_the_unit_range(seeded_net):
    mel, faces = inputs(2, 3)
    mel *= 4.0  # mel spectrograms run to about +-4
    out = run(seeded_net, mel, faces)
    assert out.shape == (3, 3, wl.IMAGE_SIZE, wl.IMAGE_SIZE) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 1e-3  # not a constant image
    # The audio drives the result: another window, another face.
    other = run(seeded_net, -mel, faces)
    assert np.abs(other - out).max() > 1e-4


def test_network_input_masks_exactly_the_lower_half():
    rng = np.random.default_rng(3)
    faces = rng.integers(1, 256, (2, wl.IMAGE_SIZE, wl.IMAGE_SIZE, 3), dtype=np.uint8)  # no zero pixel
    x = wl.to_network_input(faces)
    assert x.shape == (2, 6, wl.IMAGE_SIZE, wl.IMAGE_SIZE) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    half = wl.IMAGE_SIZE // 2
    nchw = faces.transpose(0, 3, 1, 2).astype(np.float32) / 255
    assert np.all(x[:, :3, half:] == 0)  # rows 48..95 of the masked frame are zero...
    np.testing.assert_array_equal(x[:, :3, :half], nchw[:, :, :half])  # ...and rows 0..47 the frame itself
    np.testing.assert_array_equal(x[:, 3:], nchw)  # the reference is whole
    assert np.all(x[:, :3, :half] > 0)
    # Channel order is kept as given (BGR in, BGR out); a separate reference fills channels 3..5.
    reference = faces[:, :, ::-1].copy()
    with_reference = wl.to_network_input(faces, reference)
    np.testing.assert_array_equal(with_reference[:, :3], x[:, :3])
    np.testing.assert_array_equal(with_reference[:, 3:], reference.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    # What the mask hides of the frame never reaches the network.
    changed = faces.copy()
    changed[:, half:] = 0
    np.testing.assert_array_equal(wl.to_network_input(changed, faces), x)
    with pytest.raises(ValueError, match="face crops"):
        wl.to_network_input(faces[0])
    with pytest.raises(ValueError, match="face crops"):
        wl.to_network_input(np.zeros((1, 64, 64, 3), np.uint8))


def test_to_image_rounds_clips_and_returns_nhwc():
    output = np.zeros((1, 3, wl.IMAGE_SIZE, wl.IMAGE_SIZE), np.float32)
    output[0, :, 0, 0] = (0.2, 1.3, -0.1)  # 51, clipped 255, clipped 0
    output[0, :, 0, 1] = (0.4 / 255, 0.6 / 255, 254.6 / 255)  # rounds to 0, 1, 255
    image = wl.to_image(paddle.to_tensor(output))
    assert image.shape == (1, wl.IMAGE_SIZE, wl.IMAGE_SIZE, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 0, 0], [51, 255, 0])
    np.testing.assert_array_equal(image[0, 0, 1], [0, 1, 255])
    # The reference half of to_network_input comes back as the crops, exactly.
    faces = np.random.default_rng(4).integers(0, 256, (2, wl.IMAGE_SIZE, wl.IMAGE_SIZE, 3), dtype=np.uint8)
    np.testing.assert_array_equal(wl.to_image(wl.to_network_input(faces)[:, 3:]), faces)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        wl.to_image(np.zeros((3, wl.IMAGE_SIZE, wl.IMAGE_SIZE), np.float32))
