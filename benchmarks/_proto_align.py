"""Prototype: correspondence-free alignment of two latent clouds by Gromov-Wasserstein starts refined by
Wasserstein-Procrustes (alternating exact OT and an affine refit), plus a calibrated trust signal.

Imports only numpy, scipy, scikit-learn, POT and topotree's public API (to move into topotree/align/).

Pipeline (``align``):
1. Both clouds are centred and scaled to unit RMS spread; a second view whitens them (an affine
   relation becomes an orthogonal one between whitened clouds).
2. Gromov-Wasserstein (square loss on normalised squared-Euclidean costs) on subsamples, from several
   starts (the product coupling, random couplings, and couplings seeded from k-means cluster matches);
   each coupling gives an affine map by weighted least squares against its barycentric projection.
3. Each candidate map is refined by Wasserstein-Procrustes: exact OT (``ot.emd``) between T(A) and B on
   subsamples, then an affine refit on the matched pairs (ridge toward the similarity fit), until the OT
   cost stops falling.
4. The candidate with the lowest OT cost between T(A) and B on a held-out subsample is kept (no pairs).

Trust (``trust``): the OT cost of T(A) to B placed between a noise floor (B against B: two disjoint
halves) and a structureless null (a Gaussian with B's mean and covariance: what matching only the
first two moments achieves), mapped to [0, 1]; 1 = T(A) is as close to B as B is to itself, 0 = no
closer than a moment match.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from topotree._pot import import_pot

__all__ = ["align", "trust", "ProtoAlignment"]


@dataclass(frozen=True, eq=False)
class ProtoAlignment:
    matrix: np.ndarray
    offset: np.ndarray
    trust: float
    warning: str | None
    info: dict = field(default_factory=dict, repr=False)
    nonlinear: object = field(default=None, repr=False)

    def transform(self, X):
        Y = np.asarray(X, float) @ self.matrix + self.offset
        if self.nonlinear is not None:
            Y = Y + self.nonlinear(np.asarray(X, float))
        return Y


# ----------------------------------------------------------------------------------------- fits
def _affine_fit(X, Y, w=None, ridge=0.1):
    """Weighted affine least squares X -> Y, pulled toward the weighted similarity fit by ``ridge``
    (relative to X's variance). Returns (M, t)."""
    w = np.full(len(X), 1.0 / len(X)) if w is None else w / w.sum()
    mx, my = w @ X, w @ Y
    Xc, Yc = X - mx, Y - my
    # similarity (orthogonal Procrustes with scale, reflections allowed)
    C = Xc.T @ (Yc * w[:, None])
    U, S, Vt = np.linalg.svd(C, full_matrices=False)
    R = U @ Vt
    vx = float(w @ np.sum(Xc**2, 1))
    s = S.sum() / max(vx, 1e-300)
    Ms = s * R
    if ridge is None:
        return Ms, my - mx @ Ms
    lam = ridge * vx / X.shape[1]
    G = Xc.T @ (Xc * w[:, None]) + lam * np.eye(X.shape[1])
    M = np.linalg.solve(G, C + lam * Ms)
    return M, my - mx @ M


def _rms(X):
    return float(np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, 1)))) or 1.0


def _whitener(X, eps=1e-9):
    mu = X.mean(0)
    e, V = np.linalg.eigh(np.cov((X - mu).T).reshape(X.shape[1], X.shape[1]))
    e = np.maximum(e, eps * e.max())
    W = V / np.sqrt(e)
    return mu, W


def _emd_cost(X, Y, ot):
    """Exact OT cost (mean squared distance under the optimal matching, uniform weights) and the plan."""
    M = ot.dist(X, Y)
    G = ot.emd(ot.unif(len(X)), ot.unif(len(Y)), M, numItermax=1_000_000)
    return float(np.sum(G * M)), G


# ----------------------------------------------------------------------------------- GW starts
def _gw_couplings(Xa, Xb, n_random, n_cluster, rng, ot):
    """GW couplings from several starts; returns list of (gw_loss, G)."""
    Ca, Cb = ot.dist(Xa, Xa), ot.dist(Xb, Xb)
    Ca, Cb = Ca / Ca.max(), Cb / Cb.max()
    p, q = ot.unif(len(Xa)), ot.unif(len(Xb))
    starts = [None] + [_random_coupling(p, q, rng) for _ in range(n_random)]
    starts += _cluster_starts(Xa, Xb, p, q, n_cluster, rng)
    out = []
    for G0 in starts:
        G, log = ot.gromov.gromov_wasserstein(Ca, Cb, p, q, "square_loss", G0=G0, log=True, max_iter=300)
        out.append((float(log["gw_dist"]), G))
    return out


