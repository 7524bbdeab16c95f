"""The one registry of applications.

Each module in this package declares its application once with ``register(App(...))``:
name, title, what it does, networks and weights, endpoints, example inputs and
limits, into ``APPS`` (a ``core.registry.Registry``). ``app.py`` (the gallery), ``spaces`` (the
Space builder), the CLI and the tests all read ``apps()``; nothing keeps a second list.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from core.errors import InputError
from core.registry import WEIGHTS, Registry


@dataclass(frozen=True)
class Example:
    """An example input shipped with the repository (path relative to its root) and its credit."""

    inputs: tuple
    credit: str = ""


@dataclass(frozen=True)
class ModelChoice:
    """One model an application offers: its id in the API, a label for people, and its checkpoint.

    Applications that need more about a choice (how pictures meet the network) extend this.
    """

    key: str  # stable id in the API ("horse2zebra", "realesrgan_x4plus")
    label: str  # what the dropdown shows
    weights: str  # the checkpoint (``core.registry.WEIGHTS`` name)

    @property
    def network(self) -> str:
        """The network (architecture or configuration) the checkpoint fits."""
        return WEIGHTS.get(self.weights).architecture


def catalogue(*choices: ModelChoice) -> dict[str, ModelChoice]:
    """Choices by key, in the order given (the order the tab shows)."""
    return {c.key: c for c in choices}


def pick(value, choices: dict, what: str = "model"):
    """The choice whose key or label is `value`; InputError lists the keys."""
    if value in choices:
        return choices[value]
    for choice in choices.values():
        if value == choice.label:
            return choice
    raise InputError(f"Unknown {what} {value!r}; choose one of: {', '.join(choices)}.")


@dataclass(frozen=True)
class App:
    name: str  # stable id: CLI, `--demo NAME`, Space name
    title: str  # tab label
    description: str  # one or two sentences for people
    demo: str  # module with build() -> gr.Blocks, e.g. "demos.digits"
    endpoints: tuple[str, ...]  # every api_name the tab exposes, exactly
    networks: tuple[str, ...] = ()  # networks it runs besides its checkpoints' architectures (see every_network)
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

    def every_network(self) -> tuple[str, ...]:
        """The networks named in ``networks`` and the architecture of each checkpoint in ``weights``.

        Looking the checkpoints up imports the network modules, and so paddle: call it where networks run
        (Space builder, workers, tests), never while the web server builds its pages."""
        return tuple(dict.fromkeys([*self.networks, *(WEIGHTS.get(name).architecture for name in self.weights)]))


APPS: Registry[App] = Registry("application", discover=(__name__,))


def register(app: App) -> App:
    return APPS.add(app.name, app)


def apps() -> list[App]:
    """Every application, in gallery order (the order of ``ORDER``, then by name)."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(APPS.entries(), key=lambda a: (rank.get(a.name, len(ORDER)), a.name))


def largest_image_pixels(chosen: list[App] | None = None) -> int:
    """The largest pixel limit any (chosen) application states: no image larger is ever decoded."""
    limits = [int(value) for app in (chosen if chosen is not None else apps())
              for key, value in app.limits.items() if key.endswith("pixels")]
    return max(limits, default=4096 * 4096)


def get(name: str) -> App:
    return APPS.get(name)


# Tab order in the gallery: the course's order, from GAN basics to lip sync.
ORDER = ("digits", "gan_basics", "face_gen", "translate", "attribute_editing", "scene_painting", "restore", "face_animation",
         "lip_sync")
