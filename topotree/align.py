"""Correspondence-free alignment of two latent spaces from their matched cluster trees.

``procrustes`` fits a map from paired points (the supervised case); ``align`` derives the pairs
itself from the two clouds' density cluster trees (no point correspondences) and refines the map
by iterative closest points restricted to matched clusters.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ._validation import check_choice, check_int, check_points

__all__ = ["Alignment", "align", "procrustes", "chamfer_score", "energy_distance", "pick_density"]

_KINDS = {"orthogonal", "similarity", "affine"}


# ---------------------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class Alignment:
    """A map from space A to space B: ``transform(X) = X @ matrix + offset``.

    Attributes
    ----------
    kind : "orthogonal", "similarity" or "affine".
    matrix : (d_a, d_b) linear part (for orthogonal/similarity: ``scale`` times a semi-orthogonal
        matrix, orthonormal rows if d_a <= d_b, orthonormal columns otherwise).
    offset : (d_b,) translation.
    scale : float, the isotropic scale (1 for orthogonal; for affine the mean singular value).
    matching : the tree matching the anchors came from (None for :func:`procrustes`).
    anchors : (anchors_a, anchors_b, weights) used for the fit.
    residuals : (m,) per-anchor residual ``|T(a) - b|``.
    score : diagnostic needing no ground truth (lower is better): the symmetric mean
        nearest-neighbour distance between T(A) and B divided by B's RMS spread (NaN when the
        clouds were not given, as in :func:`procrustes`).
    mutual_nn : fraction of T(A)'s points whose nearest neighbour in B has them as its nearest
        neighbour too (NaN when not computed).
    info : dict of extra diagnostics (trees, candidates tried, ICP steps accepted, ...).
    """

    kind: str
    matrix: np.ndarray
    offset: np.ndarray
    scale: float
    matching: object = field(default=None, repr=False)
    anchors: tuple = field(default=(), repr=False)
    residuals: np.ndarray = field(default=None, repr=False)
    score: float = float("nan")
    mutual_nn: float = float("nan")
    info: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for arr in (self.matrix, self.offset, self.residuals):
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)

    @property
    def dim_a(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dim_b(self) -> int:
        return int(self.matrix.shape[1])

    def transform(self, X) -> np.ndarray:
        """Map points of space A (rows of ``X``, shape (m, d_a)) into space B."""
        X = check_points(X, "X")
        if X.shape[1] != self.dim_a:
            raise ValueError(f"X must have {self.dim_a} columns (space A's dimension), got {X.shape[1]}")
        return X @ self.matrix + self.offset

    def inverse_transform(self, Y) -> np.ndarray:
        """Map points of space B back into space A.

        Exists when the linear part is injective (d_a <= d_b and full rank); when d_a < d_b it is
        the left inverse, which projects B's points onto the image of A first.
        """
        Y = check_points(Y, "Y")
        if Y.shape[1] != self.dim_b:
            raise ValueError(f"Y must have {self.dim_b} columns (space B's dimension), got {Y.shape[1]}")
        M = self.matrix
        if self.dim_a > self.dim_b or np.linalg.matrix_rank(M) < self.dim_a:
            raise ValueError(f"the map from {self.dim_a} to {self.dim_b} dims is not injective; it has no inverse")
        if self.kind in ("orthogonal", "similarity"):
            return (Y - self.offset) @ M.T / self.scale**2
        return (Y - self.offset) @ np.linalg.pinv(M)


# ---------------------------------------------------------------------------------------- fitting
def _weights(w, n, name="weights"):
    if w is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be 1-D of length {n}, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"{name} must be finite, non-negative and not all zero")
    return w / w.sum()


def _fit(A, B, w, kind, allow_reflection=True, ridge=0.0):
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


def procrustes(anchors_a, anchors_b, transform="similarity", *, weights=None, allow_reflection=True,
               ridge=0.0) -> Alignment:
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
    transform = check_choice(transform, "transform", _KINDS)
    w = _weights(weights, A.shape[0])
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be finite and >= 0, got {ridge}")
    M, t, s = _fit(A, B, w, transform, allow_reflection, ridge)
    res = np.linalg.norm(A @ M + t - B, axis=1)
    return Alignment(kind=transform, matrix=M, offset=t, scale=s, anchors=(A, B, w), residuals=res)


# ---------------------------------------------------------------------------------------- diagnostic
def _nearest(Q, P):
    """Distance and index of each row of Q's nearest row of P (k-d tree in few dims, BLAS above)."""
    if Q.shape[1] <= 8:
        return cKDTree(P).query(Q)
    sq_p = np.einsum("ij,ij->i", P, P)
    dist = np.empty(Q.shape[0])
    idx = np.empty(Q.shape[0], dtype=np.int64)
    for s in range(0, Q.shape[0], 1024):
        blk = Q[s:s + 1024]
        D = sq_p[None, :] - 2.0 * (blk @ P.T)
        j = np.argmin(D, axis=1)
        idx[s:s + 1024] = j
        dist[s:s + 1024] = np.sqrt(np.maximum(D[np.arange(blk.shape[0]), j] + np.einsum("ij,ij->i", blk, blk), 0.0))
    return dist, idx


def chamfer_score(TA, B, *, max_points=3000, seed=0, return_mutual=False):
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
    rng = np.random.default_rng(seed)
    if TA.shape[0] > max_points:
        TA = TA[rng.choice(TA.shape[0], max_points, replace=False)]
    if B.shape[0] > max_points:
        B = B[rng.choice(B.shape[0], max_points, replace=False)]
    spread = np.sqrt(np.mean(np.sum((B - B.mean(0)) ** 2, axis=1))) or 1.0
    da, ia = _nearest(TA, B)
    db, ib = _nearest(B, TA)
    score = 0.5 * (da.mean() + db.mean()) / spread
    if return_mutual:
        return float(score), float(np.mean(ib[ia] == np.arange(TA.shape[0])))
    return float(score)


