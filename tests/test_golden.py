"""Characterization test: today's outputs, pinned bit for bit (see tests/golden/cases.py).

Code motion and renames must leave every array equal; a change meant to move numbers regenerates
the stored file with ``python tests/golden/make_golden.py GROUP`` and says so in its commit.
Each group runs in a fresh interpreter: numpy's SIMD reductions can round differently with the
memory alignment of their inputs, which depends on what the process allocated before, so only
the same history gives the same last bits. The last bits also depend on the machine's kind
(``tests/golden/machine.py``): each kind has its own recorded set, and a kind with none skips,
saying how to record one from an unchanged checkout.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(HERE))
from machine import golden_dir, machine_kind  # noqa: E402

GROUPS = ("align", "align_high", "baselines", "compare", "tree")

pytest.importorskip("ot")  # the stored results were made with POT installed (fused-GW starts)


@pytest.mark.parametrize("group", [pytest.param(g, marks=pytest.mark.heavy) if g.startswith("align") else g
                                   for g in GROUPS])
def test_outputs_unchanged(group, tmp_path):
    stored_path = golden_dir() / f"{group}.npz"
    if not stored_path.exists():
        pytest.skip(f"no golden outputs recorded on a machine of this kind ({machine_kind()}): record "
                    "them from a checkout with no change, `python tests/golden/make_golden.py`")
    out = tmp_path / f"{group}.npz"
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from cases import flatten; "
            "np.savez(sys.argv[3], **flatten(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(HERE), group, str(out)], check=True)
    stored, now = np.load(stored_path), np.load(out)
    assert sorted(now.files) == sorted(stored.files), f"{group}: the set of recorded outputs changed"
    differ = [k for k in stored.files
              if not np.array_equal(now[k], stored[k], equal_nan=stored[k].dtype.kind == "f")]
    assert not differ, f"{group}: {len(differ)} outputs changed, e.g. {differ[:8]}"
