import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from core import nets, weights
from tests.nets.checkpoint_roundtrip import assert_checkpoint_roundtrip
from tests.reference import REPO_ROOT, apply_recipe, assert_fingerprint, assert_matches, assert_same_layout, load_manifest, recipe_inputs

NAME = "photo2cartoon_genA2B"
TINY = {"ngf": 4}


def _recipe_outputs(dtype: str = "float32") -> dict:
    manifest = load_manifest(NAME)
    net = nets.build(NAME)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    (image,) = recipe_inputs(manifest)
    if dtype != "float32":
        net.to(dtype=dtype)
    with paddle.no_grad():
        output, cam_logit, heatmap = net(paddle.to_tensor(image.astype(dtype)))
    return {"output": output.numpy(), "cam_logit": cam_logit.numpy(), "heatmap": heatmap.numpy()}


def check_fingerprint():
    assert_fingerprint(_recipe_outputs(), load_manifest(NAME))


def test_photo2cartoon_matches_reference():
    """The recorded fingerprint, up to this network's own float32 rounding on the recipe.

    Under the recipe's weights this network amplifies float32 rounding about a
    thousandfold (its float64 output differs from its float32 output by a large
    part of the output's spread), so the recorded float32 numbers reproduce
    exactly only on the reference's CPU kernels (we match them bit for bit there,
    with two threads). Elsewhere both the reference and we are one float32
    rounding away from the exact result: the reference must then lie within five
    times our measured float32-vs-float64 gap of our float64 output, per output.
    On an AMD EPYC (AVX-512) that floor is 0.4 % of cam_logit's spread and 1.5 %
    of the heatmap's; for the picture it is ~85 % (its pixels say little there,
    its mean and spread still match).
    """
    manifest = load_manifest(NAME)  # skips when manifests are absent
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    code = "from tests.nets.test_photo2cartoon import check_fingerprint; check_fingerprint()"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        return  # bit for bit on these kernels
    single, double = _recipe_outputs("float32"), _recipe_outputs("float64")
    recorded = manifest["fingerprint"]["outputs"]
    for name, exact in double.items():
        noise = float(np.abs(single[name].astype(np.float64) - exact).max())
        if name != "output":  # the floor must stay well below the spread, or the check says nothing
            assert noise < 0.05 * recorded[name]["std"], (name, noise)
        assert_matches(name, exact, recorded[name], at_least=5 * noise)


def test_non_square_multiple_of_16_keeps_its_size():
    net = nets.build(NAME, **TINY)
    output, cam_logit, heatmap = net(paddle.rand([2, 3, 48, 80]) * 2 - 1)
    assert output.shape == [2, 3, 48, 80]
    assert cam_logit.shape == [2, 2] and heatmap.shape == [2, 1, 12, 20]


def test_fewer_than_four_blocks_is_refused():
    with pytest.raises(ValueError, match="n_blocks"):
        nets.build(NAME, ngf=4, n_blocks=2)


def test_weight_spec_is_a_flat_file():
    assert weights.spec("photo2cartoon").key is None


def test_published_layout_loads_strictly(tmp_path, monkeypatch, registered):
    assert_checkpoint_roundtrip(NAME, None, TINY, tmp_path, monkeypatch, registered)
