"""Prove that a checkpoint in the published layout loads through the real loader path.

Used by the per-family network tests with a tiny variant of the network, so the
files stay small: save with ``paddle.save`` as PaddleGAN does, point
``GAN_GALLERY_WEIGHTS_DIR`` at it, register a test checkpoint for the length of the
test (the ``registered`` fixture) and load with ``core.models.create(..., pretrained=...)``.
"""
from __future__ import annotations

import numpy as np
import paddle
import pytest

from core import models, nets
from core.errors import CheckpointMismatch
from core.registry import WEIGHTS, WeightSpec


def assert_checkpoint_roundtrip(net_name: str, key: str | None, overrides: dict, tmp_path, monkeypatch, registered) -> None:
    """A nested (or flat, key=None) file loads strictly; a mis-shaped one raises CheckpointMismatch."""
    paddle.seed(0)
    wanted = nets.build(net_name, **overrides)
    # A second network under another key: the loader must pick `key`, not just any entry.
    decoy = nets.build(net_name, **overrides)
    state = {name: tensor for name, tensor in wanted.state_dict().items()}
    filename = f"tiny_{net_name}.pdparams"
    saved = {key: state, "decoy_net": decoy.state_dict()} if key else state
    paddle.save(saved, str(tmp_path / filename))

    # Checkpoint names are architecture.tag, the architecture being the family of `net_name`.
    spec_name = f"{nets.network(net_name).architecture}.test_only_{net_name}"
    spec = WeightSpec(name=spec_name, architecture=net_name, filename=filename, key=key, net_overrides=overrides)
    registered(WEIGHTS, spec_name, spec)
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(tmp_path / "cache"))

    loaded = models.create(net_name, pretrained=spec_name)
    assert not loaded.training
    for name, tensor in loaded.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), state[name].numpy(), err_msg=name)

    first_name = next(iter(state))
    broken = dict(state)
    broken[first_name] = paddle.zeros([*state[first_name].shape[:-1], state[first_name].shape[-1] + 1])
    paddle.save({key: broken} if key else broken, str(tmp_path / filename))
    with pytest.raises(CheckpointMismatch, match="wrong shape"):
        models.create(net_name, pretrained=spec_name)
