"""Networks with their weights: ``create`` for scripts and tests, one loader for the applications.

``create(name, pretrained=...)`` is timm's ``create_model``: `name` is an architecture
(``cyclegan_resnet9``), a named configuration (the manifest names, ``stylegan2_256``) or a
checkpoint (``cyclegan_resnet9.vintage``, or an alias such as ``vintage_photo``).

The loader is the one way an application gets a model: ``runner(checkpoint, export)`` answers
"this checkpoint, on this process's device, with the fastest verified engine" with a cached
``Runner``. The cache keys, the device choice (``core.runtime.use_best_device``) and the
fast-path decision (``core.runtime.build_engine`` with ``fast_path_kinds``) live here only;
an application keeps its pre- and post-processing.

    run = models.runner("rrdb_x4.realesrgan_x4plus", TILES)   # loads once per process
    (image,) = run(tile)                                      # numpy in, numpy out
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from core import nets, runtime, weights
from core.registry import NETWORKS, WEIGHTS, WeightSpec


# ---------------------------------------------------------------- create


def create(name: str, pretrained: bool | str = False, **overrides):
    """Network `name` in eval mode; with `pretrained`, a checkpoint loaded strictly.

    pretrained: False (random weights), True (the checkpoint `name` names, or its network's
    declared default) or a checkpoint name. A checkpoint is built in its own configuration (its
    size, its width); ``overrides`` change constructor arguments after that.
    """
    if name not in NETWORKS and name in WEIGHTS:  # a checkpoint name: its network, and with pretrained, its weights
        if not isinstance(pretrained, bool):
            raise ValueError(f"{name!r} names a checkpoint already; pass pretrained=True or False")
        spec = weights.spec(name)
        return _with_weights(spec, **overrides) if pretrained else weights.build_network(spec, **overrides)
    if not pretrained:
        return nets.build(name, **overrides)
    family = NETWORKS.get(name).architecture
    spec = weights.default_spec(name) if pretrained is True else weights.spec(pretrained)
    if NETWORKS.get(spec.architecture).architecture != family:
        raise ValueError(f"weights {spec.name!r} are for network {spec.architecture!r}, not {name!r}")
    return _with_weights(spec, **overrides)


def _with_weights(spec: WeightSpec, **overrides):
    net = weights.build_network(spec, **overrides)
    weights.load_into(net, spec)
    net.eval()
    return net


# ---------------------------------------------------------------- the loader


@dataclass(frozen=True)
class Export:
    """How a network goes onto the fast path (a static graph run by ``paddle.inference``).

    name: tells two exports of one network apart in the cache ("tiles", "side512").
    inputs: ``network -> (input specs, sample arrays)``; the samples verify the fast path against dygraph.
    wrap: what runs, on both paths (e.g. the picture alone of a network that also returns maps).
    rewrite: a ``core.export`` rewrite applied to the exported copy only; without a fast path the
        wrapped network itself runs.
    """

    name: str
    inputs: Callable
    wrap: Optional[Callable] = None
    rewrite: Optional[Callable] = None
    tolerance: float = 1e-4


class Runner:
    """A loaded checkpoint ready to run: ``runner(*arrays) -> [arrays]`` (numpy in, numpy out).

    network: the dygraph network with its weights (for what is not exported: a mapping network,
    the receptive field, a mean latent). kind: "dygraph", "onednn" or "gpu".
    """

    def __init__(self, spec: WeightSpec, network, run: Callable, kind: str, nbytes: int, lock=None):
        self.spec = spec
        self.network = network
        # Held by every dygraph call of the network; take it to call its other methods from threads.
        self.lock = lock or threading.Lock()
        self.kind = kind
        self.nbytes = nbytes  # what this runner holds beyond the network (a predictor's copy of the weights)
        self._run = run
        self._memo: dict = {}
        self._memo_lock = threading.Lock()

    def __call__(self, *arrays):
        return self._run(*arrays)

    @property
    def precision(self) -> str:
        """"bf16" when this runner's graph runs in bfloat16, else "fp32"."""
        return "bf16" if self.kind == runtime.BF16_KIND else "fp32"

    def memo(self, name: str, compute: Callable):
        """A value derived from the network once (a mean latent), kept with the loaded model."""
        with self._memo_lock:
            if name not in self._memo:
                self._memo[name] = compute()
            return self._memo[name]


class _LoadedNetwork:
    """A network and the one lock every dygraph call of it takes (a Layer is not re-entrant)."""

    def __init__(self, network):
        self.network = network
        self.lock = threading.Lock()
        self.nbytes = runtime.parameter_bytes(network)


def _network_key(spec: WeightSpec, device: str) -> tuple:
    return ("network", spec.cache_identity, device)


