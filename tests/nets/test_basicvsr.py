import numpy as np
import paddle
import pytest
from paddle.vision.ops import deform_conv2d

from core import nets, weights
from core.nets.basicvsr import SPyNet, flow_to_offsets, flow_warp, upsample_x4, upscale_in_chunks
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import assert_network_matches_reference, assert_same_layout, load_manifest

TINY = {
    "basicvsr": {"mid_channels": 8, "num_blocks": 1, "hr_channels": 8},
    "basicvsrpp": {"mid_channels": 8, "num_blocks": 1, "extract_blocks": 1, "reconstruction_blocks": 1, "deform_groups": 2,
                   "hr_channels": 8},
    "iconvsr": {"mid_channels": 8, "num_blocks": 1, "edvr_blocks": 1, "hr_channels": 8},
}


def test_basicvsrpp_matches_reference():
    assert_network_matches_reference("basicvsrpp_reds_x4")


@pytest.mark.slow  # about 9 s of one core
def test_basicvsr_matches_reference():
    assert_network_matches_reference("basicvsr_reds_x4")


@pytest.mark.slow  # about 20 s of one core
def test_iconvsr_matches_reference():
    assert_network_matches_reference("iconvsr_reds_x4")


@pytest.mark.parametrize("name", ["basicvsr_reds_x4", "iconvsr_reds_x4"])
def test_layout(name):
    # The layout alone (no forward pass), so a renamed parameter is caught even where slow tests are skipped.
    with paddle.LazyGuard():
        net = nets.build(name)
    assert_same_layout(net, load_manifest(name))


# ---------------------------------------------------------------- flow and alignment


def test_flow_warp_moves_features_by_the_flow():
    x = paddle.rand([1, 2, 6, 7])
    np.testing.assert_allclose(flow_warp(x, paddle.zeros([1, 2, 6, 7])).numpy(), x.numpy(), atol=1e-6)
    # dx = +1: each pixel takes its right neighbour's value; the last column samples outside (zeros).
    flow = paddle.concat([paddle.ones([1, 1, 6, 7]), paddle.zeros([1, 1, 6, 7])], axis=1)
    expected = np.concatenate([x.numpy()[..., 1:], np.zeros([1, 2, 6, 1], "float32")], axis=-1)
    np.testing.assert_allclose(flow_warp(x, flow).numpy(), expected, atol=1e-6)


def test_flow_offsets_are_in_paddle_deform_conv_order():
    """A deformable conv that only reads its centre tap, fed the flow as offsets, warps like the flow.

    Proves the (dx, dy) -> (dy, dx) swap: Paddle reads offsets as (dy, dx) per tap.
    """
    h, w = 12, 13
    x = paddle.rand([1, 2, h, w])
    ys, xs = np.mgrid[0:h, 0:w].astype("float32")
    flow = paddle.to_tensor(np.stack([0.7 * np.sin(ys / 3), -1.3 * np.cos(xs / 4)])[None].astype("float32"))
    centre_tap = np.zeros([2, 2, 3, 3], "float32")
    centre_tap[0, 0, 1, 1] = centre_tap[1, 1, 1, 1] = 1
    out = deform_conv2d(x, flow_to_offsets(flow, 9), paddle.to_tensor(centre_tap), padding=1, mask=paddle.ones([1, 9, h, w]))
    inner = (slice(None), slice(None), slice(3, h - 3), slice(3, w - 3))  # samples stay inside the image
    np.testing.assert_allclose(out.numpy()[inner], flow_warp(x, flow).numpy()[inner], atol=1e-5)


def test_spynet_flow_is_resized_and_rescaled_to_the_frame():
    """Frames of 70x80 go through SPyNet at 96x96; the flow comes back at 70x80, in 70x80 pixels.

    With each level's last conv zeroed to a bias of (1, 0.5), the six levels give (2^6 - 1) * (1, 0.5)
    at 96x96, which shrinks by 80/96 horizontally and 70/96 vertically.
    """
    spynet = SPyNet()
    for level in range(6):
        last = getattr(spynet, f"basic_module{level}").conv5
        last.weight.set_value(paddle.zeros(last.weight.shape))
        last.bias.set_value(paddle.to_tensor([1.0, 0.5]))
    with paddle.no_grad():
        flow = spynet(paddle.rand([1, 3, 70, 80]), paddle.rand([1, 3, 70, 80])).numpy()
    assert flow.shape == (1, 2, 70, 80)
    np.testing.assert_allclose(flow[0, 0], 63 * 80 / 96, rtol=1e-5)
    np.testing.assert_allclose(flow[0, 1], 31.5 * 70 / 96, rtol=1e-5)


def test_a_training_step_runs_on_cpu():
    """Backward through SPyNet, flow warping and deformable alignment; Paddle's CPU grid_sample
    backward crashes when the warped frames need no gradient and the flow does (flow_warp copes)."""
    net = nets.build("basicvsrpp", **TINY["basicvsrpp"])
    net.train()
    net(paddle.rand([1, 2, 3, 64, 64])).mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert float(net.spynet.basic_module5.conv5.weight.grad.abs().sum()) > 0


# ---------------------------------------------------------------- shapes and limits


def test_odd_sizes_and_single_frames_upscale_by_four():
    with paddle.no_grad():
        plus_plus = nets.build("basicvsrpp", **TINY["basicvsrpp"])
        assert plus_plus(paddle.rand([1, 2, 3, 65, 70])).shape == [1, 2, 3, 260, 280]
        assert plus_plus(paddle.rand([1, 1, 3, 64, 64])).shape == [1, 1, 3, 256, 256]
        basic = nets.build("basicvsr", **TINY["basicvsr"])
        assert basic(paddle.rand([2, 2, 3, 67, 64])).shape == [2, 2, 3, 268, 256]
        assert basic(paddle.rand([1, 1, 3, 64, 64])).shape == [1, 1, 3, 256, 256]


