"""The import graph of core/ has no cycle and no arrow pointing up the layers.

The layers are parsed from the fenced block under "## Layers of core/" in docs/architecture.md, so
the picture there and this test cannot disagree. Each line of the block is one layer, top line first;
a module may import its own layer and the layers below it, never one above. A word on a line names
the module ``core.<word>`` or the package ``core/<word>/`` with all its submodules; ``#`` starts a
comment. ``core/__init__.py`` itself is on no line.

Every ``import`` statement in every file counts, at any depth (inside functions and branches too),
relative ones resolved against the file's package. ``importlib.import_module("...")`` calls are not
counted: the registries discover plugins by name at run time, and such a string is not an arrow the
layering constrains.

This module holds the whole analysis (stdlib only, no pytest import), so that
``python tools/import_graph.py [ROOT]`` can load it with runpy and print the same report.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS_HEADING = "## Layers of core/"


# --- layers ------------------------------------------------------------------------------------

def parse_layers(markdown: str, heading: str = LAYERS_HEADING) -> list[list[str]]:
    """The layers from the first fenced block after ``heading``, top layer first, each a list of
    words; text after ``#`` on a line is a comment, blank lines are skipped. Raises ValueError when
    the heading or the block is missing, the block is empty, or a word is on two lines."""
    lines = markdown.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        raise ValueError(f"no {heading!r} heading") from None
    layers: list[list[str]] = []
    inside = False
    for line in lines[start + 1:]:
        if line.lstrip().startswith("```"):
            if inside:
                break
            inside = True
            continue
        if not inside:
            if line.startswith("## "):
                break  # next section, no block met
            continue
        words = line.split("#", 1)[0].split()
        if words:
            layers.append(words)
    else:
        if inside:
            raise ValueError(f"the fenced block under {heading!r} is not closed")
    if not layers:
        raise ValueError(f"no fenced block of layers under {heading!r}")
    seen: dict[str, int] = {}
    for number, words in enumerate(layers):
        for word in words:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word):
                raise ValueError(f"layer line {number + 1}: {word!r} is not a module name")
            if word in seen:
                raise ValueError(f"{word!r} is on layer lines {seen[word] + 1} and {number + 1}")
            seen[word] = number
    return layers


def read_layers(root: Path = REPO) -> list[list[str]]:
    return parse_layers((Path(root) / "docs" / "architecture.md").read_text())


# --- graph -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    source: str      # importing module, e.g. core.nets.ugatit
    target: str      # longest existing module the imported name maps to
    path: str        # file, relative to the root
    line: int
    statement: str   # the import as written, with the names of it that map to target


@dataclass
class Graph:
    package: str
    modules: dict[str, Path]                       # module name -> file
    imports: list[Import] = field(default_factory=list)

    @property
    def edges(self) -> set[tuple[str, str]]:
        return {(i.source, i.target) for i in self.imports}


def module_name(package_dir: Path, path: Path) -> str:
    parts = (package_dir.name,) + path.relative_to(package_dir).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _alias(alias: ast.alias) -> str:
    return alias.name + (f" as {alias.asname}" if alias.asname else "")


def imported_names(tree: ast.AST, own_package: str) -> list[tuple[int, str, str, str]]:
    """(line, dotted name, "import" or "from X import", alias as written) for every import anywhere
    in ``tree``. ``own_package`` is the package relative imports resolve against (the module itself
    for an ``__init__.py``). ``from a import b`` yields ``a.b``: the caller maps it to the longest
    existing module, so a submodule b counts as b and a function b counts as a."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "import", _alias(alias)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = own_package.split(".")
                if node.level > len(parts):
                    continue  # beyond the top package: not ours
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            written = f"from {'.' * node.level}{node.module or ''} import"
            found += [(node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base, written,
                       _alias(alias)) for alias in node.names]
    return found


def longest_module(name: str, modules) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def build_graph(package_dir: Path, root: Path | None = None) -> Graph:
    """Parse every .py under ``package_dir`` (a package whose name is the directory's) and collect
    the imports between its modules. Self-imports and imports outside the package are dropped."""
    package_dir = Path(package_dir)
    root = Path(root) if root is not None else package_dir.parent
    files = sorted(package_dir.rglob("*.py"))
    graph = Graph(package_dir.name, {module_name(package_dir, f): f for f in files})
    for name, path in graph.modules.items():
        own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # one Import per statement and target: "from core.weights import a, b" is one arrow
        merged: dict[tuple[int, str, str], list[str]] = {}
        for line, imported, written, alias in imported_names(tree, own_package):
            target = longest_module(imported, graph.modules)
            if target is not None and target != name:
                merged.setdefault((line, written, target), []).append(alias)
        for (line, written, target), aliases in merged.items():
            graph.imports.append(Import(name, target, str(path.relative_to(root)), line,
                                        f"{written} {', '.join(aliases)}"))
    return graph


