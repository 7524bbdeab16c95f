import numpy as np
import paddle
import pytest

from core import nets, weights
from core.nets.basicvsr import upscale_in_chunks
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import assert_network_matches_reference, assert_same_layout, load_manifest

NAME = "ppmsvsr_reds_x4"
TINY = {
    "mid_channels": 8, "num_init_blocks": 1, "num_blocks": 1, "num_reconstruction_blocks": 1, "deform_groups": 2,
    "stage1_groups": 2, "stage1_blocks": 1,
}


def test_ppmsvsr_matches_reference():
    assert_network_matches_reference("ppmsvsr_reds_x4")


@pytest.mark.slow  # about 12 s of one core
def test_ppmsvsr_l_matches_reference():
    assert_network_matches_reference("ppmsvsr_l_reds_x4")


def test_ppmsvsr_l_layout():
    # The layout alone (no forward pass), so a renamed parameter is caught even where slow tests are skipped.
    with paddle.LazyGuard():
        net = nets.build("ppmsvsr_l_reds_x4")
    assert_same_layout(net, load_manifest("ppmsvsr_l_reds_x4"))


def test_odd_sizes_and_single_frames_upscale_by_four():
    net = nets.build(NAME, **TINY)
    with paddle.no_grad():
        assert net(paddle.rand([1, 2, 3, 65, 70])).shape == [1, 2, 3, 260, 280]
        assert net(paddle.rand([2, 1, 3, 64, 64])).shape == [2, 1, 3, 256, 256]


def test_auxiliary_frames_come_first_on_request():
    net = nets.build(NAME, **TINY)
    clip = paddle.rand([1, 2, 3, 64, 64])
    with paddle.no_grad():
        auxiliary, out = net(clip, return_auxiliary=True)
        plain = net(clip)
    assert auxiliary.shape == out.shape == [1, 2, 3, 256, 256]
    np.testing.assert_array_equal(out.numpy(), plain.numpy())
    assert not np.allclose(auxiliary.numpy(), out.numpy())


def test_frames_smaller_than_the_flow_network_accepts_are_refused():
    net = nets.build(NAME, **TINY)
    with pytest.raises(ValueError, match="at least 64x64"):
        net(paddle.rand([1, 2, 3, 48, 64]))


def test_weight_specs():
    for spec_name, network, filename in [
        ("ppmsvsr.reds_x4", "ppmsvsr_reds_x4", "PP-MSVSR_reds_x4.pdparams"),
        ("ppmsvsr.l_reds_x4", "ppmsvsr_l_reds_x4", "PP-MSVSR-L_reds_x4.pdparams"),
    ]:
        spec = weights.spec(spec_name)
        assert spec.architecture == network and spec.key == "generator" and spec.licence == "Apache-2.0 (PaddleGAN)"
        assert spec.url == load_manifest(network)["weight_url"] == f"https://paddlegan.bj.bcebos.com/models/{filename}"
        assert nets.network(network).default_weights == spec_name


@pytest.mark.parametrize("key", ["generator", None])
def test_published_layout_loads_strictly(key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, key, TINY, tmp_path, monkeypatch, registered)


def test_chunks_of_a_long_clip_match_the_whole_clip_within_the_measured_tolerance():
    """`upscale_in_chunks` on a bidirectional recurrent network: how close to the whole-clip output.

    Exact equality is impossible: every output frame depends on every frame of its window. How
    fast that dependence fades with distance is a property of the weights. Measured on this tiny
    PP-MSVSR (paddle.seed(0), every parameter halved so the recurrences contract; 64x64 random
    frames; residual over the bilinear x4 frame: max 0.056, std 0.012), max |chunked - whole|
    over 12 frames with windows of 2 * overlap + 4 frames:

        overlap 0: 2.0e-2   overlap 1: 2.0e-3   overlap 2: 9.6e-4   overlap 3: 3.7e-4

    With Paddle's default-sized weights (residual std 0.58): 1.8, 1.2, 0.78, 0.52. Either way the
    error shrinks geometrically with the overlap. Here (8 frames, windows of 6, overlap 2; measured
    7.5e-4, and 1.9e-2 with windows of 4 and no overlap) it must stay within 2e-3, about twice the
    worst case measured at overlap 2. The exact bookkeeping of the windows is tested in
    test_basicvsr.py with a network of known temporal reach.
    """
    paddle.seed(0)
    net = nets.build(NAME, **TINY)
    for p in net.parameters():
        p.set_value(p * 0.5)
    frames = np.random.default_rng(0).random((8, 3, 64, 64)).astype("float32")
    with paddle.no_grad():
        whole = net(paddle.to_tensor(frames[None])).numpy()[0]
    chunked = np.stack(list(upscale_in_chunks(net, iter(frames), chunk=6, overlap=2)))
    assert chunked.shape == whole.shape
    assert np.abs(chunked - whole).max() <= 2e-3


def exported_predictor(layer, input_spec, tmp_path):
    """`layer` exported as build_engine exports it, run by a oneDNN predictor in this process."""
    import copy

    from core import runtime

    prefix = str(tmp_path / "model")
    paddle.jit.save(paddle.jit.to_static(copy.deepcopy(layer), input_spec=input_spec, full_graph=True), prefix)
    return runtime.PredictorRunner(prefix, "onednn", 1, runtime.passes_to_skip(prefix))


@pytest.mark.slow  # about 15 s of one core: to_static unrolls the recurrences frame by frame
def test_exported_window_runs_on_onednn_like_dygraph(tmp_path):
    """The fast path of the Restore tab: a window of fixed length, any frame size, equal to dygraph
    within the tolerance the runtime verifies with (core.models.Export.tolerance)."""
    from paddle.static import InputSpec

    from core import runtime
    from core.export import exportable_video_upscaler
    from core.models import Export

    paddle.seed(2)
    net = nets.build(NAME, **TINY)
    net.eval()
    fast = exported_predictor(exportable_video_upscaler(net), [InputSpec([1, 2, 3, None, None], "float32")], tmp_path)
    for size in ((64, 64), (64, 80)):
        clip = np.random.default_rng(size[1]).random((1, 2, 3, *size), dtype=np.float32)
        with paddle.no_grad():
            want = net(paddle.to_tensor(clip)).numpy()
        got = fast(clip)
        assert got[0].shape == want.shape
        assert runtime._max_relative_error(got, [want]) <= Export.tolerance
