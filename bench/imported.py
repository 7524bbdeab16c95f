"""Benchmark of the imported pretrained models: our fast path against the original framework, same weights.

    python -m bench.imported                        # every model, 3 alternating rounds of one run each side
    python -m bench.imported --only realesr_animevideov3_x4 vintage_photo --rounds 5 --repeats 3

Super-resolution models (Real-ESRGAN x4plus, x4plus-anime, animevideov3 x2/x3/x4):
a 256 x 256 crop of a real photo through our application's engine
(``core.apps.restore.load_upscaler``: static graph + paddle.inference with
oneDNN where it verifies) against the PyPI ``ncnn`` package running the
original ``.param``/``.bin`` with its default CPU options. The CycleGAN
(vintagify photo -> vintage) at 256 x 256 through ``core.apps.translate``'s
engine against PyTorch running the original state dict in vintagify's own
module. Both sides use the same number of threads; set-up (loading, export,
verification) is timed apart from the per-image time. Each side is warmed up
once, then ``--rounds`` rounds alternate the sides (``--repeats`` timed runs
each, their median the round's time), and the table gives the median over
rounds: on a shared machine a slow spell then hits both sides alike. ncnn and
torch run in child processes (warmed up in each) so that their OpenMP
runtimes never share a process with Paddle's.

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


def _timed(run, repeats: int, warm_up: bool = True) -> tuple[float, list[float]]:
    if warm_up:
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


# ---------------------------------------------------------------- the original frameworks (child processes)


def ncnn_side(name: str, repeats: int, threads: int, fp32: bool = False) -> dict:
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
    out = {}

    def run():
        extractor = net.create_extractor()
        extractor.input("data", frame)
        _, result = extractor.extract("output")
        out["shape"] = list(np.array(result).shape)

    median, times = _timed(run, repeats)
    return {"setup_s": setup, "median_s": median, "times_s": times, "output_shape": out["shape"]}


def torch_side(name: str, repeats: int, threads: int) -> dict:
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

    median, times = _timed(run, repeats)
    return {"setup_s": setup, "median_s": median, "times_s": times}


def reference(framework: str, name: str, repeats: int) -> dict:
    command = [sys.executable, "-m", "bench.imported", "--side", framework, "--only", name, "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- ours


def our_engine(name: str):
    """(run, engine kind, set-up seconds) for `name` through the application's own loading path."""
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

        translation = next(t for t in translate.TRANSLATIONS.values() if t.weights == name)
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
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per side and round (their median is the round's time)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating our side and theirs; the table gives medians over rounds")
    parser.add_argument("--side", choices=("ncnn", "ncnn-fp32", "torch"), help=argparse.SUPPRESS)  # child-process mode
    args = parser.parse_args(argv)
    if args.side:
        if args.side == "torch":
            result = torch_side(args.only[0], args.repeats, THREADS)
        else:
            result = ncnn_side(args.only[0], args.repeats, THREADS, fp32=args.side == "ncnn-fp32")
        print(json.dumps(result))
        return 0

    print(f"# {platform.processor() or platform.machine()}, {THREADS} threads each side, {SIDE}x{SIDE} input, "
          f"median over {args.rounds} alternating rounds of the median of {args.repeats} runs after a warm-up")
    print("| model | compared with | ours s | theirs s | ratio (ours / theirs) | our engine | set-up ours / theirs s |")
    print("|---|---|---|---|---|---|---|")
    labels = {"ncnn": "ncnn, default options (fp16 storage where the CPU allows)",
              "ncnn-fp32": "ncnn, fp32 storage and arithmetic", "torch": "PyTorch CPU (fp32)"}
    worst = {}
    for name in args.only:
        run, kind, setup = our_engine(name)
        frameworks = ("ncnn", "ncnn-fp32") if name in SR_MODELS else ("torch",)
        ours, theirs, their_setup = [], {f: [] for f in frameworks}, {}
        # Rounds alternate the two sides, so that a slow spell of a shared machine hits both.
        for _ in range(args.rounds):
            ours.append(_timed(run, args.repeats, warm_up=False)[0])
            for framework in frameworks:
                result = reference(framework, name, args.repeats)
                theirs[framework].append(result["median_s"])
                their_setup[framework] = result["setup_s"]
        for framework in frameworks:
            ratio = statistics.median(ours) / statistics.median(theirs[framework])
            worst[framework] = max(worst.get(framework, 0.0), ratio)
            print(f"| {name} | {labels[framework]} | {statistics.median(ours):.2f} | {statistics.median(theirs[framework]):.2f} | "
                  f"**{ratio:.2f}x** | {kind} | {setup:.1f} / {their_setup[framework]:.1f} |", flush=True)
    print("\nworst ratio " + ", ".join(f"{labels[k]}: {v:.2f}x" for k, v in worst.items()) + f" (target <= {TARGET_RATIO}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
