"""A Gaussian-mixture log-density for cluster trees of many-dimensional clouds: a diagonal mixture
chosen by BIC, and its marginal in the points' discriminant coordinates (Fisher), where a kNN graph
no longer links every cluster to every other through the noise dimensions.

References
----------
Schwarz, G. (1978). Estimating the dimension of a model. Ann. Statist. 6(2) (BIC). Fisher, R. A.
(1936). The use of multiple measurements in taxonomic problems. Ann. Eugenics 7(2).
"""
from __future__ import annotations

import numpy as np

__all__ = ["fit_gmm", "discriminant_coordinates", "projected_log_density"]

MAX_COMPONENTS = 48  # the largest mixture tried
MAX_FIT = 2000  # points the mixture is fitted on
POINTS_PER_COMPONENT = 20  # at most n / this many components
GRID_SIZES = 8  # sizes on the coarse geometric grid
REFINE_SIZES = 5  # sizes tried around the best of the grid
REG_COVAR = 1e-4  # covariance floor, relative to the mean variance
EM_MAX_ITER = 60
EM_TOL = 1e-2


def fit_gmm(X, max_components=MAX_COMPONENTS, seed=0, max_fit=MAX_FIT):
    """A diagonal-covariance Gaussian mixture with its number of components chosen by BIC.

    A coarse geometric grid of sizes, then a few sizes around the best. Over-splitting is
    harmless downstream (the cluster tree merges split components), under-splitting is not.
    """
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    Xf = X[rng.choice(X.shape[0], max_fit, replace=False)] if X.shape[0] > max_fit else X
    n = Xf.shape[0]
    hi = int(max(2, min(max_components, n // POINTS_PER_COMPONENT)))
    reg = REG_COVAR * float(np.var(Xf, axis=0).mean()) + 1e-12
    fits = {}

    def fit(c):
        if c not in fits:
            g = GaussianMixture(c, covariance_type="diag", reg_covar=reg, n_init=1, random_state=seed,
                                max_iter=EM_MAX_ITER, tol=EM_TOL, init_params="k-means++")
            g.fit(Xf)
            fits[c] = (g.bic(Xf), g)

    grid = sorted(set(int(round(c)) for c in np.geomspace(1, hi, GRID_SIZES)))
    for c in grid:
        fit(c)
    i0 = grid.index(min(fits, key=lambda c: fits[c][0]))
    lo_c, hi_c = grid[max(0, i0 - 1)], grid[min(len(grid) - 1, i0 + 1)]
    for c in sorted(set(int(round(c)) for c in np.linspace(lo_c, hi_c, REFINE_SIZES))):
        fit(c)
    return fits[min(fits, key=lambda c: fits[c][0])][1]


def discriminant_coordinates(X, gmm):
    """Coordinates of X in the span of the mixture's component means, after whitening by the pooled
    within-component covariance (Fisher's discriminant subspace). Affine-equivariant up to a
    rotation, and free of the noise dimensions in which a kNN graph of many-dimensional points
    connects every cluster to every other."""
    w = gmm.weights_
    mu = w @ gmm.means_
    Sw = w @ gmm.covariances_  # diagonal covariances: (c, d) -> (d,)
    Wh = 1.0 / np.sqrt(np.maximum(Sw, 1e-300))
    Mz = (gmm.means_ - mu) * Wh
    if Mz.shape[0] < 2:
        return (X - mu) * Wh
    _, S, Vt = np.linalg.svd(Mz, full_matrices=False)
    r = int(np.sum(S > 1e-6 * S[0]))
    return ((X - mu) * Wh) @ Vt[:r].T


def projected_log_density(X, gmm):
    """Log-density, at the discriminant coordinates P of X, of the mixture's marginal in those
    coordinates: ``(P, log p(P))``. The full-dimensional mixture density of a many-dimensional
    cluster fluctuates by about sqrt(d/2) nats from point to point (its noise dimensions), which
    makes spurious local modes among neighbours in the discriminant coordinates; the marginal
    density there is smooth."""
    from scipy.special import logsumexp

    P = discriminant_coordinates(X, gmm)
    w = gmm.weights_
    if gmm.means_.shape[0] < 2:
        return P, gmm.score_samples(X)
    mu = w @ gmm.means_
    Sw = w @ gmm.covariances_
    Wh = 1.0 / np.sqrt(np.maximum(Sw, 1e-300))
    # the projection is x -> ((x - mu) * Wh) @ V; recover V from P = ((X - mu) * Wh) @ V
    Mz = (gmm.means_ - mu) * Wh
    _, S, Vt = np.linalg.svd(Mz, full_matrices=False)
    V = Vt[: P.shape[1]].T
    r = V.shape[1]
    out = np.empty((X.shape[0], w.shape[0]))
    for c in range(w.shape[0]):
        m = Mz[c] @ V
        C = (V * (gmm.covariances_[c] * Wh**2)[:, None]).T @ V
        L = np.linalg.cholesky(C + 1e-9 * np.trace(C) / r * np.eye(r))
        Z = np.linalg.solve(L, (P - m).T)
        out[:, c] = np.log(w[c]) - 0.5 * np.sum(Z**2, axis=0) - np.log(np.diag(L)).sum() - 0.5 * r * np.log(2 * np.pi)
    return P, logsumexp(out, axis=1)
