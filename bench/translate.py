"""Benchmark of the image translation networks on this machine: dygraph against the fast path.

    python -m bench.translate                 # every network, images and a 10 s video
    python -m bench.translate --no-video      # images only
    python -m bench.translate --only horse2zebra --repeats 5

For each network (real configuration, deterministic random weights: time does
not depend on the values): milliseconds per 256 x 256 image in dygraph and in
the engine the application uses (``core.models.prepare_runner`` with ``translate.export_of``: static
graph + paddle.inference, oneDNN where it verifies), the largest difference
between the two, the multiply-accumulates of its convolutions and the compute
floor they imply at this machine's measured sgemm peak, and frames per second
through the whole application path (decode, pre-process, network,
post-process, encode with audio) on a 10 s 256 x 256 video at 10 fps (100 frames; ``--video-fps`` changes the rate).
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

from core.runtime import configure_process

# Threads must be fixed before Paddle is imported.
THREADS = configure_process()

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from bench.measure import PEAK_GMAC_PER_S, conv_macs, interleaved_median_ms  # noqa: E402
from core import models  # noqa: E402
from core.apps import translate  # noqa: E402
from core.media import ffmpeg_exe  # noqa: E402
from core.video import map_video  # noqa: E402

SIDE = 256
CYCLEGAN_TARGET = 2.5
VIDEO_SECONDS = 10
VIDEO_FPS = 10


def make_video(path: Path, fps: int) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={SIDE}x{SIDE}:rate={fps}:duration={VIDEO_SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={VIDEO_SECONDS}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def video_fps(translation, run, source: Path, workdir: Path) -> tuple[float, int]:
    frames = 0

    def process(batch):
        nonlocal frames
        frames += len(batch)
        return [translate.translate_array(translation, run, frame) for frame in batch]

    start = time.perf_counter()
    map_video(source, workdir / f"{translation.key}.mp4", process, batch_size=translate.VIDEO_BATCH)
    return frames / (time.perf_counter() - start), frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.translate", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="model keys (default: one per network)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--video-fps", type=int, default=VIDEO_FPS,
                        help=f"frame rate of the {VIDEO_SECONDS} s test video (fewer frames for the slow networks)")
    args = parser.parse_args(argv)

    # horse2zebra and zebra2horse share a network: time it once.
    chosen = args.only or ["horse2zebra", "facades", "anime_hayao", "selfie2anime", "photo2cartoon"]
    translations = [translate.choose(key) for key in chosen if key in translate.TRANSLATIONS]
    workdir = Path(tempfile.mkdtemp(prefix="bench-translate-"))
    video = None if args.no_video else make_video(workdir / "source.mp4", args.video_fps)
    print(f"# paddle {paddle.__version__}, {THREADS} threads (OMP_NUM_THREADS), {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}; {SIDE}x{SIDE} input, median of {args.repeats} after a warm-up, "
          "dygraph and fast path alternating")
    header = ("| network (model) | GMAC | floor ms (2 cores) | dygraph ms | fast path ms | engine | speed-up | fast / floor "
              "| CPU ms dygraph / fast | CPU speed-up | max abs diff | video fps |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    speedups = {}
    for translation in translations:
        paddle.seed(0)
        net = models.create(translation.network)
        sample = np.random.default_rng(0).uniform(-1, 1, (1, 3, SIDE, SIDE)).astype(np.float32)
        reference = translate.image_only(net) if translation.returns_extras else net
        macs = conv_macs(reference, sample)
        export = translate.export_of(translation)
        dygraph = models.prepare_runner(net, export, engine="dygraph")
        fast = models.prepare_runner(net, export)
        (dygraph_ms, dygraph_cpu), (fast_ms, fast_cpu) = interleaved_median_ms([dygraph, fast], sample, args.repeats)
        diff = float(np.abs(fast(sample)[0] - dygraph(sample)[0]).max())
        floor_ms = macs / (PEAK_GMAC_PER_S * 1e9) * 1000
        fps = "-"
        if video is not None:
            rate, frames = video_fps(translation, fast, video, workdir)
            fps = f"{rate:.2f} ({frames} frames)"
        speedups[translation.key] = dygraph_ms / fast_ms
        print(f"| {translation.network} ({translation.key}) | {macs / 1e9:.1f} | {floor_ms:.0f} | {dygraph_ms:.0f} | "
              f"{fast_ms:.0f} | {fast.kind} | {dygraph_ms / fast_ms:.2f}x | {fast_ms / floor_ms:.1f} | "
              f"{dygraph_cpu:.0f} / {fast_cpu:.0f} | {dygraph_cpu / fast_cpu:.2f}x | {diff:.1e} | {fps} |",
              flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if "horse2zebra" in speedups:
        met = speedups["horse2zebra"] >= CYCLEGAN_TARGET
        print(f"CycleGAN fast path speed-up {speedups['horse2zebra']:.2f}x (target {CYCLEGAN_TARGET}x): "
              f"{'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
