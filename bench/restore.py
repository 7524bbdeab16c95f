"""Benchmark of the Restore application on this machine.

    python -m bench.restore --only speed       # seconds per image, dygraph and fast path, every network
    python -m bench.restore --only memory      # peak memory of tiled super-resolution, 512² and 2048² inputs
    python -m bench.restore --only video       # fps of a 10 s 256² video, peak memory for 10 s and 60 s clips
    python -m bench.restore                    # all three

Networks run at their real configuration with deterministic random weights
(time and memory do not depend on the values), unless their checkpoint is
already on this machine. Each number comes from one run of this script:

* speed: seconds per 256² -> 1024² image through the application's tiled
  upscaling (one 256² tile), in dygraph and in the engine the application
  builds (``core.apps.restore.sr_runner`` / ``colorizer_runner``, through
  ``core.runtime.build_engine``: oneDNN where it verifies, else dygraph), and
  their largest difference; for
  DeOldify, seconds per 256² photo at render factor 32 (a 512² network input).
  The convolutions' multiply-accumulates give the compute floor at this
  machine's measured sgemm peak (STACK-NOTES: 164 GMAC/s on 2 cores).
* memory: peak resident memory above the loaded, warmed-up model while
  upscaling tiled, for a 512² input and a 2048² input (whose 8192² uint8
  output canvas alone is 201 MB and is counted), and the 512² input untiled.
  The 2048² run stops after ``--memory-tiles`` tiles unless ``--full``: every
  tile has the same size, and a full run takes about half an hour with
  LESRCNN on 2 busy cores.
* video: the application's whole video path (decode, network, encode with
  audio, ``core.apps.restore.restore_video``) on 256² clips of 10 s and 60 s;
  frames per second of the 10 s clip and peak memory of both. The clips'
  frame rate is ``--video-rate`` (default 1 fps: at 25 fps a 10 s clip takes
  LESRCNN about 20 minutes here).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.runtime import configure_threads

THREADS = configure_threads()  # before Paddle is imported

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn as nn  # noqa: E402

from core import nets, weights  # noqa: E402
from core.apps import restore  # noqa: E402
from core.examples import REPO_ROOT, example_path  # noqa: E402
from core.media import ffmpeg_exe, read_image  # noqa: E402
from core.runtime import DygraphRunner, models  # noqa: E402

PEAK_GMAC_PER_S = 164.0
SIDE = 256
SR_NETWORKS = {"lesrcnn_x4": "lesrcnn_x4", "realsr_rrdb_x4": "realsr_df2k_jpeg"}  # network -> a weight spec of it
COLORIZE_NETWORKS = {"deoldify_stable": "deoldify_stable", "deoldify_artistic": "deoldify_artistic"}
MIB = 1 << 20


# ---------------------------------------------------------------- measuring


def conv_macs(layer: nn.Layer, sample: np.ndarray) -> float:
    """Multiply-accumulates of every Conv2D for one forward pass on `sample`."""
    total = 0

    def count(sub, inputs, output):
        nonlocal total
        total += int(np.prod(output.shape)) * int(np.prod(sub.weight.shape[1:]))

    hooks = [sub.register_forward_post_hook(count) for sub in layer.sublayers() if isinstance(sub, nn.Conv2D)]
    with paddle.no_grad():
        layer(paddle.to_tensor(sample))
    for hook in hooks:
        hook.remove()
    return float(total)


def memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS when 5 is written to clear_refs."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def measure_peak(fn):
    """(result, seconds, peak RSS above the RSS at the start in MiB, RSS at the start in MiB)."""
    baseline = memory_kib("VmRSS")
    reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return result, seconds, (memory_kib("VmHWM") - baseline) / 1024, baseline / 1024


def build_network(name: str, spec_name: str):
    spec = weights.spec(spec_name)
    paddle.seed(0)
    if weights.locate(spec):
        return nets.create(name, pretrained=spec_name), f"{spec.filename}"
    return nets.create(name), "random"


def _kind(runner) -> str:
    return "no fast path verified: dygraph" if runner.kind == "dygraph" else runner.kind


def test_photo(side: int) -> np.ndarray:
    from PIL import Image

    photo = read_image(REPO_ROOT / example_path("astronaut"))
    return np.asarray(Image.fromarray(photo).resize((side, side), Image.BICUBIC))


# ---------------------------------------------------------------- speed


def bench_speed(networks: list[str]) -> list[str]:
    rows = []
    image = test_photo(SIDE)
    for name in networks:
        if name in SR_NETWORKS:
            net, source = build_network(name, SR_NETWORKS[name])
            context = min(restore.receptive_radius(net), restore.MAX_CONTEXT)
            macs = conv_macs(net, np.zeros((1, 3, 64, 64), np.float32)) * (SIDE / 64) ** 2
            dygraph = restore.Upscaler(run=DygraphRunner(net), scale=4, context=context)
            start = time.perf_counter()
            engine_runner = restore.sr_runner(net)
            setup = time.perf_counter() - start
            fast = restore.Upscaler(run=engine_runner, scale=4, context=context)
            outputs, times = {}, {}
            for label, upscaler in (("dygraph", dygraph), ("fast", fast)):
                if label == "fast" and engine_runner.kind == "dygraph":  # no fast path verified: the same run
                    outputs[label], times[label] = outputs["dygraph"], times["dygraph"]
                    continue
                restore.upscale(image[:32, :32], upscaler)  # warm-up
                start = time.perf_counter()
                outputs[label] = restore.upscale(image, upscaler, raw=True)
                times[label] = time.perf_counter() - start
            what = f"{SIDE}² → {SIDE * 4}² image"
        else:
            net, source = build_network(name, COLORIZE_NETWORKS[name])
            side = restore.DEFAULT_RENDER_FACTOR * restore.RENDER_BASE
            macs = conv_macs(net, np.zeros((1, 3, side, side), np.float32))
            dygraph = restore.Colorizer(run=DygraphRunner(net))
            sample = np.random.default_rng(0).standard_normal((1, 3, side, side), dtype=np.float32)
            start = time.perf_counter()
            engine_runner = restore.colorizer_runner(net, restore.DEFAULT_RENDER_FACTOR)
            setup = time.perf_counter() - start
            fast = restore.Colorizer(run=engine_runner)
            outputs, times = {}, {}
            for label, colorizer in (("dygraph", dygraph), ("fast", fast)):
                if label == "fast" and engine_runner.kind == "dygraph":
                    outputs[label], times[label] = outputs["dygraph"], times["dygraph"]
                    continue
                colorizer.run(sample)  # warm-up
                start = time.perf_counter()
                restore.colorize(image, colorizer, restore.DEFAULT_RENDER_FACTOR)
                times[label] = time.perf_counter() - start
                outputs[label] = colorizer.run(sample)[0]
            what = f"{SIDE}² photo, render factor {restore.DEFAULT_RENDER_FACTOR} ({side}² network input)"
        difference = float(np.abs(outputs["fast"].astype(np.float64) - outputs["dygraph"]).max())
        scale = float(np.abs(outputs["dygraph"]).max())
        floor = macs / 1e9 / PEAK_GMAC_PER_S
        row = (
            f"| {name} ({source} weights) | {what} | {macs / 1e9:.1f} | {floor:.2f} s | {times['dygraph']:.2f} s "
            f"({times['dygraph'] / floor:.1f}× floor) | {times['fast']:.2f} s ({_kind(engine_runner)}; "
            f"{times['fast'] / floor:.1f}× floor; set-up {setup:.0f} s) | {difference:.1e} (output max {scale:.2g}) |"
        )
        print(row, flush=True)
        rows.append(row)
        del net, dygraph, fast, engine_runner, outputs
    return rows


# ---------------------------------------------------------------- memory


def upscale_first_tiles(image, upscaler, tiles: int | None) -> int:
    """The application's tiled upscaling into a resident uint8 canvas, stopped after `tiles` tiles."""
    scale = upscaler.scale
    canvas = np.zeros((image.shape[0] * scale, image.shape[1] * scale, 3), np.uint8)
    canvas.fill(0)  # resident now, as the finished output would be
    done = 0
    for rows, cols, patch, _ in restore.iter_upscaled_tiles(image, upscaler):
        canvas[rows, cols] = restore._to_uint8_truncating(patch)
        done += 1
        if tiles is not None and done >= tiles:
            break
    return done


