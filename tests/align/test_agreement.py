"""Neighbourhood agreement, its refinement, the trust and the global search of align."""

import importlib
from dataclasses import replace

import numpy as np
import pytest

import topotree as tt
from topotree import metrics
from tests.helpers import rot
from topotree.align import AlignmentWarning
from topotree.align._agreement import AgreementContext, calibrate, refine_by_agreement, trust
from topotree.align._gw_starts import centroid_gw_maps
from topotree.datasets import hierarchical_mixture


def _pair(seed=0, n=1200, dim=4):
    m = hierarchical_mixture(n, dim=dim, n_leaves=5, seed=seed)
    M = 1.7 * rot(dim, seed + 1)
    t = np.arange(dim, dtype=float)
    return m, M, t


def test_agreement_is_one_for_the_true_map_on_the_same_points_and_low_for_a_wrong_one():
    m, M, t = _pair()
    B = m.X @ M + t
    ctx = AgreementContext(m.X[:400], B[:400], 10)
    assert ctx.agreement(M, t) == 1.0
    # send every cluster to the wrong place: a reflection through the centroid of the cloud
    assert ctx.agreement(-M, t + 2 * (m.X[:400].mean(0) @ M)) < 0.7


def test_agreement_is_invariant_under_similarity_of_either_cloud():
    m, M, t = _pair(3)
    Xb = m.sample(900, seed=4)[0]
    B = Xb @ M + t
    a = AgreementContext(m.X[:400], B[:400], 10).agreement(M, t)
    S = 0.3 * rot(4, 9)
    b = AgreementContext(m.X[:400] @ S + 5.0, B[:400], 10).agreement(np.linalg.inv(S) @ M, t - 5.0 * np.linalg.inv(S).sum(0) @ M)
    assert abs(a - b) < 1e-9


def test_refinement_recovers_a_similarity_from_a_perturbed_start():
    m, M, t = _pair(5)
    B = m.X @ M + t
    ctx = AgreementContext(m.X[:500], B[:500], 10)
    M0 = M + 0.15 * np.random.default_rng(0).normal(size=M.shape)
    M1, t1, s1, ag = refine_by_agreement(ctx, M0, t + 0.3, "similarity")
    assert ag >= ctx.agreement(M0, t + 0.3)
    assert np.abs(M1 - M).max() < 1e-6 and np.abs(t1 - t).max() < 1e-6 and abs(s1 - 1.7) < 1e-6


def test_trust_is_high_for_the_true_map_and_low_for_moments_only():
    m, M, t = _pair(7, n=1500)
    Xb = m.sample(1500, seed=8)[0]
    ctx = AgreementContext.for_clouds(m.X, Xb @ M + t)
    cal = calibrate(ctx, "similarity")
    good = trust(cal, ctx.agreement(M, t))
    assert cal.null < cal.ceiling and good.score > 0.7 and good.uniqueness == 1.0
    assert trust(cal, cal.null).score == 0.0
    # as consistent, but another, different map fits as well: not trusted
    assert trust(cal, good.agreement, rival=good.agreement).score == 0.0


def test_many_dimensional_blobs_unverifiable_keep_the_map_closest_in_law_with_a_warning():
    # blobs in 12 dims: kNN neighbourhoods are not reproducible between samples, so agreement
    # cannot judge; the tree pipeline's map competes with the maps from the moments, the one whose
    # image is closest in law to B is kept, flagged as unverified. The tree pipeline alone pairs the
    # wrong blobs on some machines (below 0.95 on the Intel machines it was written on) and the
    # right ones on others (1.0 on an AMD EPYC: k-means and BLAS differ in the last bits); either
    # way the law picks a map that pairs them right
    m = hierarchical_mixture(1000, dim=12, n_leaves=4, weights="uneven", seed=52)
    Xb, lb = m.sample(900, seed=53)
    B = Xb @ rot(12, 54)
    with pytest.warns(AlignmentWarning, match="could not verify") as caught:
        al = tt.align(m.X, B, density="knn")
    assert caught[0].filename == __file__  # the warning points at the caller's line, not inside topotree
    search = al.info["search"]
    assert search["unjudged"] and np.isnan(al.trust)
    assert search["origin"] == search["origins"][int(np.argmin(search["law_gaps"]))]
    assert search["origins"][0] == "trees-knn" and "moments" in search["origins"] and "ica" in search["origins"]
    transferred = metrics.label_transfer_accuracy(m.X @ al.matrix + al.offset, m.labels, B, lb)
    assert transferred >= 0.95


