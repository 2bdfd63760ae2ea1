"""Record the golden outputs: ``python tests/golden/make_golden.py [group ...]``.

Run it only when a change is meant to move numbers, and say so in the commit; see ``cases.py``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import GROUPS, flatten  # noqa: E402

HERE = Path(__file__).resolve().parent


def record(group):
    arrays = flatten(group)
    np.savez_compressed(HERE / f"{group}.npz", **arrays)
    print(f"{group}: {len(arrays)} arrays -> {HERE / (group + '.npz')}", flush=True)


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