def strongly_connected_components(nodes, edges) -> list[list[str]]:
    """Tarjan's algorithm, iterative; every component of more than one node, or of one node with
    an edge to itself, sorted."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
        successors.setdefault(b, [])
    for targets in successors.values():
        targets.sort()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(successors):
        if start in index:
            continue
        work = [(start, iter(successors[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in successors[node]:
                    components.append(sorted(component))
    return sorted(components)


# --- checks ------------------------------------------------------------------------------------

def layer_of(module: str, package: str, layers: list[list[str]]) -> tuple[int, str] | None:
    """(line number counted from the bottom, word) for ``module``; None for the package itself or
    a module on no line."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2:
        return None
    for number, words in enumerate(reversed(layers)):
        if parts[1] in words:
            return number, parts[1]
    return None


@dataclass
class Report:
    graph: Graph
    layers: list[list[str]]
    cycles: list[list[str]]
    unlisted: list[str]
    upward: list[tuple[Import, str, str]]   # import, its layer word, the higher word it reaches

    @property
    def ok(self) -> bool:
        return not (self.cycles or self.unlisted or self.upward)

    def cycle_edges(self, component: list[str]) -> list[Import]:
        members = set(component)
        return [i for i in self.graph.imports if i.source in members and i.target in members]


def analyse(package_dir: Path, layers: list[list[str]], root: Path | None = None) -> Report:
    graph = build_graph(package_dir, root)
    package = graph.package
    cycles = strongly_connected_components(graph.modules, graph.edges)
    unlisted = sorted(m for m in graph.modules if m != package and layer_of(m, package, layers) is None)
    upward = []
    for imp in sorted(graph.imports, key=lambda i: (i.path, i.line, i.statement)):
        here, there = layer_of(imp.source, package, layers), layer_of(imp.target, package, layers)
        if here and there and there[0] > here[0]:
            upward.append((imp, here[1], there[1]))
    return Report(graph, layers, cycles, unlisted, upward)


def summary(report: Report) -> str:
    """One line for a closing note: modules, edges, cycles, upward imports."""
    cycles = "; ".join("{" + ", ".join(c) + "}" for c in report.cycles) or "none"
    return (f"{report.graph.package}/: {len(report.graph.modules)} modules, "
            f"{len(report.graph.edges)} edges ({len(report.graph.imports)} imports), "
            f"{len(report.cycles)} cycles ({cycles}), {len(report.upward)} upward imports, "
            f"{len(report.unlisted)} unlisted modules")


def violations(report: Report) -> str:
    """Every violation, readable, all at once ("" when there is none)."""
    out = []
    if report.unlisted:
        out.append(f"Modules on no line of {LAYERS_HEADING!r} in docs/architecture.md:")
        out += [f"  {m}  ({report.graph.modules[m].name})" for m in report.unlisted]
    if report.cycles:
        out.append(f"Import cycles ({len(report.cycles)} strongly connected components):")
        for number, component in enumerate(report.cycles, 1):
            out.append(f"  cycle {number}: {', '.join(component)}")
            out += [f"    {i.path}:{i.line}: {i.statement}   ({i.source} -> {i.target})"
                    for i in sorted(report.cycle_edges(component), key=lambda i: (i.path, i.line))]
    if report.upward:
        out.append(f"Imports pointing up the layers ({len(report.upward)}):")
        out += [f"  {i.path}:{i.line}: {i.statement}   ({i.source} in '{low}' -> {i.target} in '{high}')"
                for i, low, high in report.upward]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else REPO
    report = analyse(root / "core", read_layers(root), root)
    print(summary(report))
    print(violations(report) or "No cycle, no upward import, every module on a layer.")
    return 0 if report.ok else 1


# --- tests -------------------------------------------------------------------------------------

def test_core_has_no_import_cycle_and_no_upward_import():
    report = analyse(REPO / "core", read_layers(REPO), REPO)
    print(summary(report))
    assert "core.weights" in report.graph.modules and report.graph.edges, "the walk found nothing"
    if not report.ok:  # raised, not asserted: pytest would append the whole Report's repr
        raise AssertionError(f"{summary(report)}\n{violations(report)}")