# ---------------------------------------------------------------------------------------- trees
def _gmm_fit(X, max_components=48, seed=0, max_fit=2000):
    """A diagonal-covariance Gaussian mixture with its number of components chosen by BIC.

    A coarse geometric grid of sizes, then a few sizes around the best. Over-splitting is
    harmless downstream (the cluster tree merges split components), under-splitting is not.
    """
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    Xf = X[rng.choice(X.shape[0], max_fit, replace=False)] if X.shape[0] > max_fit else X
    n = Xf.shape[0]
    hi = int(max(2, min(max_components, n // 20)))
    reg = 1e-4 * float(np.var(Xf, axis=0).mean()) + 1e-12
    fits = {}

    def fit(c):
        if c not in fits:
            g = GaussianMixture(c, covariance_type="diag", reg_covar=reg, n_init=1, random_state=seed,
                                max_iter=60, tol=1e-2, init_params="k-means++")
            g.fit(Xf)
            fits[c] = (g.bic(Xf), g)

    grid = sorted(set(int(round(c)) for c in np.geomspace(1, hi, 8)))
    for c in grid:
        fit(c)
    i0 = grid.index(min(fits, key=lambda c: fits[c][0]))
    lo_c, hi_c = grid[max(0, i0 - 1)], grid[min(len(grid) - 1, i0 + 1)]
    for c in sorted(set(int(round(c)) for c in np.linspace(lo_c, hi_c, 5))):
        fit(c)
    return fits[min(fits, key=lambda c: fits[c][0])][1]


def _discriminant_coordinates(X, gmm):
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


def _projected_log_density(X, gmm):
    """Log-density, at the discriminant coordinates P of X, of the mixture's marginal in those
    coordinates: ``(P, log p(P))``. The full-dimensional mixture density of a many-dimensional
    cluster fluctuates by about sqrt(d/2) nats from point to point (its noise dimensions), which
    makes spurious local modes among neighbours in the discriminant coordinates; the marginal
    density there is smooth."""
    from scipy.special import logsumexp

    P = _discriminant_coordinates(X, gmm)
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


def _build(X, density, k, seed):
    """Simplified cluster tree of X: kNN density on X's own kNN graph ("knn"), or ("gmm") the
    log-density of a BIC-chosen Gaussian mixture's marginal in X's discriminant coordinates, on
    the kNN graph of those coordinates."""
    from .build import build_tree

    if density == "gmm":
        g = _gmm_fit(X, seed=seed)
        P, logd = _projected_log_density(X, g)
        return build_tree(P, log_density=logd, k=k, progress=False).simplify()
    return build_tree(X, k=k, progress=False).simplify()


def _subtree_leaves(tree):
    """For every node, the positions (in ``tree.leaves``) of the leaves below it."""
    pos = {leaf: i for i, leaf in enumerate(tree.leaves)}
    out = [set() for _ in range(tree.n_nodes)]
    for i in range(tree.n_nodes - 1, -1, -1):  # children after parents in preorder
        if i in pos:
            out[i].add(pos[i])
        p = tree.parent[i]
        if p >= 0:
            out[p] |= out[i]
    return [frozenset(s) for s in out]


def _growth_curves(tree, n_levels=48):
    """Per leaf: the mass of the component holding its peak at levels given as superlevel-set masses."""
    f = np.asarray(tree.log_density)
    n = f.shape[0]
    fs = np.sort(f)[::-1]
    qs = np.linspace(0.02, 1.0, n_levels)
    levels = fs[np.minimum((qs * n).astype(int), n - 1)]
    sub = _subtree_leaves(tree)
    leaf_pos = tree.labels()  # basin leaf of each point
    curves = np.zeros((len(tree.leaves), n_levels))
    for li, leaf in enumerate(tree.leaves):
        chain = [leaf]
        while tree.parent[chain[-1]] >= 0:
            chain.append(int(tree.parent[chain[-1]]))
        for j, lam in enumerate(levels):
            node = chain[-1]
            for a in chain:
                if tree.start[a] < lam:
                    node = a
                    break
            members = tree.members(node)
            curves[li, j] = np.count_nonzero(f[members] >= lam) / n
    del sub, leaf_pos
    return curves


# ---------------------------------------------------------------------------------------- matching fallback
def _leaf_features(tree, X):
    labels = tree.labels()
    k = len(tree.leaves)
    cent = np.zeros((k, X.shape[1]))
    mass = np.bincount(labels, minlength=k) / X.shape[0]
    for i in range(k):
        m = labels == i
        cent[i] = X[m].mean(0) if m.any() else X[tree.peak[tree.leaves[i]]]
    spread = np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, axis=1))) or 1.0
    D = np.linalg.norm(cent[:, None] - cent[None], axis=2) / spread
    # shape: log-eigenvalues of each leaf's covariance (descending), relative to the cloud's spread
    spec = np.zeros((k, X.shape[1]))
    for i in range(k):
        m = labels == i
        if m.sum() > X.shape[1]:
            ev = np.linalg.eigvalsh(np.cov(X[m].T).reshape(X.shape[1], X.shape[1]))[::-1]
            spec[i] = np.log(np.maximum(ev, 1e-12 * spread**2) / spread**2)
    return labels, cent, mass, D, spec


def _pairwise_cost(perm, Da, Db):
    """Mean absolute discrepancy of the normalised centroid distances under the leaf map perm."""
    sel = perm >= 0
    idx = np.flatnonzero(sel)
    if idx.size < 2:
        return 0.0
    return float(np.mean(np.abs(Da[np.ix_(idx, idx)] - Db[np.ix_(perm[idx], perm[idx])])))


def _objective(perm, U, Da, Db, alpha):
    idx = np.flatnonzero(perm >= 0)
    return alpha * float(U[idx, perm[idx]].mean()) + _pairwise_cost(perm, Da, Db)


def _local_search(perm, U, Da, Db, alpha, kb, max_rounds=20):
    """2-opt: swap the images of two A-leaves, or move an A-leaf to an unused B-leaf."""
    perm = perm.copy()
    best = _objective(perm, U, Da, Db, alpha)
    ka = perm.shape[0]
    for _ in range(max_rounds):
        improved = False
        for i in range(ka):
            for j in range(i + 1, ka):
                perm[i], perm[j] = perm[j], perm[i]
                c = _objective(perm, U, Da, Db, alpha)
                if c < best - 1e-12:
                    best, improved = c, True
                else:
                    perm[i], perm[j] = perm[j], perm[i]
            used = set(perm.tolist())
            for b in range(kb):
                if b in used:
                    continue
                old = perm[i]
                perm[i] = b
                c = _objective(perm, U, Da, Db, alpha)
                if c < best - 1e-12:
                    best, improved = c, True
                    used = set(perm.tolist())
                else:
                    perm[i] = old
        if not improved:
            break
    return perm, best


def _faq_map(Sa, Sb, opts, ka, kb):
    """One FAQ quadratic assignment of the (padded) matrices: A's leaves onto B's (-1 for a
    padding partner) and the objective, or None if scipy fails."""
    from scipy.optimize import quadratic_assignment

    try:
        res = quadratic_assignment(Sa, Sb, method="faq", options=opts)
    except Exception:  # pragma: no cover - scipy versions
        return None
    q = np.asarray(res.col_ind)[:ka].copy()
    q[q >= kb] = -1
    return q, float(res.fun)


def _candidate_leaf_maps(fa, fb, curves_a, curves_b, n_candidates=24, seed=0, n_restarts=12):
    """Candidate injective leaf maps A -> B (A assumed to have no more leaves than B), best first."""
    from scipy.optimize import linear_sum_assignment

    _, _, mass_a, Da, spec_a = fa
    _, _, mass_b, Db, spec_b = fb
    ka, kb = Da.shape[0], Db.shape[0]
    U = np.abs(curves_a[:, None, :] - curves_b[None, :, :]).mean(2)
    U = U / (np.median(U) + 1e-12) * 0.05  # unary in the units of the pairwise cost
    # distance profiles: each leaf's sorted distances to the other leaves (similarity-invariant)
    m = min(ka, kb) - 1
    if m >= 1:
        pa = np.sort(Da, axis=1)[:, 1:m + 1]
        pb = np.sort(Db, axis=1)[:, 1:m + 1]
        U = U + np.abs(pa[:, None, :] - pb[None, :, :]).mean(2)
    r = min(spec_a.shape[1], spec_b.shape[1])
    U = U + 0.1 * np.abs(spec_a[:, None, :r] - spec_b[None, :, :r]).mean(2)
    alpha = 1.0
    starts = []
    r, c = linear_sum_assignment(U)
    p = np.full(ka, -1)
    p[r] = c
    starts.append(p)
    rng = np.random.default_rng(seed)
    n = max(ka, kb)
    Sa = np.zeros((n, n))
    Sb = np.zeros((n, n))
    Sa[:ka, :ka] = Da
    Sb[:kb, :kb] = Db
    if ka >= 2:
        for trial in range(n_restarts):
            opts = {"maximize": True, "rng": np.random.default_rng(int(rng.integers(1 << 31)))}
            if trial == 0:
                P0 = np.zeros((n, n))
                full = np.full(n, -1)
                full[:ka] = p
                rest = [b for b in range(n) if b not in set(p.tolist())]
                full[ka:] = rest[: n - ka]
                P0[np.arange(n), full] = 1
                opts["P0"] = P0
            else:
                opts["P0"] = "randomized"
            out = _faq_map(Sa, Sb, opts, ka, kb)
            if out is None:
                continue
            q = out[0]
            # fill any A-leaf sent to padding with the cheapest free B-leaf
            free = [b for b in range(kb) if b not in set(q.tolist())]
            for i in np.flatnonzero(q < 0):
                if free:
                    q[i] = free.pop(0)
            starts.append(q)
    seen = {}
    n_maps = 1
    for i in range(ka):
        n_maps *= kb - i
    if n_maps <= 5040:  # few leaves: enumerate every injective map
        from itertools import permutations

        for q in permutations(range(kb), ka):
            seen[q] = _objective(np.array(q), U, Da, Db, alpha)
        starts = []
    for s in starts:
        perm, cost = _local_search(s, U, Da, Db, alpha, kb)
        seen[tuple(perm.tolist())] = cost
    # near-ties: single swaps of the best map (ambiguous siblings)
    best = min(seen, key=seen.get)
    bp = np.array(best)
    for i in range(ka):
        for j in range(i + 1, ka):
            q = bp.copy()
            q[i], q[j] = q[j], q[i]
            key = tuple(q.tolist())
            if key not in seen:
                seen[key] = _objective(q, U, Da, Db, alpha)
    ranked = sorted(seen, key=seen.get)[:n_candidates]
    return [np.array(r) for r in ranked], [seen[r] for r in ranked]