def _random_coupling(p, q, rng):
    """A random vertex of the transport polytope (exact OT for a random cost), mixed with the product."""
    ot = import_pot()
    G = ot.emd(p, q, rng.random((len(p), len(q))))
    return 0.5 * G + 0.5 * np.outer(p, q)


def _cluster_starts(Xa, Xb, p, q, n_cluster, rng):
    """Couplings that send each k-means cluster of A onto the B cluster its GW-matched centroid
    structure picks (a small GW between centroid distance matrices, from several starts)."""
    if n_cluster <= 0:
        return []
    from sklearn.cluster import KMeans

    ot = import_pot()
    k = int(np.clip(round(np.sqrt(min(len(Xa), len(Xb)) / 4)), 4, 20))
    ka = KMeans(k, n_init=4, random_state=int(rng.integers(1 << 30))).fit(Xa)
    kb = KMeans(k, n_init=4, random_state=int(rng.integers(1 << 30))).fit(Xb)
    wa = np.bincount(ka.labels_, minlength=k) / len(Xa)
    wb = np.bincount(kb.labels_, minlength=k) / len(Xb)
    Da, Db = ot.dist(ka.cluster_centers_, ka.cluster_centers_), ot.dist(kb.cluster_centers_, kb.cluster_centers_)
    Da, Db = Da / Da.max(), Db / Db.max()
    cands = []
    for s in range(4 * n_cluster):
        G0 = None if s == 0 else _random_coupling(wa, wb, rng)
        g, log = ot.gromov.gromov_wasserstein(Da, Db, wa, wb, "square_loss", G0=G0, log=True)
        cands.append((float(log["gw_dist"]), g))
    cands.sort(key=lambda c: c[0])
    out, seen = [], []
    for _, g in cands:
        key = tuple(np.argmax(g, 1))
        if key in seen:
            continue
        seen.append(key)
        # point coupling: mass of cluster pair (i, j) spread uniformly over their members
        Pa = np.eye(k)[ka.labels_]
        Pb = np.eye(k)[kb.labels_]
        G = (Pa / np.maximum(Pa.sum(0), 1)) @ g @ (Pb / np.maximum(Pb.sum(0), 1)).T
        G = G / G.sum()
        out.append(0.9 * G + 0.1 * np.outer(p, q))
        if len(out) >= n_cluster:
            break
    return out


# ------------------------------------------------------------------------ Wasserstein-Procrustes
def _wp_refine(A, B, M, t, rng, ot, m=500, max_rounds=30, ridge=0.1):
    """Alternate exact OT between T(A) and B (fresh subsamples of m points each round) and an affine
    refit on the matched pairs; stop when the OT cost (on a fixed subsample) stops falling."""
    ia_fix = rng.choice(len(A), min(m, len(A)), replace=False)
    ib_fix = rng.choice(len(B), min(m, len(B)), replace=False)
    best = _emd_cost(A[ia_fix] @ M + t, B[ib_fix], ot)[0]
    bad = 0
    for _ in range(max_rounds):
        ia = rng.choice(len(A), min(m, len(A)), replace=False)
        ib = rng.choice(len(B), min(m, len(B)), replace=False)
        _, G = _emd_cost(A[ia] @ M + t, B[ib], ot)
        j = np.argmax(G, 1)
        M2, t2 = _affine_fit(A[ia], B[ib][j], None, ridge)
        c = _emd_cost(A[ia_fix] @ M2 + t2, B[ib_fix], ot)[0]
        if c < best * (1 - 1e-3):
            M, t, best, bad = M2, t2, c, 0
        else:
            bad += 1
            if c < best:
                M, t, best = M2, t2, c
            if bad >= 2:
                break
    return M, t, best


# ----------------------------------------------------------------------------------------- align
def _soft_refine(A, B, M, t, rng, ot, m=600, rounds=10, ridge=0.1):
    """EM-style refinement (coherent point drift in spirit): entropic OT between T(A) and B at a
    temperature set by the current mean matched squared distance, barycentric targets, affine refit."""
    for _ in range(rounds):
        ia = rng.choice(len(A), min(m, len(A)), replace=False)
        ib = rng.choice(len(B), min(m, len(B)), replace=False)
        TA = A[ia] @ M + t
        C = ot.dist(TA, B[ib])
        _, G = _emd_cost(TA, B[ib], ot)
        eps = float(np.sum(G * C))  # current W2^2: the matching's own noise level
        K = ot.sinkhorn(ot.unif(len(ia)), ot.unif(len(ib)), C / eps, 0.05, numItermax=200)
        Y = (K @ B[ib]) / np.maximum(K.sum(1, keepdims=True), 1e-300)
        M, t = _affine_fit(A[ia], Y, None, ridge)
    return M, t


