"""Read PaddleGAN reference manifests and rebuild their fingerprint recipe on our networks.

The manifests live in ``shared/reference/manifests`` beside the repository
(``GAN_REFERENCE_DIR`` overrides). Their README gives the recipe and the
matching rule implemented here:

* weights: every manifest entry of kind ``param`` except batch-norm running
  statistics (``_mean``/``_variance``), and every entry whose name contains
  ``noise``, at manifest position k with n elements, gets
  ``0.02 * sin(0.37 * i + k)`` (float64, cast to float32); others keep defaults;
* inputs: tensor j of n elements is ``0.8 * sin(0.013 * i + 0.5 + j)``;
* a value matches when ``|ours - ref| <= max(1e-3 * std, 1e-5 * rms) + 1e-7``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def reference_dir() -> Path:
    return Path(os.environ.get("GAN_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")


def load_manifest(name: str) -> dict:
    path = reference_dir() / "manifests" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"reference manifest {path} is not present")
    return json.loads(path.read_text())


def _overwritten(name: str, kind: str) -> bool:
    if "noise" in name:
        return True
    return kind == "param" and not name.endswith(("_mean", "_variance"))


def recipe_weights(manifest: dict) -> dict[str, np.ndarray]:
    """The recipe's values for every entry it overwrites, keyed by name."""
    values = {}
    for k, (name, shape, kind) in enumerate(manifest["state_dict"]):
        if not _overwritten(name, kind):
            continue
        n = int(np.prod(shape)) if shape else 1
        values[name] = (0.02 * np.sin(0.37 * np.arange(n, dtype=np.float64) + k)).astype(np.float32).reshape(shape)
    return values


def recipe_input(shape, j: int) -> np.ndarray:
    n = int(np.prod(shape))
    return (0.8 * np.sin(0.013 * np.arange(n, dtype=np.float64) + 0.5 + j)).astype(np.float32).reshape(shape)


def recipe_inputs(manifest: dict) -> list[np.ndarray]:
    """Inputs listed as shapes (entries that are strings describe special inputs; handle those in the test)."""
    return [recipe_input(shape, j) for j, shape in enumerate(manifest["fingerprint"]["inputs"]) if isinstance(shape, list)]


def assert_same_layout(net, manifest: dict) -> None:
    """Our state dict has exactly the manifest's names and shapes (order free)."""
    ours = {name: list(t.shape) for name, t in net.state_dict().items()}
    theirs = {name: list(shape) for name, shape, _ in manifest["state_dict"]}
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    wrong = sorted(f"{n}: ours {ours[n]} vs {theirs[n]}" for n in set(ours) & set(theirs) if ours[n] != theirs[n])
    assert not (missing or extra or wrong), (
        f"layout differs from {manifest['name']}: missing {missing[:8]} ({len(missing)}), "
        f"extra {extra[:8]} ({len(extra)}), wrong shape {wrong[:8]} ({len(wrong)})"
    )


def apply_recipe(net, manifest: dict) -> None:
    """Fill `net` with the recipe's weights (by name) and put it in eval mode."""
    import paddle

    values = recipe_weights(manifest)
    own = net.state_dict()
    for name, array in values.items():
        own[name].set_value(paddle.to_tensor(array))
    net.eval()


def assert_matches(name: str, ours, reference: dict, at_least: float = 0.0) -> None:
    """Compare one output tensor with a manifest's recorded statistics and samples.

    `at_least` raises the tolerance to a measured float32 noise floor (see test_photo2cartoon).
    """
    ours = np.asarray(ours, dtype=np.float64)
    assert list(ours.shape) == list(reference["shape"]), f"{name}: shape {list(ours.shape)} != {reference['shape']}"
    flat = ours.reshape(-1)
    std = reference["std"]
    rms = reference["l2"] / np.sqrt(flat.size)
    tol = max(1e-3 * std, 1e-5 * rms, at_least) + 1e-7

    def check(label, got, want):
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        worst = np.max(np.abs(got - want))
        assert worst <= tol, f"{name} {label}: max |diff| {worst:.3g} > tolerance {tol:.3g}\n ours {got}\n ref  {want}"

    check("first8", flat[:8], reference["first8"])
    spaced = reference["at_16_evenly_spaced_indices"]
    check("samples", flat[spaced["indices"]], spaced["values"])
    check("mean", flat.mean(), reference["mean"])
    check("std", flat.std(), reference["std"])
    l2 = np.sqrt(np.sum(flat**2))
    # l2 sums numel squared errors; compare it at the rms scale.
    assert abs(l2 - reference["l2"]) / np.sqrt(flat.size) <= tol, f"{name} l2: {l2} vs {reference['l2']}"


def assert_fingerprint(outputs: dict, manifest: dict) -> None:
    """`outputs` maps the manifest's output names to our tensors/arrays."""
    recorded = manifest["fingerprint"]["outputs"]
    assert set(outputs) == set(recorded), f"outputs {sorted(outputs)} != recorded {sorted(recorded)}"
    for name, ref in recorded.items():
        value = outputs[name]
        assert_matches(name, value.numpy() if hasattr(value, "numpy") else value, ref)


def assert_network_matches_reference(name: str) -> None:
    """The whole check for a network of one output: `name` built, its layout equal to the manifest's, the
    recipe's weights and inputs through it, its output against the recorded fingerprint."""
    import paddle

    from core import nets

    manifest = load_manifest(name)
    net = nets.build(name)
    assert_same_layout(net, manifest)
    apply_recipe(net, manifest)
    with paddle.no_grad():
        out = net(*[paddle.to_tensor(x) for x in recipe_inputs(manifest)])
    assert_fingerprint({"output": out}, manifest)
