"""Bending: refinement of an affine candidate through a smooth non-linear warp.

The latents of two trained networks are related by a non-linear map, so the best affine map still
puts some clusters beside their partners; the optimal-transport matching then pairs those
clusters with their neighbours, and self-learning from that matching (``refine_by_agreement``)
stays where it is. Bending lets a smooth displacement field (non-rigid Coherent Point Drift, see
``_warp``) carry the mapped subsample onto B first, matches the bent points by optimal transport,
refits the affine map to that matching (each pair weighted by its neighbourhood agreement) and
refines it as usual; it repeats while the affine map's agreement rises. The result is an affine
map, judged by the same agreement as every other candidate: the warp only proposes the matching.

Straightening (``straighten``) finishes the chosen map: the warp that carries T(A) onto B is an
estimate of the true, non-linear relation f, and the affine map nearest to it in least squares
over A is an estimate of the best affine map (the oracle: least squares on the true pairs, the
projection of f onto the affine maps). It uses every point of A through a smooth field, where the
refinement uses a hard optimal-transport partner per point of a subsample, whose scatter within
its neighbourhood and whose wrong partners at the clusters' borders pull the fit away; on the
digits pairs of ``benchmarks/bench_real.py`` it moves the map from 0.95 to 0.99 of the oracle.

References
----------
Myronenko, A. and Song, X. (2010). Point set registration: Coherent point drift. IEEE TPAMI 32(12).
Artetxe, M., Labaka, G. and Agirre, E. (2018). A robust self-learning method for fully
unsupervised cross-lingual mappings of word embeddings. ACL.

Examples
--------
>>> import numpy as np
>>> from topotree.align._agreement import AgreementContext
>>> rng = np.random.default_rng(0)
>>> A = rng.normal(size=(300, 2)) + np.repeat([[0, 0], [6, 0], [0, 6]], 100, axis=0)
>>> B = A + 0.5 * np.sin(A[:, ::-1] / 2)
>>> ctx = AgreementContext(A, B, 10)
>>> M, t, s, ag = bend(ctx, np.eye(2), np.zeros(2), ctx.agreement(np.eye(2), np.zeros(2)), "affine")
>>> bool(ag >= ctx.agreement(np.eye(2), np.zeros(2)))
True
"""
from __future__ import annotations

import numpy as np

from .._procrustes import fit_map
from .._warp import fit_warp
from ._agreement import refine_by_agreement
from ._params import BEND_CENTRES, BEND_ROUNDS, IMPROVE_TOL, WEIGHT_FLOOR

__all__ = ["bend", "straighten"]


def bend(ctx, M, t, agreement, kind, allow_reflection=True, ridge=0.0, rounds=BEND_ROUNDS,
         n_centres=BEND_CENTRES, seed=0):
    """``(M, t, s, agreement)`` of the best affine map seen, the start (of agreement ``agreement``
    on ``ctx``) included; see the module doc."""
    best = (M, t, float(np.linalg.svd(M, compute_uv=False).mean()), float(agreement))
    for _ in range(rounds):
        TA = ctx.A @ best[0] + best[1]
        bent = fit_warp(TA, ctx.B, n_centres=n_centres, seed=seed)(TA)
        if not np.isfinite(bent).all():
            break
        c, pi = ctx.pointwise_mapped(bent)
        w = c + WEIGHT_FLOOR
        M2, t2, _ = fit_map(ctx.A, ctx.B[pi], w / w.sum(), kind, allow_reflection, ridge)
        found = refine_by_agreement(ctx, M2, t2, kind, allow_reflection, ridge)
        if found[3] <= best[3] + IMPROVE_TOL:
            break
        best = found
    return best


def straighten(A, B, M, t, kind, allow_reflection=True, ridge=0.0, seed=0):
    """``(M, t, s)``: the map of ``kind`` nearest, in least squares over the rows of A, to the
    non-rigid warp that carries ``A @ M + t`` onto B (see the module doc); None when the warp
    leaves float64."""
    TA = A @ M + t
    target = fit_warp(TA, B, seed=seed)(TA)
    if not np.isfinite(target).all():
        return None
    w = np.full(A.shape[0], 1.0 / A.shape[0])
    return fit_map(A, target, w, kind, allow_reflection, ridge)
