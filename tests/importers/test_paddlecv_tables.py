"""PaddleCV/gan's published pix2pix and CycleGAN generators onto our networks.

tests/paddlecv_layouts/*.json list each archive's generator variables as the library names and
shapes them (derived by tests/paddlecv_layouts/derive_layouts.py from its network code). Every
variable must map through the registered checkpoints' name tables onto exactly our parameters, with
the same shape. Then the library's generators are built as a real static graph with those names
(``derive_layouts.StaticProgram``), saved by Paddle's own ``save_vars`` beside a discriminator and
optimizer state, converted by ``paddle_persistables``, and must compute what the static graph computes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import paddle
import pytest

from core import weights
from core.registry import CONVERTERS

ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = ROOT / "tests" / "paddlecv_layouts"
# Each archive, and the checkpoints converted from it.
CHECKPOINTS = {
    "pix2pix_G": ["pix2pix_unet256.paddlecv_cityscapes"],
    "cyclegan_9blocks_G": ["cyclegan_resnet9.paddlecv_cityscapes_photo2label",
                           "cyclegan_resnet9.paddlecv_cityscapes_label2photo"],
}


def derive_layouts():
    spec = importlib.util.spec_from_file_location("derive_layouts", LAYOUTS / "derive_layouts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest(name):
    return json.loads((LAYOUTS / f"{name}.json").read_text())


def test_the_manifests_are_what_the_derivation_writes():
    derived = derive_layouts().manifests()
    assert sorted(derived) == sorted(CHECKPOINTS)
    for name, expected in derived.items():
        assert manifest(name) == expected, f"{name}.json is stale: run python tests/paddlecv_layouts/derive_layouts.py"


@pytest.mark.parametrize("archive", sorted(CHECKPOINTS))
def test_name_tables_cover_every_variable_exactly_and_shapes_agree(archive):
    m = manifest(archive)
    variables = {name: (shape, dtype) for name, shape, dtype in m["variables"]}
    assert len(variables) == len(m["variables"]), "a variable is listed twice"
    specs = [s for s in weights.specs() if s.archive is not None and s.url == m["weight_url"]]
    assert sorted(s.name for s in specs) == sorted(CHECKPOINTS[archive])
    covered: set[str] = set()
    for s in specs:
        assert s.archive.format == "paddle_persistables" and s.archive.member == m["archive_member"]
        table = s.archive.table()
        assert set(table) <= set(variables), sorted(set(table) - set(variables))[:5]
        assert not covered & set(table), "two checkpoints claim one variable"
        covered |= set(table)
        ours = {name: list(t.shape) for name, t in weights.build_network(s).state_dict().items()}
        assert sorted(table.values()) == sorted(ours), (s.name, sorted(set(ours) ^ set(table.values()))[:5])
        wrong = [(lib, variables[lib][0], ours[our]) for lib, our in table.items() if variables[lib][0] != ours[our]]
        assert not wrong, (s.name, wrong[:5])
        assert {variables[lib][1] for lib in table} == {"float32"}
    assert covered == set(variables), sorted(set(variables) - covered)[:5]


# ---------------------------------------------------------------- the library's graph, saved and converted


def _old_ir():
    guard = getattr(getattr(paddle, "pir_utils", None), "OldIrGuard", None)
    return guard() if guard is not None else contextlib.nullcontext()


def library_archive(tmp_path, build, image, training_state: dict[str, np.ndarray]):
    """Build the library's generator(s) with `build(p, x) -> outputs` as a static graph, give every
    variable seeded values, save them all with Paddle's save_vars into <tmp>/unpacked/net_G (plus
    `training_state`), run it on `image`; return (the unpacked folder, the outputs)."""
    layouts = derive_layouts()
    unpacked = tmp_path / "unpacked"
    rng = np.random.default_rng(0)
    paddle.enable_static()
    try:
        with _old_ir():
            main, startup = paddle.static.Program(), paddle.static.Program()
            with paddle.static.program_guard(main, startup):
                x = paddle.static.data("image", list(image.shape), "float32")
                program = layouts.StaticProgram()
                outputs = build(program, x)
                extra = [main.global_block().create_var(name=n, shape=list(v.shape), dtype=str(v.dtype), persistable=True)
                         for n, v in training_state.items()]
            exe = paddle.static.Executor(paddle.CPUPlace())
            exe.run(startup)
            scope = paddle.static.global_scope()
            for name, shape, _ in program.variables:
                value = rng.standard_normal(shape).astype("float32") * (0.3 if len(shape) > 1 else 1.0)
                scope.var(name).get_tensor().set(np.abs(value) + 0.5 if name.endswith("_var") else value, paddle.CPUPlace())
            for name, value in training_state.items():
                scope.var(name).get_tensor().set(value, paddle.CPUPlace())
            saved = [main.global_block().var(name) for name, _, _ in program.variables] + extra
            paddle.static.save_vars(exe, str(unpacked / "net_G"), main_program=main, vars=saved)
            results = exe.run(main, feed={"image": image}, fetch_list=list(outputs))
    finally:
        paddle.disable_static()
    return unpacked, results


def convert_and_run(unpacked, name, image, **tiny):
    s = weights.spec(name)
    s = dataclasses.replace(s, net_overrides={**s.net_overrides, **tiny})
    state = CONVERTERS.get("paddle_persistables")(unpacked, s)
    net = weights.build_network(s)
    weights.load_state_strict(net, state, name)
    return net(paddle.to_tensor(image)).numpy()


def adam_state(names):
    state = {"learning_rate": np.array([2e-4], "float32"), "@LR_DECAY_COUNTER@": np.array([7], "int64")}
    for name in names:
        state[f"{name}_moment1_0"] = np.zeros(1, "float32")  # (shapes do not matter to the converter)
        state[f"{name}_beta1_pow_acc_0"] = np.array([0.5], "float32")
    return state


def test_pix2pix_g_from_the_library_graph_computes_the_same(tmp_path):
    layouts = derive_layouts()
    image = np.random.default_rng(1).uniform(-1, 1, (2, 3, 256, 256)).astype("float32")
    training = {**adam_state(["generator_unet256_u0_down_conv_w"]),
                "discriminator_basic_c1_w": np.ones((4, 6, 4, 4), "float32"),
                "discriminator_basic_c1_b": np.zeros(4, "float32"),
                "generator_unet256_u0_up_conv_tanh.tmp_0": np.zeros((1, 3, 4, 4), "float32")}

    unpacked, (expected,) = library_archive(
        tmp_path, lambda p, x: [layouts.pix2pix_generator(p, x, g_base_dims=4)], image, training)

    ours = convert_and_run(unpacked, "pix2pix_unet256.paddlecv_cityscapes", image, ngf=4)
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_cyclegan_9blocks_g_from_the_library_graph_computes_the_same_both_ways(tmp_path):
    layouts = derive_layouts()
    image = np.random.default_rng(2).uniform(-1, 1, (2, 3, 36, 28)).astype("float32")
    training = {**adam_state(["GA_resnet9block_c1_w", "GB_resnet9block_c6_b"]),
                "DA_basic_c1_w": np.ones((4, 3, 4, 4), "float32"), "DB_basic_c1_w": np.ones((4, 3, 4, 4), "float32"),
                "GA_resnet9block_c6_tanh.tmp_0": np.zeros((1, 3, 4, 4), "float32"), "tmp_9999": np.zeros(1, "float32")}

    unpacked, (from_a, from_b) = library_archive(
        tmp_path, lambda p, x: [layouts.resnet_generator(p, x, "GA", g_base_dims=4),
                                layouts.resnet_generator(p, x, "GB", g_base_dims=4)], image, training)

    assert from_a.shape == (2, 3, 36, 28)
    np.testing.assert_allclose(convert_and_run(unpacked, "cyclegan_resnet9.paddlecv_cityscapes_photo2label", image, ngf=4),
                               from_a, atol=2e-5)
    np.testing.assert_allclose(convert_and_run(unpacked, "cyclegan_resnet9.paddlecv_cityscapes_label2photo", image, ngf=4),
                               from_b, atol=2e-5)


def test_our_default_upsampling_would_not_compute_the_same(tmp_path):
    """The zero row and column are why the checkpoint needs upsample_padding='zero_pad'."""
    layouts = derive_layouts()
    image = np.random.default_rng(3).uniform(-1, 1, (2, 3, 16, 16)).astype("float32")
    unpacked, (expected,) = library_archive(
        tmp_path, lambda p, x: [layouts.resnet_generator(p, x, "GA", g_base_dims=4)], image, {})
    same = convert_and_run(unpacked, "cyclegan_resnet9.paddlecv_cityscapes_photo2label", image, ngf=4)
    other = convert_and_run(unpacked, "cyclegan_resnet9.paddlecv_cityscapes_photo2label", image, ngf=4,
                            upsample_padding="output_padding")
    np.testing.assert_allclose(same, expected, atol=2e-5)
    assert np.abs(other - expected).max() > 1e-3
