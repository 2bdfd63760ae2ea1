"""The global search of ``align`` (``search="auto"``): candidate maps from the matched trees and from
Gromov-Wasserstein starts on k-means clusters (Euclidean and kNN-graph hop distances), each refined
by neighbourhood agreement, the best distinct ones bent through a smooth warp (``_bend``), the most
agreeing one kept, with its calibrated trust. While that trust is below the warning level, the
search escalates: more starts from further quantisations (geodesic distances), refined and bent the
same way (the true map's basin may be reached from one quantisation in several).

Trees alone fail on the latents of ordinary non-linear networks when their leaves do not follow
the classes (few, impure leaves: a wrong leaf map and anchors fitted to the wrong thing); GW on
centroids alone fails where the two spaces' distances are too distorted. Each supplies starts the
other misses; the agreement of the OT matching (see ``_agreement``) judges them all on the same
points and needs no correspondence. Where the clouds are separated clusters, whose arrangement
agreement cannot see, the distance consistency of the OT matching judges instead (``_Criterion``).
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .._nearest import chamfer
from .._procrustes import fit_map
from .._validation import user_stacklevel
from ._agreement import AgreementContext, calibrate, calibrate_consistency, refine_by_agreement, trust
from ._bend import bend, straighten
from ._bulk import bulk_rows, heavy_tailed
from ._gw_starts import centroid_gw_maps
from ._density_choice import choose
from ._diagnostics import energy
from ._moment_maps import MomentMap, ica_maps, moment_map
from ._params import (
    AGREEMENT_MIN_SPAN,
    AGREEMENT_TIE,
    BEND_CANDIDATES,
    BULK_BELOW,
    DIFFERENT_MAP,
    ENERGY_DISTANCE_POINTS,
    ESCALATE_BELOW,
    ESCALATE_UNIQUENESS,
    ESCALATION_PLANS,
    ESCALATION_ROUNDS,
    ESCALATION_SEED_STRIDE,
    FALLBACK_K,
    GW_PLANS,
    MANY_DIMS,
    MIN_TREE_POINTS,
    REVERSE_BELOW,
    RIVAL_SE_GATE,
    SAME_ANSWER,
    TRUST_WARN,
)
from ._pipeline import align_on_trees
from ._result import Alignment, AlignmentWarning

__all__ = ["search"]


class _Row(NamedTuple):
    """A candidate map and its neighbourhood agreement; ``origin``: where it came from; ``tree``:
    the position of the tree alignment it descends from (None: a Gromov-Wasserstein start)."""

    agreement: float
    origin: str
    M: np.ndarray
    t: np.ndarray
    s: float
    tree: int | None = None


def search(A, B, tree_a, tree_b, opts):
    """Every candidate refined, the best distinct ones bent; the one of highest agreement as an
    Alignment (see module doc). Between spaces of different dimension, a map trusted less than
    REVERSE_BELOW is also sought the other way, from B to A, and the more trusted direction kept
    (``_reversed``); a map trusted less than BULK_BELOW between clouds of which one is heavy-tailed
    is also sought on the clouds' bulks, without their far points (``_on_bulk``); below TRUST_WARN
    an AlignmentWarning."""
    al = _both_directions(A, B, tree_a, tree_b, opts)
    if al.trust < BULK_BELOW and tree_a is None and tree_b is None:  # NaN (unverifiable) is not below
        al = _on_bulk(A, B, opts, al)
    _warn(al)
    return al


def _both_directions(A, B, tree_a, tree_b, opts):
    """The search from A to B and, between spaces of different dimension when its trust is below
    REVERSE_BELOW, from B to A: the more trusted map."""
    al = _search_once(A, B, tree_a, tree_b, opts)
    if A.shape[1] != B.shape[1] and al.trust < REVERSE_BELOW:
        rev = _reversed(A, B, tree_a, tree_b, opts, al)
        al = rev if rev is not None else al
    return al


def _on_bulk(A, B, opts, whole):
    """The search on the bulks of A and B (``_bulk.bulk_rows``: without the points beyond Tukey's
    fence of the distances to each cloud's median), kept when it is more trusted than the map found
    on the whole clouds (``whole``); its ``score`` and ``mutual_nn`` are recomputed on the
    whole clouds, ``info["search"]["bulk"]`` holds the rows searched (its trees index them) and the
    whole clouds' trust. None of this runs unless one of the clouds is heavy-tailed
    (``_bulk.heavy_tailed``): there the latents of rare inputs, far from the rest, steer the
    matchings, clusterings and fits of the whole search; elsewhere a second search on nearly the
    same points would be a second draw, not a remedy (see BULK_FENCE)."""
    if not (heavy_tailed(A) or heavy_tailed(B)):
        return whole
    rows_a, rows_b = bulk_rows(A), bulk_rows(B)
    if min(rows_a.size, rows_b.size) < max(MIN_TREE_POINTS, (opts.k or FALLBACK_K) + 1):
        return whole
    al = _both_directions(A[rows_a], B[rows_b], None, None, opts)
    if not al.trust > whole.trust:  # NaN (the bulks unverifiable) never wins
        return whole
    sc, mnn = chamfer(A @ al.matrix + al.offset, B, seed=opts.seed, return_mutual=True)
    search_info = dict(al.info["search"], bulk=dict(rows_a=rows_a, rows_b=rows_b, whole_trust=whole.trust))
    return replace(al, score=sc, mutual_nn=mnn, info={**al.info, "search": search_info})


def _warn(al):
    """The AlignmentWarning the kept map calls for (issued once, for the map returned, whichever
    searches ran): unverifiable clouds (``_unjudged``), or a trust below TRUST_WARN."""
    search_info, tr = al.info.get("search", {}), al.info.get("trust")
    if search_info.get("unjudged"):
        cal = al.info["calibration"]
        warnings.warn(f"align could not verify the map: B's neighbourhoods are not reproducible (agreement of B "
                      f"against a half of itself {cal.ceiling:.3f}, of moment-only maps {cal.null:.3f}), so "
                      "neighbourhood agreement cannot judge; of the tree pipeline's map and the maps from the "
                      f"moments, the one whose image is closest in law to B is returned ({search_info['origin']})",
                      AlignmentWarning, stacklevel=user_stacklevel())
    elif tr is not None and tr.score < TRUST_WARN:
        warnings.warn(f"align found no reliable correspondence (trust {tr.score:.2f}: structure {tr.structure:.2f}, "
                      f"uniqueness {tr.uniqueness:.2f}; {_CRITERIA[tr.criterion]} {tr.agreement:.3f} against "
                      f"{tr.null:.3f} for a moment-only map and {tr.ceiling:.3f} for B against itself): the clouds "
                      "may share no structure, or several different maps fit about as well", AlignmentWarning,
                      stacklevel=user_stacklevel())


def _reversed(A, B, tree_a, tree_b, opts, forward):
    """The search from B to A, its map turned into one from A to B (the affine map of the family
    nearest, in least squares, to the pairs (T_BA(b), b) over B's points), as an Alignment of the
    reverse search's trust; None unless that trust beats the forward map's. Between spaces of
    different dimension the two directions are different problems (an embedding into more
    dimensions, a projection onto fewer): on held-out digits pairs of 4-32 dims one direction often
    found the true map's basin where the other did not (see REVERSE_BELOW)."""
    rev = _search_once(B, A, tree_b, tree_a, opts)
    if not rev.trust > forward.trust:  # NaN (unjudged) never wins
        return None
    TB = B @ rev.matrix + rev.offset
    w = np.full(B.shape[0], 1.0 / B.shape[0])
    M, t, s = fit_map(TB, B, w, opts.transform, opts.allow_reflection, opts.ridge)
    if not (np.isfinite(M).all() and np.isfinite(t).all()):
        return None
    sc, mnn = chamfer(A @ M + t, B, seed=opts.seed, return_mutual=True)
    info = {key: rev.info[other] for key, other in (("tree_a", "tree_b"), ("tree_b", "tree_a"),
                                                     ("density_a", "density_b"), ("density_b", "density_a"))
            if other in rev.info}
    info.update(density=rev.info.get("density"), trust=rev.info["trust"],
                search=dict(rev.info["search"], direction="reverse", forward=forward.info["search"],
                            forward_trust=forward.info["trust"]))
    return Alignment(kind=opts.transform, matrix=M, offset=t, scale=float(s), score=sc, mutual_nn=mnn,
                     trust=rev.trust, info=info)


def _search_once(A, B, tree_a, tree_b, opts):
    """One search from A to B (see ``search``), without the warning: a reverse search that cannot
    judge must not warn about a forward map it does not replace."""
    tree_als = _tree_alignments(A, B, tree_a, tree_b, opts)
    ctx = AgreementContext.for_clouds(A, B, seed=opts.seed)
    cal = calibrate(ctx, opts.transform, opts.allow_reflection, opts.ridge, seed=opts.seed)
    if cal.span < AGREEMENT_MIN_SPAN:
        return _unjudged(A, B, tree_als, cal, opts)
    fitted = [_Row(ctx.agreement(al.matrix, al.offset), "trees-" + str(al.info.get("density_a")), al.matrix,
                   al.offset, al.scale, i) for i, al in enumerate(tree_als)]
    caches = ({}, {})  # the clouds' graph distances, shared by every round of starts
    starts = [(r.M, r.t, r.origin, r.tree) for r in fitted] + _gw_starts(A, B, opts, GW_PLANS, opts.seed, caches)
    # the trees' own maps first (as fitted: anchors, ICP), then every candidate refined, then the
    # best distinct ones bent
    rows = fitted + _refined(ctx, starts, opts)
    rows += _bent(ctx, rows, opts)
    crit = _Criterion(ctx, cal)
    best, tr = _judge(ctx, crit, rows)
    # escalation: while the best map is not trusted, or a substantially different map fits nearly as
    # well, more starts from further quantisations (the true map's basin may be reached from one
    # quantisation in several); a later candidate wins only by more than a near-tie, so a trusted
    # answer is never replaced by an equal one
    escalations = 0
    while ((tr.score < ESCALATE_BELOW or tr.uniqueness < ESCALATE_UNIQUENESS)
           and escalations < ESCALATION_ROUNDS):
        escalations += 1
        seed = opts.seed + ESCALATION_SEED_STRIDE * escalations
        new = _refined(ctx, _gw_starts(A, B, opts, ESCALATION_PLANS, seed, caches), opts)
        rows += new + _bent(ctx, new, opts)
        best, tr = _judge(ctx, crit, rows)
    row = rows[best]
    straight = _straightened(A, B, ctx, row, opts)
    info = dict(search=dict(origin=row.origin, direction="forward", agreements=tuple(r.agreement for r in rows),
                            origins=tuple(r.origin for r in rows), straightened=straight is not None,
                            escalations=escalations, criterion=crit.name), trust=tr)
    if crit.name == "consistency":
        info["search"]["consistencies"] = tuple(crit.values(rows))
    row = straight or row
    if best < len(tree_als) and straight is None:  # a tree map itself
        al = tree_als[best]
        info.setdefault("density", al.info.get("density", al.info.get("density_a")))
        al = replace(al, trust=tr.score, info={**al.info, **info})
    else:
        base = tree_als[row.tree] if row.tree is not None else None
        sc, mnn = chamfer(A @ row.M + row.t, B, seed=opts.seed, return_mutual=True)
        keep = {key: base.info[key] for key in ("tree_a", "tree_b", "density_a", "density_b", "density")
                if base is not None and key in base.info}
        keep.setdefault("density", row.origin)
        al = Alignment(kind=opts.transform, matrix=row.M, offset=row.t, scale=float(row.s),
                       matching=base.matching if base is not None else None,
                       score=sc, mutual_nn=mnn, trust=tr.score, info={**keep, **info})
    return al


def _gw_starts(A, B, opts, plans, seed, caches=None):
    """Refinement starts (M, t, origin, None) from Gromov-Wasserstein between k-means clusters
    (``caches``: see ``centroid_gw_maps``)."""
    return [(g.M, g.t, "gw-" + g.metric, None)
            for g in centroid_gw_maps(A, B, opts.transform, opts.allow_reflection, opts.ridge, seed=seed, plans=plans,
                                      caches=caches)]


def _refined(ctx, starts, opts):
    """Every start refined by agreement, as rows (origin + "+refined")."""
    return [_Row(ag, origin + "+refined", M2, t2, s2, tree) for M, t, origin, tree in starts
            for M2, t2, s2, ag in [refine_by_agreement(ctx, M, t, opts.transform, opts.allow_reflection, opts.ridge)]]


def _bent(ctx, rows, opts):
    """The BEND_CANDIDATES best distinct rows, bent (origin + "+bent")."""
    return [_Row(ag, r.origin + "+bent", M2, t2, s2, r.tree) for r in _distinct_best(ctx, rows, BEND_CANDIDATES)
            for M2, t2, s2, ag in [bend(ctx, r.M, r.t, r.agreement, opts.transform, opts.allow_reflection,
                                        opts.ridge, seed=opts.seed)]]


_CRITERIA = {"agreement": "neighbourhood agreement", "consistency": "distance consistency (separated clusters)"}


class _Criterion:
    """What the candidates are judged by: neighbourhood agreement (each row's own), or, when the
    clusters are separated (``ctx.separated``), distance consistency, computed once per row (rows
    are only ever appended); ``calibration`` is the matching scale."""

    def __init__(self, ctx, cal):
        self.ctx, self.name = ctx, "consistency" if ctx.separated else "agreement"
        self.calibration = calibrate_consistency(ctx, cal) if ctx.separated else cal
        self._values = []

    def values(self, rows):
        if self.name == "agreement":
            return [r.agreement for r in rows]
        self._values += [self.ctx.consistency(r.M, r.t) for r in rows[len(self._values):]]
        return list(self._values)


def _judge(ctx, crit, rows):
    """(position of the chosen row, its Trust): the highest value of the criterion, near-ties
    (within AGREEMENT_TIE of the calibrated span) to the earliest row (the trees' maps come first,
    and they fit the clusters' own anchors and shapes)."""
    values, cal = crit.values(rows), crit.calibration
    top = max(values)
    best = next(i for i, v in enumerate(values) if v >= top - AGREEMENT_TIE * cal.span)
    return best, trust(cal, values[best], _rival(ctx, rows, best, values), crit.name)


def _unjudged(A, B, tree_als, cal, opts):
    """Agreement cannot judge these clouds (B against a half of itself agrees no better than a
    moment-only map: neighbourhoods are not reproducible, as in many-dimensional Gaussian blobs or
    latents that barely carry classes). The tree pipeline's choice competes with the maps from the
    moments alone (``_moment_maps``: principal axes, independent components): the one whose image
    is closest in law to B is kept (up to MANY_DIMS dims the energy distance, both clouds centred
    and scaled to unit RMS spread; above, ``pick_density``'s score of the leaf correspondence each
    map implies), with no trust (``search`` warns that it could not be verified)."""
    al = tree_als[0] if len(tree_als) == 1 else choose(A, B, tree_als, seed=opts.seed)
    moments = [MomentMap(*moment_map(A, B), "moments")] + ica_maps(A, B, seed=opts.seed)
    if opts.transform != "affine":  # the closest map of the family
        w = np.full(A.shape[0], 1.0 / A.shape[0])
        moments = [mm._replace(**dict(zip("Mt", fit_map(A, A @ mm.M + mm.t, w, opts.transform,
                                                           opts.allow_reflection, opts.ridge)[:2])))
                   for mm in moments]
    origins = ["trees-" + str(al.info.get("density_a"))] + [mm.origin for mm in moments]
    if min(A.shape[1], B.shape[1]) > MANY_DIMS:
        # many dims: as between densities (``pick_density``), the leaf correspondence each map
        # implies on the trees' clusterings, refitted; a divergence between mixtures is nearly
        # blind to equal-weight clusters swapped
        keys = ["trees"] + [f"{mm.origin}-{i}" for i, mm in enumerate(moments)]
        cands = [replace(al, info={**al.info, "density_a": keys[0]})] + [
            Alignment(kind=opts.transform, matrix=mm.M, offset=mm.t, scale=1.0, info={"density_a": key})
            for mm, key in zip(moments, keys[1:])]
        scores = choose(A, B, cands, seed=opts.seed).info["density_score"]
        gaps = [float(scores[key]) for key in keys]
    else:
        # few dims: the energy distance between T(A) and B, both centred and scaled to unit RMS
        # spread (a scale the family cannot fit, as for orthogonal maps, is not held against it)
        def standard(X):
            Xc = X - X.mean(0)
            return Xc / (np.sqrt(np.mean(np.sum(Xc**2, axis=1))) or 1.0)

        Bs = standard(B)
        gaps = [energy(standard(A @ M + t), Bs, ENERGY_DISTANCE_POINTS, opts.seed)
                for M, t in [(al.matrix, al.offset)] + [(mm.M, mm.t) for mm in moments]]
    best = int(np.argmin(gaps))
    search = dict(origin=origins[best], unjudged=True, origins=tuple(origins), law_gaps=tuple(map(float, gaps)))
    if best > 0:
        mm = moments[best - 1]
        sc, mnn = chamfer(A @ mm.M + mm.t, B, seed=opts.seed, return_mutual=True)
        al = Alignment(kind=opts.transform, matrix=mm.M, offset=mm.t,
                       scale=float(np.linalg.svd(mm.M, compute_uv=False).mean()), score=sc, mutual_nn=mnn,
                       info={"density": mm.origin})
    return replace(al, info={**al.info, "search": search, "calibration": cal})


def _straightened(A, B, ctx, row, opts):
    """The chosen map straightened (``_bend.straighten``: the affine map nearest to the pairs of the
    warps that carry its image onto B and B onto its image), as a row of its own agreement; None
    when straightening changes the answer (fewer than SAME_ANSWER of the subsample's points reach the
    same neighbourhood of B as under the chosen map) or leaves float64: it may refine the chosen map,
    never replace it."""
    found = straighten(A, B, row.M, row.t, opts.transform, opts.allow_reflection, opts.ridge, seed=opts.seed)
    if found is None:
        return None
    M, t, s = found
    c, other = ctx.pointwise(M, t)
    partners = ctx.pointwise(row.M, row.t)[1]
    if np.mean((other == partners) | ctx.in_b[partners, other]) < SAME_ANSWER:
        return None
    return row._replace(agreement=float(c.mean()), origin=row.origin + "+straightened", M=M, t=t, s=float(s))


def _different(ctx, r1, r2):
    """Whether two maps' images of A's subsample lie, in RMS, more than DIFFERENT_MAP of B's spread
    apart."""
    spread = np.sqrt(np.mean(np.sum((ctx.B - ctx.B.mean(0)) ** 2, axis=1))) or 1.0
    gap = np.sqrt(np.mean(np.sum((ctx.A @ (r1.M - r2.M) + (r1.t - r2.t)) ** 2, axis=1)))
    return bool(gap > DIFFERENT_MAP * spread)


def _rival(ctx, rows, best, values):
    """The agreement of the best candidate that gives a substantially different answer (None if
    there is none): its image of A's subsample lies more than DIFFERENT_MAP of B's spread from the
    winner's (``_different``) and fewer than SAME_ANSWER of the subsample's points reach the same
    region of B (``AgreementContext.same_answer``: optimal-transport partners equal or among the
    ANSWER_REGION share of B nearest to each other). A map of the same basin that differs only along
    directions that carry little, or sends points to nearby neighbours, is not a rival. A rival whose
    agreement is within RIVAL_SE_GATE standard errors of the winner's (paired over the same points)
    counts as a tie (its value is returned as the winner's): the winner of many candidates is
    otherwise ahead by its selection alone."""
    winner = rows[best]
    partners = None
    for i in sorted(range(len(rows)), key=lambda i: -values[i]):
        r = rows[i]
        if i == best or not _different(ctx, r, winner):
            continue
        if partners is None:
            own, partners = ctx.pointwise(winner.M, winner.t)
        theirs, other = ctx.pointwise(r.M, r.t)
        if ctx.same_answer(partners, other) < SAME_ANSWER:
            if not ctx.separated and values[best] - values[i] <= RIVAL_SE_GATE * _paired_se(own, theirs):
                return values[best]  # within the sampling error of the agreement: a tie
            return values[i]
    return None


def _paired_se(own, theirs):
    """Standard error of the difference of two maps' mean agreements over the same points."""
    d = own - theirs
    return float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0


def _distinct_best(ctx, rows, n):
    """The ``n`` most agreeing rows, each different from those before it."""
    out = []
    for r in sorted(rows, key=lambda r: -r.agreement):
        if len(out) == n:
            break
        if all(_different(ctx, r, o) for o in out):
            out.append(r)
    return out


def _tree_alignments(A, B, tree_a, tree_b, opts):
    """The tree pipeline's alignments: on kNN and on GMM trees (density "auto"), or the one asked
    for; a density whose trees cannot be built on these clouds is skipped."""
    if opts.density != "auto" or tree_a is not None or tree_b is not None:
        return [align_on_trees(A, B, tree_a, tree_b, opts)]
    out = [align_on_trees(A, B, None, None, replace(opts, density="knn"))]
    try:
        out.append(align_on_trees(A, B, None, None, replace(opts, density="gmm")))
    except (ValueError, np.linalg.LinAlgError):  # degenerate clouds (a mixture cannot be fitted)
        pass
    return out
