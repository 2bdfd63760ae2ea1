"""The map families (orthogonal, similarity, affine): the public supervised fit ``procrustes`` and
the moment correction of an affine map (T(A)'s mean and covariance made equal to B's)."""
from __future__ import annotations

import numpy as np

from .._procrustes import KINDS, fit_map, normalized_weights, sqrtm
from .._typing import ArrayLike, Transform
from .._validation import check_choice, check_points
from ._result import Alignment

__all__ = ["procrustes", "moment_corrected"]


def procrustes(anchors_a: ArrayLike, anchors_b: ArrayLike, transform: Transform = "similarity", *,
               weights: ArrayLike | None = None, allow_reflection: bool = True, ridge: float = 0.0) -> Alignment:
    """Fit the map from paired points (the supervised version of :func:`align`).

    Parameters
    ----------
    anchors_a : (m, d_a) points in space A; anchors_b : (m, d_b) their counterparts in space B.
    transform : {"orthogonal", "similarity", "affine"}
        Orthogonal: ``b = a R + t``; similarity: ``b = s a R + t``; affine: ``b = a M + t``. R is
        semi-orthogonal when d_a != d_b.
    weights : (m,) non-negative weights, optional.
    allow_reflection : bool
        Allow det(R) = -1 (default). A latent space has no privileged handedness.
    ridge : float
        Affine only: penalty pulling M towards the similarity fit, relative to A's mean variance per
        dimension; needed when there are fewer than d_a + 1 anchors in general position.

    Returns
    -------
    Alignment (``matching`` is None, ``score`` NaN).

    References
    ----------
    Schönemann, P. H. (1966). A generalized solution of the orthogonal Procrustes problem.
    Psychometrika 31(1). Umeyama, S. (1991). Least-squares estimation of transformation parameters
    between two point patterns. IEEE TPAMI 13(4).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> A = np.random.default_rng(0).normal(size=(10, 3))
    >>> B = 2.0 * A[:, ::-1] + 1.0
    >>> al = tt.procrustes(A, B, "similarity")
    >>> round(al.scale, 6), bool(np.allclose(al.transform(A), B))
    (2.0, True)
    """
    A = check_points(anchors_a, "anchors_a")
    B = check_points(anchors_b, "anchors_b")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"anchors_a and anchors_b must have the same number of rows, got {A.shape[0]} and {B.shape[0]}")
    transform = check_choice(transform, "transform", KINDS)
    w = normalized_weights(weights, A.shape[0])
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be finite and >= 0, got {ridge}")
    M, t, s = fit_map(A, B, w, transform, allow_reflection, ridge)
    res = np.linalg.norm(A @ M + t - B, axis=1)
    return Alignment(kind=transform, matrix=M, offset=t, scale=s, anchors=(A, B, w), residuals=res)


def moment_corrected(A, B, M, t, Pa, Pb, w):
    """The affine map with T(A)'s mean and covariance equal to B's that is closest to the given
    one on the anchors: whiten T(A), rotate (Procrustes on the whitened anchors), colour with B's
    covariance. A nonlinear warp biases the cluster anchors; the overall moments are not biased."""
    TA = A @ M + t
    mu_t, mu_b = TA.mean(0), B.mean(0)
    Wt = sqrtm(np.cov(TA.T).reshape(TA.shape[1], -1), inverse=True)
    Wb_inv = sqrtm(np.cov(B.T).reshape(B.shape[1], -1))
    Wb = np.linalg.inv(Wb_inv)
    Za = (Pa @ M + t - mu_t) @ Wt
    Zb = (Pb - mu_b) @ Wb
    U, _, Vt = np.linalg.svd((Za * w[:, None]).T @ Zb)
    C = Wt @ (U @ Vt) @ Wb_inv
    M2 = M @ C
    t2 = (t - mu_t) @ C + mu_b
    return M2, t2