@pytest.mark.parametrize("kind", ["orthogonal", "similarity", "affine"])
def test_unverifiable_clouds_keep_a_map_of_the_family_asked_for(kind):
    # the maps from the moments are projected onto the family asked for before they compete
    m = hierarchical_mixture(1000, dim=12, n_leaves=5, weights="equal", seed=50)
    Xb, lb = m.sample(900, seed=51)
    B = Xb @ rot(12, 52)
    with pytest.warns(AlignmentWarning, match="could not verify"):
        al = tt.align(m.X, B, kind, density="knn")
    search = al.info["search"]
    assert al.kind == kind and search["origin"] == search["origins"][int(np.argmin(search["law_gaps"]))]
    if kind != "affine":
        G = al.matrix @ al.matrix.T
        np.testing.assert_allclose(G, G[0, 0] * np.eye(12), atol=1e-9 * G[0, 0])
    assert metrics.label_transfer_accuracy(m.X @ al.matrix + al.offset, m.labels, B, lb) >= 0.95


def test_centroid_gw_starts_refined_by_agreement_find_a_rigid_motion():
    # no trees involved: the GW starts on k-means centroids, each refined, the most agreeing kept
    m, M, t = _pair(11)
    M = M / 1.7
    B = m.X @ M + t
    ctx = AgreementContext(m.X[:500], B[:500], 10)
    maps = centroid_gw_maps(m.X, B, "orthogonal", seed=0, plans=(("euclidean", 40, 1, 60, 8), ("euclidean", 80, 1, 60, 8)))
    assert len(maps) >= 8
    best = max((refine_by_agreement(ctx, g.M, g.t, "orthogonal") for g in maps), key=lambda r: r[3])
    assert best[3] == 1.0 and np.abs(best[0] - M).max() < 1e-6


@pytest.mark.heavy
def test_align_warns_when_the_target_has_no_structure():
    # a clustered cloud against structureless noise: no map is both consistent and unique. At these
    # sizes the best of the search's candidates led a different map by 0.56 standard errors of the
    # paired agreements (trust 0.55, no warning) until such a lead counted as a tie (RIVAL_SE_GATE)
    m = hierarchical_mixture(800, dim=2, n_leaves=5, seed=13)
    noise = np.random.default_rng(0).normal(size=(700, 2))
    with pytest.warns(AlignmentWarning, match="no reliable correspondence") as caught:
        bad = tt.align(m.X, noise)
    assert caught[0].filename == __file__
    assert bad.trust < 0.4 and bad.info["trust"].score == bad.trust
    # before warning, the search escalated every round it may (more starts: geodesic GW)
    params = importlib.import_module("topotree.align._params")
    assert bad.info["search"]["escalations"] == params.ESCALATION_ROUNDS
    assert any(o.startswith("gw-geodesic") for o in bad.info["search"]["origins"])


def test_search_trees_is_the_tree_pipeline_alone():
    m, M, t = _pair(15, n=900, dim=3)
    B = m.X @ M[:3, :3] + t[:3]
    al = tt.align(m.X, B, search="trees", density="knn")
    assert np.isnan(al.trust) and "search" not in al.info
    with pytest.raises(ValueError, match="search must be one of"):
        tt.align(m.X, B, search="everything")