def _maps_from_matching(tm, tree_a, tree_b):
    """Leaf maps (position in A's leaves -> position in B's, -1 unmatched) from a TreeMatching:
    its own, then the exchanges within each ambiguous group."""
    from itertools import permutations

    pos_a = {leaf: i for i, leaf in enumerate(tree_a.leaves)}
    pos_b = {leaf: i for i, leaf in enumerate(tree_b.leaves)}
    base = np.full(len(tree_a.leaves), -1)
    for a, b in tm.pairs:
        if a in pos_a and b in pos_b:
            base[pos_a[a]] = pos_b[b]
    maps = [base]
    for group in tm.ambiguous:
        ids = [(pos_a.get(tm.pairs[g][0]), pos_b.get(tm.pairs[g][1])) for g in group]
        ids = [(i, j) for i, j in ids if i is not None and j is not None]
        if len(ids) < 2 or len(ids) > 5:
            continue
        src = [i for i, _ in ids]
        for perm in permutations([j for _, j in ids]):
            q = base.copy()
            q[src] = perm
            if not np.array_equal(q, base):
                maps.append(q)
    return maps


def _rematch(Ta, Cb, leaf_map):
    """Re-pair leaves by Hungarian on the distances between mapped A-centroids and B-centroids."""
    from scipy.optimize import linear_sum_assignment

    n_match = int(np.count_nonzero(leaf_map >= 0))
    D = np.linalg.norm(Ta[:, None] - Cb[None], axis=2)
    r, c = linear_sum_assignment(D)
    out = np.full(Ta.shape[0], -1)
    keep = np.argsort(D[r, c])[:n_match]
    out[r[keep]] = c[keep]
    return out


# ---------------------------------------------------------------------------------------- anchors and ICP
def _node_pairs(tree_a, tree_b, leaf_map):
    """Node pairs implied by a leaf map: leaves, plus internal nodes whose leaf sets correspond."""
    sub_a = _subtree_leaves(tree_a)
    sub_b = _subtree_leaves(tree_b)
    by_set_b = {s: i for i, s in enumerate(sub_b)}
    pairs = []
    for na in range(tree_a.n_nodes):
        s = sub_a[na]
        if not s:
            continue
        img = frozenset(int(leaf_map[i]) for i in s if leaf_map[i] >= 0)
        if len(img) != len(s):
            continue
        nb = by_set_b.get(img)
        if nb is not None:
            pairs.append((na, nb))
    if not any(tree_a.parent[a] < 0 for a, _ in pairs):
        pairs.append((0, 0))  # the roots always correspond
    return pairs, sub_a, sub_b


def _anchors(X, f, labels, leafsets, quantiles=(1.0, 0.5, 0.25)):
    """Centroids of the densest fractions of each node's points (points whose basin leaf is below it)."""
    out = []
    for s in leafsets:
        m = np.flatnonzero(np.isin(labels, list(s)))
        order = m[np.argsort(-f[m], kind="stable")]
        for q in quantiles:
            top = order[: max(1, int(round(q * order.shape[0])))]
            out.append(X[top].mean(0))
    return np.array(out)


def _icp(A, B, lab_a, lab_b, leaf_map, kind, M, t, s, anchors, rounds, ridge, allow_reflection, rng,
         max_per_cluster=800, score_fn=None):
    """ICP with mutual nearest neighbours restricted to matched clusters; keep steps that improve."""
    Aa, Ab, wa = anchors
    best = score_fn(M, t)
    accepted = 0
    groups = []
    for ia, ib in enumerate(leaf_map):
        if ib < 0:
            continue
        pa = np.flatnonzero(lab_a == ia)
        pb = np.flatnonzero(lab_b == ib)
        if pa.size == 0 or pb.size == 0:
            continue
        if pa.size > max_per_cluster:
            pa = rng.choice(pa, max_per_cluster, replace=False)
        if pb.size > max_per_cluster:
            pb = rng.choice(pb, max_per_cluster, replace=False)
        groups.append((pa, pb))
    if not groups:
        return M, t, s, best, 0
    for _ in range(rounds):
        src, dst = [], []
        for pa, pb in groups:
            TA = A[pa] @ M + t
            _, j = _nearest(TA, B[pb])
            _, i = _nearest(B[pb], TA)
            mutual = np.flatnonzero(i[j] == np.arange(pa.size))
            if mutual.size == 0:
                continue
            src.append(A[pa[mutual]])
            dst.append(B[pb[j[mutual]]])
        if not src:
            break
        S = np.vstack(src)
        D = np.vstack(dst)
        # the mutual pairs carry half the weight, the tree anchors the other half
        P = np.vstack([S, Aa])
        Q = np.vstack([D, Ab])
        w = np.r_[np.full(S.shape[0], 0.5 / S.shape[0]), 0.5 * wa / wa.sum()]
        M2, t2, s2 = _fit(P, Q, w, kind, allow_reflection, ridge)
        sc = score_fn(M2, t2)
        if sc < best - 1e-9:
            M, t, s, best = M2, t2, s2, sc
            accepted += 1
        else:
            break
    return M, t, s, best, accepted


class _selection_score:
    """Correspondence-free selector for candidate maps (lower is better): the Chamfer score plus
    the leaf inconsistency, the fraction of mapped A points whose nearest B point lies in another
    leaf than the one the leaf map sends theirs to. In many dimensions nearest-neighbour distances
    are dominated by within-cluster noise and the Chamfer score barely moves; the consistency
    term still sees a cluster landing on the wrong cluster."""

    def __init__(self, A, B, lab_a, lab_b, n_points, seed, twin_b=None):
        self.twin_b = twin_b
        rng = np.random.default_rng(seed)
        self.ia = rng.choice(A.shape[0], min(n_points, A.shape[0]), replace=False)
        ib = rng.choice(B.shape[0], min(n_points, B.shape[0]), replace=False)
        self.A, self.B = A[self.ia], B[ib]
        self.la, self.lb = lab_a[self.ia], lab_b[ib]
        self.spread = np.sqrt(np.mean(np.sum((self.B - self.B.mean(0)) ** 2, axis=1))) or 1.0
        self.e_bb = _mean_dist(self.B[:1500], self.B[:1500]) or 1.0
        self.cov_a, self.mass_a = _leaf_covariances(A, lab_a)
        self.cov_b, _ = _leaf_covariances(B, lab_b)
        # with twins (the final comparison) a leaf needs 3 points per dimension for its Gaussian:
        # the likelihood under a covariance from fewer points (a sliver of a split cluster) misleads
        self.gauss_b = (_leaf_gaussians(B, lab_b, self.cov_b, min_factor=1 if twin_b is None else 3)
                        if A.shape[1] > 8 else None)
        self.leaf_pts_a = [A[np.flatnonzero(lab_a == i)[:400]] for i in range(self.cov_a.shape[0])]

    def _parts(self, M, t, leaf_map):
        leaf_map = np.asarray(leaf_map)
        TA = self.A @ M + t
        da, ja = _nearest(TA, self.B)
        db, _ = _nearest(self.B, TA)
        chamfer = 0.5 * (da.mean() + db.mean()) / self.spread
        # leaves left unmatched on either side (spurious splits) neither help nor hurt
        img = np.zeros(int(self.lb.max()) + 1 if self.lb.size else 1, dtype=bool)
        img[leaf_map[leaf_map >= 0]] = True
        target = leaf_map[self.la]
        ok = (self.lb[ja] == target) | ~img[self.lb[ja]]
        if self.twin_b is not None:
            ok |= (self.twin_b[self.lb[ja]] == target) & (target >= 0)
        valid = target >= 0
        cons = float(np.mean(ok[valid])) if valid.any() else 0.0
        if self.A.shape[1] <= 8:
            return chamfer, cons, 0.0
        # many dims: the Chamfer distance rewards shrinking T(A) towards B's centre (every point
        # then sits equally far from all of B's noisy clusters); the energy distance does not
        m = min(TA.shape[0], 1500)
        e_ab = _mean_dist(TA[:m], self.B[:m])
        e_aa = _mean_dist(TA[:m], TA[:m])
        chamfer = (2.0 * e_ab - e_aa - self.e_bb) / self.e_bb
        # shape: each matched leaf's covariance carried by the map against its partner's
        # shape: mean negative log-likelihood of each matched A leaf's mapped points under a
        # Gaussian fitted to its partner B leaf, over B's own (per dimension); a wrong leaf map
        # misplaces or mis-shapes whole clusters, which this sees even where distances do not
        shape, wsum = 0.0, 0.0
        for i in np.flatnonzero(leaf_map >= 0):
            g = self.gauss_b[leaf_map[i]] if leaf_map[i] < len(self.gauss_b) else None
            P = self.leaf_pts_a[i] if i < len(self.leaf_pts_a) else None
            if g is None or P is None or P.shape[0] == 0:
                continue
            mu, L, base = g
            Z = np.linalg.solve(L, (P @ M + t - mu).T)
            nll = 0.5 * float(np.mean(np.sum(Z**2, axis=0)))
            shape += self.mass_a[i] * min(nll - base, 50.0 * M.shape[1]) / M.shape[1]
            wsum += self.mass_a[i]
        return chamfer, cons, shape / wsum if wsum > 0 else 0.0

    def consistency(self, M, t, leaf_map):
        return self._parts(M, t, leaf_map)[1]

    def __call__(self, M, t, leaf_map):
        chamfer, cons, shape = self._parts(M, t, leaf_map)
        return float(chamfer + (1.0 - cons) + 0.25 * shape)


