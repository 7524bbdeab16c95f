"""Write the static-graph persistables fixtures with Paddle's own saving, once, under Paddle 2.6.

    .venv-paddle26/bin/python tests/importers/data/make_persistables_fixtures.py

writes ``tests/importers/data/persistables/``:

- ``vars/``: one file per variable, ``paddle.static.save_vars(exe, dir, vars=...)`` (the ``save``
  operator, what ``fluid.io.save_persistables`` ran), for every variable the operator can save;
- ``combined``: every variable in one file, ``save_vars(..., filename="combined")`` (the
  ``save_combine`` operator), which Paddle writes sorted by name;
- ``expected.json``: each variable's dtype, shape, LoD and values, which variables the ``save``
  operator refused (Paddle 2.6 has no ``save`` kernel for bool; ``save_combine`` has one), and the
  order of the combined file.

The main environment (Paddle 3.3.1) reads these same bytes in tests/core/test_paddle_persistables.py;
where the running Paddle can save static-graph variables too (2.6; 3.x inside ``OldIrGuard``),
that test also calls ``write_fixtures`` into a temporary folder and reads the fresh files back.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "persistables"

# name -> (dtype, values, LoD as sequence lengths or None). Values are chosen so that a wrong byte
# order, element size or sign shows: negatives, large magnitudes, fractions.
VARIABLES = {
    "conv1_w": ("float32", np.linspace(-1.5, 2.25, 24, dtype=np.float32).reshape(2, 3, 2, 2), None),
    "conv1_norm_mean": ("float64", np.array([1e-300, -2.5, 3.141592653589793]), None),
    "half_scale": ("float16", np.array([[0.5, -65504.0], [6.1e-05, 1.0]], np.float16), None),
    # bfloat16 given by its bit patterns (Paddle takes numpy uint16 as bfloat16): 1.5, -2.25, 3.3895e38.
    "bf16_gain": ("bfloat16", np.array([0x3FC0, 0xC010, 0x7F7F], np.uint16), None),
    "counts_i8": ("int8", np.array([-128, 0, 127], np.int8), None),
    "counts_u8": ("uint8", np.array([0, 128, 255], np.uint8), None),
    "counts_i16": ("int16", np.array([-32768, 300, 32767], np.int16), None),
    "counts_i32": ("int32", np.array([[-(2**31), 7], [65536, 2**31 - 1]], np.int32), None),
    "@LR_DECAY_COUNTER@": ("int64", np.array([2**40 + 3], np.int64), None),
    "learning_rate_0": ("float32", np.array(2e-4, np.float32), None),  # a 0-D tensor: dims []
    "flag_bool": ("bool", np.array([True, False, True, True]), None),
    # A LoD tensor: 5 rows in two sequences of 2 and 3 (offsets 0, 2, 5).
    "seq_feature": ("float32", np.arange(10, dtype=np.float32).reshape(5, 2) / 4, [[2, 3]]),
}


def _old_ir():
    """Paddle 3 builds PIR programs by default; the legacy program (and its save operators) needs OldIrGuard."""
    import paddle

    guard = getattr(getattr(paddle, "pir_utils", None), "OldIrGuard", None)
    return guard() if guard is not None else contextlib.nullcontext()


def write_fixtures(out: Path) -> dict:
    """Save VARIABLES with Paddle's static-graph savers into `out` (vars/, combined); return the expectations."""
    import paddle

    paddle.enable_static()
    out = Path(out)
    place = paddle.CPUPlace()
    refused = {}
    with _old_ir():
        main, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, startup):
            block = main.global_block()
            created = {
                name: block.create_var(name=name, shape=list(values.shape), dtype=dtype, persistable=True,
                                       lod_level=len(lod) if lod else 0)
                for name, (dtype, values, lod) in VARIABLES.items()
            }
        exe = paddle.static.Executor(place)
        exe.run(startup)
        scope = paddle.static.global_scope()
        for name, (_, values, lod) in VARIABLES.items():
            tensor = scope.var(name).get_tensor()
            tensor.set(values, place)
            if lod:
                tensor.set_recursive_sequence_lengths(lod)
        for name, var in created.items():
            try:
                paddle.static.save_vars(exe, str(out / "vars"), main_program=main, vars=[var])
            except Exception as exc:  # the save operator has no kernel for this dtype in this Paddle
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                refused[name] = next((line for line in lines if "kernel" in line.lower()), lines[-1] if lines else repr(exc))[:200]
        paddle.static.save_vars(exe, str(out), main_program=main, vars=list(created.values()), filename="combined")
    paddle.disable_static()
    expected = {}
    for name, (dtype, values, lod) in VARIABLES.items():
        if dtype == "bfloat16":
            values = (values.astype(np.uint32) << 16).view(np.float32)
        offsets = [[int(v) for v in np.concatenate([[0], np.cumsum(level)])] for level in lod] if lod else []
        expected[name] = {"dtype": dtype, "shape": list(values.shape), "lod": offsets,
                          "values": np.asarray(values).ravel().tolist()}
    return {
        "paddle": paddle.__version__,
        "variables": expected,
        "single_files": sorted(set(VARIABLES) - set(refused)),
        "refused_by_save": refused,
        "combined_order": sorted(VARIABLES),
    }


def main() -> int:
    import shutil

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    report = write_fixtures(OUT)
    on_disk = sorted(p.name for p in (OUT / "vars").iterdir())
    assert on_disk == report["single_files"], (on_disk, report["single_files"])
    (OUT / "expected.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(on_disk)} variable files, combined ({len(report['combined_order'])} variables) and expected.json "
          f"with Paddle {report['paddle']}; refused by save: {sorted(report['refused_by_save'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
