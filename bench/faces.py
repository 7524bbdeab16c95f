"""Benchmark of the face pipeline and First Order Motion on this machine.

    python -m bench.faces                 # everything below
    python -m bench.faces --no-memory     # skip the 10 s / 60 s driving-video memory runs

- Detection: ``core.face.detect_faces`` on the shipped photos (BlazeFace, the real weights imported
  from the mediapipe wheel): milliseconds per picture, whole picture only and with the windows.
- First Order Motion at 256², full and mobile, at their real configurations with deterministic
  random weights (time does not depend on the values): seconds per frame for the keypoints of one
  driving frame and for the generator, in dygraph (what the application runs) and on the fast
  path (``core.runtime.build_engine``: static graph + paddle.inference, oneDNN on CPU).
- Memory: the application's whole path (``core.apps.face_animation.animate``, tiny random
  networks) on a 10 s and a 60 s driving video at 2 frames a second, each in its own process:
  peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.runtime import configure_process

THREADS = configure_process()

import numpy as np  # noqa: E402

from bench import median_seconds  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY = dict(kp_block_expansion=8, kp_max_features=32, kp_num_blocks=3, block_expansion=8, max_features=32,
            num_bottleneck_blocks=2, motion_block_expansion=8, motion_max_features=32, motion_num_blocks=3)


def bench_detection(repeats: int) -> None:
    import matplotlib
    from PIL import Image
    from skimage import data

    from core import face, weights

    weights.import_packaged(weights.spec(face.DETECTOR))
    hopper = np.asarray(Image.open(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")).convert("RGB"))
    print("| picture | faces | whole picture ms | with windows ms |")
    print("|---|---|---|---|")
    for name, picture in (("astronaut 512²", data.astronaut()), ("grace_hopper 512x600", hopper)):
        found = len(face.detect_faces(picture))
        whole = median_seconds(lambda: face.detect_faces(picture, windows=False), repeats) * 1000
        windows = median_seconds(lambda: face.detect_faces(picture), repeats) * 1000
        print(f"| {name} | {found} | {whole:.0f} | {windows:.0f} |", flush=True)


def bench_first_order(repeats: int) -> None:
    """What the application runs (``face_animation.KEYPOINTS`` and ``ANIMATE``), dygraph and fast path."""
    import paddle

    from core import models
    from core.apps import face_animation as fa

    print("\n| model | params | keypoints s/frame (dygraph / fast) | generator s/frame at batch 4 (dygraph / fast) | fast-path engine | max abs diff |")
    print("|---|---|---|---|---|---|")
    for name in ("fom_vox_256", "fom_vox_mobile_256"):
        paddle.seed(0)
        net = models.create(name)
        net.eval()
        params = sum(int(p.numel()) for p in net.parameters()) / 1e6
        image = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
        timings, outputs, kind = {}, {}, "dygraph"
        for engine in ("dygraph", "auto"):
            runs = tuple(models.prepare_runner(net, export, engine) for export in (fa.KEYPOINTS, fa.ANIMATE))
            kind = runs[1].kind
            value, jacobian = runs[0](image)
            batch = [np.repeat(a, 4, axis=0) for a in (image, value, jacobian, value + 0.05, jacobian)]
            timings[engine] = (median_seconds(lambda: runs[0](image), repeats),
                               median_seconds(lambda: runs[1](*batch), repeats) / 4)
            outputs[engine] = np.asarray(runs[1](*batch)[0])
        diff = float(np.abs(outputs["auto"] - outputs["dygraph"]).max())
        (kp_d, gen_d), (kp_f, gen_f) = timings["dygraph"], timings["auto"]
        print(f"| {name} | {params:.1f} M | {kp_d:.2f} / {kp_f:.2f} | {gen_d:.2f} / {gen_f:.2f} | {kind} | {diff:.1e} |",
              flush=True)


MEMORY_CHILD = r"""
import dataclasses, json, resource, sys
from core.runtime import init_paddle
init_paddle()
from core import weights
from core.apps import face_animation as fa
from core.registry import WEIGHTS
real = weights.spec("first_order_motion.vox")
with WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=json.loads(sys.argv[1])), real.aliases):
    fa.MAX_VIDEO_SECONDS = 120
    result = fa.animate("assets/examples/astronaut.jpg", sys.argv[2], sys.argv[3])
print(json.dumps({"frames": result.frames, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_memory() -> None:
    import paddle

    from core import weights
    from core.media import ffmpeg_exe
    from core.registry import WEIGHTS

    print("\n| driving video | frames | seconds | peak RSS MiB |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-faces-") as tmp:
        tmp = Path(tmp)
        real = weights.spec("first_order_motion.vox")
        import dataclasses

        with WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=TINY), real.aliases) as tiny:
            state = weights.build_network(tiny).state_dict()
            nested = {k: {n[len(k) + 1:]: v for n, v in state.items() if n.startswith(k + ".")} for k in tiny.prefix_keys}
            (tmp / "weights").mkdir()
            paddle.save(nested, str(tmp / "weights" / tiny.filename))
        env = dict(os.environ, GAN_GALLERY_WEIGHTS_DIR=str(tmp / "weights"), OMP_NUM_THREADS=str(THREADS))
        for seconds in (10, 60):
            driving = tmp / f"driving-{seconds}.mp4"
            subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", "assets/examples/driving_face.mp4",
                            "-t", str(seconds), "-r", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                            str(driving)], check=True, cwd=REPO)
            start = time.perf_counter()
            child = subprocess.run([sys.executable, "-c", MEMORY_CHILD, json.dumps(TINY), str(driving), str(tmp / "out.mp4")],
                                   capture_output=True, text=True, cwd=REPO, env=env)
            if child.returncode != 0:
                raise RuntimeError(child.stderr[-3000:])
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"| {seconds} s at 2 fps | {measured['frames']} | {time.perf_counter() - start:.0f} | {measured['peak_mib']:.0f} |",
                  flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faces", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args(argv)
    print(f"# {THREADS} threads, load average {os.getloadavg()[0]:.1f} at start")
    bench_detection(args.repeats)
    bench_first_order(args.repeats)
    if not args.no_memory:
        bench_memory()
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