def test_the_analysis_finds_cycles_upward_edges_and_every_spelling(tmp_path):
    doc = tmp_path / "docs" / "architecture.md"
    doc.parent.mkdir()
    doc.write_text(
        "# Title\n\n## Other\n\n```\nnot layers\n```\n\n"
        f"{LAYERS_HEADING}\n\nText.\n\n```\n"
        "apps            # top\n"
        "\n"
        "nets weights\n"
        "errors missing  # 'missing' has no module: fine\n"
        "```\n"
    )
    layers = read_layers(tmp_path)
    assert layers == [["apps"], ["nets", "weights"], ["errors", "missing"]]

    pkg = tmp_path / "core"
    files = {
        "__init__.py": "",
        "errors.py": "import os\n",
        "apps/__init__.py": "from . import run, ui\n",                 # within the package
        "apps/run.py": "from core import errors\n",                  # down: fine
        "apps/ui.py": "from core.nets import build, Conv\n",         # down; names, not modules
        "nets/__init__.py": "from .conv import Conv\n",                # relative, resolved
        "nets/conv.py": "def f():\n    from ..weights import fetch\n",  # same layer, in a function
        "weights.py": (
            "import importlib\n"
            "importlib.import_module('core.apps')\n"                   # string: not counted
            "def g():\n"
            "    if True:\n"
            "        from core.nets import conv\n"                     # cycle via nets.conv
            "import core.apps.run as r\n"                              # upward
        ),
        "stray.py": "from . import errors\n",                          # on no line
        "train/__main__.py": "from ..errors import Error\n",           # package 'train' unlisted
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)

    report = analyse(pkg, layers, tmp_path)
    graph = report.graph
    assert set(graph.modules) == {"core", "core.errors", "core.apps", "core.apps.run", "core.apps.ui",
                                  "core.nets", "core.nets.conv", "core.weights", "core.stray",
                                  "core.train.__main__"}
    assert graph.edges == {
        ("core.apps", "core.apps.run"), ("core.apps", "core.apps.ui"), ("core.apps.run", "core.errors"),
        ("core.apps.ui", "core.nets"), ("core.nets", "core.nets.conv"), ("core.nets.conv", "core.weights"),
        ("core.weights", "core.nets.conv"), ("core.weights", "core.apps.run"),
        ("core.stray", "core.errors"), ("core.train.__main__", "core.errors"),
    }
    in_function = next(i for i in graph.imports if i.source == "core.nets.conv")
    assert (in_function.path, in_function.line, in_function.statement) == (
        "core/nets/conv.py", 2, "from ..weights import fetch")
    ui = next(i for i in graph.imports if i.source == "core.apps.ui")
    assert ui.statement == "from core.nets import build, Conv"

    assert report.cycles == [["core.nets.conv", "core.weights"]]
    assert [(i.source, i.target, i.line, low, high) for i, low, high in report.upward] == [
        ("core.weights", "core.apps.run", 6, "weights", "apps")]
    assert report.unlisted == ["core.stray", "core.train.__main__"]
    assert not report.ok

    text = violations(report)
    assert "cycle 1: core.nets.conv, core.weights" in text
    assert "core/weights.py:5: from core.nets import conv" in text
    assert "core/nets/conv.py:2: from ..weights import fetch" in text
    assert "core/weights.py:6: import core.apps.run as r   (core.weights in 'weights' -> core.apps.run in 'apps')" in text
    assert "core.stray" in text and "core.train.__main__" in text
    assert summary(report).startswith("core/: 10 modules, 10 edges (10 imports), 1 cycles")

    (pkg / "weights.py").write_text("from .errors import Error\n")  # the fix: no cycle, nothing upward
    (pkg / "stray.py").unlink()
    (pkg / "train" / "__main__.py").unlink()
    fixed = analyse(pkg, layers, tmp_path)
    assert fixed.ok and violations(fixed) == "" and fixed.cycles == []

def test_tarjan_reports_each_component_and_self_loops():
    edges = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "f"), ("g", "a")}
    assert strongly_connected_components("abcdefgh", edges) == [["a", "b", "c"], ["d", "e"], ["f"]]
    assert strongly_connected_components("xy", {("x", "y")}) == []


def test_the_layer_block_is_parsed_strictly():
    for bad in ("no heading", f"{LAYERS_HEADING}\n\ntext only\n", f"{LAYERS_HEADING}\n```\na\nb a\n```\n",
                f"{LAYERS_HEADING}\n```\na\n"):
        try:
            parse_layers(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