class _GaussianFit:
    """Fits, for a leaf map, the affine map under which every matched A leaf's Gaussian (mean and
    covariance) best fits its partner B leaf's: minimises the mass-weighted Kullback-Leibler
    divergence ``sum_i w_i KL(N(mu_i M + t, M' C_i M) || N(nu_j, D_j))`` over (M, t).

    A wrong leaf map can place every centroid right (the centroids of equal-weight clusters of
    whitened clouds form a near-regular simplex, which every permutation maps onto itself), but
    one linear map cannot carry every cluster's covariance onto a wrong partner's: the fitted
    divergence (per dimension, lower is better) is swap-sensitive where distances are not.
    Both clouds are whitened by their pooled within-leaf covariance first (conditioning)."""

    def __init__(self, A, B, lab_a, lab_b, ka, kb):
        self.a = self._stats(A, lab_a, ka)
        self.b = self._stats(B, lab_b, kb)
        C_b = self.b[1]
        self.Dinv = np.linalg.inv(C_b)
        self.ld_b = np.linalg.slogdet(C_b)[1]
        self.cache = {}

    @staticmethod
    def _stats(X, lab, k):
        d = X.shape[1]
        c = X.mean(0)
        mus = np.zeros((k, d))
        covs = np.tile(np.eye(d), (k, 1, 1))
        cnt = np.bincount(lab, minlength=k)[:k].astype(float)
        for i in range(k):
            Z = X[lab == i]
            if Z.shape[0] >= 2:
                mus[i], covs[i] = _robust_moments(Z)
        ok = cnt > d + 1
        w = cnt * ok
        pooled = np.tensordot(w / w.sum(), covs, axes=1) if w.sum() > 0 else np.cov(X.T).reshape(d, d)
        e, V = np.linalg.eigh(pooled)
        e = np.maximum(e, 1e-9 * max(e.max(), 1e-300))
        W = (V / np.sqrt(e)) @ V.T  # pooled^(-1/2)
        Wi = (V * np.sqrt(e)) @ V.T
        mus = (mus - c) @ W
        covs = np.matmul(np.matmul(W, covs), W)
        # shrink towards the leaf's mean variance, more for leaves with few points per dimension
        a = np.minimum(1.0, 0.05 + d / np.maximum(cnt, 1.0))
        tr = np.trace(covs, axis1=1, axis2=2) / d
        covs = (1 - a)[:, None, None] * covs + (a * tr)[:, None, None] * np.eye(d)
        return mus, covs, cnt / max(cnt.sum(), 1.0), ok, (c, W, Wi)

    def fit(self, leaf_map, max_iter=150):
        """(M, t, divergence per dimension) in the original coordinates for ``leaf_map``."""
        from scipy.optimize import minimize

        key = (tuple(int(x) for x in leaf_map), max_iter)
        if key in self.cache:
            return self.cache[key]
        mu_a, C_a, mass_a, ok_a, (ca, Wa, _) = self.a
        mu_b, _, _, ok_b, (cb, _, Wbi) = self.b
        lm = np.asarray(leaf_map)
        sel = np.flatnonzero((lm >= 0) & ok_a[: lm.shape[0]])
        sel = sel[ok_b[lm[sel]]] if sel.size else sel
        da, db = mu_a.shape[1], mu_b.shape[1]
        if sel.size < 2:
            out = (None, None, np.inf)
            self.cache[key] = out
            return out
        j = lm[sel]
        Ma, Ca, Mb, Di, ldb = mu_a[sel], C_a[sel], mu_b[j], self.Dinv[j], self.ld_b[j]
        w = mass_a[sel] / mass_a[sel].sum()
        M0, t0, _ = _fit(Ma, Mb, w, "similarity")
        ridge = 1e-6 * np.eye(db)

        def f(x):
            M = x[: da * db].reshape(da, db)
            t = x[da * db:]
            CM = Ca @ M  # (k, da, db)
            S = np.matmul(M.T, CM) + ridge
            sign, ld = np.linalg.slogdet(S)
            if (sign <= 0).any():
                return 1e12, np.zeros_like(x)
            m = Ma @ M + t - Mb
            Dm = np.matmul(Di, m[:, :, None])[:, :, 0]
            val = 0.5 * float(w @ ((Di * S).sum(axis=(1, 2)) + (m * Dm).sum(1) - db + ldb - ld))
            G = CM @ Di - CM @ np.linalg.inv(S)
            gM = np.tensordot(w, G, axes=1) + (Ma * w[:, None]).T @ Dm
            gt = w @ Dm
            return val, np.r_[gM.ravel(), gt]

        r = minimize(f, np.r_[M0.ravel(), t0], jac=True, method="L-BFGS-B", options=dict(maxiter=max_iter))
        Mw = r.x[: da * db].reshape(da, db)
        tw = r.x[da * db:]
        # back to the original coordinates: B = ((A - ca) Wa Mw + tw) Wb^-1 + cb
        M = Wa @ Mw @ Wbi
        t = cb + tw @ Wbi - ca @ M
        out = (M, t, float(r.fun) / db)
        self.cache[key] = out
        return out


def _assignment_divergence(gfit, M, t):
    """How well a given map (M, t) carries A's leaves onto B's: the mass-weighted mean, over the
    best one-to-one pairing of leaves (Hungarian), of the divergence per dimension between each
    A leaf's mapped Gaussian and its partner B leaf's (no fitting; see :class:`_GaussianFit`),
    and that pairing as a leaf map (-1: unpaired)."""
    from scipy.optimize import linear_sum_assignment

    mu_a, C_a, mass_a, ok_a, (ca, _, Wai) = gfit.a
    mu_b, _, _, ok_b, (cb, Wb, _) = gfit.b
    ia, ib = np.flatnonzero(ok_a), np.flatnonzero(ok_b)
    if ia.size == 0 or ib.size == 0:
        return np.inf, np.full(mu_a.shape[0], -1)
    Mw = Wai @ M @ Wb
    tw = (t - cb + ca @ M) @ Wb
    db = mu_b.shape[1]
    S = np.matmul(np.matmul(Mw.T, C_a[ia]), Mw) + 1e-6 * np.eye(db)
    sign, ld = np.linalg.slogdet(S)
    if (sign <= 0).any():
        return np.inf, np.full(mu_a.shape[0], -1)
    Di = gfit.Dinv[ib]
    m = (mu_a[ia] @ Mw + tw)[:, None, :] - mu_b[ib][None, :, :]
    K = 0.5 * (np.einsum("bij,aji->ab", Di, S) + np.einsum("abi,bij,abj->ab", m, Di, m) - db
               + gfit.ld_b[ib][None, :] - ld[:, None]) / db
    r, c = linear_sum_assignment(K)
    w = mass_a[ia][r]
    leaf_map = np.full(mu_a.shape[0], -1)
    leaf_map[ia[r]] = ib[c]
    return float(w @ K[r, c] / w.sum()), leaf_map


