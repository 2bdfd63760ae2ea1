"""Shape-based leaf maps for many dimensions: each leaf as a Gaussian (robust moments), the affine
map that carries every matched A leaf's Gaussian closest (Kullback-Leibler) to its partner's and
its divergence as the score of a leaf map, the unfitted divergence of a given map, directional
variance signatures matched by FAQ, and a local search over leaf maps by that score.

References
----------
Jian, B. and Vemuri, B. C. (2011). Robust point set registration using Gaussian mixture models.
IEEE TPAMI 33(8). Vogelstein, J. T. et al. (2015). Fast approximate quadratic programming for graph
matching. PLoS ONE 10(4).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize
from scipy.stats import chi2

from .._assignment import faq_map
from .._procrustes import fit_map
from ._params import (
    FAQ_RESTARTS,
    GAUSS_FINAL_ITER,
    GAUSS_FIT_BUDGET,
    GAUSS_FIT_ITER,
    GAUSS_MIN_FITS,
    GAUSS_N_FINAL,
    GAUSS_N_NEAR,
    GAUSS_SCREEN_ITER,
    GAUSS_SEARCH_MAPS,
    GAUSS_SEARCH_ROUNDS,
    GROUP_MOVE_MAX,
    ROBUST_QUANTILE,
    ROBUST_ROUNDS,
)

__all__ = ["GaussianFit", "assignment_divergence", "robust_moments", "directional_variances",
           "signature_maps", "gaussian_search"]


class GaussianFit:
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
                mus[i], covs[i] = robust_moments(Z)
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

    def fit(self, leaf_map, max_iter=GAUSS_FIT_ITER):
        """(M, t, divergence per dimension) in the original coordinates for ``leaf_map``."""
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
        M0, t0, _ = fit_map(Ma, Mb, w, "similarity")
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


def assignment_divergence(gfit, M, t):
    """How well a given map (M, t) carries A's leaves onto B's: the mass-weighted mean, over the
    best one-to-one pairing of leaves (Hungarian), of the divergence per dimension between each
    A leaf's mapped Gaussian and its partner B leaf's (no fitting; see :class:`_GaussianFit`),
    and that pairing as a leaf map (-1: unpaired)."""
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


def robust_moments(Z, rounds=ROBUST_ROUNDS, q=ROBUST_QUANTILE):
    """Mean and covariance of the rows of Z after dropping, twice, the points whose squared
    Mahalanobis distance exceeds the chi-square ``q`` quantile (rescaled by the median): a few
    points of another cluster in a leaf (a kNN basin's boundary) would inflate its covariance
    along the direction to that cluster."""
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


def directional_variances(X, lab, k):
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
            mu[i], covs[i] = robust_moments(P)
    out = np.zeros((k, k))
    for i in range(k):
        u = mu[None, :, :] - mu[i]
        nrm = np.einsum("ij,ij->i", u[0], u[0])
        tr = np.trace(covs[i]) / d
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.einsum("ij,jk,ik->i", u[0], covs[i], u[0]) / (nrm * tr)
        out[i, i] = 0.0
    return np.nan_to_num(out)


def signature_maps(Va, Vb, n_restarts=FAQ_RESTARTS, seed=0):
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
        out = faq_map(Sa, Sb, opts, ka, kb)
        if out is None:
            continue
        key = tuple(int(x) for x in out[0])
        found[key] = max(found.get(key, -np.inf), out[1])
    return [np.array(k) for k in sorted(found, key=found.get, reverse=True)]


def gaussian_search(gfit, maps, kb, groups_a=(), groups_b=(), max_maps=GAUSS_SEARCH_MAPS,
                    max_rounds=GAUSS_SEARCH_ROUNDS, max_fits=None, screen_iter=GAUSS_SCREEN_ITER,
                    n_final=GAUSS_N_FINAL, final_iter=GAUSS_FINAL_ITER, n_near=GAUSS_N_NEAR):
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
        max_fits = max(GAUSS_MIN_FITS, GAUSS_FIT_BUDGET // max(len(maps[0]) if len(maps) else 1, kb, 1))
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
                if len(g) != len(u) or len(u) > GROUP_MOVE_MAX:
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
