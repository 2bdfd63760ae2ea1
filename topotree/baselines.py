"""The peers of :func:`topotree.align`, run the same way (each returns an ``Alignment``).

Correspondence-free: ``moment_align``, ``gromov_wasserstein_align`` (needs POT), ``kmeans_qap_align``,
``random_orthogonal``. Upper bound: ``oracle_procrustes`` (true pairs or true class means). Needing
some known pairs: ``anchor_procrustes``, ``relative_representation``, ``permutation_align``.

References
----------
Mémoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching. Found.
Comput. Math. 11. Vogelstein, J. T. et al. (2015). Fast approximate quadratic programming for graph
matching. PLoS ONE 10(4). Maiorca, V. et al. (2023). Latent space translation via semantic
alignment. NeurIPS. Moschella, L. et al. (2023). Relative representations enable zero-shot latent
space communication. ICLR. Ainsworth, S., Hayase, J. and Srinivasa, S. (2023). Git Re-Basin. ICLR.
Dar, G. et al. / mini-vec2vec (2025): k-means + QAP + Procrustes + ICP.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment, quadratic_assignment

from ._icp import global_icp
from ._nearest import chamfer
from ._pot import import_pot
from ._procrustes import KINDS, fit_map, normalized_weights
from ._typing import ArrayLike, Pairs, Seed, Transform
from ._validation import SKLEARN_MAX_SEED, check_choice, check_fraction, check_int, check_points, check_seed
from .align import Alignment
from .align._moment_maps import moment_map

__all__ = ["oracle_procrustes", "moment_align", "gromov_wasserstein_align", "kmeans_qap_align",
           "random_orthogonal", "anchor_procrustes", "relative_representation", "permutation_align"]


def _finish(A, B, M, t, s, kind, **info):
    sc, mnn = chamfer(A @ M + t, B, return_mutual=True)
    return Alignment(kind=kind, matrix=M, offset=t, scale=float(s), score=sc, mutual_nn=mnn, info=info)


def _fit(P, Q, kind, weights=None, ridge=0.0):
    """(M, t, s): the family's weighted least-squares map of checked anchors P onto Q."""
    return fit_map(P, Q, normalized_weights(weights, P.shape[0]), kind, True, ridge)


def _pairs_arg(pairs, n_a, n_b):
    p = np.asarray(pairs)
    if p.ndim == 1:
        if p.shape[0] != n_a:
            raise ValueError(f"pairs as a 1-D array must have length n_a = {n_a}, got {p.shape[0]}")
        ia = np.flatnonzero(p >= 0)
        p = np.c_[ia, p[ia]]
    if p.ndim != 2 or p.shape[1] != 2 or p.dtype.kind not in "iu":
        raise ValueError("pairs must be an (m, 2) integer array of (row in A, row in B) or an (n_a,) index array")
    if p.size and (p[:, 0].max() >= n_a or p[:, 1].max() >= n_b or p.min() < 0):
        raise ValueError("pairs has indices out of range")
    return p.astype(np.int64)


def oracle_procrustes(A: ArrayLike, B: ArrayLike, transform: Transform = "affine", *, pairs: Pairs | None = None,
                      labels_a: ArrayLike | None = None, labels_b: ArrayLike | None = None,
                      ridge: float = 0.1) -> Alignment:
    """The upper bound: fit on the true pairs (same sample) or on the true class means (fresh sample).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.random.default_rng(0).normal(size=(50, 2)); B = A @ [[0, 1], [-1, 0]]
    >>> al = oracle_procrustes(A, B, "orthogonal", pairs=np.arange(50))
    >>> bool(np.allclose(al.transform(A), B))
    True
    """
    A = check_points(A, "A")
    B = check_points(B, "B")
    transform = check_choice(transform, "transform", KINDS)
    ridge = check_fraction(ridge, "ridge", allow_none=False)
    if pairs is not None:
        p = _pairs_arg(pairs, A.shape[0], B.shape[0])
        M, t, s = _fit(A[p[:, 0]], B[p[:, 1]], transform)
    elif labels_a is not None and labels_b is not None:
        la, lb = np.asarray(labels_a), np.asarray(labels_b)
        if la.shape != (A.shape[0],) or lb.shape != (B.shape[0],):
            raise ValueError("labels_a and labels_b must be 1-D with one label per row of A and B")
        common = np.intersect1d(la, lb)
        Ca = np.array([A[la == c].mean(0) for c in common])
        Cb = np.array([B[lb == c].mean(0) for c in common])
        w = np.array([min(np.mean(la == c), np.mean(lb == c)) for c in common])
        M, t, s = _fit(Ca, Cb, transform, weights=w, ridge=ridge)
    else:
        raise ValueError("oracle_procrustes needs pairs, or labels_a and labels_b")
    return _finish(A, B, M, t, s, transform)


