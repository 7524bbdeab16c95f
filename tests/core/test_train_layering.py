"""Arrows point down: nothing under core/train imports core.apps or demos (the apps import training)."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "core" / "train"
FORBIDDEN = ("core.apps", "demos")


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in the file at any depth (inside functions and branches too);
    relative imports are resolved against ``package``, the file's own package, and ``from a import b``
    also yields ``a.b``, since b may be a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def names_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_core_train_imports_neither_the_apps_nor_the_demos():
    files = sorted(TRAIN.rglob("*.py"))
    assert TRAIN / "gan.py" in files and TRAIN / "quality.py" in files
    offending = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(path, ".".join(path.relative_to(REPO).parent.parts))
        if names_forbidden(module)
    ]
    assert not offending, "\n".join(offending)


def test_the_walk_finds_imports_inside_functions_in_every_spelling(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import numpy\n"
        "from core.train.sampling import draw\n"
        "def f():\n"
        "    from core.apps.digits import grid_image\n"
        "    if True:\n"
        "        import demos.gan_basics as tab\n"
        "    from core import apps\n"
        "    from ..apps import digits\n"
        "    from . import sampling\n"
    )
    found = imported_modules(source, "core.train")
    flagged = {(line, module) for line, module in found if names_forbidden(module)}
    assert {line for line, _ in flagged} == {4, 6, 7, 8}
    assert {(4, "core.apps.digits"), (6, "demos.gan_basics"), (7, "core.apps"), (8, "core.apps.digits")} <= flagged
    assert (9, "core.train.sampling") in found
    assert not names_forbidden("demosaic") and not names_forbidden("core.applications")


def test_the_digit_sampling_routines_live_in_core_train_and_the_apps_reexport_them():
    from core.apps import digits, gan_basics
    from core.train import sampling

    assert digits.draw is sampling.draw and digits.grid_image is sampling.grid_image
    assert gan_basics.draw is sampling.draw and gan_basics.grid_image is sampling.grid_image
