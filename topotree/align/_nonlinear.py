"""``warp_alignment``: a non-linear refinement of an alignment, a smooth displacement field after
its affine part, fitted without correspondences (non-rigid Coherent Point Drift, ``_warp``)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._typing import ArrayLike, Seed
from .._validation import (
    check_int,
    check_points,
    check_real,
    check_seed,
    scale_exponent,
)
from .._warp import WARP_BETA, WARP_CENTRES, WARP_LAMBDA, WARP_POINTS, Warp, fit_warp
from ._result import Alignment

__all__ = ["warp_alignment"]


def warp_alignment(alignment: Alignment, A: ArrayLike, B: ArrayLike, *, beta: float = WARP_BETA,
                   smoothness: float = WARP_LAMBDA, n_centres: int = WARP_CENTRES,
                   max_points: int = WARP_POINTS, seed: Seed = 0) -> Alignment:
    """Refine an alignment by a smooth non-linear displacement after its affine part.

    Two networks' latents are rarely related by an affine map: the affine part found by
    :func:`align` puts each cluster near its partner, and this step bends the mapped cloud T(A)
    onto B by non-rigid Coherent Point Drift: T(A)'s points are the means of a Gaussian mixture
    fitted to B by EM, moved by a displacement field that is a sum of Gaussian kernels
    (width ``beta``) on ``n_centres`` centres, penalised for roughness (``smoothness``: motion
    coherence, the field is smooth and vanishes away from the data). No correspondence is used.
    The result's ``transform`` is ``W(X @ matrix + offset)``; its ``trust`` and ``score`` are the
    affine part's. A wrong affine part is not repaired: warp only an alignment you trust.

    On the latents of two MLP autoencoders of scikit-learn's digits (``benchmarks/bench_real.py``)
    the warp raises label transfer above what the best affine map (the oracle, fitted on the true
    pairs) reaches when the affine part is right.

    Parameters
    ----------
    alignment : Alignment, from :func:`align` (or :func:`procrustes`) of A onto B.
    A : (n_a, d_a) the points of space A the alignment was found on (any sample of A's cloud).
    B : (n_b, d_b) the points of space B.
    beta : float > 0, the kernel width relative to B's RMS radius (2: CPD's default, a gentle bend).
    smoothness : float > 0, the weight of the roughness penalty (CPD's lambda; larger: closer to the
        affine map).
    n_centres : int, kernel centres spanning the field (the low-rank form).
    max_points : int, points of each cloud used by the EM (uniform subsample).
    seed : int, for the subsamples and the centres.

    Returns
    -------
    Alignment, the same affine part with ``warp`` set.

    References
    ----------
    Myronenko, A. and Song, X. (2010). Point set registration: Coherent point drift. IEEE TPAMI
    32(12). Yuille, A. L. and Grzywacz, N. M. (1989). A mathematical analysis of the motion
    coherence theory. IJCV 3(2).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(600, 2)) + np.repeat([[0, 0], [6, 0], [0, 6]], 200, axis=0)
    >>> B = A + 0.5 * np.sin(A[:, ::-1] / 2)          # a smooth non-linear relation
    >>> al = tt.procrustes(A[:50], B[:50], "affine")  # an affine start
    >>> w = tt.warp_alignment(al, A, B)
    >>> bool(np.abs(w.transform(A) - B).mean() < np.abs(al.transform(A) - B).mean())
    True
    """
    if not isinstance(alignment, Alignment):
        raise TypeError(f"alignment must be an Alignment (from align or procrustes), got {type(alignment).__name__}")
    A = check_points(A, "A", min_points=2)
    B = check_points(B, "B", min_points=2)
    if A.shape[1] != alignment.dim_a:
        raise ValueError(f"A must have {alignment.dim_a} columns (the alignment's space A), got {A.shape[1]}")
    if B.shape[1] != alignment.dim_b:
        raise ValueError(f"B must have {alignment.dim_b} columns (the alignment's space B), got {B.shape[1]}")
    beta = check_real(beta, "beta", low=0, low_open=True)
    smoothness = check_real(smoothness, "smoothness", low=0, low_open=True)
    n_centres = check_int(n_centres, "n_centres", low=1)
    max_points = check_int(max_points, "max_points", low=10)
    seed = check_seed(seed, allow_none=False)
    base = replace(alignment, warp=None)
    TA = base.transform(A)
    if not np.isfinite(TA).all():
        raise ValueError("the alignment maps A outside float64; rescale A or B")
    # coordinates whose squared distances would leave float64: fit on B 2^-e, scale the field back
    e = max(scale_exponent(B, "B"), scale_exponent(TA, "the mapped A"))
    w = fit_warp(np.ldexp(TA, -e), np.ldexp(B, -e), beta=beta, lam=smoothness, n_centres=n_centres,
                 max_points=max_points, seed=seed)
    if e:
        w = Warp(centres=np.ldexp(w.centres, e), weights=np.ldexp(w.weights, e), beta=float(np.ldexp(w.beta, e)),
                 sigma2=float(np.ldexp(w.sigma2, 2 * e)), n_iter=w.n_iter)
    return replace(base, warp=w)
