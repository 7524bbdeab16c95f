import os
import sys
from pathlib import Path

# Tests never touch the network: hub lookups fail at once, URL sources are skipped.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GAN_GALLERY_OFFLINE", "1")
# Two cores: two threads, or one per process when pytest-xdist runs two (make test).
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, 2 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))))
# In-process tests run heavy targets inline (they register tiny models in this process);
# the servers that tests/e2e and tests/reliability launch use real worker processes.
os.environ.setdefault("GAN_GALLERY_WORKERS", "0")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Paddle must be imported on the main thread first (see core.runtime.init_paddle).
from core.runtime import init_paddle  # noqa: E402

init_paddle()

import contextlib  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def registered():
    """``registered(REGISTRY, name, entry, aliases=())``: an entry for the length of the test.

    Tests put tiny networks and checkpoints under real or test names this way
    (``core.registry.Registry.scoped``); nothing private is patched. ``registered.without(REGISTRY, name)``
    hides an entry instead.
    """
    with contextlib.ExitStack() as stack:

        def add(registry, name, entry, aliases=()):
            return stack.enter_context(registry.scoped(name, entry, aliases))

        def without(registry, name):
            stack.enter_context(registry.without(name))

        add.without = without
        yield add
