"""Network registry: `create(name)` builds a network by name, `names()` lists them.

Networks that mirror a published PaddleGAN checkpoint are registered under the
manifest name in shared/reference/manifests (e.g. ``cyclegan_resnet9_horse2zebra``),
so their state-dict layout can be checked against the manifest by name.

Each module in this package registers its own networks with ``@register``; the
registry imports every module of the package on first use, so adding a network
is adding a file. Weight specs (``core.weights.WeightSpec``) name the network
they fit, and ``create(name, pretrained=...)`` loads one of them strictly.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Callable

_FACTORIES: dict[str, Callable] = {}
_DESCRIPTIONS: dict[str, str] = {}
_import_lock = threading.Lock()
_imported = False


def register(name: str, description: str = ""):
    """Decorator for a factory ``(**overrides) -> paddle.nn.Layer`` registered as `name`."""

    def decorate(factory: Callable) -> Callable:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"network {name!r} is registered twice")
        _FACTORIES[name] = factory
        _DESCRIPTIONS[name] = description or (factory.__doc__ or "").strip().split("\n")[0]
        return factory

    return decorate


def _import_all() -> None:
    global _imported
    with _import_lock:
        if _imported:
            return
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _imported = True


def names() -> list[str]:
    """Every registered network name, sorted."""
    _import_all()
    return sorted(_FACTORIES)


def factory(name: str) -> Callable:
    """The registered factory of `name` (its module is where the network is defined)."""
    _import_all()
    return _FACTORIES[name]


def describe(name: str) -> str:
    _import_all()
    return _DESCRIPTIONS[name]


def create(name: str, pretrained: bool | str = False, **overrides):
    """Build network `name`; with `pretrained`, load weights strictly.

    ``pretrained=True`` loads the first weight spec registered for this network,
    a string loads the weight spec of that name (see ``core.weights.specs()``).
    ``overrides`` change constructor arguments (e.g. smaller test networks).
    """
    _import_all()
    if name not in _FACTORIES:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    spec = None
    if pretrained:
        from core import weights

        spec = weights.default_spec(name) if pretrained is True else weights.spec(pretrained)
        if spec.net != name:
            raise ValueError(f"weights {spec.name!r} are for network {spec.net!r}, not {name!r}")
        # A checkpoint may fit a narrower or wider variant of the network: its spec says which.
        overrides = {**spec.net_overrides, **overrides}
    net = _FACTORIES[name](**overrides)
    if spec is not None:
        weights.load_into(net, spec)
    net.eval()
    return net
