"""Benchmark of lip sync (Wav2Lip) on this machine.

    python -m bench.lip_sync                 # everything below
    python -m bench.lip_sync --no-memory     # skip the 10 s / 60 s speech runs

- The network: Wav2Lip at its real size (36.3 M parameters, deterministic random weights: time does
  not depend on the values), seconds per output frame at batch 16 (PaddleGAN's predictor measured
  0.117 s/frame on this machine), in dygraph and on the fast path the application takes
  (``core.apps.lip_sync.wav2lip_export``: static graph + paddle.inference, oneDNN on CPU), with the
  largest difference between the two.
- The application's whole path (``core.apps.lip_sync.lip_sync``: speech decoding and mel, face
  detection, crops, the network, paste-back, H.264), real-size network, on the astronaut photo
  (512²) and on a 2 s talking clip looped back and forth, for 10 s and 60 s of speech, each in its
  own process: seconds per output frame and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from core.runtime import configure_process

THREADS = configure_process()

import numpy as np  # noqa: E402

from bench import median_seconds  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BATCH = 16
PADDLEGAN_S_PER_FRAME = 0.117  # PaddleGAN's Wav2Lip predictor, dygraph, batch 16, measured here


def bench_network(repeats: int) -> None:
    import paddle

    from core import models
    from core.apps import lip_sync
    from core.nets import wav2lip

    paddle.seed(0)
    net = models.create("wav2lip_hq")
    net.eval()
    rng = np.random.default_rng(0)
    mel = rng.uniform(-4, 4, (BATCH, 1, wav2lip.NUM_MELS, wav2lip.MEL_STEPS)).astype(np.float32)
    faces = rng.random((BATCH, 6, wav2lip.IMAGE_SIZE, wav2lip.IMAGE_SIZE), dtype=np.float32)
    dygraph = models.prepare_runner(net, lip_sync.wav2lip_export(), engine="dygraph")
    fast = models.prepare_runner(net, lip_sync.wav2lip_export(), engine="auto")
    dygraph_s = median_seconds(lambda: dygraph(mel, faces), repeats) / BATCH
    fast_s = median_seconds(lambda: fast(mel, faces), repeats) / BATCH
    diff = float(np.abs(np.asarray(fast(mel, faces)[0]) - np.asarray(dygraph(mel, faces)[0])).max())
    print(f"| engine | s/frame at batch {BATCH} | × PaddleGAN's {PADDLEGAN_S_PER_FRAME} s |")
    print("|---|---|---|")
    print(f"| dygraph | {dygraph_s:.3f} | {dygraph_s / PADDLEGAN_S_PER_FRAME:.2f} |")
    print(f"| fast path ({fast.kind}) | {fast_s:.3f} | {fast_s / PADDLEGAN_S_PER_FRAME:.2f} |")
    print(f"\nfast path vs dygraph: max abs diff {diff:.1e} (outputs in [0, 1])", flush=True)


PIPELINE_CHILD = r"""
import json, resource, sys, time
from core.runtime import init_paddle
init_paddle()
from core.apps import lip_sync
start = time.perf_counter()
result = lip_sync.lip_sync(sys.argv[1], sys.argv[2], sys.argv[3])
print(json.dumps({"frames": result.frames, "seconds": time.perf_counter() - start,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_pipeline(speech_seconds: list[int]) -> None:
    import paddle

    from core import weights
    from tests.clips import talking_clip, voice

    print("\n| face | speech | frames | s/frame (whole path) | peak RSS MiB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-lip-sync-") as tmp:
        tmp = Path(tmp)
        (tmp / "weights").mkdir()
        paddle.seed(0)
        spec = weights.spec("wav2lip.hq")
        paddle.save(weights.build_network(spec).state_dict(), str(tmp / "weights" / spec.filename))
        env = dict(os.environ, GAN_GALLERY_WEIGHTS_DIR=str(tmp / "weights"), GAN_GALLERY_CACHE=str(tmp / "cache"),
                   OMP_NUM_THREADS=str(THREADS))
        subprocess.run([sys.executable, "-c", "from core import weights, face; "
                        "weights.import_packaged(weights.spec(face.DETECTOR))"], check=True, cwd=REPO, env=env)
        clip = talking_clip(tmp / "talking.mp4", 2.0, fps=25)
        faces = (("astronaut photo 512²", str(REPO / "assets/examples/astronaut.jpg")),
                 ("talking clip 256², 2 s at 25 fps, looped", str(clip)))
        for label, face_path in faces:
            for seconds in speech_seconds:
                speech = voice(tmp / f"voice-{seconds}.wav", seconds)
                child = subprocess.run([sys.executable, "-c", PIPELINE_CHILD, face_path, str(speech), str(tmp / "out.mp4")],
                                       capture_output=True, text=True, cwd=REPO, env=env)
                if child.returncode != 0:
                    raise RuntimeError(child.stderr[-3000:])
                measured = json.loads(child.stdout.strip().splitlines()[-1])
                per_frame = measured["seconds"] / measured["frames"]
                print(f"| {label} | {seconds} s | {measured['frames']} | {per_frame:.3f} | {measured['peak_mib']:.0f} |",
                      flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lip_sync", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="only 10 s of speech in the whole-path runs")
    args = parser.parse_args(argv)
    print(f"# {THREADS} threads, load average {os.getloadavg()[0]:.1f} at start")
    bench_network(args.repeats)
    bench_pipeline([10] if args.no_memory else [10, 60])
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
