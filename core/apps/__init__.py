"""The one registry of applications.

Each module in this package declares its application once with ``register(App(...))``:
name, title, what it does, networks and weights, endpoints, example inputs and
limits. ``app.py`` (the gallery), ``spaces`` (the Space builder), the CLI and the
tests all read ``apps()``; nothing keeps a second list.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """An example input shipped with the repository (path relative to its root) and its credit."""

    inputs: tuple
    credit: str = ""


@dataclass(frozen=True)
class App:
    name: str  # stable id: CLI, `--demo NAME`, Space name
    title: str  # tab label
    description: str  # one or two sentences for people
    demo: str  # module with build() -> gr.Blocks, e.g. "demos.digits"
    endpoints: tuple[str, ...]  # every api_name the tab exposes, exactly
    networks: tuple[str, ...] = ()
    weights: tuple[str, ...] = ()  # core.weights spec names
    examples: tuple[Example, ...] = ()
    limits: dict = field(default_factory=dict)
    emoji: str = "🎨"
    hardware: str = "cpu-basic"  # Hugging Face Space hardware suggestion
    debian_packages: tuple[str, ...] = ()  # packages.txt of its Space
    assets: tuple[str, ...] = ()  # repository paths the Space must carry
    heavy: bool = True  # runs in the worker pool, under the gallery's heavy-work limits
    default_budget_s: float = 600.0  # wall-clock budget of one heavy request

    def budget_s(self) -> float:
        """Seconds one heavy request may run: ``GAN_GALLERY_BUDGET_<NAME>_S`` or the app's default."""
        text = os.environ.get(f"GAN_GALLERY_BUDGET_{self.name.upper()}_S", "").strip()
        return float(text) if text else self.default_budget_s

    @property
    def core_module(self) -> str:
        return f"{__name__}.{self.name}"


_APPS: dict[str, App] = {}
_lock = threading.Lock()
_imported = False


def register(app: App) -> App:
    if app.name in _APPS and _APPS[app.name] != app:
        raise ValueError(f"application {app.name!r} is registered twice")
    _APPS[app.name] = app
    return app


def _import_all() -> None:
    global _imported
    with _lock:
        if not _imported:
            for module in pkgutil.iter_modules(__path__):
                importlib.import_module(f"{__name__}.{module.name}")
            _imported = True


def apps() -> list[App]:
    """Every application, in gallery order (the order of ``ORDER``, then by name)."""
    _import_all()
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(_APPS.values(), key=lambda a: (rank.get(a.name, len(ORDER)), a.name))


def largest_image_pixels(chosen: list[App] | None = None) -> int:
    """The largest pixel limit any (chosen) application states: no image larger is ever decoded."""
    limits = [int(value) for app in (chosen if chosen is not None else apps())
              for key, value in app.limits.items() if key.endswith("pixels")]
    return max(limits, default=4096 * 4096)


def get(name: str) -> App:
    _import_all()
    if name not in _APPS:
        raise KeyError(f"unknown application {name!r}; known: {', '.join(sorted(_APPS))}")
    return _APPS[name]


# Tab order in the gallery: the course's order, from GAN basics to lip sync.
ORDER = ("digits", "gan_basics", "face_gen", "translate", "restore", "face_animation", "lip_sync")
