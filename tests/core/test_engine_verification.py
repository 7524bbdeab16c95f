"""Which fast path is trusted: equal to dygraph within the tolerance, or, where dygraph's float32 is itself further
than that from exact arithmetic, within twice dygraph's distance from the same network run in float64."""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import pytest
from paddle.static import InputSpec

from core import runtime

SAMPLE = np.random.RandomState(0).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)


class _ModeDependent(nn.Layer):
    """3x + 1, where dygraph in float32 may round to float16 (a stand-in for a long float32 sum, relative error
    about 2.4e-4 of the largest output) and the exported graph may be off by a factor (a mis-fused op)."""

    def __init__(self, dygraph_rounds: bool, graph_factor: float = 1.0):
        super().__init__()
        self.dygraph_rounds, self.graph_factor = dygraph_rounds, graph_factor
        # A parameter: Paddle 2.6's predictor refuses a program with no variables to load.
        self.slope = self.create_parameter([1], default_initializer=nn.initializer.Constant(3.0))

    def forward(self, x):
        y = x * self.slope + 1.0
        if paddle.in_dynamic_mode():
            if self.dygraph_rounds and y.dtype == paddle.float32:
                y = y.astype("float16").astype("float32")
        else:
            y = y * self.graph_factor
        return y


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_ENGINE", raising=False)


def _engine(layer):
    return runtime.build_engine(layer, [InputSpec([1, 3, None, None], "float32")], [SAMPLE], tolerance=1e-4,
                                kinds=["onednn"])


def test_the_stand_in_errs_as_described():
    exact = runtime.float64_outputs(_ModeDependent(dygraph_rounds=True), [SAMPLE])[0]
    assert exact.dtype == np.float64 and np.abs(exact - (SAMPLE.astype(np.float64) * 3.0 + 1.0)).max() < 1e-12
    rounded = runtime.DygraphRunner(_ModeDependent(dygraph_rounds=True))(SAMPLE)[0]
    assert 1e-4 < runtime._max_relative_error([rounded], [exact]) < 5e-4


def test_a_fast_path_closer_to_float64_than_dygraph_is_trusted():
    run = _engine(_ModeDependent(dygraph_rounds=True))
    assert run.kind == "onednn"
    exact = SAMPLE.astype(np.float64) * 3.0 + 1.0
    assert runtime._max_relative_error(run(SAMPLE), [exact]) < 1e-6


def test_a_fast_path_that_disagrees_with_an_exact_dygraph_is_refused():
    assert _engine(_ModeDependent(dygraph_rounds=False, graph_factor=1.001)).kind == "dygraph"


def test_a_fast_path_much_further_from_float64_than_an_inexact_dygraph_is_refused():
    assert _engine(_ModeDependent(dygraph_rounds=True, graph_factor=1.01)).kind == "dygraph"


def test_a_network_without_float64_kernels_keeps_the_float32_verdict():
    class Float32Only(nn.Layer):
        def forward(self, x):
            if x.dtype != paddle.float32:
                raise TypeError("float32 only")
            return x

    assert runtime.float64_outputs(Float32Only(), [SAMPLE]) is None


class _LinearHead(nn.Layer):
    """GPEN's encoder head in small: flatten, a linear layer, leaky ReLU (the graph Paddle 3.3's oneDNN
    matmul + activation fusion segfaulted on while building its fused op)."""

    def __init__(self):
        super().__init__()
        self.weight = self.create_parameter([3 * 16 * 16, 8])
        self.bias = self.create_parameter([8], default_initializer=nn.initializer.Constant(0.1))

    def forward(self, x):
        x = nn.functional.linear(x.reshape([x.shape[0], -1]), self.weight * 0.5)
        return nn.functional.leaky_relu(x + self.bias.reshape([1, 8]), 0.2) * 1.5


def test_a_linear_layer_followed_by_leaky_relu_runs_on_the_fast_path():
    paddle.seed(0)
    layer = _LinearHead()
    run = runtime.build_engine(layer, [InputSpec([1, 3, 16, 16], "float32")], [SAMPLE], tolerance=1e-4, kinds=["onednn"])
    assert run.kind == "onednn"
    expected = runtime.DygraphRunner(layer)(SAMPLE)[0]
    assert runtime._max_relative_error(run(SAMPLE), [expected]) < 1e-5


def test_a_nan_where_dygraph_has_a_number_is_a_wrong_result():
    want = [np.array([1.0, 2.0, 3.0], np.float32)]
    assert runtime._max_relative_error([np.array([1.0, np.nan, 3.0], np.float32)], want) == float("inf")
    assert runtime._max_relative_error([np.array([1.0, 2.0, 3.0], np.float32)], [np.array([1.0, np.nan, 3.0])]) == float("inf")
    # NaN in the same places on both sides: the numbers elsewhere are compared.
    both = runtime._max_relative_error([np.array([np.nan, 2.0, 3.3])], [np.array([np.nan, 2.0, 3.0])])
    assert abs(both - 0.1) < 1e-9
