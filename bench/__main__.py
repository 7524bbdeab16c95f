"""python -m bench: the one table of every network (bench.networks); or the benchmarks named.

    python -m bench                       # bench.networks: every network at its standard input
    python -m bench translate restore     # those modules, each with its default options
    python -m bench all                   # every module in bench/, in turn
"""
import importlib
import pkgutil
import sys

import bench

# Not benchmarks: shared helpers, and the GPU script's own driver.
HELPERS = {"measure"}


def main() -> int:
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_") and m.name not in HELPERS]
    chosen = sys.argv[1:] or ["networks"]
    if chosen == ["all"]:
        chosen = names
    unknown = [name for name in chosen if name not in names]
    if unknown:
        print(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(names)}", file=sys.stderr)
        return 2
    sys.argv = sys.argv[:1]  # each benchmark parses its own options; run them with their defaults
    for name in chosen:
        print(f"\n== bench.{name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
