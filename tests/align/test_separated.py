"""Separated clusters: neighbourhood agreement cannot see how they are arranged, distance
consistency can. scipy's Spearman correlation as the reference; similarity invariance; align
judges such clouds by consistency and finds the arrangement a tanh warp keeps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.neighbors import KNeighborsClassifier

import topotree as tt
from tests.helpers import rot
from topotree.align._agreement import AgreementContext, calibrate, calibrate_consistency


def _blobs(n, dim, seed, warp=0.3, k=10):
    """k separated Gaussian blobs (A) and a rotated, tanh-warped, noisy copy drawn afresh (B),
    with the labels of B's points and of a test set of A's points encoded by both."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(k, dim))
    labels = rng.integers(0, k, 2 * n)
    X = centres[labels] + rng.normal(size=(2 * n, dim))
    Q = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    Y = np.tanh(warp * X @ Q) / warp + 0.1 * rng.normal(size=(2 * n, dim))
    return X[:n], Y[n:], X[n:], labels[n:]


def test_consistency_is_spearmans_correlation_of_distances_through_the_matching():
    A, B, _, _ = _blobs(300, 4, 0)
    ctx = AgreementContext(A[:200], B[:200], 10)
    M, t = 0.8 * rot(4, 1), np.ones(4)
    pi = ctx.match(A[:200] @ M + t)
    expect = spearmanr(pdist(A[:200]), pdist(B[:200][pi]))[0]
    assert ctx.consistency(M, t) == pytest.approx(expect, abs=1e-12)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), ca=st.floats(0.2, 5.0), cb=st.floats(0.2, 5.0))
def test_consistency_is_invariant_under_a_similarity_of_either_cloud(seed, ca, cb):
    A, B, _, _ = _blobs(250, 3, seed % 7)
    A, B = A[:200], B[:200]
    M, t = rot(3, seed) * 1.3, np.full(3, 0.5)
    Ra, Rb = rot(3, seed + 1), rot(3, seed + 2)
    ta, tb = np.arange(3.0), -np.arange(3.0)
    base = AgreementContext(A, B, 10).consistency(M, t)
    # A' = ca A Ra + ta, B' = cb B Rb + tb; the same map between them: a' -> cb T(a) Rb + tb
    A2, B2 = ca * A @ Ra + ta, cb * B @ Rb + tb
    M2 = Ra.T @ M @ Rb * (cb / ca)
    t2 = cb * (t - ta @ Ra.T @ M / ca) @ Rb + tb
    assert AgreementContext(A2, B2, 10).consistency(M2, t2) == pytest.approx(base, abs=1e-9)


def test_separated_clouds_are_detected_and_a_connected_one_is_not():
    A, B, _, _ = _blobs(500, 8, 0)
    assert AgreementContext(A, B, 10).separated
    G = np.random.default_rng(1).normal(size=(500, 8))
    assert not AgreementContext(G, G @ rot(8, 2), 10).separated


def test_agreement_is_blind_to_separated_clusters_swapped_consistency_is_not():
    # k copies of one blob, far apart; B = A. Moving every blob whole onto another's place keeps
    # every neighbourhood (agreement 1, as the identity) but not the distances between the blobs
    rng = np.random.default_rng(3)
    dim, k = 8, 6
    centres = 6.0 * rng.normal(size=(k, dim))
    labels = np.repeat(np.arange(k), 80)
    A = centres[labels] + np.tile(rng.normal(size=(80, dim)), (k, 1))
    ctx = AgreementContext(A, A, 10)
    assert ctx.separated
    swapped = A - centres[labels] + centres[np.r_[1, 2, 0, 4, 5, 3][labels]]
    assert ctx.pointwise_mapped(swapped)[0].mean() == ctx.agreement(np.eye(dim), np.zeros(dim)) == 1.0
    assert ctx.consistency(np.eye(dim), np.zeros(dim)) == pytest.approx(1.0)
    assert ctx.consistency_mapped(swapped) < 0.8


def test_consistency_is_calibrated_between_moment_maps_and_b_against_itself():
    A, B, _, _ = _blobs(1000, 8, 0)
    ctx = AgreementContext.for_clouds(A, B, seed=0)
    cal = calibrate(ctx)
    ccal = calibrate_consistency(ctx, cal)
    assert len(cal.null_maps) > 0 and ccal.ceiling > ccal.null + 0.2


@pytest.mark.heavy
def test_align_judges_separated_clusters_by_consistency_and_finds_their_arrangement():
    # judged by agreement alone these clouds give 0.48 label transfer (trust 0.00): see
    # benchmarks/bench_separated.py, and the blobs moved whole above for why
    A, B, XT, yT = _blobs(700, 12, 0)
    knn = KNeighborsClassifier(1).fit(B, yT)
    al = tt.align(A, B)
    assert al.info["search"]["criterion"] == "consistency" and al.info["trust"].criterion == "consistency"
    assert len(al.info["search"]["consistencies"]) == len(al.info["search"]["agreements"])
    assert (knn.predict(al.transform(XT)) == yT).mean() >= 0.95 and al.trust >= 0.4