def test_bending_never_loses_agreement_and_straightens_a_bent_relation():
    # B is A under a smooth non-linear map: the best affine map leaves clusters beside their
    # partners; bending proposes a better matching and refits an affine map to it
    bend = importlib.import_module("topotree.align._bend").bend
    m = hierarchical_mixture(1200, dim=2, n_leaves=6, seed=21)
    A = m.X / m.X.std()
    B = A + 0.6 * np.sin(1.5 * A[:, ::-1])
    ctx = AgreementContext(A[:500], B[500:1000], 10)
    M0, t0 = np.eye(2) * 0.8 + 0.2 * rot(2, 3), np.full(2, 0.3)  # a poor start
    ag0 = ctx.agreement(M0, t0)
    M, t, s, ag = bend(ctx, M0, t0, ag0, "affine")
    assert ag >= ag0 and ag == ctx.agreement(M, t)
    refined = refine_by_agreement(ctx, M0, t0, "affine")[3]
    assert ag >= refined - 1e-12
    # a start that is already a fixed point of bending comes back unchanged
    M2, t2, _, ag2 = bend(ctx, M, t, ag, "affine")
    assert ag2 >= ag


@pytest.mark.heavy
def test_search_reports_its_gromov_wasserstein_metrics_and_bent_candidates():
    m, M, t = _pair(7, n=1000)
    al = tt.align(m.X, m.sample(1000, seed=8)[0] @ M + t)
    origins = al.info["search"]["origins"]
    assert any(o.startswith("gw-hops") for o in origins) and any(o.startswith("gw-euclidean") for o in origins)
    assert any(o.endswith("+bent") for o in origins)
    assert len(origins) == len(al.info["search"]["agreements"])
    assert al.trust > 0.4 and al.info["search"]["escalations"] == 0  # trusted: no escalation
    params = importlib.import_module("topotree.align._params")
    assert al.info["trust"].uniqueness >= params.ESCALATE_UNIQUENESS  # ... and unique: no near rival


def test_a_map_of_the_same_basin_is_no_rival_a_map_that_matches_other_points_is():
    """The trust's rival must give a different answer, not only a different image: a translation
    far along B's spread moves every point but optimal transport pairs them exactly as before; a
    reflection that swaps the clusters pairs them differently."""
    search_mod = importlib.import_module("topotree.align._search")
    X = hierarchical_mixture(800, dim=2, n_leaves=4, seed=3).X
    ctx = AgreementContext.for_clouds(X, X, seed=0)
    spread = np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, axis=1)))
    eye = np.eye(2)

    def row(M, t):
        return search_mod._Row(ctx.agreement(M, t), "test", M, np.asarray(t, float), 1.0, None)

    winner = row(eye, [0.0, 0.0])
    shifted = row(eye, [3 * spread, 0.0])  # far away, yet the same matching
    assert search_mod._different(ctx, shifted, winner)
    assert search_mod._rival(ctx, [winner, shifted], 0, [winner.agreement, shifted.agreement]) is None
    swapped = row(-eye, 2 * X.mean(0))  # a point reflection through the centre: other partners
    rows = [winner, shifted, swapped]
    assert search_mod._rival(ctx, rows, 0, [r.agreement for r in rows]) == swapped.agreement


def test_same_answer_counts_partners_in_one_region_of_b_against_brute_force():
    """Two partners give the same answer when equal or when one is among the ANSWER_REGION share of
    B's subsample nearest to the other (reference: ranks of scipy's cdist); a map of the same basin
    whose partners are near but not among the k nearest is therefore no rival."""
    from scipy.spatial.distance import cdist

    from topotree.align._params import ANSWER_REGION

    X = hierarchical_mixture(1200, dim=3, n_leaves=5, seed=4).X
    ctx = AgreementContext.for_clouds(X, X, seed=1)
    m = ctx.B.shape[0]
    order = np.argsort(cdist(ctx.B, ctx.B), axis=1)  # column 0: the point itself
    rng = np.random.default_rng(0)
    partners = rng.permutation(m)
    jth = rng.integers(0, 3 * int(np.ceil(ANSWER_REGION * m)), size=m)
    other = order[partners, jth]
    region = int(np.ceil(ANSWER_REGION * m))
    assert region > ctx.k
    expected = np.mean(jth <= region)
    assert ctx.same_answer(partners, other) == pytest.approx(expected)
    assert ctx.same_answer(partners, partners) == 1.0
    # every partner moved to its (k + 1)-th to region-th neighbour: a different answer by the k
    # nearest, the same one by the region
    near = order[partners, rng.integers(ctx.k + 1, region + 1, size=m)]
    assert np.mean(ctx.in_b[partners, near]) == 0.0 and ctx.same_answer(partners, near) == 1.0


