"""The bulk of a cloud (Tukey's far-out fence) and the search that falls back on the bulks."""

import importlib
import statistics
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topotree as tt
from tests.helpers import rot
from topotree._nearest import chamfer
from topotree.align import AlignmentWarning
from topotree.align._bulk import bulk_rows, heavy_tailed
from topotree.align._params import BULK_BELOW, BULK_FENCE, FAR_OUT_FENCE
from topotree.datasets import hierarchical_mixture

search_mod = importlib.import_module("topotree.align._search")


def _brute_bulk(X, fence=BULK_FENCE):
    """Reference: per-coordinate medians, distances and quartiles by the standard library."""
    centre = [statistics.median(col) for col in X.T.tolist()]
    r = [sum((x - c) ** 2 for x, c in zip(row, centre)) ** 0.5 for row in X.tolist()]
    q1, _, q3 = statistics.quantiles(r, n=4, method="inclusive")
    return np.array([i for i, ri in enumerate(r) if ri <= q3 + fence * (q3 - q1)])


def _ball(n, dim, seed):
    """Uniform points in the unit ball (no tail)."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n, dim))
    return U / np.linalg.norm(U, axis=1, keepdims=True) * rng.uniform(size=(n, 1)) ** (1 / dim)


def _heavy(seed, n=300, dim=3):
    """A Gaussian cloud whose last 5% are pushed 8-40 spreads out (codes of rare inputs)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim))
    far = rng.choice(n, n // 20, replace=False)
    X[far] *= rng.uniform(8, 40, size=(far.size, 1))
    return X, far


def test_bulk_rows_match_the_fence_computed_by_the_standard_library():
    for seed in range(4):
        X, far = _heavy(seed)
        kept = bulk_rows(X)
        np.testing.assert_array_equal(kept, _brute_bulk(X))
        assert not np.isin(far, kept).all() and kept.size >= 0.9 * X.shape[0]
    G = _ball(2000, 8, seed=9)  # no tail: nothing beyond the fence
    assert bulk_rows(G).size == G.shape[0]
    for fence in (1.5, 3.0):  # Tukey's two fences
        np.testing.assert_array_equal(bulk_rows(X, fence), _brute_bulk(X, fence))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3), shift=st.floats(-1e3, 1e3))
def test_bulk_rows_ignore_row_order_translation_and_scale(seed, scale, shift):
    X, _ = _heavy(seed % 100, n=200)
    kept = bulk_rows(X)
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    np.testing.assert_array_equal(np.sort(perm[bulk_rows(X[perm])]), kept)
    np.testing.assert_array_equal(bulk_rows(scale * X + shift), kept)


def _recording(monkeypatch, force=None):
    """``_both_directions`` recorded; ``force``: {call number: trust} replaces those calls' trust."""
    calls, both = [], search_mod._both_directions

    def recorded(A, B, ta, tb, opts):
        al = both(A, B, ta, tb, opts)
        calls.append((A, B, al))
        return replace(al, trust=force[len(calls)]) if force and len(calls) in force else al

    monkeypatch.setattr(search_mod, "_both_directions", recorded)
    return calls


def _pair_with_far_points(seed=3):
    """B an exact affine image of A, rows shuffled; 3% of A's points (and so of B's) 30 spreads out."""
    m = hierarchical_mixture(700, dim=3, n_leaves=4, seed=seed)
    X = m.X / m.X.std()
    rng = np.random.default_rng(seed)
    far = rng.choice(len(X), 20, replace=False)
    X[far] += rng.normal(size=(far.size, 3)) * 30.0
    M, t = 1.5 * rot(3, seed), np.ones(3)
    return X, (X @ M + t)[rng.permutation(len(X))], M, t