def _runner_key(spec: WeightSpec, device: str, engine: str, export: Optional[Export], precision: str) -> tuple:
    return ("runner", spec.cache_identity, device, engine, export.name if export else "", precision)


def _engine_and_precision(export: Optional[Export], engine: str, precision: Optional[str]) -> tuple[str, str]:
    """What a runner is cached under: dygraph has one precision (fp32), a fast path has the request's."""
    if engine not in ("auto", "dygraph"):
        raise ValueError(f"engine must be 'auto' or 'dygraph', not {engine!r}")
    if export is None or engine == "dygraph":
        return "dygraph", "fp32"
    return engine, runtime.check_precision(precision) if precision else runtime.current_precision()


def _loaded_network(spec: WeightSpec) -> _LoadedNetwork:
    device = runtime.use_best_device()
    # A missing file is reported before a large network is built.
    weights.fetch(spec)
    return runtime.models.get(_network_key(spec, device), lambda: _LoadedNetwork(create(spec.name, pretrained=True)))


def network(checkpoint: str):
    """The dygraph network of `checkpoint` with its weights, loaded once per process.

    WeightsUnavailable at once when the file is missing. Call it under ``paddle.no_grad()``; for
    calls from several threads, use ``runner(checkpoint)``, which takes the network's lock.
    """
    return _loaded_network(weights.spec(checkpoint)).network


def runner(checkpoint: str, export: Optional[Export] = None, engine: str = "auto", precision: Optional[str] = None) -> Runner:
    """`checkpoint` ready to run, loaded once per process (thread-safe; WeightsUnavailable at once when missing).

    export: how to put it on the fast path; None runs the network in dygraph.
    engine: "auto" (the fast path when it verifies against dygraph, else dygraph) or "dygraph".
    precision: "fp32" or "bf16" for the fast path; None: the request's (``runtime.current_precision``).
    """
    engine, precision = _engine_and_precision(export, engine, precision)
    spec = weights.spec(checkpoint)
    loaded = _loaded_network(spec)
    device = runtime.use_best_device()
    return runtime.models.get(
        _runner_key(spec, device, engine, export, precision),
        lambda: prepare_runner(loaded.network, export, engine, lock=loaded.lock, spec=spec, precision=precision),
    )


def is_loaded(checkpoint: str, export: Optional[Export] = None, engine: str = "auto", precision: Optional[str] = None) -> bool:
    """Whether `checkpoint` is in memory with that export (its first request also loads and verifies it)."""
    engine, precision = _engine_and_precision(export, engine, precision)
    spec = weights.spec(checkpoint)
    return _runner_key(spec, runtime.use_best_device(), engine, export, precision) in runtime.models.loaded()


def prepare_runner(network, export: Optional[Export] = None, engine: str = "auto", lock=None, spec=None,
                   precision: str = "fp32") -> Runner:
    """A runner for a network already built (uncached): what ``runner`` does once the weights are in.

    For benchmarks and tests that compare engines on one network; applications call ``runner``.
    With precision bf16 the runner's kind is "onednn-bf16" when bf16 verified, else fp32's.
    """
    lock = lock or threading.Lock()
    wrapped = export.wrap(network) if export and export.wrap else network
    dygraph = runtime.DygraphRunner(wrapped, lock=lock)
    if engine == "dygraph" or export is None:
        return Runner(spec, network, dygraph, "dygraph", nbytes=0, lock=lock)
    input_spec, samples = export.inputs(network)
    exported = export.rewrite(wrapped) if export.rewrite else wrapped
    kinds = runtime.fast_path_kinds(precision)
    fast = runtime.build_engine(exported, input_spec, samples, tolerance=export.tolerance, kinds=kinds)
    if fast.kind == "dygraph":
        # No fast path: run the network exactly as defined, not its export-friendly rewrite.
        return Runner(spec, network, dygraph, "dygraph", nbytes=0, lock=lock)
    return Runner(spec, network, fast, fast.kind, nbytes=fast.nbytes, lock=lock)


def network_from_file(path, network_name: str, key: Optional[str] = None, config: Optional[Callable] = None):
    """A network loaded strictly from a checkpoint file outside the registry (a live training run's),
    once per file version: `config(saved dict)` gives the constructor arguments the file records."""
    path = Path(path)
    stat = path.stat()
    device = runtime.use_best_device()

    def build():
        saved = weights.load_saved(path)
        state, _ = weights.select_network(saved, key, path)
        net = nets.build(network_name, **(config(saved) if config else {}))
        weights.load_state_strict(net, state, str(path))
        net.eval()
        return net

    return runtime.models.get(("file", str(path.resolve()), stat.st_size, stat.st_mtime_ns, network_name, device), build)