def moment_align(A: ArrayLike, B: ArrayLike, transform: Transform = "affine") -> Alignment:
    """Whiten both clouds, match principal axes by rank, fix each axis's sign by the skewness.

    Fails by construction on whitened (identity-covariance) clouds, whose principal axes are arbitrary.
    """
    A = check_points(A, "A", 3)
    B = check_points(B, "B", 3)
    transform = check_choice(transform, "transform", KINDS)
    M, t = moment_map(A, B)
    if transform != "affine":  # closest map of the family to the moment map
        M, t, _ = _fit(A, A @ M + t, transform)
    s = float(np.linalg.svd(M, compute_uv=False).mean())
    return _finish(A, B, M, t, s, transform)


def gromov_wasserstein_align(A: ArrayLike, B: ArrayLike, transform: Transform = "affine", *, n_sub: int = 1000,
                             seed: Seed = 0, max_iter: int = 200) -> Alignment:
    """Gromov-Wasserstein coupling (POT, exact conditional gradient) of subsamples, then Procrustes
    on each subsampled A point's most-coupled B point. Time and memory grow as n_sub^2 and more."""
    try:
        ot = import_pot()
    except ImportError as exc:  # pragma: no cover
        raise ImportError("gromov_wasserstein_align needs POT (pip install pot)") from exc
    A = check_points(A, "A", 3)
    B = check_points(B, "B", 3)
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    transform = check_choice(transform, "transform", KINDS)
    n_sub = check_int(n_sub, "n_sub", low=3)
    rng = np.random.default_rng(seed)
    ia = rng.choice(A.shape[0], min(n_sub, A.shape[0]), replace=False)
    ib = rng.choice(B.shape[0], min(n_sub, B.shape[0]), replace=False)
    Xa, Xb = A[ia], B[ib]
    Ca = np.linalg.norm(Xa[:, None] - Xa[None], axis=2)
    Cb = np.linalg.norm(Xb[:, None] - Xb[None], axis=2)
    Ca /= Ca.max()
    Cb /= Cb.max()
    p = np.full(Xa.shape[0], 1.0 / Xa.shape[0])
    q = np.full(Xb.shape[0], 1.0 / Xb.shape[0])
    G = ot.gromov.gromov_wasserstein(Ca, Cb, p, q, loss_fun="square_loss", max_iter=max_iter)
    j = np.argmax(G, axis=1)
    M, t, s = _fit(Xa, Xb[j], transform, weights=G[np.arange(len(j)), j] + 1e-15, ridge=0.1)
    return _finish(A, B, M, t, s, transform)


def kmeans_qap_align(A: ArrayLike, B: ArrayLike, transform: Transform = "affine", *, n_clusters: int = 20,
                     icp_rounds: int = 5, n_init: int = 10, n_trials: int = 8, seed: Seed = 0) -> Alignment:
    """k-means centroids of both clouds matched by a quadratic assignment (FAQ) of their distance
    matrices, Procrustes on the matched centroids, then ICP (the mini-vec2vec recipe).

    Each of ``n_trials`` FAQ starts gives a candidate matching; every candidate is fitted, the three
    with the best Chamfer score (no ground truth needed) are refined by ICP, and the best kept. The QAP
    objective alone is not a safe selector: the two k-means solutions need not correspond
    centroid for centroid, and near-symmetric layouts have several near-optimal assignments.
    ``n_init`` k-means restarts make the two clouds' solutions more likely to be the same optimum.

    Examples
    --------
    >>> import numpy as np
    >>> from topotree.datasets import hierarchical_mixture
    >>> m = hierarchical_mixture(1500, dim=2, n_leaves=4, seed=0)
    >>> al = kmeans_qap_align(m.X, 2 * m.X[:, ::-1] + 1, n_clusters=4)
    >>> bool(np.abs(al.transform(m.X) - (2 * m.X[:, ::-1] + 1)).max() < 1.0)
    True
    """
    from sklearn.cluster import KMeans

    A = check_points(A, "A", 3)
    B = check_points(B, "B", 3)
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    transform = check_choice(transform, "transform", KINDS)
    k = min(check_int(n_clusters, "n_clusters", low=2), A.shape[0], B.shape[0])
    n_init = check_int(n_init, "n_init", low=1)
    n_trials = check_int(n_trials, "n_trials", low=1)
    rng = np.random.default_rng(seed)
    sub = lambda X: X[rng.choice(X.shape[0], min(20000, X.shape[0]), replace=False)]  # noqa: E731
    ka = KMeans(k, n_init=n_init, random_state=seed).fit(sub(A))
    kb = KMeans(k, n_init=n_init, random_state=seed).fit(sub(B))
    Ca, Cb = ka.cluster_centers_, kb.cluster_centers_
    Da = np.linalg.norm(Ca[:, None] - Ca[None], axis=2)
    Db = np.linalg.norm(Cb[:, None] - Cb[None], axis=2)
    Da, Db = Da / Da.max(), Db / Db.max()
    # cluster masses on the diagonal: trace(Da P Db P^T) then also rewards matching sizes, which
    # breaks the ties of near-symmetric layouts that distances alone cannot
    np.fill_diagonal(Da, np.sqrt(np.bincount(ka.labels_, minlength=k) / ka.labels_.size))
    np.fill_diagonal(Db, np.sqrt(np.bincount(kb.labels_, minlength=k) / kb.labels_.size))
    cols = {}
    for trial in range(n_trials):
        res = quadratic_assignment(Da, Db, method="faq",
                                   options={"maximize": True, "P0": "barycenter" if trial == 0 else "randomized",
                                            "rng": np.random.default_rng(seed + trial)})
        cols.setdefault(tuple(np.asarray(res.col_ind).tolist()), res.fun)
    fits = []
    for col in cols:
        M, t, s = _fit(Ca, Cb[list(col)], transform, ridge=0.1)
        fits.append((chamfer(A @ M + t, B, max_points=1000), (M, t, s), col))
    best = None
    for _, (M, t, s), col in sorted(fits, key=lambda f: f[0])[:3]:  # ICP on the three best
        M, t, s = global_icp(A, B, M, t, s, transform, icp_rounds, seed=seed)
        sc = chamfer(A @ M + t, B)
        if best is None or sc < best[0]:
            best = (sc, M, t, s, col)
    _, M, t, s, col = best
    return _finish(A, B, M, t, s, transform, centroid_map=np.array(col), n_candidates=len(cols))


