"""A smooth non-linear displacement field that carries one point cloud onto another without point
correspondences: non-rigid Coherent Point Drift, with the field spanned by Gaussian kernels on a
few centres (the low-rank form).

The moving cloud Y (here the affinely mapped A) gives the means of an equal-weight Gaussian mixture
of common variance sigma^2 (plus a uniform outlier term); the fixed cloud X (B) is its data. EM
alternates the posterior of every (mean, point) pair, computed in log space, with the displacement
``v(y) = K(y, C) W`` (Gaussian kernel of width ``beta`` on the centres C) that minimises the expected
squared distance plus ``lam / 2 * tr(W' K(C, C) W)`` (motion coherence: a smooth field, zero far
from the data), and sigma^2. Everything is in units of X's RMS radius, so ``beta`` and ``lam`` mean
the same on every data set.

References
----------
Myronenko, A. and Song, X. (2010). Point set registration: Coherent point drift. IEEE TPAMI 32(12).
Yuille, A. L. and Grzywacz, N. M. (1989). A mathematical analysis of the motion coherence theory.
IJCV 3(2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "WARP_BETA",
    "WARP_CENTRES",
    "WARP_ITER",
    "WARP_LAMBDA",
    "WARP_OUTLIERS",
    "WARP_POINTS",
    "Warp",
    "fit_warp",
]

WARP_BETA = 2.0  # kernel width, in units of the fixed cloud's RMS radius (CPD's default)
WARP_LAMBDA = 2.0  # weight of the smoothness term (CPD's default)
WARP_CENTRES = 150  # kernel centres spanning the field (low-rank CPD)
WARP_POINTS = 2000  # points per cloud in the EM
WARP_OUTLIERS = 0.1  # weight of the uniform outlier term of the mixture
WARP_ITER = 100  # EM iterations at most
WARP_TOL = 1e-5  # stop when sigma^2 changes by less than this fraction
# ridge on the field's coefficients, relative to the kernel diagonal: keeps the M-step well posed as
# sigma^2 shrinks (at 1e-10 a translated copy of the problem drifted by 1% of the spread; at 1e-3, 1e-7)
COEF_RIDGE = 1e-3


@dataclass(frozen=True, eq=False)
class Warp:
    """A displacement field ``v(y) = exp(-|y - c|^2 / (2 beta^2)) @ weights`` (in the target space).

    Attributes
    ----------
    centres : (m, d) kernel centres.
    weights : (m, d) coefficients.
    beta : float, the kernel width (in the target space's units).
    sigma2 : float, the mixture variance EM ended with (the residual misfit, squared units).
    n_iter : int, EM iterations run.
    """

    centres: np.ndarray
    weights: np.ndarray
    beta: float
    sigma2: float
    n_iter: int

    def __post_init__(self):
        for arr in (self.centres, self.weights):
            arr.setflags(write=False)

    def displacement(self, Y: np.ndarray) -> np.ndarray:
        """The field at the points ``Y`` (rows)."""
        return _kernel(Y, self.centres, self.beta) @ self.weights

    def __call__(self, Y: np.ndarray) -> np.ndarray:
        """``Y + v(Y)``."""
        return Y + self.displacement(Y)


def _kernel(P, Q, beta):
    d2 = _sq_dists(P, Q)
    d2 *= -0.5 / (beta * beta)
    return np.exp(d2, out=d2)


def _sq_dists(P, Q):
    d = P @ Q.T  # in place from here: the (m, n) matrix is the EM's largest array
    d *= -2.0
    d += (P * P).sum(1)[:, None]
    d += (Q * Q).sum(1)[None, :]
    return np.maximum(d, 0.0, out=d)


def _centres(Y, m, rng):
    """m centres spread over Y: farthest-point sampling from a random start (covers the cloud,
    cheap, deterministic given the start)."""
    m = min(m, Y.shape[0])
    idx = np.empty(m, dtype=np.int64)
    idx[0] = rng.integers(Y.shape[0])
    d = ((Y - Y[idx[0]]) ** 2).sum(1)
    for i in range(1, m):
        idx[i] = int(np.argmax(d))
        d = np.minimum(d, ((Y - Y[idx[i]]) ** 2).sum(1))
    return Y[idx]


def fit_warp(Y, X, *, beta=WARP_BETA, lam=WARP_LAMBDA, n_centres=WARP_CENTRES, max_points=WARP_POINTS,
             outliers=WARP_OUTLIERS, max_iter=WARP_ITER, tol=WARP_TOL, seed=0):
    """Non-rigid CPD of the moving cloud ``Y`` onto the fixed cloud ``X`` (same dimension; checked
    arrays). ``beta`` and ``lam`` are relative to X's RMS radius; EM stops after ``max_iter``
    iterations or when sigma^2 changes by less than the fraction ``tol``. Returns a :class:`Warp` in
    X's units.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> Y = X + 0.3 * np.sin(X[:, ::-1])   # a smooth deformation of the same cloud
    >>> w = fit_warp(Y, X)
    >>> bool(np.abs(w(Y) - X).mean() < 0.5 * np.abs(Y - X).mean())
    True
    """
    rng = np.random.default_rng(seed)
    if Y.shape[0] > max_points:
        Y = Y[rng.choice(Y.shape[0], max_points, replace=False)]
    if X.shape[0] > max_points:
        X = X[rng.choice(X.shape[0], max_points, replace=False)]
    mu = X.mean(0)
    radius = float(np.sqrt(((X - mu) ** 2).sum(1).mean()))
    if not radius > 0:
        radius = 1.0
    Xn, Yn = (X - mu) / radius, (Y - mu) / radius
    M, N, D = Yn.shape[0], Xn.shape[0], Xn.shape[1]
    C = _centres(Yn, n_centres, rng)
    K = _kernel(Yn, C, beta)  # (M, m)
    Kcc = _kernel(C, C, beta)
    Kcc = Kcc + COEF_RIDGE * np.trace(Kcc) / Kcc.shape[0] * np.eye(Kcc.shape[0])
    W = np.zeros((C.shape[0], D))
    Z = Yn
    sigma2 = float(_sq_dists(Yn, Xn).sum() / (D * M * N))
    # the outlier term of the mixture, as a log weight against the M Gaussians
    log_c = np.log(outliers / (1 - outliers) * M / N) if outliers > 0 else -np.inf
    it = 0
    for it in range(1, max_iter + 1):
        # E-step in log space: P[m, n] = posterior of mean m for point n
        logp = _sq_dists(Z, Xn)
        logp *= -0.5 / sigma2
        log_out = log_c + 0.5 * D * np.log(2.0 * np.pi * sigma2)
        top = np.maximum(logp.max(axis=0), log_out)  # (N,): one exp, no overflow
        P = np.exp(logp - top[None, :])
        P /= P.sum(axis=0) + np.exp(log_out - top)
        P1 = P.sum(1)  # (M,)
        Np = float(P1.sum())
        if not Np > 0:
            break
        PX = P @ Xn  # (M, D)
        # M-step: (K' diag(P1) K + lam sigma^2 Kcc) W = K' (PX - diag(P1) Y)
        G = K.T @ (K * P1[:, None]) + lam * sigma2 * Kcc
        W = np.linalg.solve(G, K.T @ (PX - P1[:, None] * Yn))
        Z = Yn + K @ W
        Pt1 = P.sum(0)
        new = float(((Pt1 * (Xn * Xn).sum(1)).sum() - 2.0 * (PX * Z).sum() + (P1 * (Z * Z).sum(1)).sum()) / (Np * D))
        new = max(new, 1e-12)
        done = abs(new - sigma2) <= tol * sigma2
        sigma2 = new
        if done:
            break
    # back to X's units: v(y) = radius * K((y - mu) / radius, C; beta) W = K(y, mu + radius C; radius beta) radius W
    return Warp(centres=mu + radius * C, weights=radius * W, beta=radius * beta, sigma2=sigma2 * radius**2, n_iter=it)
