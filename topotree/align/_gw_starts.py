"""Global starting maps that need no trees: Gromov-Wasserstein between the k-means clusters of A
and of B (the clusters' masses as weights), from many cheap starts; each coupling gives an affine
map fitted to the centroids' barycentric projections.

Quantising first keeps every GW solve small (tens of centroids), so a hundred starts cost less
than one GW between a thousand points; the couplings with the lowest GW loss become candidates.
Each plan of ``GW_PLANS`` names the distance between clusters (see ``_cluster_distances``) and the
number of clusters: Euclidean distances between centres serve clouds related by a similarity;
hop counts and geodesics through the kNN graph serve the latents of two trained networks, whose
relation keeps neighbourhoods but not lengths (on digits, pairs of MLPs of different depth or
activation: the only starts that reach the basin of the true map).

References
----------
Memoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching.
Found. Comput. Math. 11. Chowdhury, S., Miller, D. and Needham, T. (2021). Quantized
Gromov-Wasserstein. ECML-PKDD. Alvarez-Melis, D. and Jaakkola, T. (2018). Gromov-Wasserstein
alignment of word embedding spaces. EMNLP.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._pot import import_pot
from .._procrustes import fit_map
from .._validation import sklearn_seed
from ._cluster_distances import CLUSTER_DISTANCES, POINT_DISTANCES, member_means
from ._params import GRAPH_POINTS, GW_KMEANS_INIT, GW_KMEANS_POINTS, GW_MAX_ITER, GW_PLANS

__all__ = ["GWPlan", "GWStart", "centroid_gw_maps"]


class GWStart(NamedTuple):
    """A starting map ``X -> X M + t`` (mean singular value ``s``) and the cluster distance
    (``metric``) whose GW coupling gave it."""

    M: np.ndarray
    t: np.ndarray
    s: float
    metric: str


class GWPlan(NamedTuple):
    """How one family of starts is made: the distance between clusters (``metric``, a key of
    ``CLUSTER_DISTANCES``), the number of k-means ``clusters``, the k-means ``runs`` (each with its
    own seed), GW ``solves`` per run and couplings kept per run (``keep``, lowest GW loss)."""

    metric: str
    clusters: int
    runs: int
    solves: int
    keep: int


class _Quantised(NamedTuple):
    """A cloud's k-means clusters: centres, masses, and the normalised distances between them."""

    centres: np.ndarray
    masses: np.ndarray
    distances: np.ndarray


def _graph_sample(X, metric, rng, cache):
    """The rows of X the graph distances are taken over (all of them up to GRAPH_POINTS, else a
    uniform sample of GRAPH_POINTS) and the distances between them by ``metric``; with a
    ``cache`` (a dict for this cloud) both are computed once and shared by every quantisation."""
    if cache is not None and metric in cache:
        return cache["rows"], cache[metric]
    rows = cache.get("rows") if cache is not None else None
    if rows is None:
        n = X.shape[0]
        rows = np.arange(n) if n <= GRAPH_POINTS else np.sort(rng.choice(n, GRAPH_POINTS, replace=False))
    D = POINT_DISTANCES[metric](X[rows])
    if cache is not None:
        cache["rows"], cache[metric] = rows, D
    return rows, D


def _quantise(X, k, metric, seed, n_init=GW_KMEANS_INIT, cache=None):
    """k-means (best of ``n_init`` starts) on at most GW_KMEANS_POINTS rows; graph distances
    between clusters as means over the members among the graph's rows (see ``_graph_sample``;
    a cluster with no member there is represented by the graph row nearest its centre).
    ``cache``: a dict for this cloud, where the graph's rows and the distances between them are
    kept and reused by the next quantisation (the same numbers: only the clusters change)."""
    from sklearn.cluster import KMeans  # heavy: imported on first use

    rng = np.random.default_rng(seed)
    Xf = X[rng.choice(X.shape[0], GW_KMEANS_POINTS, replace=False)] if X.shape[0] > GW_KMEANS_POINTS else X
    km = KMeans(k, n_init=n_init, random_state=sklearn_seed(seed)).fit(Xf)
    counts = np.bincount(km.labels_, minlength=k)
    if metric not in POINT_DISTANCES:
        D = CLUSTER_DISTANCES[metric](Xf, km.labels_, km.cluster_centers_)
    else:
        rows, Dp = _graph_sample(X, metric, rng, cache)
        Xr = X[rows]
        labels = km.labels_ if Xf is X and rows.size == X.shape[0] else km.predict(Xr)
        missing = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        stand_ins = {int(c): int(np.argmin(((Xr - km.cluster_centers_[c]) ** 2).sum(axis=1))) for c in missing}
        D = member_means(Dp, labels, k, stand_ins)
    return _Quantised(km.cluster_centers_, counts / Xf.shape[0], D / (D.max() or 1.0))


def centroid_gw_maps(A, B, kind, allow_reflection=True, ridge=0.0, seed=0, plans=GW_PLANS, caches=None):
    """Candidate maps (:class:`GWStart`), best GW loss first within each k-means run of each plan
    (a :class:`GWPlan` or a tuple of its fields). ``caches``: a pair of dicts, A's and B's
    distances between points (see ``_quantise``), to share them with later calls on the same clouds."""
    ot = import_pot()
    out = []
    run = 0  # every k-means run its own seed
    cache_a, cache_b = caches if caches is not None else ({}, {})  # each cloud's distances between points
    for plan in map(GWPlan._make, plans):
        for _ in range(plan.runs):
            j, run = run, run + 1
            k = int(min(plan.clusters, A.shape[0] // 2, B.shape[0] // 2))
            if k < 3:
                continue
            rng = np.random.default_rng(seed + j)
            # a plan of several runs wants their variety: one k-means start each
            n_init = GW_KMEANS_INIT if plan.runs == 1 else 1
            (Ca, wa, Da), (Cb, wb, Db) = (_quantise(A, k, plan.metric, seed + j, n_init, cache_a),
                                          _quantise(B, k, plan.metric, seed + j, n_init, cache_b))
            found = []
            for s in range(plan.solves):
                # the product coupling, then random vertices of the transport polytope mixed with it
                G0 = None if s == 0 else 0.5 * ot.emd(wa, wb, rng.random((k, k))) + 0.5 * np.outer(wa, wb)
                G, log = ot.gromov.gromov_wasserstein(Da, Db, wa, wb, "square_loss", G0=G0, log=True,
                                                      max_iter=GW_MAX_ITER)
                found.append((float(log["gw_dist"]), s, G))
            found.sort(key=lambda f: (f[0], f[1]))
            for _, _, G in found[:plan.keep]:
                mass = G.sum(axis=1)
                target = (G @ Cb) / np.maximum(mass, 1e-300)[:, None]
                out.append(GWStart(*fit_map(Ca, target, mass / mass.sum(), kind, allow_reflection, ridge),
                                   plan.metric))
    return out
