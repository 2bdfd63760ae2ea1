"""The non-linear refinement: non-rigid CPD (``topotree._warp``) and ``warp_alignment``."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topotree as tt
from topotree._warp import Warp, fit_warp


def _clusters(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    return rng.normal(size=(n, 2)) * 0.7 + centres[rng.integers(3, size=n)]


def _bend(X):
    """A smooth non-linear relation (no affine map reproduces it)."""
    return X + 0.6 * np.sin(X[:, ::-1] / 2.0)


def test_cpd_undoes_a_known_smooth_deformation():
    X = _clusters()
    Y = _bend(X)
    w = fit_warp(Y, X)
    before = np.linalg.norm(Y - X, axis=1).mean()
    after = np.linalg.norm(w(Y) - X, axis=1).mean()
    assert after < 0.35 * before
    assert w.n_iter >= 1 and w.sigma2 > 0


def test_cpd_leaves_a_registered_cloud_in_place():
    X = _clusters()
    w = fit_warp(X.copy(), X)
    spread = np.sqrt(((X - X.mean(0)) ** 2).sum(1).mean())
    assert np.abs(w.displacement(X)).max() < 0.05 * spread


@settings(max_examples=8, deadline=None)
@given(angle=st.floats(0, 2 * np.pi), scale=st.floats(0.01, 100.0), shift=st.floats(-50, 50))
def test_cpd_is_equivariant_under_similarities(angle, scale, shift):
    """Rotating, scaling and translating both clouds moves the fitted field with them."""
    X = _clusters(150, seed=1)
    Y = _bend(X)
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s], [s, c]])
    w0 = fit_warp(Y, X)
    w1 = fit_warp(scale * Y @ R + shift, scale * X @ R + shift)
    expected = scale * w0(Y) @ R + shift
    np.testing.assert_allclose(w1(scale * Y @ R + shift), expected, atol=1e-6 * scale * (1 + np.abs(X).max()))


def test_warp_alignment_beats_the_affine_map_on_a_non_linear_relation():
    A = _clusters(300, seed=2)
    B = _bend(A) @ np.array([[0.8, 0.3], [-0.2, 1.1]]) + 3.0
    al = tt.procrustes(A, B, "affine")  # the best affine map (true pairs)
    w = tt.warp_alignment(al, A, B)
    assert isinstance(w.warp, Warp)
    err_aff = np.linalg.norm(al.transform(A) - B, axis=1).mean()
    err_warp = np.linalg.norm(w.transform(A) - B, axis=1).mean()
    assert err_warp < 0.6 * err_aff
    # the affine part is kept; the repr says there is a warp; no inverse
    np.testing.assert_array_equal(w.matrix, al.matrix)
    assert "warp=" in repr(w)
    with pytest.raises(ValueError, match="no closed-form inverse"):
        w.inverse_transform(B)
    # warping again starts from the affine part, not from the warped map
    np.testing.assert_allclose(tt.warp_alignment(w, A, B).transform(A), w.transform(A))


def test_align_with_warp_equals_align_then_warp_alignment():
    rng = np.random.default_rng(3)
    A = _clusters(300, seed=3)
    B = _bend(A) @ np.linalg.qr(rng.normal(size=(2, 2)))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = tt.align(A, B, search="trees")
        warped = tt.align(A, B, search="trees", warp=True)
    np.testing.assert_array_equal(warped.matrix, plain.matrix)
    np.testing.assert_allclose(warped.transform(A), tt.warp_alignment(plain, A, B).transform(A))
    assert plain.warp is None


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(alignment="not an alignment"), TypeError, "alignment must be an Alignment"),
    (dict(A=np.zeros((10, 3))), ValueError, "A must have 2 columns"),
    (dict(B=np.zeros((10, 3))), ValueError, "B must have 2 columns"),
    (dict(beta=0.0), ValueError, "beta"),
    (dict(smoothness=-1.0), ValueError, "smoothness"),
    (dict(n_centres=0), ValueError, "n_centres"),
    (dict(beta="wide"), TypeError, "beta"),
    (dict(A=np.full((10, 2), np.nan)), ValueError, "A"),
])
def test_warp_alignment_rejects_bad_input(kwargs, exc, match):
    A = _clusters(50)
    args = dict(alignment=tt.procrustes(A, A + 1.0), A=A, B=A + 1.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        tt.warp_alignment(args.pop("alignment"), args.pop("A"), args.pop("B"), **args)


def test_align_rejects_a_non_boolean_warp():
    A = _clusters(50)
    with pytest.raises(TypeError, match="warp must be True or False"):
        tt.align(A, A, warp="yes")
