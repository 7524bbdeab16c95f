"""core.checkpoints: every checkpoint is declared without paddle, and an archive's name table is found lazily.

The web server lists the checkpoints and their state (``core.weights.specs``, ``readiness``) while it builds
its pages; that must not import paddle (about a second of the gallery's cold start), nor cv2, torch or scipy.
A published archive names the function of its name table as ``"module:function"``; resolving it imports the
network module then, and must give exactly what that function gives for the published configuration.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from core import weights
from core.checkpoints.attgan import ATTGAN_CELEBA_128, STGAN_CELEBA_128
from core.checkpoints.stargan import STARGAN_CELEBA_128
from core.nets.celeba_labels import CELEBA_ATTRIBUTES, STARGAN_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("paddle", "cv2", "torch", "scipy")

LIST_IN_A_FRESH_PROCESS = f"""
import json, sys
from core import weights
specs = weights.specs()
states = [weights.readiness(s) for s in specs]
print(json.dumps({{"names": [s.name for s in specs], "states": len(states),
                  "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def test_listing_every_checkpoint_and_its_state_imports_no_paddle():
    done = subprocess.run([sys.executable, "-c", LIST_IN_A_FRESH_PROCESS], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == [], f"listing the checkpoints imported {seen['heavy']}"
    # The same checkpoints as this process, where the networks (and so paddle) are imported too.
    assert seen["names"] == [s.name for s in weights.specs()]
    assert seen["states"] == len(seen["names"]) > 0


def test_every_archive_name_table_resolves_lazily_to_its_network_modules_table():
    archived = [s for s in weights.specs() if s.archive is not None]
    assert archived, "no checkpoint is published as an archive"
    for s in archived:
        module_name, _, function = s.archive.name_table.partition(":")
        assert module_name.startswith("core.nets."), s.name
        table = s.archive.table()
        assert table, f"{s.name}: empty name table"
        direct = getattr(importlib.import_module(module_name), function)(**s.archive.name_table_args)
        assert table == direct, s.name
        assert len(set(table.values())) == len(table), f"{s.name}: two library variables map onto one parameter"


def test_the_published_configurations_agree_with_their_attribute_lists():
    # The checkpoint modules import nothing above core.registry, so the condition widths are written out there.
    assert STARGAN_CELEBA_128["c_dim"] == len(STARGAN_ATTRIBUTES)
    assert ATTGAN_CELEBA_128["c_dim"] == STGAN_CELEBA_128["c_dim"] == len(CELEBA_ATTRIBUTES)
