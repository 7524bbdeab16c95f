"""Benchmark of the Restore application on this machine.

    python -m bench.restore --only speed       # seconds per image, dygraph and fast path, every network
    python -m bench.restore --only memory      # peak memory of tiled super-resolution, 512² and 2048² inputs
    python -m bench.restore --only video       # fps of a 10 s 256² video, peak memory for 10 s and 60 s clips
    python -m bench.restore --only vsr         # the video networks: seconds per frame, dygraph and fast path
    python -m bench.restore --only pipeline    # the composed video pipeline, small networks: peak memory, 10 s vs 60 s
    python -m bench.restore                    # all five

Networks run at their real configuration with deterministic random weights
(time and memory do not depend on the values), unless their checkpoint is
already on this machine. Each number comes from one run of this script:

* speed: seconds per 256² -> 1024² image through the application's tiled
  upscaling (one 256² tile), in dygraph and in the engine the application
  builds (``core.models.prepare_runner`` with ``restore.TILES`` / ``restore.colorizer_export``, through
  ``core.runtime.build_engine``: oneDNN where it verifies, else dygraph), and
  their largest difference relative to the output's largest magnitude (the
  engine's own tolerance rule; random weights give outputs far outside [0, 1]).
  For DeOldify: seconds per 256² photo at render factor 32 (a 512² network
  input). Runs alternate dygraph / fast path and the median is kept, so a
  neighbour's load hits both alike. The convolutions' multiply-accumulates
  give the compute floor at this machine's measured sgemm peak (STACK-NOTES:
  164 GMAC/s on 2 cores).
* memory: peak resident memory of a fresh process that loads the network and
  its fast path, warms up on a small tile, then upscales tiled a 512² input and
  a 2048² input (whose 8192² uint8 output canvas, 192 MiB, is made resident
  first), and the 512² input untiled. The 2048² run stops after
  ``--memory-tiles`` tiles unless ``--full``: tiles repeat the same sizes, and
  all 64 take LESRCNN about 15 minutes on 2 busy cores.
* video: the application's whole video path (decode, network, encode with
  audio: ``core.apps.restore.restore_video``) on 256² clips of 10 s and 60 s,
  each in a fresh process: frames per second and peak memory. The clips' frame
  rate is ``--video-rate`` (default 1 fps: at 25 fps a 10 s clip would take
  LESRCNN about 25 minutes here).
* vsr: the video networks at their real configuration, random weights: PP-MSVSR
  and BasicVSR++ on a 10-frame 64² clip (x4), DeepRemaster's restorer and its
  colorizer (with one reference picture) on a 5-frame block at the size a CPU
  remasters at (192x144): seconds per frame in dygraph and on the fast path the
  application builds (``restore.vsr_export(10)``, ``restore.REMASTER_BLOCKS`` /
  ``REMASTER_REFERENCED``: the ``core.export`` rewrites, oneDNN where it
  verifies; else the reason it was refused), each × its compute floor, and
  their largest difference. The floor counts 2D and 3D convolutions,
  deformable ones included; attention's matrix products are not counted, so
  DeepRemaster's colorizer sits further above its floor.
* pipeline: the composed video pipeline (``core.apps.restore.restore_video``:
  remaster, PP-MSVSR across frames, DeOldify, face enhancement with the real
  face detector) with small random-weight networks, on generated 64² clips of
  10 s and 60 s (``--pipeline-rate`` fps, default 2), each in a fresh
  process: peak RSS, which must stay within +10 % from 10 s to 60 s (the
  VSR window and DeepRemaster's 5-frame blocks are the only frames held).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.runtime import configure_process

THREADS = configure_process()  # before Paddle is imported

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from bench.measure import PEAK_GMAC_PER_S, conv_macs  # noqa: E402
from core import models, weights  # noqa: E402
from core.apps import restore  # noqa: E402
from core.examples import REPO_ROOT, example_path  # noqa: E402
from core.media import ffmpeg_exe, read_image  # noqa: E402

SIDE = 256
SR_NETWORKS = {"lesrcnn_x4": "lesrcnn_x4.div2k", "realsr_rrdb_x4": "rrdb_x4.realsr_df2k_jpeg"}  # network -> a checkpoint of it
COLORIZE_NETWORKS = {"deoldify_stable": "deoldify.stable", "deoldify_artistic": "deoldify.artistic"}
REPEATS = {"realsr_rrdb_x4": 1}  # the others: --repeats
MIB = 1 << 20


# ---------------------------------------------------------------- measuring


def memory_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS when 5 is written to clear_refs."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def build_network(name: str, spec_name: str):
    spec = weights.spec(spec_name)
    paddle.seed(0)
    if weights.locate(spec):
        return models.create(name, pretrained=spec_name), spec.filename
    return models.create(name), "random"


def load_upscaler(network: str) -> restore.Upscaler:
    net, _ = build_network(network, SR_NETWORKS[network])
    context = min(restore.receptive_radius(net), restore.MAX_CONTEXT)
    return restore.Upscaler(run=models.prepare_runner(net, restore.TILES), scale=4, context=context)


def kind_of(runner) -> str:
    return "no fast path verified: dygraph" if runner.kind == "dygraph" else runner.kind


def test_photo(side: int) -> np.ndarray:
    from PIL import Image

    photo = read_image(REPO_ROOT / example_path("astronaut"))
    return np.asarray(Image.fromarray(photo).resize((side, side), Image.BICUBIC))


def in_child(*args: str) -> dict:
    """Run one measurement in a fresh process (its peak memory is its own); return its JSON line."""
    command = [sys.executable, "-m", "bench.restore", "--child", *args]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------- speed


def bench_speed(networks: list[str], repeats: int) -> None:
    print("| network | input | GMAC | floor | dygraph | fast path | fast vs dygraph: max abs diff / output max |")
    print("|---|---|---|---|---|---|---|")
    image = test_photo(SIDE)
    for name in networks:
        if name in SR_NETWORKS:
            net, source = build_network(name, SR_NETWORKS[name])
            context = min(restore.receptive_radius(net), restore.MAX_CONTEXT)
            macs = conv_macs(net, np.zeros((1, 3, 64, 64), np.float32)) * (SIDE / 64) ** 2
            start = time.perf_counter()
            engine = models.prepare_runner(net, restore.TILES)
            setup = time.perf_counter() - start
            dygraph = models.prepare_runner(net, restore.TILES, engine="dygraph")
            runners = {"dygraph": restore.Upscaler(dygraph, 4, context), "fast": restore.Upscaler(engine, 4, context)}

            def run(upscaler):
                return restore.upscale(image, upscaler, raw=True)

            def warm(upscaler):
                restore.upscale(image[:32, :32], upscaler)

            what = f"{SIDE}² → {SIDE * 4}² image"
        else:
            net, source = build_network(name, COLORIZE_NETWORKS[name])
            side = restore.DEFAULT_RENDER_FACTOR * restore.RENDER_BASE
            macs = conv_macs(net, np.zeros((1, 3, side, side), np.float32))
            start = time.perf_counter()
            export = restore.colorizer_export(restore.DEFAULT_RENDER_FACTOR)
            engine = models.prepare_runner(net, export)
            setup = time.perf_counter() - start
            dygraph = models.prepare_runner(net, export, engine="dygraph")
            runners = {"dygraph": restore.Colorizer(dygraph), "fast": restore.Colorizer(engine)}
            sample = np.random.default_rng(0).standard_normal((1, 3, side, side), dtype=np.float32)

            def run(colorizer):
                restore.colorize(image, colorizer, restore.DEFAULT_RENDER_FACTOR)
                return colorizer.run(sample)[0]  # the network's output, to compare the two paths

            def warm(colorizer):
                colorizer.run(sample)

            what = f"{SIDE}² photo, render factor {restore.DEFAULT_RENDER_FACTOR} ({side}² network input)"
        labels = ["dygraph"] if engine.kind == "dygraph" else ["dygraph", "fast"]
        for label in labels:
            warm(runners[label])
        times = {label: [] for label in labels}
        outputs = {}
        for _ in range(REPEATS.get(name, repeats)):
            for label in labels:
                start = time.perf_counter()
                outputs[label] = run(runners[label])
                times[label].append(time.perf_counter() - start)
        if engine.kind == "dygraph":  # no fast path verified: the application runs dygraph
            times["fast"], outputs["fast"] = times["dygraph"], outputs["dygraph"]
        dygraph, fast = statistics.median(times["dygraph"]), statistics.median(times["fast"])
        scale = float(np.abs(outputs["dygraph"]).max())
        difference = float(np.abs(outputs["fast"].astype(np.float64) - outputs["dygraph"]).max())
        floor = macs / 1e9 / PEAK_GMAC_PER_S
        runs = len(times["dygraph"])
        print(
            f"| {name} ({source} weights) | {what} | {macs / 1e9:.1f} | {floor:.2f} s | {dygraph:.2f} s "
            f"({dygraph / floor:.0f}× floor) | {fast:.2f} s ({kind_of(engine)}; {fast / floor:.0f}× floor; "
            f"{dygraph / fast:.1f}× faster; set-up {setup:.0f} s) | {difference / scale:.1e} "
            f"({difference:.1e} / {scale:.2g}; median of {runs}) |",
            flush=True,
        )
        del net, runners, engine, outputs


# ---------------------------------------------------------------- memory


MEMORY_CASES = {"512-tiled": (512, None), "2048-tiled": (2048, None), "512-untiled": (512, 1 << 20)}


def memory_case(network: str, case: str, tiles: int | None) -> dict:
    """Child process: peak RSS while upscaling one input, the output canvas resident from the start."""
    side, tile = MEMORY_CASES[case]
    upscaler = load_upscaler(network)
    restore.upscale(test_photo(64), upscaler)  # warm-up: predictor built, first allocations made
    image = test_photo(side)
    tile = tile or upscaler.tile
    spans = restore.tile_spans(side, tile, upscaler.context)
    count, window = len(spans) ** 2, spans[0][3] - spans[0][2]
    ready = memory_mib("VmRSS")
    reset_peak()
    start = time.perf_counter()
    canvas = np.zeros((side * 4, side * 4, 3), np.uint8)
    canvas.fill(0)  # resident, as the finished output is
    done = 0
    for rows, cols, patch, _ in restore.iter_upscaled_tiles(image, upscaler, tile=tile):
        canvas[rows, cols] = restore._to_uint8_truncating(patch)
        done += 1
        if tiles is not None and done >= tiles:
            break
    return {"kind": upscaler.run.kind, "ready": ready, "peak": memory_mib("VmHWM"), "seconds": time.perf_counter() - start,
            "done": done, "count": count, "window": window, "context": upscaler.context, "canvas": canvas.nbytes / MIB}


def bench_memory(network: str, tiles: int | None) -> None:
    print("| network | input | peak RSS | RSS when ready | peak − ready | of which output canvas | time |")
    print("|---|---|---|---|---|---|---|")
    for case in MEMORY_CASES:
        r = in_child("memory", network, case, str(tiles or 0))
        side = MEMORY_CASES[case][0]
        label = f"{side}² in, {'untiled' if 'untiled' in case else 'tiled'} ({r['done']} of {r['count']} tiles, {r['window']}² windows, context {r['context']})"
        print(f"| {network} ({r['kind']}) | {label} | {r['peak']:.0f} MiB | {r['ready']:.0f} MiB | {r['peak'] - r['ready']:.0f} MiB "
              f"| {r['canvas']:.0f} MiB | {r['seconds']:.0f} s |", flush=True)


# ---------------------------------------------------------------- video


def make_clip(path: Path, seconds: int, rate: int, side: int = SIDE) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={side}x{side}:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def video_case(network: str, seconds: int, rate: int) -> dict:
    """Child process: the application's video path on one clip; fps and peak RSS."""
    spec = weights.spec(SR_NETWORKS[network])
    key = next(k for k, choice in restore.UPSCALERS.items() if choice.weights == spec.name)
    restore.MAX_VIDEO_SECONDS = max(restore.MAX_VIDEO_SECONDS, seconds)  # the 60 s clip is over the tab's limit
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        if not weights.locate(spec):
            # Random weights in the published layout, so restore_video loads them as for a user.
            net, _ = build_network(network, spec.name)
            paddle.save({spec.key: net.state_dict()} if spec.key else net.state_dict(), str(Path(tmp) / spec.filename))
            os.environ["GAN_GALLERY_WEIGHTS_DIR"] = tmp
        upscaler = restore.load_upscaler(key)
        restore.restore_video(make_clip(Path(tmp) / "warm.mp4", 1, rate), Path(tmp) / "warm-out.mp4", key)
        clip = make_clip(Path(tmp) / "clip.mp4", seconds, rate)
        ready = memory_mib("VmRSS")
        reset_peak()
        start = time.perf_counter()
        result = restore.restore_video(clip, Path(tmp) / "out.mp4", key)
        wall = time.perf_counter() - start
    return {"kind": upscaler.run.kind, "frames": result.frames, "seconds": wall, "ready": ready, "peak": memory_mib("VmHWM")}


