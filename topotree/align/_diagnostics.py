"""Distances between a mapped cloud T(A) and B that need no correspondence: the symmetric Chamfer
distance, the energy distance, and a symmetric Kullback-Leibler estimate between Gaussian mixtures."""
from __future__ import annotations

import numpy as np

from .._nearest import chamfer, mean_dist
from .._typing import ArrayLike, Seed
from .._validation import check_points
from ._params import MIXTURE_MAX_FIT

__all__ = ["chamfer_score", "energy_distance", "energy", "mixture_divergence"]


def chamfer_score(TA: ArrayLike, B: ArrayLike, *, max_points: int = 3000, seed: Seed = 0,
                  return_mutual: bool = False) -> float | tuple[float, float]:
    """Symmetric mean nearest-neighbour distance between two clouds, over B's RMS spread.

    Needs no correspondence; 0 for identical clouds. Both clouds are subsampled to ``max_points``.
    With ``return_mutual`` also the mutual-nearest-neighbour fraction.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> chamfer_score(X, X), chamfer_score(X + 10, X) > 1
    (0.0, True)
    """
    TA = check_points(TA, "TA")
    B = check_points(B, "B")
    if TA.shape[1] != B.shape[1]:
        raise ValueError(f"TA and B must have the same number of columns, got {TA.shape[1]} and {B.shape[1]}")
    return chamfer(TA, B, max_points, seed, return_mutual)


def energy_distance(TA: ArrayLike, B: ArrayLike, *, max_points: int = 1000, seed: Seed = 0) -> float:
    """Energy distance between two clouds over B's mean pairwise distance (0 for equal laws).

    ``(2 E|x - y| - E|x - x'| - E|y - y'|) / E|y - y'|`` on subsamples of ``max_points``; unlike
    the Chamfer score it does not reward shrinking one cloud in many dimensions.

    References
    ----------
    Székely, G. J. and Rizzo, M. L. (2013). Energy statistics: a class of statistics based on
    distances. J. Stat. Plan. Inference 143(8).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> energy_distance(X, X) < 1e-9, energy_distance(X + 3.0, X) > 0.5
    (True, True)
    """
    TA = check_points(TA, "TA")
    B = check_points(B, "B")
    if TA.shape[1] != B.shape[1]:
        raise ValueError(f"TA and B must have the same number of columns, got {TA.shape[1]} and {B.shape[1]}")
    return energy(TA, B, max_points, seed)


def energy(TA, B, max_points=1000, seed=0):
    """The energy distance of :func:`energy_distance` on arrays already checked."""
    rng = np.random.default_rng(seed)
    ia = rng.choice(TA.shape[0], min(max_points, TA.shape[0]), replace=False)
    ib = rng.choice(B.shape[0], min(max_points, B.shape[0]), replace=False)
    P, Q = TA[ia], B[ib]
    e_bb = mean_dist(Q, Q) or 1.0
    return float((2.0 * mean_dist(P, Q) - mean_dist(P, P) - e_bb) / e_bb)


def mixture_divergence(TA, B, n_components, seed=0, max_fit=MIXTURE_MAX_FIT):
    """Symmetric Kullback-Leibler estimate between T(A) and B from full-covariance Gaussian
    mixtures fitted to each: ``E_B[log p_B - log p_TA] + E_TA[log p_TA - log p_B]``."""
    from sklearn.mixture import GaussianMixture  # heavy: imported on first use

    rng = np.random.default_rng(seed)
    P = TA[rng.choice(TA.shape[0], max_fit, replace=False)] if TA.shape[0] > max_fit else TA
    Q = B[rng.choice(B.shape[0], max_fit, replace=False)] if B.shape[0] > max_fit else B
    c = int(max(1, min(n_components, min(P.shape[0], Q.shape[0]) // (2 * P.shape[1] + 2))))
    reg = 1e-3 * float(np.var(Q, axis=0).mean()) + 1e-12
    fits = [GaussianMixture(c, covariance_type="full", reg_covar=reg, random_state=seed, max_iter=100,
                            n_init=1).fit(Z) for Z in (P, Q)]
    gp, gq = fits
    return float(gq.score(Q) - gp.score(Q) + gp.score(P) - gq.score(P))
