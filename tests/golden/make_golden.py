"""Record the golden outputs: ``python tests/golden/make_golden.py [group ...]``.

Run it only when a change is meant to move numbers, and say so in the commit; see ``cases.py``.
It writes ``tests/golden/<kind>/<group>.npz`` for this machine's kind (``machine.py``); a change that
moves numbers regenerates every kind it can reach and says which kinds it left stale.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import GROUPS, flatten  # noqa: E402
from machine import golden_dir  # noqa: E402


def record(group):
    arrays = flatten(group)
    out = golden_dir()
    out.mkdir(exist_ok=True)
    tmp = out / f"{group}.tmp.npz"  # a failed write never leaves a file the test would load
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / f"{group}.npz")
    print(f"{group}: {len(arrays)} arrays -> {out / (group + '.npz')}", flush=True)


def main(groups):
    """Each group in a fresh interpreter, as ``tests/test_golden.py`` runs it: the last bits of
    numpy's SIMD reductions depend on what the process allocated before (a group recorded after
    another in one process differed from the test's run in the last bit)."""
    for g in groups:
        subprocess.run([sys.executable, __file__, "--one", g], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        record(sys.argv[2])
    else:
        main(sys.argv[1:] or list(GROUPS))