def bench_memory(network: str, tiles: int | None) -> list[str]:
    net, source = build_network(network, SR_NETWORKS[network])
    context = min(restore.receptive_radius(net), restore.MAX_CONTEXT)
    upscaler = restore.Upscaler(run=restore.sr_runner(net), scale=4, context=context)
    untiled = restore.Upscaler(run=upscaler.run, scale=4, context=context, tile=1 << 20)
    small, large = test_photo(512), test_photo(2048)
    restore.upscale(small[:64, :64], upscaler)  # warm-up
    rows = []
    for label, image, chosen, limit in (
        ("512² in, tiled", small, upscaler, None),
        ("2048² in, tiled", large, upscaler, tiles),
        ("512² in, untiled", small, untiled, None),
    ):
        count = len(restore.tile_spans(image.shape[0], chosen.tile, context)) * len(restore.tile_spans(image.shape[1], chosen.tile, context))
        done, seconds, peak, baseline = measure_peak(lambda: upscale_first_tiles(image, chosen, limit))
        canvas = image.shape[0] * image.shape[1] * 16 * 3 / MIB
        row = (
            f"| {network} ({upscaler.run.kind}) | {label} ({done} of {count} tiles of ≤ {min(chosen.tile, image.shape[0])}², "
            f"context {context}) | {peak:.0f} MiB | {canvas:.0f} MiB | {peak - canvas:.0f} MiB | {baseline:.0f} MiB | {seconds:.0f} s |"
        )
        print(row, flush=True)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- video


