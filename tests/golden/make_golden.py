"""Record the golden outputs: ``python tests/golden/make_golden.py [group ...]``.

Run it only when a change is meant to move numbers, and say so in the commit; see ``cases.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import GROUPS, flatten  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(groups):
    for g in groups:
        arrays = flatten(g)
        np.savez_compressed(HERE / f"{g}.npz", **arrays)
        print(f"{g}: {len(arrays)} arrays -> {HERE / (g + '.npz')}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(GROUPS))
