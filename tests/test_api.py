"""The public surface stays: every recorded name of every public module (old import paths
included) still exists, with the same signature (tests/api_surface.py, tests/api_snapshot.json)."""
import json
from pathlib import Path

import pytest

from tests.api_surface import surface

SNAPSHOT = json.loads((Path(__file__).parent / "api_snapshot.json").read_text())
NOW = surface()


@pytest.mark.parametrize("module", sorted(SNAPSHOT))
def test_public_names_and_signatures_kept(module):
    missing = sorted(set(SNAPSHOT[module]) - set(NOW[module]))
    assert not missing, f"{module} lost {missing}"
    changed = {n: (SNAPSHOT[module][n], NOW[module][n]) for n in SNAPSHOT[module]
               if SNAPSHOT[module][n] != NOW[module][n]}
    assert not changed, f"{module}: signatures changed {changed}"


def test_paths_used_by_benchmarks_and_examples_import():
    from topotree.align import align, pick_density  # noqa: F401
    from topotree.compare import match_trees, tree_distance  # noqa: F401
    from topotree.graph import knn  # noqa: F401
    from topotree.matching import TreeMatching, match_trees as m2, matching_accuracy  # noqa: F401