def _gw(Xa, Xb, G0, ot, max_iter=300):
    Ca, Cb = np.sqrt(ot.dist(Xa, Xa)), np.sqrt(ot.dist(Xb, Xb))
    Ca, Cb = Ca / Ca.max(), Cb / Cb.max()
    p, q = ot.unif(len(Xa)), ot.unif(len(Xb))
    G, log = ot.gromov.gromov_wasserstein(Ca, Cb, p, q, "square_loss", G0=G0, log=True, max_iter=max_iter)
    return float(log["gw_dist"]), G


def _coupling_map(Xa, Xb, G):
    Yb = (G @ Xb) / np.maximum(G.sum(1, keepdims=True), 1e-300)
    return _affine_fit(Xa, Yb, G.sum(1), 0.1)


def _centroid_screen(A, B, k, n_starts, rng, ot):
    from sklearn.cluster import KMeans

    out = []
    ka = KMeans(min(k, len(A)), n_init=3, random_state=int(rng.integers(1 << 30))).fit(A)
    kb = KMeans(min(k, len(B)), n_init=3, random_state=int(rng.integers(1 << 30))).fit(B)
    Ca, Cb = ka.cluster_centers_, kb.cluster_centers_
    wa = np.bincount(ka.labels_, minlength=len(Ca)) / len(A)
    wb = np.bincount(kb.labels_, minlength=len(Cb)) / len(B)
    Da, Db = np.sqrt(ot.dist(Ca, Ca)), np.sqrt(ot.dist(Cb, Cb))
    Da, Db = Da / Da.max(), Db / Db.max()
    for s in range(n_starts):
        G0 = None if s == 0 else 0.5 * ot.emd(wa, wb, rng.random((len(wa), len(wb)))) + 0.5 * np.outer(wa, wb)
        G, log = ot.gromov.gromov_wasserstein(Da, Db, wa, wb, "square_loss", G0=G0, log=True, max_iter=300)
        out.append((float(log["gw_dist"]), _coupling_map(Ca, Cb, G)))
    return out


def align(A, B, *, n_screen=300, n_starts=100, n_keep=4, n_sub=800, refine="wp", nonlinear=False, screen_by="kmeans", n_centroids=40,
          seed=0) -> ProtoAlignment:
    """Correspondence-free affine map A -> B (see the module docstring)."""
    ot = import_pot()
    t0 = time.perf_counter()
    A = np.asarray(A, float)
    B = np.asarray(B, float)
    rng = np.random.default_rng(seed)
    # stage 1: many GW starts (Euclidean distances) on small subsamples, ranked by GW loss
    ia = rng.choice(len(A), min(n_screen, len(A)), replace=False)
    ib = rng.choice(len(B), min(n_screen, len(B)), replace=False)
    p, q = ot.unif(len(ia)), ot.unif(len(ib))
    screen = []
    if screen_by == "points":
        for s in range(n_starts):
            G0 = None if s == 0 else _random_coupling(p, q, rng)
            loss, G = _gw(A[ia], B[ib], G0, ot)
            screen.append((loss, _coupling_map(A[ia], B[ib], G)))
    else:  # quantized GW: k-means centroids with their masses, many cheap starts
        screen = _centroid_screen(A, B, n_centroids, n_starts, rng, ot)
    screen.sort(key=lambda c: c[0])
    # stage 2: the best maps seed GW on larger subsamples (start: exact OT between T(A) and B)
    ja = rng.choice(len(A), min(n_sub, len(A)), replace=False)
    jb = rng.choice(len(B), min(n_sub, len(B)), replace=False)
    p, q = ot.unif(len(ja)), ot.unif(len(jb))
    final = []
    for loss1, (M, t) in screen[:n_keep]:
        _, G0 = _emd_cost(A[ja] @ M + t, B[jb], ot)
        loss, G = _gw(A[ja], B[jb], 0.5 * G0 + 0.5 * np.outer(p, q), ot)
        final.append((loss, loss1, _coupling_map(A[ja], B[jb], G)))
    final.sort(key=lambda c: c[0])
    M, t = final[0][2]
    if refine == "wp":
        M, t, _ = _wp_refine(A, B, M, t, rng, ot)
    elif refine == "soft":
        M, t = _soft_refine(A, B, M, t, rng, ot)
    tr = trust(A, B, lambda X: X @ M + t, seed=seed)
    tr["w2_trust"] = tr.pop("trust")
    # basin margin: how much lower the winner's GW loss is than that of the best final candidate that
    # lands on a different map (RMS difference of the mapped clouds above half of B's spread)
    TA, sb = A @ M + t, _rms(B)
    dev = [float(np.sqrt(np.mean(np.sum((A @ c[2][0] + c[2][1] - TA) ** 2, 1)))) / sb for c in final[1:]]
    rivals = [c[0] for c, d in zip(final[1:], dev) if d > 0.5]
    margin = (min(rivals) - final[0][0]) / max(final[0][0], 1e-300) if rivals else 1.0
    tr.update(agreement=dev, margin=margin, trust=float(margin / (margin + 0.02)))
    tr["warning"] = (None if margin >= 0.01 else
                     f"no correspondence stands out (GW-loss margin {margin:.3%} over a different map): "
                     "nothing to align, or the alignment is unreliable")
    nl = _nonlinear(A, B, M, t, rng, ot) if nonlinear else None
    info = dict(seconds=time.perf_counter() - t0, screen=[c[0] for c in screen], final=[c[:2] for c in final], **tr)
    return ProtoAlignment(matrix=M, offset=t, trust=tr["trust"], warning=tr["warning"], info=info, nonlinear=nl)


