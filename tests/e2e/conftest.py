"""A gallery (or a Space) started as its own process on a free port, for client and browser tests."""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


# Below Linux's ephemeral range (32768-60999), so that no connection is ever handed a server's port.
PORT_RANGE = (20000, 32000)


def free_port() -> int:
    """A free port, drawn from this pytest-xdist worker's own slice of PORT_RANGE, so that two workers never
    start servers on the same port (and a probe never reaches the other worker's server). Not bind(0):
    Linux hands bind(0) ports of one parity only."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    mine = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0) % workers
    width = (PORT_RANGE[1] - PORT_RANGE[0]) // workers
    low = PORT_RANGE[0] + mine * width
    for port in random.sample(range(low, low + width), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken
            return port
    raise RuntimeError(f"no free port in {low}-{low + width - 1}")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    started_in_s: float
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(tmp: Path) -> dict:
    # No PYTHONPATH: a Space must import its own copy of the code, not the repository's.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GAN_GALLERY_WORKERS")}
    env.update(
        HF_HUB_OFFLINE="1",
        GAN_GALLERY_OFFLINE="1",
        GAN_GALLERY_CACHE=str(tmp / "cache"),
        GAN_GALLERY_WORKDIR=str(tmp / "requests"),
        GRADIO_ANALYTICS_ENABLED="False",
        GRADIO_EXAMPLES_CACHE=str(tmp / "examples-cache"),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_server(command: list[str], cwd: Path, tmp: Path, port: int, extra_env: dict | None = None) -> Server:
    log_path = tmp / f"server-{port}.log"
    env = server_env(tmp)
    env["GRADIO_SERVER_PORT"] = str(port)
    env.update(extra_env or {})
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < START_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return Server(url, process, time.perf_counter() - start, log_path)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text(errors='replace')[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


def write_published_checkpoints(folder: Path, spec_names: list[str]) -> Path:
    """Save each spec's network (its real configuration, seeded weights) in the published layout."""
    import paddle

    from core import weights

    folder.mkdir(parents=True, exist_ok=True)
    paddle.seed(0)
    for name in spec_names:
        spec = weights.spec(name)
        state = weights.build_network(spec).state_dict()
        if spec.prefix_keys:  # one file holding several networks, each under its own key
            saved = {k: {n[len(k) + 1:]: v for n, v in state.items() if n.startswith(k + ".")} for k in spec.prefix_keys}
        else:
            saved = {spec.key: state} if spec.key else state
        paddle.save(saved, str(folder / spec.filename))
    return folder


@contextlib.contextmanager
def running_space(name: str, tmp: Path, spec_names: list[str]):
    """Build the Space for application `name`, start it from its own app.py with checkpoints
    for `spec_names` in GAN_GALLERY_WEIGHTS_DIR, and yield (server, space folder)."""
    weights_dir = write_published_checkpoints(tmp / "weights", spec_names)
    from spaces.build import build

    out = build(name, tmp / "space")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_WEIGHTS_DIR", str(weights_dir))  # start_server passes os.environ on
        port = free_port()
        server = start_server([sys.executable, "app.py"], out, tmp, port)
    try:
        yield server, out
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def gallery(tmp_path_factory):
    """`python app.py` (every tab) on a free port."""
    tmp = tmp_path_factory.mktemp("gallery")
    port = free_port()
    server = start_server([sys.executable, "app.py", "--port", str(port)], ROOT, tmp, port)
    yield server
    stop_server(server)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Debian chromium through Playwright; mandatory when CI=true, skipped elsewhere if missing."""
    available = os.path.exists(CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        available = False
    if not available:
        if os.environ.get("CI") == "true":
            pytest.fail("browser tests are mandatory in CI: install Debian's chromium and the playwright package")
        pytest.skip("Debian chromium or playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, gallery):
    """A fresh browser tab on the launched gallery, its header drawn."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # Gradio's queue keeps a stream open, so wait for elements, never for network idle.
    page.goto(gallery.url, wait_until="domcontentloaded")
    page.wait_for_selector("#gallery-header", timeout=30_000)
    yield page
    context.close()
