"""One gallery, started as a user would start it (`python app.py`, real worker processes), for the reliability tests."""
from __future__ import annotations

import sys

import psutil
import pytest

from tests.e2e.conftest import ROOT, free_port, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reliability")
    port = free_port()
    running = start_server([sys.executable, "app.py", "--port", str(port)], ROOT, tmp, port,
                           extra_env={"GAN_GALLERY_WORKERS": "1", "GAN_GALLERY_HEAVY_PER_SESSION": "2"})
    yield running
    stop_server(running)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def ffmpeg_children(pid: int) -> list[psutil.Process]:
    found = []
    for process in descendants(pid):
        try:
            if "ffmpeg" in process.name() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


def worker_pids(pid: int) -> list[int]:
    found = []
    for process in descendants(pid):
        try:
            if "core.serving" in " ".join(process.cmdline()):
                found.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return found