def test_iconvsr_pads_for_edvr_and_crops_back():
    net = nets.build("iconvsr", **TINY["iconvsr"])
    with paddle.no_grad():
        assert net(paddle.rand([1, 5, 3, 64, 66])).shape == [1, 5, 3, 256, 264]
    with pytest.raises(ValueError, match="at least 5 frames"):
        net(paddle.rand([1, 4, 3, 64, 64]))


@pytest.mark.parametrize("name", ["basicvsr", "basicvsrpp"])
def test_frames_smaller_than_the_flow_network_accepts_are_refused(name):
    net = nets.build(name, **TINY[name])
    with pytest.raises(ValueError, match="at least 64x64"):
        net(paddle.rand([1, 2, 3, 64, 63]))


# ---------------------------------------------------------------- long clips in chunks


class TemporalWindowMean(paddle.nn.Layer):
    """A clip network whose frame i depends on frames i-radius..i+radius only (of those in its clip)."""

    def __init__(self, radius):
        super().__init__()
        self.radius = radius

    def forward(self, clip):
        t = clip.shape[1]
        frames = [upsample_x4(clip[:, max(0, i - self.radius) : i + self.radius + 1].mean(axis=1)) for i in range(t)]
        return paddle.stack(frames, axis=1)


def _whole_and_chunked(net, frames, chunk, overlap):
    with paddle.no_grad():
        whole = net(paddle.to_tensor(frames[None])).numpy()[0]
    return whole, np.stack(list(upscale_in_chunks(net, iter(frames), chunk, overlap)))


@pytest.mark.parametrize("length", [1, 3, 5, 6, 7, 9, 12, 13])
@pytest.mark.parametrize("chunk, overlap", [(4, 0), (5, 1), (6, 2), (9, 2)])
def test_chunks_keep_only_frames_with_overlap_frames_of_context(length, chunk, overlap):
    """Exact bookkeeping: with a network that sees `overlap` frames each way, chunks equal the whole clip.

    One more frame of reach (radius overlap + 1) makes frames next to a window's inner edge differ,
    so the kept frames are exactly those `overlap` frames from the edges.
    """
    frames = np.random.default_rng(length).random((length, 3, 2, 3)).astype("float32")
    whole, chunked = _whole_and_chunked(TemporalWindowMean(overlap), frames, chunk, overlap)
    assert chunked.shape == (length, 3, 8, 12)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    if length > chunk:
        whole, chunked = _whole_and_chunked(TemporalWindowMean(overlap + 1), frames, chunk, overlap)
        assert not np.allclose(chunked, whole, atol=1e-6)


def test_chunks_read_the_stream_at_most_one_window_ahead():
    pulled = []

    def stream():
        for i in range(20):
            pulled.append(i)
            yield np.full((3, 1, 1), i, "float32")

    for k, frame in enumerate(upscale_in_chunks(TemporalWindowMean(0), stream(), chunk=6, overlap=1)):
        assert frame[0, 0, 0] == k
        assert len(pulled) <= k + 6
    assert k == 19


def test_chunk_must_exceed_twice_the_overlap():
    with pytest.raises(ValueError, match="twice the overlap"):
        next(upscale_in_chunks(TemporalWindowMean(0), iter([np.zeros((3, 1, 1), "float32")]), chunk=4, overlap=2))


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize("spec_name, network", [
    ("basicvsr.reds_x4", "basicvsr_reds_x4"),
    ("basicvsrpp.reds_x4", "basicvsrpp_reds_x4"),
    ("iconvsr.reds_x4", "iconvsr_reds_x4"),
])
def test_weight_specs(spec_name, network):
    spec = weights.spec(spec_name)
    assert spec.architecture == network and spec.key == "generator" and spec.licence == "Apache-2.0 (PaddleGAN)"
    assert spec.url == load_manifest(network)["weight_url"]
    assert nets.network(network).default_weights == spec_name


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("key", ["generator", None])
def test_published_layout_loads_strictly(name, key, tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(name, key, TINY[name], tmp_path, monkeypatch, registered)


@pytest.mark.slow  # about 15 s of one core: to_static unrolls the recurrences frame by frame
def test_exported_basicvsrpp_window_runs_on_onednn_like_dygraph(tmp_path):
    """Three frames (the second-order alignment composes flows from the third on), two frame sizes."""
    import copy

    from paddle.static import InputSpec

    from core import runtime
    from core.export import exportable_video_upscaler
    from core.models import Export

    paddle.seed(2)
    net = nets.build("basicvsrpp", **TINY["basicvsrpp"])
    net.eval()
    prefix = str(tmp_path / "model")
    static = paddle.jit.to_static(copy.deepcopy(exportable_video_upscaler(net)),
                                  input_spec=[InputSpec([1, 3, 3, None, None], "float32")], full_graph=True)
    paddle.jit.save(static, prefix)
    fast = runtime.PredictorRunner(prefix, "onednn", 1, runtime.passes_to_skip(prefix))
    for size in ((64, 64), (72, 64)):
        clip = np.random.default_rng(size[0]).random((1, 3, 3, *size), dtype=np.float32)
        with paddle.no_grad():
            want = net(paddle.to_tensor(clip)).numpy()
        got = fast(clip)
        assert got[0].shape == want.shape
        assert runtime._max_relative_error(got, [want]) <= Export.tolerance
