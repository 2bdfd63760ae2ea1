"""Procrustes fits shared by the matching and the alignment layers: the weighted least-squares fit
of a map in the orthogonal / similarity / affine family, the symmetric orthogonal residual used to
score leaf matchings, and a symmetric matrix square root."""
from __future__ import annotations

import numpy as np

__all__ = ["KINDS", "normalized_weights", "fit_map", "residuals_after_fit", "sqrtm"]

KINDS = {"orthogonal", "similarity", "affine"}


def normalized_weights(w, n, name="weights"):
    if w is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be 1-D of length {n}, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"{name} must be finite, non-negative and not all zero")
    return w / w.sum()


def fit_map(A, B, w, kind, allow_reflection=True, ridge=0.0):
    """Weighted least-squares fit of B ~ A @ M + t in the given family. Returns (M, t, scale)."""
    mu_a = w @ A
    mu_b = w @ B
    Ac = A - mu_a
    Bc = B - mu_b
    C = (Ac * w[:, None]).T @ Bc  # (d_a, d_b)
    U, S, Vt = np.linalg.svd(C, full_matrices=False)
    if not allow_reflection and A.shape[1] == B.shape[1]:
        if np.linalg.det(U) * np.linalg.det(Vt) < 0:
            U = U.copy()
            U[:, -1] *= -1
            S = S.copy()
            S[-1] *= -1
    R = U @ Vt
    var_a = float(np.sum(w * np.sum(Ac**2, axis=1)))
    if kind == "orthogonal":
        s = 1.0
    else:
        s = float(S.sum() / var_a) if var_a > 0 else 1.0
    M = s * R
    if kind == "affine":
        G = (Ac * w[:, None]).T @ Ac
        lam = float(ridge) * (np.trace(G) / A.shape[1] if np.trace(G) > 0 else 1.0)
        # minimise sum w |Ac M - Bc|^2 + lam |M - s R|^2  (ridge towards the similarity fit)
        reg = lam + 1e-12 * max(np.trace(G), 1e-300)
        M = np.linalg.solve(G + reg * np.eye(A.shape[1]), C + reg * s * R)
        sv = np.linalg.svd(M, compute_uv=False)
        s = float(sv.mean())
    t = mu_b - mu_a @ M
    return M, t, s


def residuals_after_fit(Ca, Cb, w, Qa, Qb):
    """Residuals ||T(Qa_i) - Qb_j|| after a weighted orthogonal Procrustes fit of Ca -> Cb.

    Both anchor sets are centred and scaled to unit weighted RMS (a similarity fit that is
    symmetric in A and B); reflections are allowed (plain SVD).
    """
    w = w / w.sum()
    ma, mb = w @ Ca, w @ Cb
    sa = np.sqrt(w @ np.sum((Ca - ma) ** 2, axis=1)) or 1.0
    sb = np.sqrt(w @ np.sum((Cb - mb) ** 2, axis=1)) or 1.0
    A = (Ca - ma) / sa
    B = (Cb - mb) / sb
    d = max(A.shape[1], B.shape[1])
    A = np.pad(A, ((0, 0), (0, d - A.shape[1])))
    B = np.pad(B, ((0, 0), (0, d - B.shape[1])))
    U, _, Vt = np.linalg.svd((A * w[:, None]).T @ B)
    R = U @ Vt
    QA = np.pad((Qa - ma) / sa, ((0, 0), (0, d - Qa.shape[1]))) @ R
    QB = np.pad((Qb - mb) / sb, ((0, 0), (0, d - Qb.shape[1])))
    return np.sqrt(np.maximum(np.sum(QA**2, 1)[:, None] + np.sum(QB**2, 1)[None, :] - 2 * QA @ QB.T, 0.0))


def sqrtm(C, inverse=False):
    e, V = np.linalg.eigh(C)
    e = np.maximum(e, 1e-12 * max(e.max(), 1e-300))
    return (V * (e ** (-0.5 if inverse else 0.5))) @ V.T
