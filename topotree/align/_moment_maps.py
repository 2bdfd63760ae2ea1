"""Maps from the moments of the two clouds alone: principal axes matched by rank (second moments,
signs from the third), and independent components matched by their marginal laws (all moments of
each component).

They serve where no structure can be verified: when B's neighbourhoods are not reproducible
(many-dimensional blobs, latents that barely carry classes), neighbourhood agreement cannot judge
and clusters are not a reliable anchor, but the law of each direction still is. A whitened cloud's
principal axes are arbitrary; its independent components are not (unless the cloud is Gaussian),
and matching them by their one-dimensional laws (Wasserstein distance between the quantile
functions, each sign tried) needs no correspondence.

References
----------
Hyvarinen, A. and Oja, E. (2000). Independent component analysis: algorithms and applications.
Neural Networks 13(4-5) (FastICA). Kuhn, H. W. (1955). The Hungarian method for the assignment
problem. Naval Res. Logist. Q. 2.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> S = rng.laplace(size=(2000, 3)) * [3.0, 2.0, 1.0]
>>> R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
>>> maps = ica_maps(S, S @ R + 1.0, seed=0)
>>> bool(np.allclose(maps[0].M, R, atol=0.1))
True
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._validation import sklearn_seed
from ._params import ICA_MAX_ITER, ICA_QUANTILES, ICA_RESTARTS

__all__ = ["MomentMap", "moment_map", "ica_maps"]


class MomentMap(NamedTuple):
    """A map ``X -> X M + t`` and how it was found (``origin``)."""

    M: np.ndarray
    t: np.ndarray
    origin: str


class _Whitened(NamedTuple):
    """A cloud's mean, leading ``r`` principal variances and axes, and its whitened coordinates."""

    mean: np.ndarray
    var: np.ndarray
    axes: np.ndarray
    z: np.ndarray


def _pca(X):
    mu = X.mean(0)
    e, V = np.linalg.eigh(np.cov((X - mu).T).reshape(X.shape[1], X.shape[1]))
    o = np.argsort(e)[::-1]
    return mu, np.maximum(e[o], 1e-12), V[:, o]


def _whiten(X, r):
    mu, e, V = _pca(X)
    return _Whitened(mu, e[:r], V[:, :r], (X - mu) @ V[:, :r] / np.sqrt(e[:r]))


def _compose(wa, wb, R):
    """The map A -> whitened A -> (R) -> whitened B -> B."""
    M = (wa.axes / np.sqrt(wa.var)) @ R @ (np.sqrt(wb.var)[:, None] * wb.axes.T)
    return M, wb.mean - wa.mean @ M


def moment_map(A, B):
    """``(M, t)``: both clouds whitened, principal axes matched by rank, each axis's sign fixed by
    the skewness (the first three moments; arbitrary on clouds of equal variances)."""
    r = min(A.shape[1], B.shape[1])
    wa, wb = _whiten(A, r), _whiten(B, r)
    sa = np.sign(np.mean(wa.z**3, axis=0) + 1e-15)
    sb = np.sign(np.mean(wb.z**3, axis=0) + 1e-15)
    M = (wa.axes / np.sqrt(wa.var) * (sa * sb)) @ (np.sqrt(wb.var)[:, None] * wb.axes.T)
    return M, wb.mean - wa.mean @ M


def ica_maps(A, B, seed=0, restarts=ICA_RESTARTS):
    """Maps (:class:`MomentMap`) that send A's independent components to B's: both clouds whitened
    on their ``min(d_a, d_b)`` leading principal axes, FastICA on each (``restarts`` seeds), the
    components paired by the Hungarian method on the Wasserstein distance between their marginal
    laws (the better sign of each pair). Empty when fewer than two components can be formed."""
    from sklearn.decomposition import FastICA  # heavy: imported on first use
    from sklearn.exceptions import ConvergenceWarning

    r = min(A.shape[1], B.shape[1])
    if r < 2:
        return []
    wa, wb = _whiten(A, r), _whiten(B, r)
    q = np.linspace(0.0, 1.0, ICA_QUANTILES + 2)[1:-1]
    out = []
    for s in range(restarts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            Ua = FastICA(whiten=False, random_state=sklearn_seed(seed + s), max_iter=ICA_MAX_ITER).fit(wa.z).components_.T
            Ub = FastICA(whiten=False, random_state=sklearn_seed(seed + s), max_iter=ICA_MAX_ITER).fit(wb.z).components_.T
        Qa, Qb = np.quantile(wa.z @ Ua, q, axis=0), np.quantile(wb.z @ Ub, q, axis=0)  # (quantiles, r)
        # W1 between component i of A (or its mirror: quantiles reversed and negated) and j of B
        plus = np.abs(Qa[:, :, None] - Qb[:, None, :]).mean(axis=0)
        minus = np.abs(-Qa[::-1, :, None] - Qb[:, None, :]).mean(axis=0)
        rows, cols = linear_sum_assignment(np.minimum(plus, minus))
        P = np.zeros((r, r))
        P[rows, cols] = np.where(plus[rows, cols] <= minus[rows, cols], 1.0, -1.0)
        # on whitened data FastICA's unmixing is orthogonal: B's whitened coordinates are
        # its sources times Ub's transpose
        M, t = _compose(wa, wb, Ua @ P @ Ub.T)
        if np.isfinite(M).all() and np.isfinite(t).all():
            out.append(MomentMap(M, t, "ica"))
    return out
