"""Global starting maps that need no trees: Gromov-Wasserstein between the k-means centroids of A
and of B (Euclidean distances, the centroids' masses as weights), from many cheap starts; each
coupling gives an affine map fitted to the centroids' barycentric projections.

Quantising first keeps every GW solve small (tens of centroids), so a hundred starts cost less
than one GW between a thousand points; the couplings with the lowest GW loss become candidates.

References
----------
Memoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching.
Found. Comput. Math. 11. Chowdhury, S., Miller, D. and Needham, T. (2021). Quantized
Gromov-Wasserstein. ECML-PKDD. Alvarez-Melis, D. and Jaakkola, T. (2018). Gromov-Wasserstein
alignment of word embedding spaces. EMNLP.
"""
from __future__ import annotations

import numpy as np

from .._pot import import_pot
from .._procrustes import fit_map
from ._params import GW_CENTROIDS, GW_KEEP, GW_KMEANS_POINTS, GW_MAX_ITER, GW_STARTS

__all__ = ["centroid_gw_maps"]


def _centroids(X, k, seed):
    from sklearn.cluster import KMeans  # heavy: imported on first use

    rng = np.random.default_rng(seed)
    Xf = X[rng.choice(X.shape[0], GW_KMEANS_POINTS, replace=False)] if X.shape[0] > GW_KMEANS_POINTS else X
    km = KMeans(k, n_init=3, random_state=seed).fit(Xf)
    return km.cluster_centers_, np.bincount(km.labels_, minlength=k) / Xf.shape[0]


def centroid_gw_maps(A, B, kind, allow_reflection=True, ridge=0.0, seed=0, sizes=GW_CENTROIDS,
                     n_starts=GW_STARTS, keep=GW_KEEP):
    """Candidate maps ``(M, t, s)``, best GW loss first within each quantisation size."""
    ot = import_pot()
    out = []
    for j, k in enumerate(sizes):
        k = int(min(k, A.shape[0] // 2, B.shape[0] // 2))
        if k < 3:
            continue
        rng = np.random.default_rng(seed + j)
        Ca, wa = _centroids(A, k, seed + j)
        Cb, wb = _centroids(B, k, seed + j)
        Da, Db = np.sqrt(ot.dist(Ca, Ca)), np.sqrt(ot.dist(Cb, Cb))
        Da, Db = Da / Da.max(), Db / Db.max()
        found = []
        for s in range(n_starts):
            # the product coupling, then random vertices of the transport polytope mixed with it
            G0 = None if s == 0 else 0.5 * ot.emd(wa, wb, rng.random((k, k))) + 0.5 * np.outer(wa, wb)
            G, log = ot.gromov.gromov_wasserstein(Da, Db, wa, wb, "square_loss", G0=G0, log=True,
                                                  max_iter=GW_MAX_ITER)
            found.append((float(log["gw_dist"]), s, G))
        found.sort(key=lambda f: (f[0], f[1]))
        for _, _, G in found[:keep]:
            mass = G.sum(axis=1)
            target = (G @ Cb) / np.maximum(mass, 1e-300)[:, None]
            out.append(fit_map(Ca, target, mass / mass.sum(), kind, allow_reflection, ridge))
    return out