def make_clip(path: Path, seconds: int, rate: int, side: int = SIDE) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={side}x{side}:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def bench_video(network: str, rate: int) -> list[str]:
    net, source = build_network(network, SR_NETWORKS[network])
    spec_name = SR_NETWORKS[network]
    context = min(restore.receptive_radius(net), restore.MAX_CONTEXT)
    upscaler = restore.Upscaler(run=restore.sr_runner(net), scale=4, context=context)
    # The application's own cache entry: restore_video then runs exactly as for a user.
    models.get(("restore", spec_name), lambda: upscaler)
    rows, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        warm = make_clip(Path(tmp) / "warm.mp4", 1, rate)
        restore.restore_video(warm, Path(tmp) / "warm-out.mp4", spec_name)
        for seconds in (10, 60):
            clip = make_clip(Path(tmp) / f"clip{seconds}.mp4", seconds, rate)
            original = restore.MAX_VIDEO_SECONDS
            restore.MAX_VIDEO_SECONDS = max(original, seconds)  # the 60 s clip is over the tab's limit
            try:
                result, wall, peak, baseline = measure_peak(
                    lambda: restore.restore_video(clip, Path(tmp) / f"out{seconds}.mp4", spec_name)
                )
            finally:
                restore.MAX_VIDEO_SECONDS = original
            row = (
                f"| {network} ({upscaler.run.kind}) | {seconds} s, {SIDE}² at {rate} fps → {SIDE * 4}² | {result.frames} | "
                f"{result.frames / wall:.3f} fps ({wall / result.frames:.2f} s per frame) | {peak:.0f} MiB | {baseline:.0f} MiB |"
            )
            print(row, flush=True)
            rows.append(row)
            peaks.append(peak)
    print(f"| | 60 s against 10 s | | | {peaks[1] / peaks[0] - 1:+.0%} (target: within +10 %) | |", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=["speed", "memory", "video"], help="sections to run (default: all)")
    parser.add_argument("--networks", nargs="+", default=[*SR_NETWORKS, *COLORIZE_NETWORKS], choices=[*SR_NETWORKS, *COLORIZE_NETWORKS])
    parser.add_argument("--memory-network", default="lesrcnn_x4", choices=list(SR_NETWORKS))
    parser.add_argument("--memory-tiles", type=int, default=8, help="tiles of the 2048² input to run (one row of 8)")
    parser.add_argument("--full", action="store_true", help="run every tile of the 2048² input")
    parser.add_argument("--video-network", default="lesrcnn_x4", choices=list(SR_NETWORKS))
    parser.add_argument("--video-rate", type=int, default=1, help="frame rate of the test clips")
    args = parser.parse_args(argv)
    sections = args.only or ["speed", "memory", "video"]
    os.environ.setdefault("GAN_GALLERY_OFFLINE", "1")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={THREADS}, "
          f"paddle {paddle.__version__}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if "speed" in sections:
        print("| network | input | GMAC | floor | dygraph | fast path | fast − dygraph (max abs) |\n|---|---|---|---|---|---|---|")
        bench_speed(args.networks)
    if "memory" in sections:
        print("| network | input | peak above model | of which output canvas | working set | model loaded (RSS) | time |\n|---|---|---|---|---|---|---|")
        bench_memory(args.memory_network, None if args.full else args.memory_tiles)
    if "video" in sections:
        print("| network | clip | frames | speed | peak above model | model loaded (RSS) |\n|---|---|---|---|---|---|")
        bench_video(args.video_network, args.video_rate)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
