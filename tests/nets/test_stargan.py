"""StarGAN's generator against PaddlePaddle/models' PaddleCV/gan (``core/nets/stargan.py``).

No reference fingerprint exists for StarGAN, AttGAN or STGAN: PaddleGAN's own repository, where the
manifests of ``shared/reference`` come from, has none of them, and the published archives are not on
this machine. What stands in for one:

- ``tests/paddlecv_layouts/stargan_G.json`` lists the library's generator variables (name, shape,
  dtype, creation order) as ``derive_attribute_layouts.py`` reads them off a static-graph program
  built by the library's naming rules with Paddle's legacy static layers (it imports nothing from
  ``core``). Every variable must map through ``paddlecv_name_table`` onto our state dict, shape for
  shape, at the published configuration (LazyGuard: no forward pass, no memory).
- The same script runs that program (the "twin") at a tiny configuration with seeded values; loaded
  into our network through the name table, ours must give the same picture.

The helpers here (``derive_in_subprocess``, ``load_twin``) serve ``test_attgan.py`` too. The
derive script runs in its own process: under Paddle 3 the legacy static layers need
``FLAGS_enable_pir_api=0`` before paddle is imported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import paddle
import pytest

from core import nets, weights
from core.nets import stargan
from core.nets.celeba_labels import STARGAN_ATTRIBUTES, flip_attribute
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = REPO_ROOT / "tests" / "paddlecv_layouts"
DERIVE = LAYOUTS / "derive_attribute_layouts.py"

TINY = {"c_dim": 5, "conv_dim": 4, "repeat_num": 2}
# The twin's arguments (the library's names) for TINY.
TWIN = {"image_size": 16, "c_dim": 5, "g_base_dims": 4, "repeat_num": 2}


# ---------------------------------------------------------------- shared with test_attgan.py


def load_layout(name: str) -> dict:
    return json.loads((LAYOUTS / f"{name}.json").read_text())


def derive_in_subprocess(directory: Path, twins: dict[str, tuple[str, dict]]) -> None:
    """Run the derive script in a fresh process: the three layouts into `directory`, and each twin
    {file stem: (model, library arguments over the published ones)} into ``<directory>/<stem>.npz``."""
    code = textwrap.dedent(f"""
        import json, runpy, numpy as np
        from pathlib import Path
        script = runpy.run_path({str(DERIVE)!r})
        directory = Path({str(directory)!r})
        script["write_all"](directory)
        for stem, (model, config) in json.loads({json.dumps(twins)!r}).items():
            np.savez(directory / (stem + ".npz"), **script["twin"](model, {{**script["PUBLISHED"][model], **config}}))
    """)
    env = {**os.environ, "FLAGS_enable_pir_api": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


def load_twin(net, path: Path, table: dict[str, str]) -> dict[str, np.ndarray]:
    """Put the twin's variables into `net` by the name table (every variable, strictly); its inputs and output."""
    saved = np.load(path)
    values = {table[key[4:]]: saved[key] for key in saved.files if key.startswith("var:")}
    ours = net.state_dict()
    assert sorted(values) == sorted(ours)
    for name, value in values.items():
        assert list(ours[name].shape) == list(value.shape), name
    net.set_state_dict({name: paddle.to_tensor(value) for name, value in values.items()})
    net.eval()
    return {key: saved[key] for key in saved.files if not key.startswith("var:")}


def assert_layout_maps(net, manifest: dict, table: dict[str, str]) -> None:
    """Every library variable has one of our names, every one of ours is covered, and the shapes agree."""
    variables = manifest["variables"]
    names = [name for name, _, _ in variables]
    assert len(set(names)) == len(names)
    assert set(table) == set(names), (sorted(set(table) - set(names))[:5], sorted(set(names) - set(table))[:5])
    assert len(set(table.values())) == len(table), "two library variables land on one of ours"
    ours = {name: list(t.shape) for name, t in net.state_dict().items()}
    assert set(table.values()) == set(ours)
    wrong = [f"{name} -> {table[name]}: {shape} vs {ours[table[name]]}" for name, shape, _ in variables if ours[table[name]] != shape]
    assert not wrong, wrong[:8]
    assert {dtype for _, _, dtype in variables} == {"float32"}


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    directory = tmp_path_factory.mktemp("paddlecv_stargan")
    derive_in_subprocess(directory, {"twin_stargan": ("stargan", TWIN)})
    return directory


# ---------------------------------------------------------------- layout


def test_every_library_variable_maps_onto_our_network_at_the_published_configuration():
    manifest = load_layout("stargan_G")
    config = nets.network("stargan_celeba_128").config
    with paddle.LazyGuard():
        net = nets.build("stargan_celeba_128")
    assert_layout_maps(net, manifest, stargan.paddlecv_name_table(**config))
    # The published model's numbers, from the library's arguments.
    assert config == {"c_dim": manifest["config"]["c_dim"], "conv_dim": manifest["config"]["g_base_dims"],
                      "repeat_num": manifest["config"]["repeat_num"]}
    assert list(STARGAN_ATTRIBUTES) == manifest["attributes"] and len(STARGAN_ATTRIBUTES) == config["c_dim"]
    first = manifest["variables"][0]
    assert first == ["g_main0_w", [64, 3 + 5, 7, 7], "float32"]  # the tiled labels come after the colours
    shapes = {name: shape for name, shape, _ in manifest["variables"]}
    assert shapes["g_main15_w"] == [256, 128, 4, 4]  # conv2d_transpose: [in, out, k, k], as paddle.nn's
    assert sum(int(np.prod(s)) for s in shapes.values()) == 8_430_528