def _oracle(A, Y):
    """Affine least squares of Y on A (the independent reference: numpy's lstsq)."""
    W = np.linalg.lstsq(np.c_[A, np.ones(len(A))], Y, rcond=None)[0]
    return W[:-1], W[-1]


@pytest.mark.heavy
def test_straightening_moves_an_affine_map_towards_the_least_squares_fit_of_the_true_relation():
    # B = f(A) for a smooth non-linear f, rows shuffled (no correspondence): the oracle is the affine
    # least-squares fit of f on the true pairs; a map of the right basin but off by a few percent
    # is carried closer to it by straightening
    straighten = importlib.import_module("topotree.align._bend").straighten
    m = hierarchical_mixture(1500, dim=3, n_leaves=6, seed=5)
    A = m.X / m.X.std()
    fA = A @ (1.3 * rot(3, 2)) + 0.4 * np.sin(1.2 * A[:, ::-1]) + 2.0
    B = fA[np.random.default_rng(0).permutation(len(A))]
    Mo, to = _oracle(A, fA)
    M0, t0 = Mo @ (np.eye(3) + 0.15 * rot(3, 7) - 0.15 * np.eye(3)), to + 0.3
    M, t, s = straighten(A, B, M0, t0, "affine")
    err = lambda M_, t_: np.sqrt(np.mean(np.sum((A @ M_ + t_ - A @ Mo - to) ** 2, axis=1)))  # noqa: E731
    assert err(M, t) < 0.5 * err(M0, t0)
    # a map that is already the best affine map of an affine relation stays where it is
    B2 = (A @ Mo + to)[np.random.default_rng(1).permutation(len(A))]
    M2, t2, _ = straighten(A, B2, Mo, to, "affine")
    assert err(M2, t2) < 0.02 * np.sqrt(np.mean(np.sum((B2 - B2.mean(0)) ** 2, axis=1)))


@pytest.mark.parametrize("d_a, d_b", [(3, 3), (4, 3), (3, 4)])
def test_preimages_are_the_posterior_mean_moved_least_onto_the_target(d_a, d_b):
    # the backward half of straightening: each warped point of B gets a preimage in A's coordinates.
    # References: the posterior mean by a direct softmax, lstsq for the least-squares solve
    preimages = importlib.import_module("topotree.align._bend")._preimages
    rng = np.random.default_rng(d_a * 10 + d_b)
    A = rng.normal(size=(60, d_a))
    M, t = rng.normal(size=(d_a, d_b)), rng.normal(size=d_b)
    TA = A @ M + t
    Y = TA[:7] + 0.3 * rng.normal(size=(7, d_b))
    sigma2 = 0.5
    p = preimages(A, TA, Y, sigma2, M, t)
    d2 = ((Y[:, None, :] - TA[None, :, :]) ** 2).sum(-1)
    w = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * sigma2))
    soft = (w / w.sum(1, keepdims=True)) @ A
    ls = np.array([np.linalg.lstsq(M.T, y - t, rcond=None)[0] for y in Y])
    if d_a <= d_b:  # M has full row rank: the least-squares preimage, whatever the posterior mean
        np.testing.assert_allclose(p, ls, atol=1e-9)
    else:  # several exact preimages: the one nearest to the posterior mean
        np.testing.assert_allclose(p @ M + t, Y, atol=1e-9)
        null = np.linalg.svd(M.T)[2][d_b:]  # rows v with v @ M = 0
        np.testing.assert_allclose((p - soft) @ null.T, 0.0, atol=1e-9)
        np.testing.assert_allclose(p @ null.T, soft @ null.T, atol=1e-9)


