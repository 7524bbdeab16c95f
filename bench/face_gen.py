"""Benchmark of face generation on this machine: seconds per image, dygraph against the fast path, memory.

    python -m bench.face_gen                    # 1024² and 512², then the 30 / 120 frame walks
    python -m bench.face_gen --repeats 3 --no-walk
    python -m bench.face_gen --walk-frames 30 120 --walk-size 256

Every measurement runs in its own child process through the application's own
path (``core.apps.face_gen.generate`` / ``walk``: mapping, truncation with the
cached mean latent, synthesis, conversion to uint8), on the real network
configurations with deterministic random weights written as checkpoints in the
published layout (time does not depend on the values):

- 1024²: FFHQ config-f (``stylegan2_ffhq_config_f_1024``); 512²: anime faces
  (``stylegan2_animeface_512``). Dygraph (``GAN_GALLERY_ENGINE=dygraph``) and
  the engine the application picks (``core.models.runner``: static graph
  + paddle.inference, oneDNN where it verifies). Reported: median seconds per
  image after one warm-up, the model's load time (for the fast path: export and
  verification included), the peak RSS of the process, and the largest
  difference between the two engines' float images for the same latent.
- The compute floor: multiply-accumulates of the dense convolutions (modulated
  3x3, the transposed 3x3 of each upsampling step, ToRGB 1x1; the FIR blurs are
  left out) at this machine kind's measured sgemm peak.
- Walks: the FFHQ network at 256² and a quarter of its width
  (``{"size": 256, "narrow": 0.25}``, a variant of the checkpoint registered for the child's lifetime;
  ``--walk-narrow 1`` gives exactly the ``stylegan2_256`` config) so 120 frames
  stay quick; the engine the application picks; peak RSS, and RSS at frame 10
  against the last frame, for 30 and 120 frames. ffmpeg (a separate process)
  is not counted.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.runtime import configure_process

# Threads must be fixed before Paddle is imported.
THREADS = configure_process()

import numpy as np  # noqa: E402

from core.apps import face_gen  # noqa: E402

# fp32 sgemm peak of the 2-core reference machine (STACK-NOTES: 328 GFLOP/s = 164 GMAC/s).
PEAK_GMAC_PER_S = 164.0
RENDER_MODELS = {1024: "ffhq", 512: "anime"}
TOLERANCE = 1e-4


def dense_conv_macs(size: int, channel_multiplier: int = 2) -> float:
    """Multiply-accumulates of StyleGAN2's dense convolutions for one image of side `size`."""
    width = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return synthesis_macs(width, size)


