"""What every benchmark measures the same way: convolution work, the compute floor, interleaved timings."""
from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

# fp32 sgemm peak of the 2-core reference machine (STACK-NOTES: 328 GFLOP/s = 164 GMAC/s).
PEAK_GMAC_PER_S = 164.0


def conv_macs(layer, *samples: np.ndarray) -> float:
    """Multiply-accumulates of every 2D, 3D, transposed and deformable convolution for one forward pass
    of `layer` on `samples` (a transposed convolution counted on its input, the others on their output)."""
    import paddle
    import paddle.nn as nn
    from paddle.vision.ops import DeformConv2D

    total = 0

    def count(sub, inputs, output):
        nonlocal total
        per_position = int(np.prod(sub.weight.shape[1:]))  # [out, in/groups, k...]; transposed: [in, out/groups, k...]
        positions = inputs[0] if isinstance(sub, (nn.Conv2DTranspose, nn.Conv3DTranspose)) else output
        total += int(np.prod(positions.shape)) * per_position

    kinds = (nn.Conv2D, nn.Conv3D, nn.Conv2DTranspose, nn.Conv3DTranspose, DeformConv2D)
    hooks = [sub.register_forward_post_hook(count) for sub in layer.sublayers() if isinstance(sub, kinds)]
    try:
        with paddle.no_grad():
            layer(*[paddle.to_tensor(sample) for sample in samples])
    finally:
        for hook in hooks:
            hook.remove()
    return float(total)


def functional_conv_macs(layer, *samples: np.ndarray) -> float:
    """``conv_macs`` plus the convolutions called as functions (``F.conv2d``: equalized and modulated
    convolutions, FIR blurs), counted from each call's weight and output shapes."""
    import paddle.nn.functional as F

    counted = []
    plain = F.conv2d

    def counting_conv2d(x, weight, *args, **kwargs):
        out = plain(x, weight, *args, **kwargs)
        counted.append(int(np.prod(out.shape)) * int(np.prod(weight.shape[1:])))
        return out

    F.conv2d = counting_conv2d  # nn.Conv2D does not call it (Paddle's layer calls the op itself): no double count
    try:
        layers = conv_macs(layer, *samples)
    finally:
        F.conv2d = plain
    return layers + float(sum(counted))


def floor_s(macs: float) -> float:
    """The least time `macs` multiply-accumulates can take at this machine kind's sgemm peak."""
    return macs / (PEAK_GMAC_PER_S * 1e9)


def interleaved_median_ms(runs: list, sample, repeats: int) -> list[tuple[float, float]]:
    """(wall ms, process CPU ms) medians of each runner on `sample` (a tuple of arrays or one array),
    alternating the runners so that load changes hit all alike.

    CPU time is what the process itself spent: on a shared machine it is the
    steadier measure (with one thread it ignores time spent waiting for a core).
    """
    arrays = sample if isinstance(sample, tuple) else (sample,)
    for run in runs:
        run(*arrays)  # warm-up (first runs allocate and plan)
    walls, cpus = [[] for _ in runs], [[] for _ in runs]
    for _ in range(repeats):
        for run, wall, cpu in zip(runs, walls, cpus):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run(*arrays)
            wall.append(time.perf_counter() - start_wall)
            cpu.append(time.process_time() - start_cpu)
    return [(statistics.median(w) * 1000, statistics.median(c) * 1000) for w, c in zip(walls, cpus)]


def machine_line(threads: int) -> str:
    """The machine, as each table's first line states it."""
    import paddle

    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return (f"# paddle {paddle.__version__}, {threads} threads (OMP_NUM_THREADS), {model or platform.machine()}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
