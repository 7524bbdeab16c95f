"""python -m bench: run every benchmark module in bench/ in turn (each prints its own table)."""
import importlib
import pkgutil
import sys

import bench


def main() -> int:
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")]
    chosen = sys.argv[1:] or names
    sys.argv = sys.argv[:1]  # each benchmark parses its own options; run them with their defaults
    for name in chosen:
        print(f"\n== bench.{name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