def _nonlinear(A, B, M, t, rng, ot, m=1000):
    """Kernel ridge on the residual B_matched - T(A) under the final exact OT coupling (pull toward
    the affine map = the ridge penalty)."""
    from sklearn.kernel_ridge import KernelRidge

    ia = rng.choice(len(A), min(m, len(A)), replace=False)
    ib = rng.choice(len(B), min(m, len(B)), replace=False)
    _, G = _emd_cost(A[ia] @ M + t, B[ib], ot)
    j = np.argmax(G, 1)
    R = B[ib][j] - (A[ia] @ M + t)
    s = _rms(A)
    kr = KernelRidge(alpha=1.0, kernel="rbf", gamma=1.0 / s**2).fit(A[ia], R)
    return kr.predict


# ----------------------------------------------------------------------------------------- trust
def trust(A, B, T, *, m=400, repeats=3, seed=0):
    """Calibrated trust of a map T (callable, A -> B space), with no pairs.

    For disjoint halves B1, B2 of a subsample of B (m/2 points each): floor = W2^2(B1, B2) (B against
    itself); null = W2^2(N, B2) with N Gaussian with B's mean and covariance (moments only); fit =
    W2^2(T(A_sub), B2). trust = clip((null - fit) / (null - floor), 0, 1), averaged over repeats.
    A warning is set when trust < 0.5 or when B shows no structure beyond its moments (null close to floor).
    """
    ot = import_pot()
    rng = np.random.default_rng(seed + 7)
    A = np.asarray(A, float)
    B = np.asarray(B, float)
    h = min(m // 2, len(B) // 2, len(A))
    mu, C = B.mean(0), np.cov(B.T).reshape(B.shape[1], B.shape[1])
    L = np.linalg.cholesky(C + 1e-12 * np.trace(C) * np.eye(len(C)))
    fl, nu, fi = [], [], []
    TA = T(A)
    for _ in range(repeats):
        pb = rng.permutation(len(B))
        B1, B2 = B[pb[:h]], B[pb[h:2 * h]]
        N = mu + rng.normal(size=(h, B.shape[1])) @ L.T
        fl.append(_emd_cost(B1, B2, ot)[0])
        nu.append(_emd_cost(N, B2, ot)[0])
        fi.append(_emd_cost(TA[rng.choice(len(A), h, replace=False)], B2, ot)[0])
    floor, null, fit = np.mean(fl), np.mean(nu), np.mean(fi)
    structure = (null - floor) / max(null, 1e-300)  # how far B is from a Gaussian, relative
    score = float(np.clip((null - fit) / max(null - floor, 1e-300), 0.0, 1.0)) if null > floor else 0.0
    warning = None
    if structure < 0.05:
        warning = "B shows no structure beyond its mean and covariance: nothing to align"
    elif score < 0.5:
        warning = f"T(A) is not closer to B than a moment match (trust {score:.2f}): the alignment is unreliable"
    return dict(trust=score, warning=warning, floor=floor, null=null, fit=fit, structure=structure)
