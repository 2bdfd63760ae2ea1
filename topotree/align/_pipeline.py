"""The tree pipeline of ``align``: the map from matched cluster trees, as named phases.

(density "auto": both densities, then :func:`pick_density`) -> subsample -> trees -> problem (leaf
features, candidate leaf maps, selection scores) -> shape search (many dims) -> screen -> refine
the finals -> moment correction -> result.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._icp import restricted_icp
from .._nearest import chamfer
from .._procrustes import fit_map
from ..compare._matching import match_checked
from ._anchors import anchors, node_pairs
from ._density_choice import choose
from ._families import moment_corrected
from ._leafmaps import candidate_leaf_maps, leaf_features, maps_from_matching, rematch
from ._params import (
    ANCHOR_QUANTILES,
    GAUSS_FINAL_ITER,
    KEEP_SCREENED,
    LEAF_WEIGHT,
    MANY_DIMS,
    NEAR_TIE,
    NODE_WEIGHT,
    REMATCH_ROUNDS,
    SCREEN_POINTS,
    SELECTION_POINTS,
    SIGNATURE_MAPS,
)
from ._result import Alignment, Candidate, LeafMatching, Options
from ._selection import SelectionScore
from ._shapes import GaussianFit, directional_variances, gaussian_search, signature_maps
from ._trees import build, growth_curves, subtree_leaves, twins

__all__ = ["align_on_trees"]


@dataclass(frozen=True)
class _Problem:
    """What every phase after the trees works on: the (subsampled) clouds, their trees, the leaf
    features, the log-densities, the two selection scores (full and screening size) and the scores
    of every candidate tried so far (``tried``, appended to by :func:`_refine`)."""

    A: np.ndarray
    B: np.ndarray
    tree_a: object
    tree_b: object
    fa: tuple
    fb: tuple
    f_a: np.ndarray
    f_b: np.ndarray
    score_fn: SelectionScore
    screen_fn: SelectionScore
    tried: list
    opts: Options

    @property
    def many_dims(self) -> bool:
        return min(self.A.shape[1], self.B.shape[1]) > MANY_DIMS


def align_on_trees(A, B, tree_a, tree_b, opts):
    """The tree pipeline on checked arguments (``opts``: :class:`~._result.Options`)."""
    if opts.density == "auto" and tree_a is None and tree_b is None:
        return _both_densities(A, B, opts)
    return _align_checked(A, B, tree_a, tree_b, opts)


def _both_densities(A, B, opts):
    """density="auto": align on kNN trees and on GMM trees, keep the closer fit (:func:`pick_density`);
    neither density wins everywhere."""
    runs = [_align_checked(A, B, None, None, replace(opts, density="knn"))]
    try:
        runs.append(_align_checked(A, B, None, None, replace(opts, density="gmm")))
    except (ValueError, np.linalg.LinAlgError):  # degenerate clouds (a mixture cannot be fitted): keep the kNN fit
        pass
    return choose(A, B, runs, seed=opts.seed)


def _align_checked(A, B, tree_a, tree_b, opts):
    """One density: the phases in order."""
    rng = np.random.default_rng(opts.seed)
    # subsample big clouds (trees are given for the full clouds: keep them whole then)
    if tree_a is None and A.shape[0] > opts.max_points:
        A = A[np.sort(rng.choice(A.shape[0], opts.max_points, replace=False))]
    if tree_b is None and B.shape[0] > opts.max_points:
        B = B[np.sort(rng.choice(B.shape[0], opts.max_points, replace=False))]
    dens = opts.density if opts.density != "auto" else "knn"
    if tree_a is None:
        tree_a = build(A, dens, opts.k, opts.seed)
    if tree_b is None:
        tree_b = build(B, dens, opts.k, opts.seed)
    prob, maps, costs, tm = _candidates(A, B, tree_a, tree_b, opts)
    gfit = None
    if prob.many_dims and A.shape[1] >= B.shape[1] and maps:
        gfit, maps = _shape_search(prob, maps)
    cands, first = _screen(prob, maps, gfit)
    finals = _finals(prob, cands, first, gfit)
    best = _moment_correction(prob, min(finals, key=lambda f: f.score))
    return _result(prob, best, tm, costs, dens)


def _candidates(A, B, tree_a, tree_b, opts):
    """Leaf features and the candidate leaf maps, best first: from :func:`topotree.match_trees`
    (its map and the exchanges within its ambiguous groups) and/or the built-in matcher; then
    the problem every later phase works on."""
    swap = len(tree_a.leaves) > len(tree_b.leaves)
    fa = leaf_features(tree_a, A)
    fb = leaf_features(tree_b, B)
    tm = None
    maps = []
    if opts.use_matching in ("auto", "trees"):
        tm = match_checked(tree_a, tree_b, A, B)
        maps = maps_from_matching(tm, tree_a, tree_b)
    if opts.use_matching == "trees":
        costs = [tm.cost] * len(maps)
    elif swap:  # the built-in matcher wants the side with fewer leaves first
        maps_ba, costs = candidate_leaf_maps(fb, fa, growth_curves(tree_b), growth_curves(tree_a),
                                             opts.n_candidates, opts.seed)
        for mba in maps_ba:
            mab = np.full(len(tree_a.leaves), -1)
            for ib, ia in enumerate(mba):
                if ia >= 0:
                    mab[ia] = ib
            maps.append(mab)
    else:
        maps_f, costs = candidate_leaf_maps(fa, fb, growth_curves(tree_a), growth_curves(tree_b),
                                            opts.n_candidates, opts.seed)
        maps = maps + maps_f
    prob = _Problem(A, B, tree_a, tree_b, fa, fb, np.asarray(tree_a.log_density), np.asarray(tree_b.log_density),
                    SelectionScore(A, B, fa.labels, fb.labels, SELECTION_POINTS, opts.seed),
                    SelectionScore(A, B, fa.labels, fb.labels, SCREEN_POINTS, opts.seed), [], opts)
    return prob, maps, costs, tm


def _shape_search(prob, maps):
    """Many dims: choose the leaf map by how well one affine map carries every matched leaf's
    Gaussian onto its partner's (swap-sensitive where centroid geometry is not), starting from the
    directional-variance maps and the candidates, improved by a local search; only the best stays."""
    A, B, tree_a, tree_b = prob.A, prob.B, prob.tree_a, prob.tree_b
    lab_a, lab_b = prob.fa.labels, prob.fb.labels
    gfit = GaussianFit(A, B, lab_a, lab_b, len(tree_a.leaves), len(tree_b.leaves))
    sig = signature_maps(directional_variances(A, lab_a, len(tree_a.leaves)),
                         directional_variances(B, lab_b, len(tree_b.leaves)), seed=prob.opts.seed)
    maps = sig[:SIGNATURE_MAPS] + list(maps)
    groups = [[g for g in dict.fromkeys(subtree_leaves(tr)) if 2 <= len(g) < len(tr.leaves)]
              for tr in (tree_a, tree_b)]
    maps = gaussian_search(gfit, maps, len(tree_b.leaves), *groups)
    return gfit, maps[:1]


def _evaluate(prob, leaf_map, score_fn):
    """A candidate from a leaf map: its node pairs, anchors and the fitted map (similarity for
    the affine family: the affine refit comes in :func:`_refine`)."""
    tree_a, tree_b, opts = prob.tree_a, prob.tree_b, prob.opts
    pairs, sub_a, sub_b = node_pairs(tree_a, tree_b, leaf_map)
    Pa = anchors(prob.A, prob.f_a, prob.fa.labels, [sub_a[a] for a, _ in pairs])
    Pb = anchors(prob.B, prob.f_b, prob.fb.labels, [sub_b[b] for _, b in pairs])
    # leaves weigh more than the coarse nodes above them
    w = np.repeat([LEAF_WEIGHT if tree_a.is_leaf[a] else NODE_WEIGHT for a, _ in pairs], len(ANCHOR_QUANTILES))
    w = w / w.sum()
    kind0 = "similarity" if opts.transform == "affine" else opts.transform
    M, t, s = fit_map(Pa, Pb, w, kind0, opts.allow_reflection)
    return Candidate(score_fn(M, t, leaf_map), leaf_map, pairs, Pa, Pb, w, M, t, s)


def _rescore(c, score_fn):
    return c._replace(score=score_fn(c.M, c.t, c.leaf_map))


def _screen(prob, maps, gfit):
    """Screen every candidate on small subsamples, re-score the best few on larger ones; the
    candidate to refine first. The score decides, but near-ties (within NEAR_TIE, e.g. symmetric
    configurations where it is blind) go to the map the matching ranked first."""
    cands = [_evaluate(prob, leaf_map, prob.screen_fn) for leaf_map in maps]
    if gfit is not None:
        cands = [_rescore(c, prob.score_fn) for c in cands]
        prob.tried[:] = [c.score for c in cands]
        return cands, cands[0]
    if len(cands) > KEEP_SCREENED:
        keep = np.argsort([c.score for c in cands], kind="stable")[:KEEP_SCREENED]
        cands = [cands[i] for i in sorted(keep)]  # keep the matching's ranking order
    cands = [_rescore(c, prob.score_fn) for c in cands]
    prob.tried[:] = [c.score for c in cands]
    floor = min(prob.tried)
    return cands, next(c for c in cands if c.score <= NEAR_TIE * floor)


def _refine(prob, best):
    """Geometric re-matching (map A's leaf centroids with the fit, re-pair by Hungarian, refit)
    while it improves; the affine refit; ICP restricted to matched clusters."""
    opts, score_fn = prob.opts, prob.score_fn
    for _ in range(REMATCH_ROUNDS):
        new_map = rematch(prob.fa.centroids @ best.M + best.t, prob.fb.centroids, best.leaf_map)
        if np.array_equal(new_map, best.leaf_map):
            break
        cand = _evaluate(prob, new_map, score_fn)
        prob.tried.append(cand.score)
        if cand.score < best.score:
            best = cand
        else:
            break
    leaf_map, M, t, s, sc = best.leaf_map, best.M, best.t, best.s, best.score
    if opts.transform == "affine":
        M2, t2, s2 = fit_map(best.Pa, best.Pb, best.w, "affine", opts.allow_reflection, opts.ridge)
        sc2 = score_fn(M2, t2, leaf_map)
        if sc2 < sc:
            M, t, s, sc = M2, t2, s2, sc2
    accepted = 0
    if opts.icp_rounds:
        M, t, s, sc, accepted = restricted_icp(prob.A, prob.B, prob.fa.labels, prob.fb.labels, leaf_map,
                                               opts.transform, M, t, s, (best.Pa, best.Pb, best.w),
                                               opts.icp_rounds, opts.ridge, opts.allow_reflection,
                                               np.random.default_rng(opts.seed),
                                               score_fn=lambda M_, t_: score_fn(M_, t_, leaf_map))
    return best._replace(score=sc, M=M, t=t, s=s, accepted=accepted)


def _final_score(prob):
    """The selection score for the final comparison: lenient at over-split clusters (a point
    landing in the twin of its target leaf counts as consistent, so the arbitrary boundary between
    the halves of one split cluster does not decide between maps)."""
    return SelectionScore(prob.A, prob.B, prob.fa.labels, prob.fb.labels, SELECTION_POINTS, prob.opts.seed,
                          twin_b=twins(prob.tree_b))


def _finals(prob, cands, first, gfit):
    """The refined candidates to choose from. After the shape search: the first candidate refined,
    and the Gaussian fit of its leaf map (the family's closest member). Many dims with d_a < d_b: a
    wrong leaf map (e.g. swapped sibling clusters of equal weight) can fit the anchors as well as
    the right one; only after ICP has fitted the clusters' shapes does the leaf likelihood tell
    them apart, so the ``n_refine`` best are refined and compared then."""
    opts = prob.opts
    finals = [_refine(prob, first)]
    if gfit is not None:
        f0 = finals[0]
        Mg, tg, _ = gfit.fit(f0.leaf_map, GAUSS_FINAL_ITER)
        if Mg is not None:
            sg = float(np.linalg.svd(Mg, compute_uv=False).mean())
            if opts.transform != "affine":
                U, _, Vt = np.linalg.svd(Mg, full_matrices=False)
                sg = 1.0 if opts.transform == "orthogonal" else sg
                Mg = sg * (U @ Vt)
                tg = f0.w @ f0.Pb - (f0.w @ f0.Pa) @ Mg
            final_fn = _final_score(prob)
            finals = [_rescore(f, final_fn) for f in finals]
            finals.append(Candidate(final_fn(Mg, tg, f0.leaf_map), f0.leaf_map, f0.pairs, f0.Pa, f0.Pb, f0.w,
                                    Mg, tg, sg, 0))
    elif prob.many_dims and opts.n_refine > 1:
        order = np.argsort([c.score for c in cands], kind="stable")
        for i in order:
            if len(finals) >= opts.n_refine:
                break
            if cands[i] is first:
                continue
            finals.append(_refine(prob, cands[i]))
        final_fn = _final_score(prob)
        finals = [_rescore(f, final_fn) for f in finals]
    return finals


def _moment_correction(prob, best):
    """Affine, equal dims: the map with T(A)'s mean and covariance equal to B's that is closest
    to the fit on the anchors, if it scores better (a warp biases the cluster anchors; the
    overall moments are not biased)."""
    if prob.opts.transform != "affine" or prob.A.shape[1] != prob.B.shape[1]:
        return best
    M2, t2 = moment_corrected(prob.A, prob.B, best.M, best.t, best.Pa, best.Pb, best.w)
    sc2 = prob.score_fn(M2, t2, best.leaf_map)
    if sc2 < best.score:
        best = best._replace(M=M2, t=t2, score=sc2, s=float(np.linalg.svd(M2, compute_uv=False).mean()))
    return best


def _result(prob, best, tm, costs, dens):
    """The Alignment: the map, its anchors and residuals, the Chamfer diagnostic and the info."""
    A, B, seed = prob.A, prob.B, prob.opts.seed
    M, t, leaf_map, pairs = best.M, best.t, best.leaf_map, best.pairs
    consistency = prob.score_fn.consistency(M, t, leaf_map)
    sc, mnn = chamfer(A @ M + t, B, seed=seed, return_mutual=True)
    res = np.linalg.norm(best.Pa @ M + t - best.Pb, axis=1)
    matching = tm if tm is not None else LeafMatching(pairs=tuple((int(a), int(b)) for a, b in pairs),
                                                      leaf_map=leaf_map, cost=float(costs[0]),
                                                      candidates_scores=tuple(prob.tried))
    info = dict(leaf_map=leaf_map, node_pairs=pairs, candidate_scores=tuple(prob.tried), tree_a=prob.tree_a,
                tree_b=prob.tree_b, density_a=dens, density_b=dens, icp_accepted=best.accepted,
                leaf_consistency=consistency, n_candidates=len(prob.tried))
    return Alignment(kind=prob.opts.transform, matrix=M, offset=t, scale=float(best.s), matching=matching,
                     anchors=(best.Pa, best.Pb, best.w), residuals=res, score=sc, mutual_nn=mnn, info=info)