def _robust_moments(Z, rounds=2, q=0.995):
    """Mean and covariance of the rows of Z after dropping, twice, the points whose squared
    Mahalanobis distance exceeds the chi-square ``q`` quantile (rescaled by the median): a few
    points of another cluster in a leaf (a kNN basin's boundary) would inflate its covariance
    along the direction to that cluster."""
    from scipy.stats import chi2

    d = Z.shape[1]
    mu = Z.mean(0)
    C = np.cov(Z.T).reshape(d, d) if Z.shape[0] > 1 else np.eye(d)
    if Z.shape[0] <= 2 * d:
        return mu, C
    cut = chi2.ppf(q, d) / chi2.ppf(0.5, d)
    for _ in range(rounds):
        Cs = 0.9 * C + 0.1 * np.trace(C) / d * np.eye(d)
        try:
            L = np.linalg.cholesky(Cs)
        except np.linalg.LinAlgError:
            break
        d2 = np.sum(np.linalg.solve(L, (Z - mu).T) ** 2, axis=0)
        keep = d2 <= cut * np.median(d2)
        if keep.all() or keep.sum() <= 2 * d:
            break
        mu = Z[keep].mean(0)
        C = np.cov(Z[keep].T).reshape(d, d)
    return mu, C


def _directional_variances(X, lab, k):
    """(k, k) matrix: the variance of leaf i along the direction to leaf l's centroid, over leaf
    i's mean variance, in X's whitened coordinates (so invariant under affine maps of X up to the
    sampling noise). A swap-sensitive signature of a leaf map where the centroids alone are not
    (equal-weight clusters of whitened clouds: a near-regular simplex)."""
    d = X.shape[1]
    Z = X - X.mean(0)
    e, U = np.linalg.eigh(np.cov(Z.T).reshape(d, d))
    Z = Z @ (U / np.sqrt(np.maximum(e, 1e-12 * max(e.max(), 1e-300))))
    mu = np.zeros((k, d))
    covs = np.zeros((k, d, d))
    for i in range(k):
        P = Z[lab == i]
        if P.shape[0] >= 2:
            mu[i], covs[i] = _robust_moments(P)
    out = np.zeros((k, k))
    for i in range(k):
        u = mu[None, :, :] - mu[i]
        nrm = np.einsum("ij,ij->i", u[0], u[0])
        tr = np.trace(covs[i]) / d
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.einsum("ij,jk,ik->i", u[0], covs[i], u[0]) / (nrm * tr)
        out[i, i] = 0.0
    return np.nan_to_num(out)


def _signature_maps(Va, Vb, n_restarts=12, seed=0):
    """Leaf maps A -> B (-1 unmatched) maximising the agreement of the directional-variance
    signatures (a quadratic assignment; FAQ from several starts), best first."""
    ka, kb = Va.shape[0], Vb.shape[0]
    n = max(ka, kb)
    if min(ka, kb) < 2:
        return []
    offa = ~np.eye(ka, dtype=bool)
    offb = ~np.eye(kb, dtype=bool)
    Sa = np.zeros((n, n))
    Sb = np.zeros((n, n))
    Sa[:ka, :ka] = np.where(offa, Va - Va[offa].mean(), 0.0)
    Sb[:kb, :kb] = np.where(offb, Vb - Vb[offb].mean(), 0.0)
    rng = np.random.default_rng(seed)
    found = {}
    for trial in range(n_restarts):
        opts = {"maximize": True, "P0": "barycenter" if trial == 0 else "randomized",
                "rng": np.random.default_rng(int(rng.integers(1 << 31)))}
        out = _faq_map(Sa, Sb, opts, ka, kb)
        if out is None:
            continue
        key = tuple(int(x) for x in out[0])
        found[key] = max(found.get(key, -np.inf), out[1])
    return [np.array(k) for k in sorted(found, key=found.get, reverse=True)]