def synthesis_macs(width: dict, size: int) -> float:
    """The same for a generator whose channels at each side are `width` (``StyleGAN2Generator.channels``)."""
    total = width[4] * width[4] * 9 * 16 + width[4] * 3 * 16  # conv1 and to_rgb1 at 4x4
    for level in range(3, int(math.log2(size)) + 1):
        side, before, now = 2**level, width[2 ** (level - 1)], width[2**level]
        total += before * now * 9 * (side // 2) ** 2  # transposed 3x3, stride 2, counted on its input
        total += now * now * 9 * side**2  # 3x3 at the new size
        total += now * 3 * side**2  # ToRGB
    return float(total)


def rss_mib() -> float:
    """Resident memory of this process now (MiB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_checkpoint(model: str, directory: Path, overrides: dict) -> None:
    import paddle

    from core import models, weights

    choice = face_gen.MODELS[model]
    paddle.seed(0)
    net = models.create(choice.network, **overrides)
    paddle.save(net.state_dict(), str(directory / weights.spec(choice.weights).filename))


# ---------------------------------------------------------------- children (one measurement each)


def child_render(model: str, engine: str, repeats: int, reference: str) -> dict:
    start = time.perf_counter()
    generator = face_gen.load(model)
    load_s = time.perf_counter() - start
    face_gen.generate(model, 1)  # warm-up
    times = []
    for seed in range(2, 2 + repeats):
        start = time.perf_counter()
        face_gen.generate(model, seed)
        times.append(time.perf_counter() - start)
    latent = generator.broadcast(generator.w_of(1, face_gen.DEFAULT_TRUNCATION))
    image = generator.synthesize(latent)[0]
    result = {"kind": getattr(generator.synthesize, "kind", engine), "load_s": load_s,
              "s_per_image": statistics.median(times), "times": times, "peak_rss_mib": peak_rss_mib()}
    if engine == "dygraph":
        np.save(reference, image)
    else:
        expected = np.load(reference)
        result["max_abs_diff"] = float(np.abs(image.astype("float64") - expected).max())
        result["output_range"] = float(np.abs(expected).max())
    return result


def child_walk(frames: int, size: int, overrides: dict) -> dict:
    import dataclasses

    from core.registry import WEIGHTS

    spec = WEIGHTS.get(face_gen.MODELS["ffhq"].weights)
    # The walk's smaller variant of the FFHQ checkpoint, for this process's lifetime.
    WEIGHTS.scoped(spec.name, dataclasses.replace(spec, net_overrides=overrides), spec.aliases).__enter__()
    samples = {}

    def progress(done, total):
        if done in (10, total):
            samples[done] = rss_mib()

    face_gen.load("ffhq")
    loaded_rss = rss_mib()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = face_gen.walk("ffhq", "1, 2, 3", frames, Path(tmp) / "walk.mp4", progress=progress)
        mp4_bytes = path.stat().st_size
    elapsed = time.perf_counter() - start
    return {"frames": frames, "size": size, "s_per_frame": elapsed / frames, "loaded_rss_mib": loaded_rss,
            "rss_at_frame_10_mib": samples[10], "rss_at_end_mib": samples[frames],
            "peak_rss_mib": peak_rss_mib(), "mp4_bytes": mp4_bytes}


# ---------------------------------------------------------------- the parent


def run_child(args: list[str], env: dict) -> dict:
    command = [sys.executable, "-m", "bench.face_gen", "--child", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.face_gen", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed images per model and engine (after a warm-up)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1024, 512], choices=sorted(RENDER_MODELS))
    parser.add_argument("--no-walk", action="store_true")
    parser.add_argument("--walk-frames", type=int, nargs="+", default=[30, 120])
    parser.add_argument("--walk-size", type=int, default=256)
    parser.add_argument("--walk-narrow", type=float, default=0.25, help="width multiplier of the walk's network (1: the real 256 config)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        result = (child_render(rest[0], rest[1], int(rest[2]), rest[3]) if kind == "render"
                  else child_walk(int(rest[0]), int(rest[1]), json.loads(rest[2])))
        print(json.dumps(result))
        return 0

    import paddle

    work = Path(tempfile.mkdtemp(prefix="bench-face-gen-"))
    base_env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), GAN_GALLERY_WEIGHTS_DIR=str(work / "weights"),
                    GAN_GALLERY_CACHE=str(work / "cache"), HF_HUB_OFFLINE="1", GAN_GALLERY_OFFLINE="1")
    (work / "weights").mkdir()
    print(f"# face_gen benchmark: paddle {paddle.__version__}, {platform.processor() or platform.machine()}, "
          f"{THREADS} threads, load average {os.getloadavg()[0]:.1f} at start")
    print("\n| image | network | engine | load s | s / image | floor s | ratio | peak RSS MiB | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        model = RENDER_MODELS[size]
        write_checkpoint(model, work / "weights", {})
        floor = dense_conv_macs(size) / (PEAK_GMAC_PER_S * 1e9)
        reference = str(work / f"reference-{size}.npy")
        for engine in ("dygraph", "fast"):
            env = dict(base_env)
            if engine == "dygraph":
                env["GAN_GALLERY_ENGINE"] = "dygraph"
            else:
                env.pop("GAN_GALLERY_ENGINE", None)
            r = run_child(["render", model, engine, str(args.repeats), reference], env)
            diff = f"{r['max_abs_diff']:.2e} (of {r['output_range']:.2f})" if "max_abs_diff" in r else "reference"
            print(f"| {size}² | {face_gen.MODELS[model].network} | {r['kind']} | {r['load_s']:.1f} | {r['s_per_image']:.2f} "
                  f"| {floor:.2f} | {r['s_per_image'] / floor:.1f} | {r['peak_rss_mib']:.0f} | {diff} |", flush=True)
            if "max_abs_diff" in r and r["max_abs_diff"] > TOLERANCE * max(1.0, r["output_range"]):
                print(f"WARNING: the fast path differs from dygraph by {r['max_abs_diff']:.2e} (> {TOLERANCE})")
        print(f"<!-- {size}²: {dense_conv_macs(size) / 1e9:.1f} GMAC in dense convolutions -->")

    if not args.no_walk:
        overrides = {"size": args.walk_size, "narrow": args.walk_narrow}
        write_checkpoint("ffhq", work / "weights", overrides)
        print(f"\n| walk (FFHQ net at {args.walk_size}², width x{args.walk_narrow:g}) | s / frame | RSS after load MiB | RSS at frame 10 MiB "
              "| RSS at last frame MiB | peak RSS MiB | mp4 KiB |")
        print("|---|---|---|---|---|---|---|")
        for frames in args.walk_frames:
            r = run_child(["walk", str(frames), str(args.walk_size), json.dumps(overrides)], base_env)
            print(f"| {frames} frames | {r['s_per_frame']:.2f} | {r['loaded_rss_mib']:.0f} | {r['rss_at_frame_10_mib']:.0f} "
                  f"| {r['rss_at_end_mib']:.0f} | {r['peak_rss_mib']:.0f} | {r['mp4_bytes'] / 1024:.0f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
