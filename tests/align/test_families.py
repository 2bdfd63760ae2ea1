"""procrustes (the map families, supervised fit) and the moment correction."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import rot
from topotree.align import procrustes


@pytest.mark.parametrize("kind", ["orthogonal", "similarity", "affine"])
def test_procrustes_exact_recovery(kind):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 4))
    Q = rot(4, 1)
    s = 1.0 if kind == "orthogonal" else 2.5
    M = s * Q if kind != "affine" else rng.normal(size=(4, 4))
    t = rng.normal(size=4)
    al = procrustes(A, A @ M + t, kind)
    assert np.abs(al.matrix - M).max() < 1e-6
    assert np.abs(al.offset - t).max() < 1e-6
    assert np.abs(al.inverse_transform(al.transform(A)) - A).max() < 1e-6
    assert al.residuals.max() < 1e-6


def test_procrustes_reflection_and_different_dims():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(40, 3))
    F = np.diag([1.0, 1.0, -1.0])
    assert np.abs(procrustes(A, A @ F).transform(A) - A @ F).max() < 1e-9
    proper = procrustes(A, A @ F, allow_reflection=False)
    assert np.linalg.det(proper.matrix) > 0
    # 3 -> 5 dims: a semi-orthogonal embedding
    E = np.linalg.qr(rng.normal(size=(5, 5)))[0][:3]
    al = procrustes(A, 2 * A @ E + 1, "similarity")
    assert al.matrix.shape == (3, 5)
    assert np.abs(al.transform(A) - (2 * A @ E + 1)).max() < 1e-9
    assert np.abs(al.inverse_transform(2 * A @ E + 1) - A).max() < 1e-9
    # 5 -> 3 is not injective
    back = procrustes(2 * A @ E + 1, A, "similarity")
    with pytest.raises(ValueError, match="inverse"):
        back.inverse_transform(A)


def test_procrustes_weights_and_ridge():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(20, 3))
    B = A * 3.0 + 1
    B[0] += 100  # an outlier with zero weight is ignored
    w = np.ones(20)
    w[0] = 0
    assert abs(procrustes(A, B, "similarity", weights=w).scale - 3.0) < 1e-9
    # two anchors in 3 dims: affine is underdetermined, the ridge keeps it near the similarity fit
    al = procrustes(A[:2], B[1:3], "affine", ridge=1.0)
    assert np.isfinite(al.matrix).all()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 10.0))
def test_procrustes_similarity_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(12, 3))
    Q = rot(3, seed + 1)
    t = rng.normal(size=3) * 5
    al = procrustes(A, scale * A @ Q + t, "similarity")
    assert abs(al.scale - scale) < 1e-6 * scale
    assert np.abs(al.transform(A) - (scale * A @ Q + t)).max() < 1e-6 * (1 + scale)


def test_procrustes_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        procrustes(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="transform"):
        procrustes(np.eye(3), np.eye(3), "projective")
    with pytest.raises(ValueError, match="anchors_a contains NaN"):
        procrustes(np.array([[np.nan, 1.0]]), np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="weights"):
        procrustes(np.eye(3), np.eye(3), weights=[1, 2])
    al = procrustes(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="X must have 3 columns"):
        al.transform(np.zeros((2, 4)))


def test_moment_corrected_matches_moments_and_keeps_exact_map():
    from topotree.align._families import moment_corrected

    rng = np.random.default_rng(31)
    A = rng.normal(size=(800, 3)) * [3.0, 1.0, 0.5] + rng.exponential(size=(800, 3))
    Q = rot(3, 32)
    B = 2.0 * A @ Q + 1.0
    Pa = A[:20]
    w = np.full(20, 1 / 20)
    # from the exact map: unchanged
    M, t = moment_corrected(A, B, 2.0 * Q, np.ones(3), Pa, B[:20], w)
    assert np.allclose(M, 2.0 * Q, atol=1e-8) and np.allclose(t, 1.0, atol=1e-8)
    # from a distorted map: T(A) gets B's mean and covariance exactly
    M0 = 2.0 * Q @ np.diag([1.3, 0.8, 1.1])
    M, t = moment_corrected(A, B, M0, np.zeros(3), Pa, B[:20], w)
    TA = A @ M + t
    assert np.allclose(TA.mean(0), B.mean(0)) and np.allclose(np.cov(TA.T), np.cov(B.T))
