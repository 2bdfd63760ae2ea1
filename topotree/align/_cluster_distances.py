"""Distances between the clusters of a quantised cloud, on which the Gromov-Wasserstein starts
compare two clouds (see ``_gw_starts``). One function per metric, all with the same signature,
listed in ``CLUSTER_DISTANCES``.

- ``euclidean``: between the cluster centres. Exact for clouds related by a similarity; distorted
  by the non-linear maps between two trained networks' latents, which stretch some regions and
  shrink others.
- ``hops``: the mean number of kNN-graph edges between the clusters' members. A map that keeps
  neighbourhoods (any continuous relation between two latent spaces, roughly) keeps hop counts,
  whatever it does to lengths: the distance sees the graph, not the metric.
- ``geodesic``: the mean shortest-path length through the kNN graph (Isomap's geodesics): lengths
  along the data rather than across empty space.

Each takes ``(X, labels, centres)``: points, their cluster labels, the cluster centres. The graph
(``GRAPH_K`` neighbours, on the points given: the caller subsamples) has the Euclidean minimum
spanning tree added, so that it is connected (every distance finite) without a
constant for "unreachable".

References
----------
Tenenbaum, J. B., de Silva, V. and Langford, J. C. (2000). A global geometric framework for
nonlinear dimensionality reduction. Science 290 (geodesics on a neighbourhood graph).
Memoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching.
Found. Comput. Math. 11 (matching metric spaces through their distances alone).

Examples
--------
>>> import numpy as np
>>> X = np.r_[np.random.default_rng(0).normal(size=(50, 2)), np.random.default_rng(1).normal(size=(50, 2)) + 8]
>>> labels = np.repeat([0, 1], 50)
>>> centres = np.array([X[:50].mean(0), X[50:].mean(0)])
>>> D = CLUSTER_DISTANCES["hops"](X, labels, centres)
>>> D.shape, bool(D[0, 1] > 0), float(D[0, 0])
((2, 2), True, 0.0)
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree, shortest_path
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from ._params import GRAPH_K

__all__ = ["CLUSTER_DISTANCES", "POINT_DISTANCES", "euclidean", "hops", "geodesic", "hop_counts", "graph_lengths",
           "member_means"]


def member_means(D, labels, k, stand_ins=None):
    """Mean of D over every pair (member of i, member of j); zero diagonal. ``stand_ins``: for a
    cluster with no member among the rows, the row that stands in for it ({cluster: row})."""
    P = np.zeros((D.shape[0], k))
    P[np.arange(D.shape[0]), labels] = 1.0
    for c, row in (stand_ins or {}).items():
        P[row, c] = 1.0
    P /= np.maximum(P.sum(axis=0), 1.0)
    out = P.T @ D @ P
    np.fill_diagonal(out, 0.0)
    return out


def _graph(X, weighted):
    """Symmetric kNN graph of X (GRAPH_K neighbours) plus X's Euclidean minimum spanning tree;
    edge lengths Euclidean (``weighted``) or 1."""
    n = X.shape[0]
    k = int(min(GRAPH_K, n - 1))
    dist, idx = cKDTree(X).query(X, k + 1)
    knn = csr_matrix((np.maximum(dist[:, 1:].ravel(), np.finfo(float).tiny),  # a zero length would read as "no edge"
                      (np.repeat(np.arange(n), k), idx[:, 1:].ravel())), shape=(n, n))
    mst = minimum_spanning_tree(np.maximum(cdist(X, X), np.finfo(float).tiny))  # joins the components
    G = knn.maximum(mst)  # an edge of both: its one length (a sum would double it)
    if not weighted:
        G.data[:] = 1.0
    return G.maximum(G.T)


def euclidean(X, labels, centres):
    """Distances between the cluster centres."""
    return np.sqrt(np.maximum(cdist(centres, centres, "sqeuclidean"), 0.0))


def hop_counts(X):
    """Number of kNN-graph edges between every two rows of X."""
    return shortest_path(_graph(X, weighted=False), directed=False, unweighted=True)


def graph_lengths(X):
    """Shortest-path length through the kNN graph between every two rows of X."""
    return shortest_path(_graph(X, weighted=True), directed=False)


def hops(X, labels, centres):
    """Mean number of kNN-graph edges between the clusters' members (rows of X labelled by
    ``labels``; every cluster must have one)."""
    return member_means(hop_counts(X), labels, centres.shape[0])


def geodesic(X, labels, centres):
    """Mean shortest-path length through the kNN graph between the clusters' members."""
    return member_means(graph_lengths(X), labels, centres.shape[0])


CLUSTER_DISTANCES = {"euclidean": euclidean, "hops": hops, "geodesic": geodesic}
# the metrics that are means over pairs of points, by the distances between the points: the same
# cloud quantised again (another k-means run) reuses them
POINT_DISTANCES = {"hops": hop_counts, "geodesic": graph_lengths}
