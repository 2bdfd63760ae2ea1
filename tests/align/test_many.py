"""align_many: N spaces into one frame by a generalized Procrustes over pairwise tt.align results."""
import numpy as np
import pytest

import topotree as tt
from topotree.datasets import hierarchical_mixture


def _three_spaces(seed=0):
    """Three fresh samples of one mixture (3 dims), each put into its own space by a known affine map."""
    rng = np.random.default_rng(seed)
    mix = hierarchical_mixture(1500, dim=3, n_leaves=5, seed=seed)
    X, lab = mix.X, mix.labels
    maps = []
    for _ in range(3):
        Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        M = Q * rng.uniform(0.5, 2.0)
        maps.append((M, rng.normal(size=3)))
    parts = np.array_split(np.arange(len(X)), 3)
    clouds = [X[p] @ M + t for p, (M, t) in zip(parts, maps)]
    return X, lab, parts, maps, clouds


@pytest.mark.heavy
def test_three_models_cycle_consistent_and_accurate():
    X, lab, parts, maps, clouds = _three_spaces()
    many = tt.align_many(clouds, "affine")
    assert len(many.maps) == 3 and np.allclose(many.maps[0].matrix, np.eye(3))
    cyc = [many.between(0, 1), many.between(1, 2), many.between(2, 0)]
    assert tt.cycle_error(cyc, clouds[0]) < 1e-8
    # accuracy: map the same points through the truth and through align_many
    for i, j in ((0, 1), (1, 2), (2, 0)):
        (Mi, ti), (Mj, tj) = maps[i], maps[j]
        P = X @ Mi + ti
        truth = X @ Mj + tj
        est = many.between(i, j).transform(P)
        assert tt.metrics.relative_error(est, truth) < 0.1


def test_frame_and_reference():
    # the frame's bookkeeping, on the tree pipeline alone (search="trees", passed through to every
    # pairwise align; the default search is exercised by the test above)
    _, _, _, _, clouds = _three_spaces(1)
    many = tt.align_many(clouds, "similarity", reference=2, points_per_pair=0, search="trees")
    assert many.reference == 2 and np.allclose(many.transform(2, clouds[2]), clouds[2])
    assert set(many.pairwise) == {(0, 1), (0, 2), (1, 2), (1, 0), (2, 0), (2, 1)}
    assert all("search" not in al.info for al in many.pairwise.values())
    one_way = tt.align_many(clouds, "similarity", reference=2, points_per_pair=0, symmetric=False, search="trees")
    assert set(one_way.pairwise) == {(0, 2), (1, 2), (0, 1)}
    assert 0 <= many.residual < 0.2


def test_bad_input():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="at least 2"):
        tt.align_many([X])
    with pytest.raises(TypeError, match="clouds"):
        tt.align_many(X)
    with pytest.raises(ValueError, match="trees"):
        tt.align_many([X, X], trees=[None])
    with pytest.raises(ValueError, match="transform"):
        tt.align_many([X, X], "warp")
    with pytest.raises(ValueError, match="reference"):
        tt.align_many([X, X], reference=2)
    with pytest.raises(TypeError, match="alignments"):
        tt.cycle_error(3, X)
