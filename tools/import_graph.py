"""Print the import graph of core/: modules, edges, cycles, upward imports and unlisted modules.

    python tools/import_graph.py [ROOT]

ROOT is the repository root (default: the one holding this script); it must hold core/ and
docs/architecture.md with its "## Layers of core/" block. Exit status 1 when there is a violation.
The analysis lives in tests/core/test_import_graph.py (one copy, stdlib only); this loads it with runpy.
"""
import runpy
import sys
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[1] / "tests" / "core" / "test_import_graph.py"

if __name__ == "__main__":
    sys.exit(runpy.run_path(str(ANALYSIS))["main"]())