def test_the_registered_checkpoint_is_the_manifests_archive():
    manifest = load_layout("stargan_G")
    spec = weights.spec("stargan.celeba")
    assert spec.architecture == "stargan_celeba_128" and nets.network("stargan_celeba_128").default_weights == spec.name
    assert spec.url == manifest["weight_url"] and spec.key is None and spec.filename.endswith(".pdparams")
    assert spec.archive.format == "paddle_persistables" and spec.archive.member == manifest["archive_member"]
    assert spec.archive.table() == stargan.paddlecv_name_table(**nets.network("stargan_celeba_128").config)
    assert spec.licence.startswith("Apache-2.0")


def test_the_manifest_is_what_the_derive_script_writes(derived):
    assert (derived / "stargan_G.json").read_text() == (LAYOUTS / "stargan_G.json").read_text()


# ---------------------------------------------------------------- computation


def test_the_library_graph_and_ours_give_the_same_picture(derived):
    paddle.seed(0)
    net = nets.build("stargan", **TINY)
    io = load_twin(net, derived / "twin_stargan.npz", stargan.paddlecv_name_table(**TINY))
    ours = net(paddle.to_tensor(io["input:input"]), paddle.to_tensor(io["input:label_trg_"])).numpy()
    assert io["output"].shape == (2, 3, 16, 16) and float(np.abs(io["output"]).std()) > 0.05  # not a flat picture
    np.testing.assert_allclose(ours, io["output"], atol=2e-5, rtol=0)


def test_pictures_come_out_in_range_and_the_target_matters():
    paddle.seed(0)
    net = nets.build("stargan", **TINY)
    image = paddle.uniform([2, 3, 32, 32], min=-1.0, max=1.0)
    source = paddle.to_tensor([[1, 0, 0, 1, 1], [0, 1, 0, 0, 1]], dtype="float32")
    out = net(image, source)
    assert out.shape == [2, 3, 32, 32] and float(out.abs().max()) <= 1.0
    edited = paddle.to_tensor(flip_attribute(source.numpy(), "Male", STARGAN_ATTRIBUTES))
    changed = net(image, edited)
    assert float((changed - out).abs().max()) > 1e-4
    # One sample's target changes that sample only (instance norm: no mixing across the batch).
    mixed = paddle.concat([edited[:1], source[1:]])
    np.testing.assert_allclose(net(image, mixed).numpy()[1], out.numpy()[1], atol=1e-6)


def test_inputs_the_generator_refuses():
    net = nets.build("stargan", **TINY)
    image = paddle.zeros([1, 3, 16, 16])
    with pytest.raises(ValueError, match=r"\[N, 5\]"):
        net(image, paddle.zeros([1, 4]))
    with pytest.raises(ValueError, match="multiples of 4"):
        net(paddle.zeros([1, 3, 18, 16]), paddle.zeros([1, 5]))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        net(paddle.zeros([1, 1, 16, 16]), paddle.zeros([1, 5]))


# ---------------------------------------------------------------- labels


def test_flip_attribute_edits_like_infer_py():
    labels = np.array([[1, 0, 0, 1, 0], [0, 0, 1, 0, 1]], dtype=np.float32)
    blond = flip_attribute(labels, "Blond_Hair", STARGAN_ATTRIBUTES)
    np.testing.assert_array_equal(blond, [[0, 1, 0, 1, 0], [0, 1, 0, 0, 1]])  # other hair colours cleared
    np.testing.assert_array_equal(labels[0], [1, 0, 0, 1, 0])  # a copy
    np.testing.assert_array_equal(flip_attribute(labels, "Male", STARGAN_ATTRIBUTES), [[1, 0, 0, 0, 0], [0, 0, 1, 1, 1]])
    # As in util/utility.check_attribute_conflict, switching a colour off clears the others too.
    np.testing.assert_array_equal(flip_attribute([1, 1, 0, 0, 0], "Black_Hair", STARGAN_ATTRIBUTES), [0, 0, 0, 0, 0])
    thirteen = ["Bald", "Bangs", "Receding_Hairline"]
    np.testing.assert_array_equal(flip_attribute([0, 1, 1], "Bald", thirteen), [1, 0, 1])
    np.testing.assert_array_equal(flip_attribute([1, 0, 1], "Bangs", thirteen), [0, 1, 0])
    with pytest.raises(ValueError, match="unknown attribute 'Smiling'"):
        flip_attribute(labels, "Smiling", STARGAN_ATTRIBUTES)
    with pytest.raises(ValueError, match="4 columns for 5 attributes"):
        flip_attribute(np.zeros([1, 4]), "Male", STARGAN_ATTRIBUTES)


# ---------------------------------------------------------------- loading


def test_published_layout_loads_strictly(tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip("stargan", None, TINY, tmp_path, monkeypatch, registered)