def random_orthogonal(A: ArrayLike, B: ArrayLike, transform: Transform = "similarity", *, seed: Seed = 0) -> Alignment:
    """A random semi-orthogonal map, scaled by the ratio of spreads, means matched (chance level)."""
    A = check_points(A, "A")
    B = check_points(B, "B")
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(A.shape[1], B.shape[1]))
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    spread = lambda X: np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, axis=1)))  # noqa: E731
    s = spread(B) / spread(A) if transform != "orthogonal" else 1.0
    M = s * U @ Vt
    t = B.mean(0) - A.mean(0) @ M
    return _finish(A, B, M, t, s, transform)


def anchor_procrustes(A: ArrayLike, B: ArrayLike, pairs: Pairs, k: int, transform: Transform = "affine", *,
                      seed: Seed = 0, ridge: float = 0.1) -> Alignment:
    """Procrustes on k randomly chosen known pairs (Maiorca et al. 2023)."""
    A = check_points(A, "A")
    B = check_points(B, "B")
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    transform = check_choice(transform, "transform", KINDS)
    ridge = check_fraction(ridge, "ridge", allow_none=False)
    p = _pairs_arg(pairs, A.shape[0], B.shape[0])
    k = check_int(k, "k", low=1, high=p.shape[0])
    sel = p[np.random.default_rng(seed).choice(p.shape[0], k, replace=False)]
    M, t, s = _fit(A[sel[:, 0]], B[sel[:, 1]], transform, ridge=ridge)
    return _finish(A, B, M, t, s, transform, pairs_used=sel)


def relative_representation(A: ArrayLike, B: ArrayLike, pairs: Pairs, k: int, *, seed: Seed = 0) -> np.ndarray:
    """Cosine similarities of every point to k shared anchors (Moschella et al. 2023).

    Returns (RA, RB), (n_a, k) and (n_b, k): both clouds in one k-dim relative space (score them
    with :func:`topotree.metrics.retrieval_at_k` or label transfer between RA and RB).
    """
    A = check_points(A, "A")
    B = check_points(B, "B")
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    p = _pairs_arg(pairs, A.shape[0], B.shape[0])
    k = check_int(k, "k", low=1, high=p.shape[0])
    sel = p[np.random.default_rng(seed).choice(p.shape[0], k, replace=False)]

    def rel(X, idx):
        Xc = X - X.mean(0)
        Xn = Xc / (np.linalg.norm(Xc, axis=1, keepdims=True) + 1e-12)
        return Xn @ Xn[idx].T

    return rel(A, sel[:, 0]), rel(B, sel[:, 1])


def permutation_align(A: ArrayLike, B: ArrayLike, pairs: Pairs, k: int | None = None, *, seed: Seed = 0) -> np.ndarray:
    """Git Re-Basin's activation matching: a signed permutation of coordinates by Hungarian on the
    absolute correlations over (k of) the known pairs; centred, scaled by the ratio of spreads."""
    A = check_points(A, "A")
    B = check_points(B, "B")
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    p = _pairs_arg(pairs, A.shape[0], B.shape[0])
    if k is not None:
        k = check_int(k, "k", low=2, high=p.shape[0])
        p = p[np.random.default_rng(seed).choice(p.shape[0], k, replace=False)]
    Xa = A[p[:, 0]] - A[p[:, 0]].mean(0)
    Xb = B[p[:, 1]] - B[p[:, 1]].mean(0)
    C = (Xa / (Xa.std(0) + 1e-12)).T @ (Xb / (Xb.std(0) + 1e-12)) / Xa.shape[0]
    r, c = linear_sum_assignment(-np.abs(C))
    M = np.zeros((A.shape[1], B.shape[1]))
    M[r, c] = np.sign(C[r, c])
    s = float(np.sqrt(np.sum(Xb**2) / max(np.sum((Xa @ M) ** 2), 1e-300)))
    M *= s
    t = B[p[:, 1]].mean(0) - A[p[:, 0]].mean(0) @ M
    return _finish(A, B, M, t, s, "similarity")