def bench_video(network: str, rate: int) -> None:
    print("| network | clip | frames | speed | peak RSS | RSS when ready | peak − ready |")
    print("|---|---|---|---|---|---|---|")
    peaks = []
    for seconds in (10, 60):
        r = in_child("video", network, str(seconds), str(rate))
        peaks.append(r["peak"])
        print(f"| {network} ({r['kind']}) | {seconds} s, {SIDE}² at {rate} fps → {SIDE * 4}², with audio | {r['frames']} | "
              f"{r['frames'] / r['seconds']:.3f} fps ({r['seconds'] / r['frames']:.2f} s per frame) | {r['peak']:.0f} MiB | "
              f"{r['ready']:.0f} MiB | {r['peak'] - r['ready']:.0f} MiB |", flush=True)
    print(f"| | 60 s against 10 s | | | {peaks[1] / peaks[0] - 1:+.1%} (target: within +10 %) | | |", flush=True)


# ---------------------------------------------------------------- video networks


VSR_FRAMES, VSR_SIDE = 10, 64


class _Warnings(logging.Handler):
    """The warnings core.runtime logs while it builds an engine: why a fast path was refused."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def bench_vsr(repeats: int) -> None:
    from core.nets import deepremaster

    print("| network | input | GMAC per frame | floor per frame | dygraph per frame | fast path per frame | "
          "fast vs dygraph: max abs diff / output max |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    cases = []
    for name in ("ppmsvsr_reds_x4", "basicvsrpp_reds_x4"):
        clip = rng.random((1, VSR_FRAMES, 3, VSR_SIDE, VSR_SIDE), dtype=np.float32)
        # The application's export for windows of VSR_FRAMES frames (it exports for its window length).
        cases.append((name, f"{VSR_FRAMES} frames, {VSR_SIDE}² → {VSR_SIDE * 4}²", (clip,), VSR_FRAMES,
                      restore.vsr_export(VSR_FRAMES)))
    width, height = restore.remaster_frame_size(640, 480, on_gpu=False)
    grey = rng.random((1, 1, deepremaster.BLOCK_FRAMES, height, width), dtype=np.float32)
    reference = rng.random((1, 1, 3, 256, 256), dtype=np.float32)
    cases.append(("deepremaster_modelR", f"5-frame block, {width}x{height}", (grey,), deepremaster.BLOCK_FRAMES,
                  restore.REMASTER_BLOCKS))
    cases.append(("deepremaster_modelC", f"5-frame block, {width}x{height}, 1 reference", (grey, reference),
                  deepremaster.BLOCK_FRAMES, restore.REMASTER_REFERENCED))
    runtime_log = logging.getLogger("core.runtime")
    for name, what, inputs, frames, export in cases:
        paddle.seed(0)
        net = models.create(name)
        macs = conv_macs(net, *inputs) / frames
        floor = macs / 1e9 / PEAK_GMAC_PER_S
        warnings = _Warnings()
        runtime_log.addHandler(warnings)
        start = time.perf_counter()
        try:
            engine = models.prepare_runner(net, export)
        finally:
            runtime_log.removeHandler(warnings)
        setup = time.perf_counter() - start
        runners = {"dygraph": models.prepare_runner(net, export, engine="dygraph")}
        if engine.kind != "dygraph":
            runners["fast"] = engine
        times = {label: [] for label in runners}
        outputs = {label: runner(*inputs)[0] for label, runner in runners.items()}  # warm-up
        for _ in range(repeats):  # alternating, so a neighbour's load hits both alike
            for label, runner in runners.items():
                begin = time.perf_counter()
                outputs[label] = runner(*inputs)[0]
                times[label].append(time.perf_counter() - begin)
        dygraph = statistics.median(times["dygraph"]) / frames
        if "fast" in runners:
            fast = statistics.median(times["fast"]) / frames
            scale = float(np.abs(outputs["dygraph"]).max())
            difference = float(np.abs(outputs["fast"].astype(np.float64) - outputs["dygraph"]).max())
            fast_text = (f"{fast:.2f} s ({engine.kind}; {fast / floor:.0f}× floor; {dygraph / fast:.1f}× faster; "
                         f"set-up {setup:.0f} s)")
            difference_text = f"{difference / scale:.1e} ({difference:.1e} / {scale:.2g})"
        else:
            reason = warnings.messages[-1] if warnings.messages else "see the log"
            fast_text, difference_text = f"no fast path verified: {reason}", "–"
        print(f"| {name} (random weights) | {what} | {macs / 1e9:.2f} | {floor:.3f} s | {dygraph:.2f} s "
              f"({dygraph / floor:.0f}× floor) | {fast_text} | {difference_text}; median of {repeats} |", flush=True)
        del net, runners, engine, outputs


# ---------------------------------------------------------------- the composed pipeline

# Small networks under the real checkpoint names: time and memory then come from the pipeline's own
# streaming (decoding, windows, blocks, encoding), not from large weights.
PIPELINE_NETWORKS = {
    "ppmsvsr.reds_x4": {"mid_channels": 8, "num_init_blocks": 1, "num_blocks": 1, "num_reconstruction_blocks": 1,
                        "deform_groups": 2, "stage1_groups": 2, "stage1_blocks": 1},
    "deepremaster_restorer.paddlegan": {"width": 4},
    "deepremaster_colorizer.paddlegan": {"width": 8},
    "deoldify.stable": {"backbone": "resnet18", "encoder_width": 8, "decoder_width": 16},
}
PIPELINE_SIDE = 64
_SMALL_NETWORKS = contextlib.ExitStack()  # the small networks' registrations, kept for the child process's life


def pipeline_case(seconds: int, rate: int) -> dict:
    """Child process: the composed pipeline on a generated clip; peak RSS (VmHWM) and RSS sampled by psutil."""
    import dataclasses
    import threading

    import psutil

    from core import face, runtime
    from core.registry import WEIGHTS
    from core.errors import WeightsUnavailable

    restore.MAX_VIDEO_SECONDS = max(restore.MAX_VIDEO_SECONDS, seconds)  # the 60 s clip is over the tab's limit
    restore.REMASTER_CPU_MAX_FRAMES = max(restore.REMASTER_CPU_MAX_FRAMES, seconds * rate)
    restore.REMASTER_CPU_FRAME_PIXELS = PIPELINE_SIDE * PIPELINE_SIDE  # remastered at 64², then x4
    with tempfile.TemporaryDirectory(prefix="bench-restore-pipeline-") as tmp:
        os.environ["GAN_GALLERY_WEIGHTS_DIR"] = tmp
        os.environ["GAN_GALLERY_CACHE"] = str(Path(tmp) / "cache")
        os.environ["GAN_GALLERY_ENGINE"] = "dygraph"
        paddle.seed(0)
        saved: dict = {}
        for name, overrides in PIPELINE_NETWORKS.items():
            real = weights.spec(name)
            small = dataclasses.replace(real, net_overrides=overrides)
            _SMALL_NETWORKS.enter_context(WEIGHTS.scoped(real.name, small, real.aliases))  # for this process's life
            state = weights.build_network(small).state_dict()
            saved.setdefault(small.filename, {}).update({small.key: state} if small.key else state)
        for filename, state in saved.items():
            paddle.save(state, str(Path(tmp) / filename))
        try:
            weights.import_packaged(weights.spec(face.DETECTOR))
        except WeightsUnavailable as exc:
            raise SystemExit(f"the face detector's weights are needed: {exc}")
        runtime.models.clear()
        references = [test_photo(64)]
        run = dict(upscaler="ppmsvsr_x4", colorizer="deoldify_stable", render_factor=7, face_enhancer="gfpgan",
                   remaster="deepremaster", references=references)
        restore.restore_video(make_clip(Path(tmp) / "warm.mp4", 1, rate, PIPELINE_SIDE), Path(tmp) / "warm-out.mp4", **run)
        clip = make_clip(Path(tmp) / "clip.mp4", seconds, rate, PIPELINE_SIDE)
        process = psutil.Process()
        ready = process.memory_info().rss / MIB
        sampled = [ready]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                sampled.append(process.memory_info().rss / MIB)

        sampler = threading.Thread(target=sample, daemon=True)
        reset_peak()
        sampler.start()
        start = time.perf_counter()
        result = restore.restore_video(clip, Path(tmp) / "out.mp4", **run)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    return {"frames": result.frames, "seconds": wall, "ready": ready, "peak": memory_mib("VmHWM"),
            "sampled_peak": max(sampled), "size_out": list(result.size_out), "steps": result.steps}


def bench_pipeline(rate: int) -> None:
    print("| clip | frames | s per frame (whole pipeline) | peak RSS (VmHWM) | peak RSS (psutil, 50 ms) | RSS when ready |")
    print("|---|---|---|---|---|---|")
    peaks = []
    for seconds in (10, 60):
        r = in_child("pipeline", "-", str(seconds), str(rate))
        peaks.append(r["peak"])
        print(f"| {seconds} s, {PIPELINE_SIDE}² at {rate} fps → {r['size_out'][0]}x{r['size_out'][1]}, with audio | "
              f"{r['frames']} | {r['seconds'] / r['frames']:.2f} s | {r['peak']:.0f} MiB | {r['sampled_peak']:.0f} MiB | "
              f"{r['ready']:.0f} MiB |", flush=True)
    print(f"| 60 s against 10 s | | | {peaks[1] / peaks[0] - 1:+.1%} (target: within +10 %) | | |", flush=True)
    print(f"\nsteps: {'; '.join(r['steps'])}", flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("GAN_GALLERY_OFFLINE", "1")
    if argv[:1] == ["--child"]:
        kind, network, *rest = argv[1:]
        if kind == "memory":
            result = memory_case(network, rest[0], int(rest[1]) or None)
        elif kind == "pipeline":
            result = pipeline_case(int(rest[0]), int(rest[1]))
        else:
            result = video_case(network, int(rest[0]), int(rest[1]))
        print(json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.restore", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=["speed", "memory", "video", "vsr", "pipeline"],
                        help="sections to run (default: all)")
    parser.add_argument("--networks", nargs="+", default=[*SR_NETWORKS, *COLORIZE_NETWORKS], choices=[*SR_NETWORKS, *COLORIZE_NETWORKS])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path (RRDB: 1)")
    parser.add_argument("--memory-network", default="lesrcnn_x4", choices=list(SR_NETWORKS))
    parser.add_argument("--memory-tiles", type=int, default=8, help="tiles of the 2048² input to run (one row of 8)")
    parser.add_argument("--full", action="store_true", help="run every tile of the 2048² input")
    parser.add_argument("--video-network", default="lesrcnn_x4", choices=list(SR_NETWORKS))
    parser.add_argument("--video-rate", type=int, default=1, help="frame rate of the test clips")
    parser.add_argument("--pipeline-rate", type=int, default=2, help="frame rate of the composed pipeline's clips")
    args = parser.parse_args(argv)
    sections = args.only or ["speed", "memory", "video", "vsr", "pipeline"]
    print(f"# {platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={THREADS}, paddle {paddle.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if "speed" in sections:
        bench_speed(args.networks, args.repeats)
    if "memory" in sections:
        bench_memory(args.memory_network, None if args.full else args.memory_tiles)
    if "video" in sections:
        bench_video(args.video_network, args.video_rate)
    if "vsr" in sections:
        bench_vsr(args.repeats)
    if "pipeline" in sections:
        bench_pipeline(args.pipeline_rate)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
