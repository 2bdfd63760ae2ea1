"""The global search of ``align`` (``search="auto"``): candidate maps from the matched trees and from
Gromov-Wasserstein starts on k-means centroids, each refined by neighbourhood agreement, the most
agreeing one kept, with its calibrated trust.

Trees alone fail on the latents of ordinary non-linear networks when their leaves do not follow
the classes (few, impure leaves: a wrong leaf map and anchors fitted to the wrong thing); GW on
centroids alone fails where the two spaces' distances are too distorted. Each supplies starts the
other misses; the agreement of the OT matching (see ``_agreement``) judges them all on the same
points and needs no correspondence.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .._nearest import chamfer
from .._validation import user_stacklevel
from ._agreement import AgreementContext, calibrate, refine_by_agreement, trust
from ._gw_starts import centroid_gw_maps
from ._density_choice import choose
from ._params import AGREEMENT_MIN_SPAN, AGREEMENT_TIE, DIFFERENT_MAP, TRUST_WARN
from ._pipeline import align_on_trees
from ._result import Alignment, AlignmentWarning

__all__ = ["search"]


class _Row(NamedTuple):
    """A candidate map and its neighbourhood agreement; ``origin``: where it came from."""

    agreement: float
    origin: str
    M: np.ndarray
    t: np.ndarray
    s: float


def search(A, B, tree_a, tree_b, opts):
    """Every candidate refined; the one of highest agreement as an Alignment (see module doc)."""
    tree_als = _tree_alignments(A, B, tree_a, tree_b, opts)
    ctx = AgreementContext.for_clouds(A, B, seed=opts.seed)
    cal = calibrate(ctx, opts.transform, opts.allow_reflection, opts.ridge, seed=opts.seed)
    if cal.span < AGREEMENT_MIN_SPAN:
        return _unjudged(A, B, tree_als, cal, opts)
    fitted = [_Row(ctx.agreement(al.matrix, al.offset), "trees-" + str(al.info.get("density_a")), al.matrix,
                   al.offset, al.scale) for al in tree_als]
    starts = [(r.M, r.t, r.origin) for r in fitted]
    starts += [(M, t, "gw") for M, t, _ in centroid_gw_maps(A, B, opts.transform, opts.allow_reflection,
                                                           opts.ridge, seed=opts.seed)]
    # the trees' own maps first (as fitted: anchors, ICP), then every candidate refined
    rows = fitted + [_Row(ag, origin + "+refined", M2, t2, s2) for M, t, origin in starts
                     for M2, t2, s2, ag in [refine_by_agreement(ctx, M, t, opts.transform, opts.allow_reflection,
                                                                opts.ridge)]]
    # near-ties (within AGREEMENT_TIE of the calibrated span) go to the earliest candidate: the
    # trees' maps come first, and they fit the clusters' own anchors and shapes
    top = max(r.agreement for r in rows)
    best = next(i for i, r in enumerate(rows) if r.agreement >= top - AGREEMENT_TIE * cal.span)
    agreement, origin, M, t, s = rows[best]
    tr = trust(cal, agreement, _rival(ctx, rows, best))
    info = dict(search=dict(origin=origin, agreements=tuple(r.agreement for r in rows),
                            origins=tuple(r.origin for r in rows)), trust=tr)
    if best < len(tree_als):  # a tree map itself
        al = tree_als[best]
        info.setdefault("density", al.info.get("density", al.info.get("density_a")))
        al = replace(al, trust=tr.score, info={**al.info, **info})
    else:
        tree_of = best - len(tree_als) if best - len(tree_als) < len(tree_als) else None  # refined tree map
        base = tree_als[tree_of].info if tree_of is not None else {}
        sc, mnn = chamfer(A @ M + t, B, seed=opts.seed, return_mutual=True)
        keep = {key: base[key] for key in ("tree_a", "tree_b", "density_a", "density_b", "density") if key in base}
        keep.setdefault("density", origin)
        al = Alignment(kind=opts.transform, matrix=M, offset=t, scale=float(s),
                       matching=tree_als[tree_of].matching if tree_of is not None else None,
                       score=sc, mutual_nn=mnn, trust=tr.score, info={**keep, **info})
    if tr.score < TRUST_WARN:
        warnings.warn(f"align found no reliable correspondence (trust {tr.score:.2f}: structure {tr.structure:.2f}, "
                      f"uniqueness {tr.uniqueness:.2f}; neighbourhood agreement {tr.agreement:.3f} against "
                      f"{tr.null:.3f} for a moment-only map and {tr.ceiling:.3f} for B against itself): the clouds "
                      "may share no structure, or several different maps fit about as well", AlignmentWarning,
                      stacklevel=user_stacklevel())
    return al


def _unjudged(A, B, tree_als, cal, opts):
    """Agreement cannot judge these clouds (B against a half of itself agrees no better than a
    moment-only map: neighbourhoods are not reproducible, as in many-dimensional Gaussian blobs):
    the tree pipeline's own choice, with no trust and a warning that it could not be verified."""
    al = tree_als[0] if len(tree_als) == 1 else choose(A, B, tree_als, seed=opts.seed)
    warnings.warn(f"align could not verify the map: B's neighbourhoods are not reproducible (agreement of B "
                  f"against a half of itself {cal.ceiling:.3f}, of moment-only maps {cal.null:.3f}), so "
                  "neighbourhood agreement cannot judge; the tree pipeline's map is returned", AlignmentWarning,
                  stacklevel=user_stacklevel())
    return replace(al, info={**al.info, "search": dict(origin="trees-" + str(al.info.get("density_a")),
                                                        unjudged=True), "calibration": cal})


def _rival(ctx, rows, best):
    """The agreement of the best candidate whose image of A's subsample lies, in RMS, more than
    DIFFERENT_MAP of B's spread away from the winner's (None if there is none)."""
    T0 = ctx.A @ rows[best].M + rows[best].t
    spread = np.sqrt(np.mean(np.sum((ctx.B - ctx.B.mean(0)) ** 2, axis=1))) or 1.0
    rivals = [r.agreement for i, r in enumerate(rows) if i != best
              and np.sqrt(np.mean(np.sum((ctx.A @ r.M + r.t - T0) ** 2, axis=1))) > DIFFERENT_MAP * spread]
    return max(rivals) if rivals else None


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