@pytest.mark.parametrize("d_a, d_b", [(4, 3), (3, 4)])
def test_straightening_between_latents_of_different_sizes_approaches_the_oracle(d_a, d_b):
    # B = f(A) for a smooth non-linear f into another dimension (an extra near-constant coordinate
    # on one side), rows shuffled: a map of the right basin, a few percent off, is carried closer
    # to the affine least-squares fit of f on the true pairs
    straighten = importlib.import_module("topotree.align._bend").straighten
    m = hierarchical_mixture(800, dim=3, n_leaves=5, seed=21)
    X = m.X / m.X.std()
    fX = X @ (1.3 * rot(3, 4)) + 0.4 * np.sin(1.2 * X[:, ::-1]) + 2.0
    rng = np.random.default_rng(3)
    A = np.c_[X, 0.05 * rng.normal(size=(len(X), 1))] if d_a == 4 else X
    fA = np.c_[fX, 0.05 * rng.normal(size=(len(X), 1))] if d_b == 4 else fX
    B = fA[rng.permutation(len(A))]
    Mo, to = _oracle(A, fA)
    M0 = Mo + 0.15 * np.abs(Mo).mean() * rng.normal(size=Mo.shape)
    t0 = to + 0.3
    M, t, _ = straighten(A, B, M0, t0, "affine")
    err = lambda M_, t_: np.sqrt(np.mean(np.sum((A @ M_ + t_ - A @ Mo - to) ** 2, axis=1)))  # noqa: E731
    assert M.shape == (d_a, d_b)
    assert err(M, t) < 0.5 * err(M0, t0)


def test_between_spaces_of_different_size_an_untrusted_map_is_also_sought_the_other_way(monkeypatch):
    # B = f(A) in one more dimension, rows shuffled. Trusted, the forward map is kept and nothing
    # else runs; made untrusted, the search also runs from B to A and keeps that direction when it
    # is trusted more, its map turned into one from A to B by least squares on the pairs (T(b), b)
    # (reference: numpy's lstsq), near the oracle, the forward trust kept in the record
    search_mod = importlib.import_module("topotree.align._search")
    m = hierarchical_mixture(800, dim=3, n_leaves=5, seed=21)
    X = m.X / m.X.std()
    rng = np.random.default_rng(3)
    fX = np.c_[X @ (1.3 * rot(3, 4)) + 0.3 * np.sin(1.2 * X[:, ::-1]) + 2.0, 0.05 * rng.normal(size=(len(X), 1))]
    A, B = X, fX[rng.permutation(len(X))]
    once, calls = search_mod._search_once, []

    def recorded(A_, B_, ta, tb, opts, force=None):
        al = once(A_, B_, ta, tb, opts)
        calls.append((A_.shape[1], B_.shape[1], al))
        return al if force is None or len(calls) > 1 else replace(al, trust=force)

    monkeypatch.setattr(search_mod, "_search_once", recorded)
    plain = tt.align(A, B, ridge=0.0)
    assert [c[:2] for c in calls] == [(3, 4)] and plain.trust >= search_mod.REVERSE_BELOW
    assert plain.info["search"]["direction"] == "forward"
    calls.clear()
    monkeypatch.setattr(search_mod, "_search_once", lambda *a: recorded(*a, force=0.0))
    al = tt.align(A, B, ridge=0.0)
    assert [c[:2] for c in calls] == [(3, 4), (4, 3)]
    rev = calls[1][2]
    assert al.info["search"]["direction"] == "reverse" and al.trust == rev.trust > 0.0
    assert al.info["search"]["forward_trust"].score == calls[0][2].trust
    TB = B @ rev.matrix + rev.offset
    W = np.linalg.lstsq(np.c_[TB, np.ones(len(TB))], B, rcond=None)[0]
    np.testing.assert_allclose(al.matrix, W[:-1], atol=1e-8)
    np.testing.assert_allclose(al.offset, W[-1], atol=1e-8)
    Mo, to = _oracle(A, fX)
    spread = np.sqrt(np.mean(np.sum((fX - fX.mean(0)) ** 2, axis=1)))
    assert np.sqrt(np.mean(np.sum((al.transform(A) - A @ Mo - to) ** 2, axis=1))) < 0.1 * spread


