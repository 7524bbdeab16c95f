"""bench/gpu_check.sh on a machine without a GPU: everything but the GPU calls.

It must stop at its first failing step with a message naming it, so that a short GPU lease is not spent
on the rest; and the benchmark commands it runs must exist with the options it passes.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def _run(tmp_path, env_extra: dict, path_dirs: list[Path]) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    env["PATH"] = os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"])
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "results")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_without_an_nvidia_gpu_it_stops_at_once_and_says_why(tmp_path):
    done = _run(tmp_path, {}, [])
    assert done.returncode == 1
    assert "no nvidia-smi here: this check needs an NVIDIA GPU" in done.stderr
    assert not (tmp_path / "results" / "install.log").exists()


def _fake_nvidia_smi(tmp_path, gpu: str) -> Path:
    """An nvidia-smi that answers the script's queries for one GPU ('name, memory, driver, capability')."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    name, memory, driver, capability = gpu.split(", ")
    smi = fake_bin / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *name,compute_cap*) echo '{name}, {capability}' ;;\n"
        "  *) echo 'name, memory.total [MiB], driver_version, compute_cap'\n"
        f"     echo '{gpu}' ;;\n"
        "esac\n")
    smi.chmod(0o755)
    return fake_bin


def _run_offline(tmp_path, gpu: str) -> subprocess.CompletedProcess:
    fake_bin = _fake_nvidia_smi(tmp_path, gpu)
    wheels = tmp_path / "wheels"  # empty: pip finds nothing to install
    wheels.mkdir()
    return _run(tmp_path, {"GPU_WHEELS": str(wheels), "GPU_CHECK_VENV": str(tmp_path / "venv"),
                           "PYTHON": sys.executable}, [fake_bin, Path(sys.executable).parent])


def test_offline_without_the_wheels_it_names_the_failed_install(tmp_path):
    done = _run_offline(tmp_path, "NVIDIA A100-SXM4-80GB, 81920 MiB, 580.159.03, 8.0")
    assert done.returncode == 1
    assert "installing requirements-gpu.txt failed" in done.stderr and "GPU_WHEELS" in done.stderr
    assert "NVIDIA A100" in (tmp_path / "results" / "gpu.csv").read_text()
    assert "2/3" not in (tmp_path / "results" / "steps.log").read_text()


def test_a_gpu_newer_than_the_pinned_paddles_kernels_is_refused_before_the_install(tmp_path):
    # PyPI's paddlepaddle-gpu 2.6.2 carries machine code for 6.1-8.6 and no PTX: an H200 (9.0) runs none of it.
    done = _run_offline(tmp_path, "NVIDIA H200, 143771 MiB, 580.159.03, 9.0")
    assert done.returncode == 1
    assert "'NVIDIA H200' (compute capability 9.0) runs none of the kernels" in done.stderr
    assert "PADDLE_GPU_CUBINS" in done.stderr and "GPU_REQUIREMENTS" in done.stderr
    assert "installing" not in (tmp_path / "results" / "steps.log").read_text()


def test_a_gpu_of_a_later_minor_version_runs_the_earlier_cubins(tmp_path):
    # An L4 (Ada, 8.9) runs the 8.6 machine code: the script goes on to the install.
    done = _run_offline(tmp_path, "NVIDIA L4, 23034 MiB, 580.159.03, 8.9")
    assert "runs none of the kernels" not in done.stderr
    assert "installing requirements-gpu.txt failed" in done.stderr


@pytest.mark.parametrize("command", [
    ["bench.translate", "--repeats", "1", "--no-video"],
    ["bench.face_gen", "--repeats", "1", "--no-walk"],
    ["bench.restore", "--only", "speed", "--only", "vsr", "--repeats", "1"],
])
def test_the_benchmarks_it_runs_take_its_options(command):
    script = SCRIPT.read_text()
    assert f"-m {command[0]}" in script
    done = subprocess.run([sys.executable, "-m", command[0], *command[1:], "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
