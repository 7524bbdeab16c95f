"""Per-request work directories (demos.common): a private root, 0700 directories, pruning that spares those in use."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from demos import common

REPO = Path(__file__).resolve().parents[2]


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def age(path, seconds):
    """Make `path` look last modified `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def root(tmp_path, monkeypatch):
    root = tmp_path / "work" / "requests"
    monkeypatch.setenv("GAN_GALLERY_WORKDIR", str(root))
    monkeypatch.delenv("GAN_GALLERY_RETENTION_S", raising=False)
    return root


@pytest.fixture
def loose_umask():
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def test_root_and_request_directories_are_private(root, loose_umask):
    first, second = common.new_workdir(), common.new_workdir()

    assert first != second and first.parent == second.parent == root
    for path in (root, first, second):
        assert mode(path) == 0o700, path
        assert os.lstat(path).st_uid == os.geteuid()


def test_the_default_root_is_per_user_in_the_temporary_directory(tmp_path, monkeypatch, loose_umask):
    monkeypatch.delenv("GAN_GALLERY_WORKDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    path = common.new_workdir()

    user_dir = tmp_path / f"gan-gallery-{os.geteuid()}"
    assert common.workdir_root() == user_dir / "requests" == path.parent
    assert mode(user_dir) == mode(user_dir / "requests") == mode(path) == 0o700


def test_a_root_open_to_others_is_closed_again(root):
    root.mkdir(parents=True)
    os.chmod(root, 0o777)

    common.new_workdir()

    assert mode(root) == 0o700


def test_a_root_owned_by_another_user_is_refused(root, monkeypatch):
    root.mkdir(parents=True)
    other = os.geteuid() + 4242  # we are the owner; pretend the process runs as someone else
    monkeypatch.setattr(os, "geteuid", lambda: other)

    with pytest.raises(RuntimeError, match=rf"{root} belongs to user id {os.lstat(root).st_uid}, not to this process's user \({other}\)"):
        common.new_workdir()
    assert list(root.iterdir()) == []


def test_a_per_user_folder_planted_by_another_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_WORKDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    other = os.geteuid() + 4242
    planted = tmp_path / f"gan-gallery-{other}"
    planted.mkdir(mode=0o777)  # made by "them" (really by us, the owner the check sees as foreign)
    monkeypatch.setattr(os, "geteuid", lambda: other)

    with pytest.raises(RuntimeError, match=f"{planted} belongs to user id"):
        common.new_workdir()
    assert list(planted.iterdir()) == []


def test_a_link_in_place_of_the_root_is_refused(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.parent.mkdir(parents=True)
    root.symlink_to(elsewhere)

    with pytest.raises(RuntimeError, match="is not a directory"):
        common.new_workdir()
    assert list(elsewhere.iterdir()) == []


def test_pruning_removes_old_directories_but_not_one_in_use(root):
    old, held, fresh = common.new_workdir(), common.new_workdir(), common.new_workdir()
    (held / "result.mp4").write_bytes(b"still being written")
    for path in (old, held):
        age(path, 2 * 3600)

    with common.workdir_in_use(held):
        common.new_workdir()  # prunes
        assert not old.exists()
        assert held.exists() and (held / "result.mp4").exists()
        assert fresh.exists()

    common.new_workdir()
    assert held.exists()  # the retention counts from the release
    age(held, 2 * 3600)
    common.new_workdir()
    assert not held.exists()
    assert fresh.exists()


def test_holds_are_counted(root):
    path = common.new_workdir()
    common.hold_workdir(path)
    common.hold_workdir(path)

    common.release_workdir(path)
    age(path, 2 * 3600)
    common._prune(root)
    assert path.exists()

    common.release_workdir(path)
    age(path, 2 * 3600)
    common._prune(root)
    assert not path.exists()


def test_a_directory_held_by_another_process_is_kept_until_that_process_dies(root):
    path = common.new_workdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\n"
            "from demos.common import hold_workdir\n"
            "hold_workdir(sys.argv[1])\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n"
        ), str(path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        age(path, 2 * 3600)
        common._prune(root)
        assert path.exists()
    finally:
        holder.kill()  # dies without releasing: the kernel drops its lock
        holder.wait(timeout=30)
    common._prune(root)
    assert not path.exists()


def test_retention_comes_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_RETENTION_S", "60")
    recent, stale = common.new_workdir(), common.new_workdir()
    age(recent, 30)
    age(stale, 90)

    common._prune(root)

    assert recent.exists() and not stale.exists()
    assert common.retention_s() == 60
    monkeypatch.setenv("GAN_GALLERY_RETENTION_S", "soon")
    with pytest.raises(RuntimeError, match="GAN_GALLERY_RETENTION_S must be a number of seconds"):
        common.retention_s()
    monkeypatch.delenv("GAN_GALLERY_RETENTION_S")
    assert common.retention_s() == 3600


def test_remove_workdir_removes_a_request_and_nothing_else(root, tmp_path):
    path = common.new_workdir()
    (path / "partial.mp4").write_bytes(b"half a video")
    common.hold_workdir(path)

    common.remove_workdir(path)

    assert not path.exists() and common._held.get(path) is None
    common.remove_workdir(path)  # already gone: nothing to do
    outside = tmp_path / "not-a-request"
    outside.mkdir()
    with pytest.raises(ValueError, match="is not a request directory"):
        common.remove_workdir(outside)
    with pytest.raises(ValueError, match="is not a request directory"):
        common.remove_workdir(root)
    assert outside.exists() and root.exists()


def test_request_workdir_holds_it_and_removes_it_when_the_request_fails(root):
    with common.request_workdir() as kept:
        age(kept, 2 * 3600)
        common._prune(root)
        assert kept.exists()
    assert kept.exists() and common._held.get(kept) is None

    with pytest.raises(RuntimeError, match="the model failed"):
        with common.request_workdir() as failed:
            (failed / "partial.png").write_bytes(b"...")
            raise RuntimeError("the model failed")
    assert not failed.exists()