def test_an_untrusted_map_is_sought_again_on_the_bulks_and_kept_when_trusted_more(monkeypatch):
    # the whole clouds' map made untrusted: the search runs again on the rows within each cloud's
    # fence (reference: the standard library's quartiles), its map is kept, judged on the whole
    # clouds, and, affine on the whole space, it carries the far points too (B is an exact affine
    # image of A)
    A, B, M, t = _pair_with_far_points()
    calls = _recording(monkeypatch, force={1: 0.1})
    al = tt.align(A, B)
    assert len(calls) == 2
    ra, rb = _brute_bulk(A), _brute_bulk(B)
    assert ra.size < A.shape[0] and rb.size < B.shape[0]
    np.testing.assert_array_equal(calls[1][0], A[ra])
    np.testing.assert_array_equal(calls[1][1], B[rb])
    assert al.trust == calls[1][2].trust > 0.1
    np.testing.assert_array_equal(al.matrix, calls[1][2].matrix)
    info = al.info["search"]["bulk"]
    np.testing.assert_array_equal(info["rows_a"], ra)
    np.testing.assert_array_equal(info["rows_b"], rb)
    assert info["whole_trust"] == 0.1
    spread = np.sqrt(np.mean(np.sum((B - B.mean(0)) ** 2, axis=1)))
    assert np.abs(al.transform(A) - (A @ M + t)).max() < 1e-6 * spread
    # score and mutual_nn judge the map on the whole clouds, as for any other alignment
    assert (al.score, al.mutual_nn) == chamfer(A @ al.matrix + al.offset, B, seed=0, return_mutual=True)


def test_the_whole_clouds_map_is_kept_unless_the_bulks_map_is_trusted_more(monkeypatch):
    A, B, _, _ = _pair_with_far_points()
    calls = _recording(monkeypatch, force={1: 0.2, 2: 0.1})  # the bulks' map trusted less
    with pytest.warns(AlignmentWarning):
        al = tt.align(A, B)
    assert len(calls) == 2 and al.trust == 0.2 and "bulk" not in al.info["search"]
    calls = _recording(monkeypatch, force={1: 0.2, 2: float("nan")})  # the bulks unverifiable
    with pytest.warns(AlignmentWarning):
        al = tt.align(A, B)
    assert len(calls) == 2 and al.trust == 0.2 and "bulk" not in al.info["search"]
    calls = _recording(monkeypatch, force={1: float("nan")})  # unverifiable whole clouds: no second search
    with pytest.warns(AlignmentWarning, match="could not verify"):
        al = tt.align(A, B)
    assert len(calls) == 1 and "bulk" not in al.info["search"]


@pytest.mark.filterwarnings("ignore::topotree.align.AlignmentWarning")  # forced trusts, not the real ones
def test_the_bulks_are_searched_below_bulk_below_only(monkeypatch):
    # a trust just under BULK_BELOW is doubted (second search), one at BULK_BELOW is not
    A, B, _, _ = _pair_with_far_points()
    below = np.nextafter(BULK_BELOW, 0.0)
    calls = _recording(monkeypatch, force={1: below, 2: BULK_BELOW + 0.01})
    al = tt.align(A, B)
    assert len(calls) == 2 and al.trust == BULK_BELOW + 0.01 and al.info["search"]["bulk"]["whole_trust"] == below
    calls = _recording(monkeypatch, force={1: BULK_BELOW})
    al = tt.align(A, B)
    assert len(calls) == 1 and al.trust == BULK_BELOW and "bulk" not in al.info["search"]


def test_light_tailed_clouds_are_not_searched_again(monkeypatch):
    # a Gaussian cloud has points beyond the inner fence but (almost) none beyond the far-out one:
    # no second search, however low the trust (it would be a second draw on nearly the same points)
    A = np.random.default_rng(2).normal(size=(600, 3)) * [3.0, 1.0, 0.5]
    B = A @ rot(3, 1) - 2.0
    assert bulk_rows(A).size < A.shape[0] and not heavy_tailed(A) and not heavy_tailed(B)
    calls = _recording(monkeypatch, force={1: 0.0})
    with pytest.warns(AlignmentWarning):
        al = tt.align(A, B)
    assert len(calls) == 1 and al.trust == 0.0 and "bulk" not in al.info["search"]


def test_heavy_tailed_counts_the_points_beyond_the_far_out_fence():
    for seed in range(3):
        X, far = _heavy(seed)
        beyond = X.shape[0] - _brute_bulk(X, FAR_OUT_FENCE).size
        assert beyond >= 0.01 * X.shape[0]
        assert heavy_tailed(X) and heavy_tailed(X, share=beyond / X.shape[0])
        assert not heavy_tailed(X, share=(beyond + 1) / X.shape[0])
    assert not heavy_tailed(_ball(2000, 8, seed=1))
    assert not heavy_tailed(np.random.default_rng(4).normal(size=(5000, 2)))
