"""k-nearest-neighbour log-density, computed in log space so it holds in 64+ dimensions."""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import gammaln


@njit(cache=True)
def _knn_log_density_kernel(r_k, k, n, d, log_unit_ball, floor):
    out = np.empty(r_k.shape[0])
    c = math.log(k) - math.log(n) - log_unit_ball
    for i in range(r_k.shape[0]):
        r = r_k[i]
        if r < floor:
            r = floor
        out[i] = c - d * math.log(r)
    return out


def knn_log_density(distances, n_dims):
    """log f(x) = log k - log n - log V_d - d log r_k(x), V_d the unit ball's volume.

    Parameters
    ----------
    distances : (n, k) array of sorted distances to the k nearest neighbours (self excluded).
    n_dims : int, the dimension d of the points.

    A point with at least k exact duplicates has r_k = 0; its radius is floored at the smallest
    positive k-th neighbour distance (or 1 when there is none), so every value is finite.

    References
    ----------
    Loftsgaarden, D. O. and Quesenberry, C. P. (1965). A nonparametric estimate of a multivariate
    density function. Ann. Math. Statist. 36(3).

    Examples
    --------
    >>> import numpy as np
    >>> float(np.round(knn_log_density(np.array([[1.0]]), 1)[0], 6))  # k=1, n=1, d=1: log(1/2)
    -0.693147
    """
    r_k = np.ascontiguousarray(distances[:, -1], dtype=np.float64)
    n, k = distances.shape
    return knn_log_density_at(r_k, k, n, n_dims, radius_floor(r_k))


def radius_floor(r_k):
    """The floor of the k-th neighbour radius: the smallest positive one (1 when there is none)."""
    pos = r_k[r_k > 0]
    return float(pos.min()) if pos.size else 1.0


def knn_log_density_at(r_k, k, n, n_dims, floor):
    """The kNN log-density of points whose k-th nearest of ``n`` sample points lies at ``r_k``
    (new points scored against a fitted sample; ``floor`` from :func:`radius_floor` of the sample)."""
    r_k = np.ascontiguousarray(r_k, dtype=np.float64)
    log_unit_ball = 0.5 * n_dims * math.log(math.pi) - float(gammaln(0.5 * n_dims + 1.0))
    return _knn_log_density_kernel(r_k, float(k), float(n), float(n_dims), log_unit_ball, float(floor))
