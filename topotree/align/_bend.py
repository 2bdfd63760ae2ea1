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
estimate of the true, non-linear relation f, and the affine map nearest to it in least squares is an
estimate of the best affine map (the oracle: least squares on the true pairs, the projection of f
onto the affine maps). It uses every point through a smooth field, where the refinement uses a hard
optimal-transport partner per point of a subsample, whose scatter within its neighbourhood and whose
wrong partners at the clusters' borders pull the fit away. The fit is symmetric: the forward warp
gives each point of A a target in B, a backward warp carries B onto T(A) and gives each point of B a
preimage in A (the posterior mean of A's points under the warp's final mixture, moved the least that
T maps it onto the warped point), and both sets of pairs weigh half. A one-sided fit sees B only
where A's points land, so a cluster that T squeezes or a region of B that A covers thinly pulls
little; the backward half puts every region of B in the fit with its own mass. The fit is repeated
from its own answer (STRAIGHTEN_ROUNDS). On the held-out digits pairs of ``benchmarks/bench_real.py``
(53 pairs, three split seeds) it moves the chosen maps from 0.94x the oracle to 0.988x on average
(one-sided, once: 0.970x).

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
from ._params import (BEND_CENTRES, BEND_ROUNDS, IMPROVE_TOL, STRAIGHTEN_POINTS, STRAIGHTEN_ROUNDS, STRAIGHTEN_TOL,
                      WEIGHT_FLOOR)

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


def straighten(A, B, M, t, kind, allow_reflection=True, ridge=0.0, seed=0, rounds=STRAIGHTEN_ROUNDS):
    """``(M, t, s)``: the map of ``kind`` nearest, in least squares over the pairs of the forward and
    the backward warp between ``A @ M + t`` and B (see the module doc), refitted ``rounds`` times;
    None when a warp leaves float64."""
    rng = np.random.default_rng(seed)
    b_rows = _rows(B.shape[0], STRAIGHTEN_POINTS, rng)
    a_rows = _rows(A.shape[0], STRAIGHTEN_POINTS, rng)
    Bs = B[b_rows]
    half_a = np.full(A.shape[0], 0.5 / A.shape[0])
    half_b = np.full(Bs.shape[0], 0.5 / Bs.shape[0])
    s = None
    for _ in range(rounds):
        TA = A @ M + t
        forward = fit_warp(TA, B, max_points=STRAIGHTEN_POINTS, tol=STRAIGHTEN_TOL, seed=seed)(TA)
        back = fit_warp(Bs, TA, max_points=STRAIGHTEN_POINTS, tol=STRAIGHTEN_TOL, seed=seed)  # carries B onto T(A)
        moved = back(Bs)
        if not (np.isfinite(forward).all() and np.isfinite(moved).all()):
            return None
        pre = _preimages(A[a_rows], TA[a_rows], moved, back.sigma2, M, t)
        M, t, s = fit_map(np.vstack([A, pre]), np.vstack([forward, Bs]), np.concatenate([half_a, half_b]),
                          kind, allow_reflection, ridge)
    return M, t, s


def _rows(n, m, rng):
    """All of ``range(n)``, or ``m`` of them at random (sorted)."""
    return np.arange(n) if n <= m else np.sort(rng.choice(n, m, replace=False))


def _preimages(A, TA, Y, sigma2, M, t):
    """For each row y of Y: the posterior mean p of A's rows under the mixture of Gaussians of variance
    sigma2 centred at ``TA = A @ M + t``, moved the least (in A's coordinates) that ``p @ M + t`` is the
    least-squares nearest to y. For an invertible M the result solves ``p @ M + t = y``; where M drops
    directions of A (d_a > d_b) the posterior mean fills them."""
    logp = (Y @ TA.T) * (1.0 / sigma2)
    logp -= 0.5 / sigma2 * (TA * TA).sum(1)[None, :]
    logp -= logp.max(axis=1, keepdims=True)
    P = np.exp(logp, out=logp)
    P /= P.sum(axis=1, keepdims=True)
    soft = P @ A
    return soft + (Y - t - soft @ M) @ np.linalg.pinv(M)