def _gaussian_search(gfit, maps, kb, groups_a=(), groups_b=(), max_maps=40, max_rounds=4, max_fits=None,
                     screen_iter=30, n_final=4, final_iter=300, n_near=8):
    """Candidate leaf maps ordered by their fitted Gaussian divergence (best first), after a
    local search from the best. Moves: send a subtree of A (``groups_a``: leaf sets) onto a
    subtree of B of as many leaves (``groups_b``), giving the leaves that held those partners
    the freed ones, then exchange partners inside the moved groups (whole clusters of clusters
    can swap, which no single exchange of two leaves reaches); exchange two A leaves' partners;
    move one to a free B leaf. Screening fits stop after ``screen_iter`` iterations; the best
    ``n_final`` are refitted to ``final_iter`` and ranked by that. A fit costs about as much as
    its number of leaves: by default at most ``3600 / leaves`` fits (400 for 9 leaves)."""
    scored = {}
    if max_fits is None:
        max_fits = max(60, 3600 // max(len(maps[0]) if len(maps) else 1, kb, 1))
    budget = [max_fits]

    def score(q):
        key = tuple(int(x) for x in q)
        if key not in scored:
            if budget[0] <= 0:
                return key, np.inf
            budget[0] -= 1
            scored[key] = gfit.fit(np.array(key), screen_iter)[2]
        return key, scored[key]

    mu_b = gfit.b[0]
    near_b = np.argsort(np.linalg.norm(mu_b[:, None] - mu_b[None], axis=2), axis=1)[:, 1:n_near + 1]

    def close(b1, b2):
        return b1 < 0 or b2 < 0 or b2 in near_b[b1] or b1 in near_b[b2]

    def descend(key, idx, rounds=3):
        """Best-improvement exchanges of two partners among the positions idx (with many
        leaves, only of partners among each other's ``n_near`` nearest B leaves)."""
        val = score(key)[1]
        for _ in range(rounds):
            cur = np.array(key)
            moved = False
            for a in range(len(idx)):
                for b in range(a + 1, len(idx)):
                    if cur[idx[a]] == cur[idx[b]] or not close(cur[idx[a]], cur[idx[b]]):
                        continue
                    r = cur.copy()
                    r[idx[a]], r[idx[b]] = r[idx[b]], r[idx[a]]
                    k2, v2 = score(r)
                    if v2 < val - 1e-9:
                        key, val, moved = k2, v2, True
            if not moved:
                break
        return key, val

    for m in maps[:max_maps]:
        score(m)
    if not scored:
        return list(maps)
    best = min(scored, key=scored.get)
    ka = len(best)
    for _ in range(max_rounds):
        start = best
        # group moves
        for u in groups_a:
            for g in groups_b:
                if len(g) != len(u) or len(u) > 8:
                    continue
                cur = np.array(best)
                iu = sorted(u)
                if set(cur[iu].tolist()) == set(g):
                    continue
                freed = [int(cur[i]) for i in iu if cur[i] not in g]
                targets = [b for b in sorted(g) if b not in set(cur[iu].tolist())]
                holders = [i for i in range(ka) if cur[i] in set(targets)]
                q = cur.copy()
                for i, b in zip([i for i in iu if cur[i] not in g], targets):
                    q[i] = b
                for i, b in zip(holders, freed):
                    q[i] = b
                k2, v2 = descend(tuple(int(x) for x in q), iu + holders)
                if v2 < scored[best] - 1e-9:
                    best = k2
        # single moves: exchanges, and moves to a free B leaf
        key, val = descend(best, list(range(ka)), rounds=1)
        if val < scored[best] - 1e-9:
            best = key
        cur = np.array(best)
        free = [b for b in range(kb) if b not in set(cur.tolist())]
        for i in range(ka):
            for b in free:
                q = cur.copy()
                q[i] = b
                k2, v2 = score(q)
                if v2 < scored[best] - 1e-9:
                    best = k2
        if best == start or budget[0] <= 0:
            break
    order = sorted(scored, key=scored.get)
    top = sorted(order[:n_final], key=lambda k: gfit.fit(np.array(k), final_iter)[2])
    return [np.array(k) for k in top + order[n_final:]]


def _twins(tree):
    """Per leaf position: the position of its twin (the other child of its parent when both
    children are leaves), or -1."""
    pos = {leaf: i for i, leaf in enumerate(tree.leaves)}
    out = np.full(len(tree.leaves), -1, dtype=np.int64)
    for node in range(tree.n_nodes):
        ch = tree.children(node)
        if len(ch) == 2 and all(c in pos for c in ch):
            out[pos[ch[0]]], out[pos[ch[1]]] = pos[ch[1]], pos[ch[0]]
    return out


def _mean_dist(P, Q):
    sq = np.einsum("ij,ij->i", P, P)[:, None] + np.einsum("ij,ij->i", Q, Q)[None, :] - 2.0 * (P @ Q.T)
    return float(np.sqrt(np.maximum(sq, 0.0)).mean())


def _sqrtm(C, inverse=False):
    e, V = np.linalg.eigh(C)
    e = np.maximum(e, 1e-12 * max(e.max(), 1e-300))
    return (V * (e ** (-0.5 if inverse else 0.5))) @ V.T


def _moment_corrected(A, B, M, t, Pa, Pb, w):
    """The affine map with T(A)'s mean and covariance equal to B's that is closest to the given
    one on the anchors: whiten T(A), rotate (Procrustes on the whitened anchors), colour with B's
    covariance. A nonlinear warp biases the cluster anchors; the overall moments are not biased."""
    TA = A @ M + t
    mu_t, mu_b = TA.mean(0), B.mean(0)
    Wt = _sqrtm(np.cov(TA.T).reshape(TA.shape[1], -1), inverse=True)
    Wb_inv = _sqrtm(np.cov(B.T).reshape(B.shape[1], -1))
    Wb = np.linalg.inv(Wb_inv)
    Za = (Pa @ M + t - mu_t) @ Wt
    Zb = (Pb - mu_b) @ Wb
    U, _, Vt = np.linalg.svd((Za * w[:, None]).T @ Zb)
    C = Wt @ (U @ Vt) @ Wb_inv
    M2 = M @ C
    t2 = (t - mu_t) @ C + mu_b
    return M2, t2


def _leaf_gaussians(X, labels, covs, shrink=0.05, min_factor=1):
    """Per leaf: (mean, Cholesky factor of the shrunk covariance, the leaf's own mean squared
    Mahalanobis half-distance) or None for leaves with too few points."""
    out = []
    d = X.shape[1]
    for i in range(covs.shape[0]):
        Z = X[labels == i]
        if Z.shape[0] <= min_factor * d:
            out.append(None)
            continue
        C = covs[i]
        C = (1.0 - shrink) * C + shrink * (np.trace(C) / d) * np.eye(d)
        try:
            L = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            out.append(None)
            continue
        mu = Z.mean(0)
        W = np.linalg.solve(L, (Z[:400] - mu).T)
        out.append((mu, L, 0.5 * float(np.mean(np.sum(W**2, axis=0)))))
    return out


def _leaf_covariances(X, labels):
    k = int(labels.max()) + 1 if labels.size else 0
    d = X.shape[1]
    covs = np.zeros((k, d, d))
    mass = np.bincount(labels, minlength=k) / max(labels.size, 1)
    for i in range(k):
        Z = X[labels == i]
        if Z.shape[0] > 1:
            Z = Z - Z.mean(0)
            covs[i] = Z.T @ Z / (Z.shape[0] - 1)
    return covs, mass


# ---------------------------------------------------------------------------------------- align
def _check_tree(tree, n, name, xname):
    if tree is None:
        return None
    if not hasattr(tree, "leaves") or not hasattr(tree, "log_density"):
        raise TypeError(f"{name} must be a topotree ClusterTree, got {type(tree).__name__}")
    if tree.n_points != n:
        raise ValueError(f"{name} has {tree.n_points} points but {xname} has {n}")
    return tree


def align(A, B, transform="similarity", *, tree_a=None, tree_b=None, density="auto", k=None,
          icp_rounds=5, ridge=0.1, allow_reflection=True, max_points=20000, n_candidates=24,
          use_matching="auto", n_refine=3, seed=0) -> Alignment:
    """Align two point clouds without point correspondences, from their matched cluster trees.

    Leaves of the two density cluster trees are matched (by their growth curves and the
    geometry of their centroids); matched nodes give anchor pairs (centroids of each node's
    densest 100/50/25% points, plus the roots); a Procrustes-family map is fitted to them and
    refined by ICP with mutual nearest neighbours restricted to matched clusters, keeping a step
    only where the diagnostic ``score`` (symmetric Chamfer distance) improves. Several candidate
    leaf matchings (ambiguous siblings) are tried and the one with the best selection score kept:
    the Chamfer distance (above 8 dims the energy distance, which does not reward shrinking) plus
    the leaf inconsistency (mapped points whose nearest B point lies in another leaf than the
    matched one) plus, above 8 dims, the mean negative log-likelihood of each matched A leaf's
    mapped points under a Gaussian fitted to its partner B leaf.

    Above 8 dims (with d_a >= d_b) a wrong matching can fit every centroid as well as the right
    one (equal-weight clusters of whitened clouds: their centroids form a near-regular simplex,
    which any permutation maps onto itself). There the leaf map is chosen by the clusters'
    shapes: candidates also come from a quadratic assignment of each leaf's variance along the
    directions to the other leaves' centroids (in whitened coordinates, so affine-invariant), and
    the map kept is the one under which one affine map carries every matched A leaf's Gaussian
    closest (Kullback-Leibler) to its partner's, after a local search (exchanges of two leaves'
    partners; whole subtrees sent onto subtrees). That map is then fitted as above, or taken
    from the Gaussian fit when that scores better. When d_a < d_b the ``n_refine`` best
    candidates are each refined by ICP and compared after it.

    Parameters
    ----------
    A : (n_a, d_a) points in space A; B : (n_b, d_b) points in space B (n_a != n_b is fine).
    transform : {"similarity", "orthogonal", "affine"}
    tree_a, tree_b : ClusterTree, optional
        Simplified trees of A and B (built with ``density`` when not given).
    density : {"auto", "knn", "gmm"}
        How the trees are built when not given. "knn": the kNN log-density on the points' own kNN
        graph. "gmm": a diagonal Gaussian mixture with its size chosen by BIC; the tree is built on
        the log-density of its marginal in the points' discriminant coordinates (the span of the
        component means after whitening by the pooled within-component covariance), over the kNN
        graph of those coordinates, which drops
        the noise dimensions in which a kNN graph of 16-64-dim points links every cluster to every
        other. "auto": both, keeping the alignment whose T(A) is closer
        to B (:func:`pick_density`; twice the time). For latents with an exact density (e.g. a
        normalising-flow autoencoder), build the trees yourself with
        ``build_tree(X, log_density=exact).simplify()`` and pass them as ``tree_a``/``tree_b``.
    k : neighbours for the trees (default :func:`topotree.default_k`).
    icp_rounds : int, rounds of restricted ICP (0 switches it off).
    ridge : float, affine only: pull towards the similarity fit (relative to A's variance).
    allow_reflection : bool, allow det -1 (default True).
    max_points : int, clouds larger than this are subsampled (uniformly) for the trees and the fit.
    n_candidates : int, candidate leaf matchings scored by the diagnostic.
    n_refine : int
        Above 8 dims when d_a < d_b, how many of the best candidate matchings are refined by ICP
        before the final choice (by the selection score after ICP).
    use_matching : {"auto", "trees", "fallback"}
        Where the leaf matching comes from: ``topotree.match_trees`` when available ("auto"), or
        the built-in growth-curve + geometry matcher.
    seed : int, for subsampling.

    Returns
    -------
    Alignment

    References
    ----------
    Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
    Riemannian manifolds. J. ACM 60(6). Besl, P. J. and McKay, N. D. (1992). A method for
    registration of 3-D shapes. IEEE TPAMI 14(2). Umeyama, S. (1991). IEEE TPAMI 13(4).
    Schwarz, G. (1978). Estimating the dimension of a model. Ann. Statist. 6(2) (BIC). Fisher, R. A.
    (1936). The use of multiple measurements in taxonomic problems. Ann. Eugenics 7(2)
    (discriminant coordinates). Székely, G. J. and Rizzo, M. L. (2013). Energy statistics. J. Stat.
    Plan. Inference 143(8). Vogelstein, J. T. et al. (2015). Fast approximate quadratic programming
    for graph matching. PLoS ONE 10(4) (FAQ). Jian, B. and Vemuri, B. C. (2011). Robust point set
    registration using Gaussian mixture models. IEEE TPAMI 33(8).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> m = hierarchical_mixture(2000, dim=3, n_leaves=5, seed=1)
    >>> Q = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    >>> B = 2.0 * m.X @ Q + 5.0
    >>> al = tt.align(m.X, B, "similarity")
    >>> bool(np.abs(al.transform(m.X) - B).max() < 0.05 * np.abs(B).max())
    True
    """
    A = check_points(A, "A")
    B = check_points(B, "B")
    transform = check_choice(transform, "transform", _KINDS)
    density = check_choice(density, "density", {"auto", "knn", "gmm"})
    use_matching = check_choice(use_matching, "use_matching", {"auto", "trees", "fallback"})
    icp_rounds = check_int(icp_rounds, "icp_rounds", low=0)
    max_points = check_int(max_points, "max_points", low=100)
    n_candidates = check_int(n_candidates, "n_candidates", low=1)
    n_refine = check_int(n_refine, "n_refine", low=1)
    if k is not None:
        k = check_int(k, "k", low=2)
    min_pts = max(20, (k or 15) + 1)
    for X, name in ((A, "A"), (B, "B")):
        if X.shape[0] < min_pts:
            raise ValueError(f"{name} has {X.shape[0]} points; at least {min_pts} are needed to build a cluster tree")
    tree_a = _check_tree(tree_a, A.shape[0], "tree_a", "A")
    tree_b = _check_tree(tree_b, B.shape[0], "tree_b", "B")
    if density == "auto" and tree_a is None and tree_b is None:
        # neither density wins everywhere: run both, keep the closer fit
        kw = dict(k=k, icp_rounds=icp_rounds, ridge=ridge, allow_reflection=allow_reflection,
                  max_points=max_points, n_candidates=n_candidates, use_matching=use_matching,
                  n_refine=n_refine, seed=seed)
        runs = [align(A, B, transform, density="knn", **kw)]
        try:
            runs.append(align(A, B, transform, density="gmm", **kw))
        except (ValueError, np.linalg.LinAlgError):  # degenerate clouds: keep the kNN fit
            pass
        return pick_density(A, B, runs, seed=seed)
    rng = np.random.default_rng(seed)
    # subsample big clouds (trees are given for the full clouds: keep them whole then)
    if tree_a is None and A.shape[0] > max_points:
        A = A[np.sort(rng.choice(A.shape[0], max_points, replace=False))]
    if tree_b is None and B.shape[0] > max_points:
        B = B[np.sort(rng.choice(B.shape[0], max_points, replace=False))]
    da_, db_ = A.shape[1], B.shape[1]
    dens_a = density if density != "auto" else "knn"
    dens_b = density if density != "auto" else "knn"
    if tree_a is None:
        tree_a = _build(A, dens_a, k, seed)
    if tree_b is None:
        tree_b = _build(B, dens_b, k, seed)

    swap = len(tree_a.leaves) > len(tree_b.leaves)
    fa = _leaf_features(tree_a, A)
    fb = _leaf_features(tree_b, B)
    tm = None
    maps = []
    if use_matching in ("auto", "trees"):
        from .matching import match_trees

        tm = match_trees(tree_a, tree_b, A, B, simplify=False)
        maps = _maps_from_matching(tm, tree_a, tree_b)
    if use_matching == "trees":
        costs = [tm.cost] * len(maps)
    elif swap:
        maps_ba, costs = _candidate_leaf_maps(fb, fa, _growth_curves(tree_b), _growth_curves(tree_a), n_candidates, seed)
        for mba in maps_ba:
            mab = np.full(len(tree_a.leaves), -1)
            for ib, ia in enumerate(mba):
                if ia >= 0:
                    mab[ia] = ib
            maps.append(mab)
    else:
        maps_f, costs = _candidate_leaf_maps(fa, fb, _growth_curves(tree_a), _growth_curves(tree_b), n_candidates, seed)
        maps = maps + maps_f

    f_a = np.asarray(tree_a.log_density)
    f_b = np.asarray(tree_b.log_density)
    lab_a, lab_b = fa[0], fb[0]
    score_fn = _selection_score(A, B, lab_a, lab_b, 3000, seed)
    screen_fn = _selection_score(A, B, lab_a, lab_b, 1000, seed)
    tried = []

    def _evaluate(leaf_map, score_fn=score_fn):
        pairs, sub_a, sub_b = _node_pairs(tree_a, tree_b, leaf_map)
        Pa = _anchors(A, f_a, lab_a, [sub_a[a] for a, _ in pairs])
        Pb = _anchors(B, f_b, lab_b, [sub_b[b] for _, b in pairs])
        # leaves weigh more than the coarse nodes above them
        w = np.repeat([1.0 if tree_a.is_leaf[a] else 0.5 for a, _ in pairs], 3)
        w = w / w.sum()
        kind0 = "similarity" if transform == "affine" else transform
        M, t, s = _fit(Pa, Pb, w, kind0, allow_reflection)
        return (score_fn(M, t, leaf_map), leaf_map, pairs, Pa, Pb, w, M, t, s)

    gfit = None
    if min(da_, db_) > 8 and da_ >= db_ and maps:
        # many dims: choose the leaf map by how well one affine map carries every matched leaf's
        # Gaussian onto its partner's (swap-sensitive where centroid geometry is not), improving
        # the best candidate by exchanges of two leaves' partners
        gfit = _GaussianFit(A, B, lab_a, lab_b, len(tree_a.leaves), len(tree_b.leaves))
        sig = _signature_maps(_directional_variances(A, lab_a, len(tree_a.leaves)),
                              _directional_variances(B, lab_b, len(tree_b.leaves)), seed=seed)
        maps = sig[:4] + list(maps)
        groups = [[g for g in dict.fromkeys(_subtree_leaves(tr)) if 2 <= len(g) < len(tr.leaves)]
                  for tr in (tree_a, tree_b)]
        maps = _gaussian_search(gfit, maps, len(tree_b.leaves), *groups)
        maps = maps[:1]
    # screen every candidate on small subsamples, re-score the best few on larger ones
    cands = [_evaluate(leaf_map, screen_fn) for leaf_map in maps]
    if gfit is not None:
        cands = [(score_fn(c[6], c[7], c[1]),) + tuple(c[1:]) for c in cands]
        tried = [c[0] for c in cands]
        first = cands[0]
    elif len(cands) > 6:
        keep = np.argsort([c[0] for c in cands], kind="stable")[:6]
        cands = [cands[i] for i in sorted(keep)]  # keep the matching's ranking order
    if gfit is None:
        cands = [(score_fn(c[6], c[7], c[1]),) + tuple(c[1:]) for c in cands]
        tried = [c[0] for c in cands]
        # the diagnostic decides, but near-ties (within 5%, e.g. symmetric configurations where the
        # diagnostic is blind) go to the map the matching ranked first (maps come best first)
        floor = min(tried)
        first = next(c for c in cands if c[0] <= 1.05 * floor)

    def _refine(best):
        # geometric re-matching: map A's leaf centroids with the fit, re-pair by Hungarian, refit
        for _ in range(5):
            sc, leaf_map, pairs, Pa, Pb, w, M, t, s = best
            new_map = _rematch(fa[1] @ M + t, fb[1], leaf_map)
            if np.array_equal(new_map, leaf_map):
                break
            cand = _evaluate(new_map)
            tried.append(cand[0])
            if cand[0] < best[0]:
                best = cand
            else:
                break
        sc, leaf_map, pairs, Pa, Pb, w, M, t, s = best
        if transform == "affine":
            M2, t2, s2 = _fit(Pa, Pb, w, "affine", allow_reflection, ridge)
            sc2 = score_fn(M2, t2, leaf_map)
            if sc2 < sc:
                M, t, s, sc = M2, t2, s2, sc2
        accepted = 0
        if icp_rounds:
            M, t, s, sc, accepted = _icp(A, B, lab_a, lab_b, leaf_map, transform, M, t, s, (Pa, Pb, w),
                                         icp_rounds, ridge, allow_reflection, np.random.default_rng(seed),
                                         score_fn=lambda M_, t_: score_fn(M_, t_, leaf_map))
        return sc, leaf_map, pairs, Pa, Pb, w, M, t, s, accepted

    finals = [_refine(first)]
    if gfit is not None:
        # the leaf map is chosen; of its fits (anchors + ICP, or the Gaussian fit) keep the closer
        sc0, leaf_map, pairs, Pa, Pb, w = finals[0][:6]
        Mg, tg, _ = gfit.fit(leaf_map, 300)
        if Mg is not None:
            sg = float(np.linalg.svd(Mg, compute_uv=False).mean())
            if transform != "affine":
                U, _, Vt = np.linalg.svd(Mg, full_matrices=False)
                sg = 1.0 if transform == "orthogonal" else sg
                Mg = sg * (U @ Vt)
                tg = w @ Pb - (w @ Pa) @ Mg
            final_fn = _selection_score(A, B, lab_a, lab_b, 3000, seed, twin_b=_twins(tree_b))
            finals = [(final_fn(f[6], f[7], f[1]),) + tuple(f[1:]) for f in finals]
            finals.append((final_fn(Mg, tg, leaf_map), leaf_map, pairs, Pa, Pb, w, Mg, tg, sg, 0))
    elif min(da_, db_) > 8 and n_refine > 1:
        # many dims: a wrong leaf map (e.g. swapped sibling clusters of equal weight) can fit the
        # anchors as well as the right one; only after ICP has fitted the clusters' shapes does the
        # per-leaf Gaussian likelihood tell them apart, so refine the best few and compare then
        order = np.argsort([c[0] for c in cands], kind="stable")
        for i in order:
            if len(finals) >= n_refine:
                break
            if cands[i] is first:
                continue
            finals.append(_refine(cands[i]))
        # compare the refined maps leniently at over-split clusters: a point landing in the twin
        # (leaf sibling) of its target leaf counts as consistent, so the arbitrary boundary between
        # the halves of one split cluster does not decide between maps
        final_fn = _selection_score(A, B, lab_a, lab_b, 3000, seed, twin_b=_twins(tree_b))
        finals = [(final_fn(f[6], f[7], f[1]),) + tuple(f[1:]) for f in finals]
    sc, leaf_map, pairs, Pa, Pb, w, M, t, s, accepted = min(finals, key=lambda f: f[0])
    if transform == "affine" and da_ == db_:
        M2, t2 = _moment_corrected(A, B, M, t, Pa, Pb, w)
        sc2 = score_fn(M2, t2, leaf_map)
        if sc2 < sc:
            M, t, sc = M2, t2, sc2
            s = float(np.linalg.svd(M, compute_uv=False).mean())
    consistency = score_fn.consistency(M, t, leaf_map)
    sc, mnn = chamfer_score(A @ M + t, B, seed=seed, return_mutual=True)
    res = np.linalg.norm(Pa @ M + t - Pb, axis=1)
    matching = tm if tm is not None else _LeafMatching(pairs=tuple((int(a), int(b)) for a, b in pairs),
                                                       leaf_map=leaf_map, cost=float(costs[0]),
                                                       candidates_scores=tuple(tried))
    info = dict(leaf_map=leaf_map, node_pairs=pairs, candidate_scores=tuple(tried), tree_a=tree_a, tree_b=tree_b, density_a=dens_a, density_b=dens_b, icp_accepted=accepted, leaf_consistency=consistency,
                n_candidates=len(tried))
    return Alignment(kind=transform, matrix=M, offset=t, scale=float(s), matching=matching,
                     anchors=(Pa, Pb, w), residuals=res, score=sc, mutual_nn=mnn, info=info)


def energy_distance(TA, B, *, max_points=1000, seed=0):
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
    rng = np.random.default_rng(seed)
    ia = rng.choice(TA.shape[0], min(max_points, TA.shape[0]), replace=False)
    ib = rng.choice(B.shape[0], min(max_points, B.shape[0]), replace=False)
    P, Q = TA[ia], B[ib]
    e_bb = _mean_dist(Q, Q) or 1.0
    return float((2.0 * _mean_dist(P, Q) - _mean_dist(P, P) - e_bb) / e_bb)


def pick_density(A, B, alignments, *, seed=0):
    """Of several alignments of A to B (e.g. on kNN and on GMM trees), the one whose T(A) is
    closest to B; its ``info["density_energy"]`` records every candidate's distance.

    Up to 8 dims the distance is the energy distance. Above, where the energy distance barely
    sees two equal-weight clusters swapped, it judges the leaf correspondence each map implies:
    for the leaves of each candidate's trees in turn, each map's pairing of A's leaves with B's
    (Hungarian on the Kullback-Leibler divergence between every A leaf's mapped Gaussian and
    every B leaf's), then the divergence of the best affine map for that pairing (as in
    :func:`align`), relative to the best candidate's, summed over the candidates' clusterings
    (the unfitted divergence breaks ties). Without trees covering A and B (or when d_a < d_b), a symmetric
    Kullback-Leibler estimate between full-covariance Gaussian mixtures fitted to T(A) and to B
    (for every candidate as many components as the largest of the alignments' B trees has
    leaves).

    References
    ----------
    Székely, G. J. and Rizzo, M. L. (2013). Energy statistics. J. Stat. Plan. Inference 143(8).
    Hershey, J. R. and Olsen, P. A. (2007). Approximating the Kullback Leibler divergence between
    Gaussian mixture models. ICASSP.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> good, bad = tt.procrustes(X, X), tt.procrustes(X, X + 5.0)
    >>> pick_density(X, X, [bad, good]) is good
    True
    """
    A = check_points(A, "A")
    B = check_points(B, "B")
    if not alignments:
        raise ValueError("alignments must not be empty")
    labelled = [(al.info["tree_a"], al.info["tree_b"]) for al in alignments
                if al.info.get("tree_a") is not None and al.info.get("tree_b") is not None
                and al.info["tree_a"].n_points == A.shape[0] and al.info["tree_b"].n_points == B.shape[0]]
    if min(A.shape[1], B.shape[1]) > 8 and A.shape[1] >= B.shape[1] and labelled:
        # many dims: swapped equal-weight clusters are invisible to distances but not to the
        # clusters' shapes. Compare the leaf correspondences the maps imply, each refitted by the
        # Gaussian fit (so a map is not judged by how well it fits inside the clusters), relative
        # to the best, on every candidate's clustering in turn (so none is favoured); the
        # unfitted divergence breaks ties (the same pairing)
        scores = np.zeros(len(alignments))
        for ta, tb in dict.fromkeys(labelled):
            g = _GaussianFit(A, B, ta.labels(), tb.labels(), len(ta.leaves), len(tb.leaves))
            direct = [_assignment_divergence(g, al.matrix, al.offset) for al in alignments]
            refit = np.array([g.fit(lm, 300)[2] for _, lm in direct])
            plain = np.array([v for v, _ in direct])
            if np.isfinite(refit).all() and refit.min() > 0:
                scores += refit / refit.min()
            if np.isfinite(plain).all() and plain.min() > 0:
                scores += 1e-3 * plain / plain.min()
        scores = list(scores / len(labelled))
    elif min(A.shape[1], B.shape[1]) > 8:
        # many dims: the energy distance is nearly blind to swapped clusters of equal weight;
        # a symmetric Kullback-Leibler estimate between Gaussian mixtures of T(A) and B is not
        # the same number of components for every candidate (the most leaves any B tree found):
        # with fewer, a map could win by matching a coarser (e.g. single Gaussian) summary
        n_comp = max(len(al.info["tree_b"].leaves) if al.info.get("tree_b") is not None else 8
                     for al in alignments)
        scores = [_mixture_divergence(al.transform(A), B, n_comp, seed) for al in alignments]
    else:
        scores = [energy_distance(al.transform(A), B, seed=seed) for al in alignments]
    best = alignments[int(np.argmin(scores))]
    best.info["density_energy"] = {f"{al.info.get('density_a')}": sc for al, sc in zip(alignments, scores)}
    best.info["density"] = best.info.get("density_a")
    return best


def _mixture_divergence(TA, B, n_components, seed=0, max_fit=2000):
    """Symmetric Kullback-Leibler estimate between T(A) and B from full-covariance Gaussian
    mixtures fitted to each: ``E_B[log p_B - log p_TA] + E_TA[log p_TA - log p_B]``."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    P = TA[rng.choice(TA.shape[0], max_fit, replace=False)] if TA.shape[0] > max_fit else TA
    Q = B[rng.choice(B.shape[0], max_fit, replace=False)] if B.shape[0] > max_fit else B
    c = int(max(1, min(n_components, min(P.shape[0], Q.shape[0]) // (2 * P.shape[1] + 2))))
    reg = 1e-3 * float(np.var(Q, axis=0).mean()) + 1e-12
    fits = [GaussianMixture(c, covariance_type="full", reg_covar=reg, random_state=seed, max_iter=100,
                            n_init=1).fit(Z) for Z in (P, Q)]
    gp, gq = fits
    return float(gq.score(Q) - gp.score(Q) + gp.score(P) - gq.score(P))


@dataclass(frozen=True)
class _LeafMatching:
    """The built-in matching's result: node pairs and the leaf map (position in leaves -> position)."""

    pairs: tuple
    leaf_map: np.ndarray
    cost: float
    candidates_scores: tuple