@pytest.mark.heavy
def test_the_search_straightens_its_choice_towards_the_oracle_and_says_so(monkeypatch):
    # B = f(A) for a smooth non-linear f, rows shuffled: the straightened choice lies nearer the
    # affine least-squares fit of f on the true pairs than the same search without straightening.
    # Judged by agreement: these five leaves are separated clusters, where the distance consistency
    # would judge and already keep the trees' map, at 0.02 from that fit (straightened: 0.11)
    search_mod = importlib.import_module("topotree.align._search")
    monkeypatch.setattr(importlib.import_module("topotree.align._agreement"), "SEPARATED_COMPONENTS", 10**9)
    m = hierarchical_mixture(1000, dim=4, n_leaves=5, seed=14)
    A = m.X / m.X.std()
    fA = A @ (1.7 * rot(4, 15)) + 0.5 * np.tanh(2 * A[:, ::-1]) + 1.0
    B = fA[np.random.default_rng(0).permutation(len(A))]
    Mo, to = _oracle(A, fA)
    err = lambda al: np.sqrt(np.mean(np.sum((al.transform(A) - A @ Mo - to) ** 2, axis=1)))  # noqa: E731
    al = tt.align(A, B)
    assert al.info["search"]["straightened"] and al.trust > 0.4
    monkeypatch.setattr(search_mod, "_straightened", lambda *args: None)
    plain = tt.align(A, B)
    assert not plain.info["search"]["straightened"]
    assert err(al) < err(plain)


@pytest.mark.heavy
def test_escalation_only_adds_candidates_and_replaces_the_choice_only_by_more_than_a_near_tie(monkeypatch):
    # escalation forced on a pair the first round already solves: the first round's candidates
    # are kept as they were, geodesic starts are added, and the answer changes only if an added
    # candidate agrees better by more than a near-tie
    search_mod = importlib.import_module("topotree.align._search")
    params = importlib.import_module("topotree.align._params")
    m, M, t = _pair(7, n=500)
    B = m.sample(500, seed=8)[0] @ M + t
    monkeypatch.setattr(search_mod, "ESCALATION_ROUNDS", 0)
    first = tt.align(m.X, B).info["search"]
    monkeypatch.setattr(search_mod, "ESCALATION_ROUNDS", params.ESCALATION_ROUNDS)
    # every map counted as having a near rival (uniqueness below the gap): every round runs, even
    # though the score is high (the score's own threshold is tested by the no-structure warning)
    monkeypatch.setattr(search_mod, "ESCALATE_UNIQUENESS", 1.01)
    esc = tt.align(m.X, B)
    found = esc.info["search"]
    n = len(first["origins"])
    assert found["escalations"] == params.ESCALATION_ROUNDS
    assert found["origins"][:n] == first["origins"] and found["agreements"][:n] == first["agreements"]
    assert any(o.startswith("gw-geodesic") for o in found["origins"][n:])
    chosen = found["origins"].index(found["origin"])
    cal = esc.info["trust"]
    if chosen >= n:
        assert found["agreements"][chosen] > max(first["agreements"]) + params.AGREEMENT_TIE * (cal.ceiling - cal.null) - 1e-12
    else:
        assert found["origin"] == first["origin"]


@pytest.mark.heavy
@pytest.mark.parametrize("case", ["unjudged", "judged"])
def test_the_largest_seed_align_accepts_reaches_every_run_of_scikit_learn(case):
    # runs derive their seeds by offsets (seed + j): at the top of the accepted range they wrap
    # around instead of failing in scikit-learn (FastICA of the moment maps, k-means of the GW starts)
    if case == "unjudged":
        X = hierarchical_mixture(600, dim=2, n_leaves=4, seed=1).X
        with pytest.warns(AlignmentWarning, match="could not verify"):
            al = tt.align(X, X @ np.array([[0.0, 1.0], [-1.0, 0.0]]), seed=2**32 - 1)
        assert al.info["search"]["unjudged"]
    else:
        m = hierarchical_mixture(800, dim=4, n_leaves=5, seed=3)
        al = tt.align(m.X, m.sample(800, seed=4)[0], seed=2**32 - 1)
        assert al.trust > 0.4 and any(o.startswith("gw-hops") for o in al.info["search"]["origins"])
