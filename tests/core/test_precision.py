"""bf16, opt-in: asked for by name, refused by name where the CPU lacks it, verified against fp32 by PSNR,
carried from a request to the worker that runs it."""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import pytest
from paddle.static import InputSpec

from core import models, runtime
from core.errors import InputError

bf16_here = pytest.mark.skipif(not runtime.bf16_supported(), reason="this CPU has no bf16 instructions")


@pytest.fixture
def no_bf16_cpu(monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512f"})


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(runtime, "gpu_expected", lambda: False)


def test_fp32_is_the_default_and_bf16_is_asked_for_by_name(monkeypatch, bf16_cpu):
    monkeypatch.delenv(runtime.PRECISION_VARIABLE, raising=False)
    assert runtime.default_precision() == runtime.current_precision() == "fp32"
    monkeypatch.setenv(runtime.PRECISION_VARIABLE, "BF16")
    assert runtime.default_precision() == "bf16"
    with runtime.precision_scope("fp32"):
        assert runtime.current_precision() == "fp32"
        with runtime.precision_scope(None):  # None leaves the request's choice as it is
            assert runtime.current_precision() == "fp32"
    assert runtime.current_precision() == "bf16"


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(InputError, match=r"one of fp32, bf16, not 'fp8'"):
        runtime.check_precision("fp8")


def test_bf16_is_refused_by_name_on_a_cpu_without_it(monkeypatch, no_bf16_cpu):
    with pytest.raises(InputError, match=r"AVX512-BF16 or AMX-BF16.*this CPU has neither: choose Exact \(fp32\)"):
        runtime.check_precision("bf16")
    monkeypatch.setenv(runtime.PRECISION_VARIABLE, "bf16")
    with pytest.raises(InputError, match="AVX512-BF16"):
        runtime.current_precision()
    assert runtime.check_precision("fp32") == "fp32"


def test_the_cpu_fast_path_tries_bf16_first_then_fp32(bf16_cpu):
    assert runtime.fast_path_kinds("fp32") == ["onednn"]
    assert runtime.fast_path_kinds("bf16") == [runtime.BF16_KIND, "onednn"]


def test_bf16_is_judged_by_psnr_against_fp32_and_fp32_by_relative_error():
    want = np.linspace(-1, 1, 1000, dtype=np.float32).reshape(1, 1, 10, 100)
    close = want + np.float32(0.004)  # 2 / 0.004: 54 dB
    far = want + np.float32(0.04)  # 34 dB
    assert runtime.psnr_db(close, want) == pytest.approx(20 * np.log10(2 / 0.004), abs=0.01)
    assert runtime._agreement(runtime.BF16_KIND, [close], [want], 1e-4)[0]
    ok, verdict = runtime._agreement(runtime.BF16_KIND, [far], [want], 1e-4)
    assert not ok and "34.0 dB" in verdict and "floor 40.0 dB" in verdict
    assert not runtime._agreement("onednn", [close], [want], 1e-4)[0]  # fp32 keeps its own tolerance
    assert not runtime._agreement(runtime.BF16_KIND, [want[..., :50]], [want], 1e-4)[0]


def _convolutions():
    paddle.seed(3)
    return nn.Sequential(nn.Conv2D(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2D(16, 3, 3, padding=1), nn.Tanh())


class _NearCancellation(nn.Layer):
    """Two convolutions whose weights differ by less than bf16 can tell apart: fp32 sees their small
    difference, bf16 (both rounded to the same weights) sees none. No graph rewrite can save it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2D(3, 3, 3, padding=1, bias_attr=False)
        self.b = nn.Conv2D(3, 3, 3, padding=1, bias_attr=False)
        weight = np.random.RandomState(0).uniform(1, 2, (3, 3, 3, 3)).astype(np.float32)
        self.a.weight.set_value(weight)
        self.b.weight.set_value(weight * np.float32(1 + 2 ** -10))

    def forward(self, x):
        return self.b(x) - self.a(x)


def _export(tolerance: float = 1e-4):
    sample = np.random.RandomState(1).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    inputs = lambda net: ([InputSpec([1, 3, None, None], "float32")], [sample])  # noqa: E731
    return models.Export("test", inputs=inputs, tolerance=tolerance), sample


@bf16_here
@pytest.mark.skipif(not paddle.__version__.startswith("3."), reason="Paddle 2.6's predictor takes the bf16 switch and runs "
                    "fp32 (bit-equal outputs): there bf16 falls back to fp32, as the next test shows")
def test_on_this_cpu_bf16_runs_the_graph_within_its_floor_of_fp32(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    export, sample = _export()
    net = _convolutions()
    exact = models.prepare_runner(net, export, precision="fp32")
    fast = models.prepare_runner(net, export, precision="bf16")
    assert (exact.kind, exact.precision) == ("onednn", "fp32")
    assert (fast.kind, fast.precision) == (runtime.BF16_KIND, "bf16")
    picture = np.random.RandomState(2).uniform(-1, 1, (1, 3, 48, 64)).astype(np.float32)
    (want,), (got,) = exact(picture), fast(picture)
    assert got.shape == want.shape and not np.array_equal(got, want)  # bf16 did run: not bit-equal
    assert runtime.psnr_db(got, want) >= runtime.BF16_MIN_PSNR_DB


@bf16_here
def test_a_network_whose_bf16_output_misses_the_floor_runs_in_fp32(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path))
    export, sample = _export(tolerance=1e-2)  # fp32's summation order alone moves a small difference by ~1e-3
    run = models.prepare_runner(_NearCancellation(), export, precision="bf16")
    assert (run.kind, run.precision) == ("onednn", "fp32")
    with paddle.no_grad():
        want = _NearCancellation()(paddle.to_tensor(sample)).numpy()
    np.testing.assert_allclose(run(sample)[0], want, atol=1e-2 * np.abs(want).max())
