"""The networks: one file per family, each a pure ``paddle.nn.Layer`` registered in ``core.registry.NETWORKS``.

A file declares its architectures with ``@architecture("cyclegan_resnet9", default_weights=...)``
(and the manifest names of ``shared/reference`` as named configurations). Its published checkpoints
are declared apart, in ``core.checkpoints.<family>`` (``register_weights(WeightSpec(
"cyclegan_resnet9.horse2zebra", ...))``), so that listing them imports no paddle. Network files import
only ``core.registry``, their family's ``core.checkpoints`` module (the configurations they share with
it), paddle and one another; adding a network is adding a file (and its checkpoints' file).

``build(name)`` makes a network without weights; ``core.models.create(name, pretrained=...)``
loads a checkpoint into it.
"""
from __future__ import annotations

from core.registry import NETWORKS, Network


def network(name: str) -> Network:
    """The registered architecture or configuration `name` (KeyError lists the known names)."""
    return NETWORKS.get(name)


def names() -> list[str]:
    """Every architecture and named configuration, sorted."""
    return NETWORKS.names()


def architectures() -> list[str]:
    """The architectures alone (no configuration names), sorted."""
    return [entry.name for entry in NETWORKS.entries() if entry.architecture == entry.name]


def describe(name: str) -> str:
    return NETWORKS.get(name).description


def build(name: str, **overrides):
    """Network `name` with random weights, in eval mode: its configuration, then `overrides`
    (constructor arguments, e.g. a tiny variant for tests)."""
    entry = NETWORKS.get(name)
    net = entry.factory(**{**entry.config, **overrides})
    net.eval()
    return net
