"""How long work takes on this machine, measured per model, for an estimate before long work starts.

Each finished job records its seconds per unit (a frame's megapixels, an image)
under a key such as ``"translate/vintage"``; the next job of that key states
"about N s" before it starts. The figures are a moving average kept in
``<cache>/timings.json`` (written atomically; a lost update only makes the
next estimate a little older), so they follow this machine, its load and its
fast path rather than a table measured elsewhere. A key never measured here
has no estimate, and the job says so instead of guessing.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

_WEIGHT_OF_NEW = 0.5  # how far one new measurement moves the average
_lock = threading.Lock()


def _path() -> Path:
    from core.paths import cache_root

    return cache_root() / "timings.json"


def _read() -> dict:
    try:
        data = json.loads(_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def seconds_per_unit(key: str) -> Optional[float]:
    value = _read().get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def record(key: str, units: float, seconds: float) -> None:
    """Fold one finished job (``units`` of work in ``seconds``) into the key's average."""
    if units <= 0 or seconds <= 0:
        return
    rate = seconds / units
    with _lock:
        data = _read()
        old = data.get(key)
        data[key] = rate if not isinstance(old, (int, float)) else (1 - _WEIGHT_OF_NEW) * old + _WEIGHT_OF_NEW * rate
        path = _path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            pass  # an estimate we cannot keep is only missing next time


def describe(key: str, units: float, count: int, unit: str) -> str:
    """ "about 40 s (20 frames, measured on this machine)" or, never measured here, "no estimate yet"."""
    rate = seconds_per_unit(key)
    if rate is None:
        return f"{count} {unit}; no time estimate yet (this model has not run on this machine)"
    seconds = rate * units
    told = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    return f"{count} {unit}, about {told} (measured on this machine)"


def _takes_a_description(callback: Callable) -> bool:
    try:
        parameters = list(inspect.signature(callback).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


@contextlib.contextmanager
def timed_work(key: str, units: float, count: int, unit: str, what: str, progress: Optional[Callable] = None):
    """Announce the estimate through ``progress(0, count, text)``, run the block, record how long it took."""
    if progress is not None:
        if _takes_a_description(progress):
            progress(0, count, f"{what}: {describe(key, units, count, unit)}")
        else:  # a plain (done, total) callback, as core's functions take
            progress(0, count)
    start = time.perf_counter()
    yield
    record(key, units, time.perf_counter() - start)
