"""``DensityTree``: the density cluster tree as a scikit-learn clusterer (hdbscan's conventions).

``fit(X)`` builds the kNN-density level-set tree (:func:`topotree.build_tree`), prunes branches
holding fewer than ``min_cluster_size`` points (``simplify(min_mass=min_cluster_size / n)``) and
selects the flat clusters from it:

* ``cluster_selection="eom"`` (default): hdbscan's excess of mass. A node's *stability* is the
  sum over its points of ``min(lambda_p, lambda_end) - lambda_start``, where ``lambda = exp(f / d)``
  (f the log-density, d the dimension: for the kNN density this is ``1 / r_k`` up to a constant,
  hdbscan's ``lambda``); going up the tree a node is kept when its stability is at least the
  summed stability of the clusters selected below it. The root is never selected unless
  ``allow_single_cluster``.
* ``"leaf"``: every leaf of the pruned tree is a cluster.
* ``n_clusters=m``: branches are merged by persistence (elder rule, as ToMATo's ``n_clusters``)
  until ``m`` leaves remain; they are the clusters.

Labels are positions in ``cluster_nodes_`` (label j is node ``cluster_nodes_[j]`` of ``tree_``).
By default every point is labelled with the cluster holding its basin of attraction (steepest
ascent, ToMATo's ``labels_``); with ``noise=True`` points outside every selected cluster's component
(below the level at which the cluster appears) get -1, as in hdbscan.

References
----------
Campello, R. J. G. B., Moulavi, D., Zimek, A. and Sander, J. (2015). Hierarchical density estimates
for data clustering, visualization, and outlier detection. ACM TKDD 10(1) (excess of mass, GLOSH).
Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
Riemannian manifolds. J. ACM 60(6).
"""
import math
import numbers
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from ._typing import ArrayLike
from ._validation import as_numpy, check_vector
from .build import build_tree, default_k
from .density import knn_log_density_at
from .tree import ClusterTree

__all__ = ["DensityTree", "Prediction", "cluster_stability", "select_clusters"]

DEFAULT_MIN_CLUSTER_SIZE = 5  # hdbscan's default
SELECTIONS = ("eom", "leaf")

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.3 to 1.5
    def _validate_data(estimator, X, reset=True, **kwargs):
        return estimator._validate_data(X, reset=reset, **kwargs)


class Prediction(NamedTuple):
    """What :meth:`DensityTree.approximate_predict` returns (hdbscan's ``(labels, probabilities)``)."""

    labels: np.ndarray
    probabilities: np.ndarray


def _lam(values, top, n_dims):
    """hdbscan's lambda up to a constant factor: exp((f - top) / d) (0 at f = -inf)."""
    return np.exp((np.asarray(values, dtype=np.float64) - top) / n_dims)


def cluster_stability(tree: ClusterTree, n_dims: int) -> np.ndarray:
    """Per node: its excess of mass, ``sum over members p of min(lam_p, lam_end) - lam_start`` with
    ``lam = exp((f - max f) / n_dims)`` (hdbscan's stability, up to the constant factor)."""
    f = np.asarray(tree.log_density)
    top = float(f.max())
    out = np.zeros(tree.n_nodes)
    for c in range(tree.n_nodes):
        if not np.isfinite(tree.start[c]):  # a virtual root
            continue
        lam = _lam(f[tree.members(c)], top, n_dims)
        if not tree.is_leaf[c]:
            lam = np.minimum(lam, _lam(tree.end[c], top, n_dims))
        out[c] = float(np.sum(lam - _lam(tree.start[c], top, n_dims)))
    return out


def select_clusters(tree: ClusterTree, n_dims: int, allow_single_cluster: bool = False) -> np.ndarray:
    """Node ids of the clusters chosen by excess of mass (hdbscan's ``"eom"``), in preorder.

    Every leaf has exactly one selected node on its path to the root (the root itself only with
    ``allow_single_cluster`` or when it is the only node).
    """
    S = cluster_stability(tree, n_dims)
    best = S.copy()
    chosen = np.zeros(tree.n_nodes, dtype=bool)
    for c in range(tree.n_nodes - 1, -1, -1):  # preorder reversed: children before parents
        kids = tree.children(c)
        if not kids:
            chosen[c] = True
            continue
        below = float(sum(best[x] for x in kids))
        top = c == 0
        if (top and (tree.virtual_root or not allow_single_cluster)) or below > S[c]:
            best[c] = below
        else:
            chosen[c] = True
    if tree.virtual_root:
        chosen[0] = False
    final = np.zeros(tree.n_nodes, dtype=bool)
    covered = np.zeros(tree.n_nodes, dtype=bool)  # an ancestor is selected
    for c in range(tree.n_nodes):  # preorder: parents first
        p = tree.parent[c]
        covered[c] = p >= 0 and (covered[p] or final[p])
        final[c] = chosen[c] and not covered[c]
    return np.flatnonzero(final)


def _n_leaves_tree(tree: ClusterTree, n_clusters: int) -> ClusterTree:
    """``tree`` simplified by persistence until ``n_clusters`` leaves remain (the fewest it can
    reach when ties make the exact number impossible: as close as possible, never fewer)."""
    if len(tree.leaves) <= n_clusters:
        return tree
    roots = np.asarray(tree.parent) < 0
    if tree.virtual_root:
        roots |= np.asarray(tree.parent) == 0
    levels = np.unique(np.asarray(tree.persistence)[~roots])
    lo, hi = 0, levels.shape[0] - 1  # the largest threshold index keeping >= n_clusters leaves
    keep = tree
    while lo <= hi:
        mid = (lo + hi) // 2
        s = tree.simplify(min_persistence=float(levels[mid]), min_mass=0.0)
        if len(s.leaves) >= n_clusters:
            keep, lo = s, mid + 1
        else:
            hi = mid - 1
    return keep


class DensityTree(ClusterMixin, BaseEstimator):
    """Density cluster tree clustering, scikit-learn style (see the module docstring).

    Parameters
    ----------
    min_cluster_size : int, default 5
        Branches whose basin holds fewer points are merged into their parents before the clusters
        are chosen (as hdbscan's ``min_cluster_size``).
    n_clusters : int or None
        Ask for this many clusters (branches merged by persistence); overrides
        ``cluster_selection``.
    k : int or None
        Neighbours for the graph and the kNN density (default :func:`topotree.default_k`).
    min_persistence : float or None, default 0.0
        Also merge branches of smaller persistence (log-density units) first; ``None`` uses the
        data-driven threshold of :meth:`ClusterTree.simplify`.
    cluster_selection : {"eom", "leaf"}
        Excess of mass (hdbscan's default) or every leaf of the pruned tree.
    allow_single_cluster : bool
        Let ``"eom"`` select the root (one cluster for all the data).
    noise : bool
        Label points outside every cluster's component -1 (hdbscan); ``False`` labels every point by
        its basin of attraction.
    log_density : callable or None
        ``(m, d) -> (m,)`` exact log-density to build the tree on (and to score new points),
        instead of the kNN estimate.

    Attributes
    ----------
    labels_ : (n,) int, cluster of each training point (-1: noise, only with ``noise=True``).
    probabilities_ : (n,) float in [0, 1]: ``lam_p / lam_max`` of the point's cluster, hdbscan's
        membership strength (``lam = exp(f / d)``, capped at the level where the cluster splits);
        0 for points outside the cluster's component.
    outlier_scores_ : (n,) float in [0, 1): GLOSH, ``1 - lam_p / lam_max(node)`` for the node of the
        pruned tree the point falls out of (its ``owner``) and the highest density in that node.
    tree_ : the pruned :class:`~topotree.ClusterTree` the clusters were chosen from.
    cluster_nodes_ : (n_clusters_,) node ids of ``tree_``: label j is node ``cluster_nodes_[j]``.
    n_clusters_ : int. n_features_in_ : int.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from topotree import DensityTree
    >>> X, y = make_moons(1000, noise=0.05, random_state=0)
    >>> est = DensityTree().fit(X)
    >>> est.n_clusters_, sorted(np.bincount(est.labels_).tolist())
    (2, [500, 500])
    """

    def __init__(self, min_cluster_size=DEFAULT_MIN_CLUSTER_SIZE, n_clusters=None, *, k=None,
                 min_persistence=0.0, cluster_selection="eom", allow_single_cluster=False, noise=False,
                 log_density=None):
        self.min_cluster_size = min_cluster_size
        self.n_clusters = n_clusters
        self.k = k
        self.min_persistence = min_persistence
        self.cluster_selection = cluster_selection
        self.allow_single_cluster = allow_single_cluster
        self.noise = noise
        self.log_density = log_density

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        def integer(value, name, low):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
            return int(value)

        integer(self.min_cluster_size, "min_cluster_size", 1)
        if self.n_clusters is not None:
            integer(self.n_clusters, "n_clusters", 1)
        if self.k is not None:
            integer(self.k, "k", 1)
        if self.min_persistence is not None and (
                isinstance(self.min_persistence, (bool, np.bool_)) or not isinstance(self.min_persistence, numbers.Real)
                or not np.isfinite(self.min_persistence) or self.min_persistence < 0):
            raise ValueError(f"min_persistence must be None or a finite number >= 0, got {self.min_persistence!r}")
        if self.cluster_selection not in SELECTIONS:
            raise ValueError(f"cluster_selection must be one of {list(SELECTIONS)}, got {self.cluster_selection!r}")
        for name in ("allow_single_cluster", "noise"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.log_density is not None and not callable(self.log_density):
            raise ValueError("log_density must be None or a callable (m, d) -> (m,) log-densities")

    def _density_at(self, X):
        values = as_numpy(self.log_density(X))
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        return check_vector(values, X.shape[0], "log_density(X)")

    # ------------------------------------------------------------------ fitting
    def fit(self, X: ArrayLike, y: None = None) -> "DensityTree":
        """Build the tree of ``X`` (n, d) and choose the clusters. ``y`` is ignored."""
        self._check_params()
        X = _validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n, d = X.shape
        k = default_k(n) if self.k is None else min(int(self.k), n - 1)
        raw = build_tree(X, log_density=self.log_density, k=k)
        min_mass = min(1.0, self.min_cluster_size / n)
        tree = raw.simplify(min_persistence=self.min_persistence, min_mass=min_mass)
        if self.n_clusters is not None:
            tree = _n_leaves_tree(tree, int(self.n_clusters))
            clusters = np.asarray(tree.leaves, dtype=np.int64)
        elif self.cluster_selection == "leaf":
            clusters = np.asarray(tree.leaves, dtype=np.int64)
        else:
            clusters = select_clusters(tree, d, bool(self.allow_single_cluster))
        node_cluster = np.full(tree.n_nodes, -1, dtype=np.int64)
        for c in range(tree.n_nodes):  # preorder: a selected ancestor is labelled before its subtree
            p = tree.parent[c]
            node_cluster[c] = node_cluster[p] if p >= 0 else -1
        node_cluster[clusters] = np.arange(clusters.shape[0])
        for c in range(tree.n_nodes):
            p = tree.parent[c]
            if p >= 0 and node_cluster[p] >= 0:
                node_cluster[c] = node_cluster[p]
        f = np.asarray(tree.log_density)
        owner, basin = np.asarray(tree.owner), np.asarray(tree.basin)
        inside = node_cluster[owner]
        labels = inside if self.noise else node_cluster[basin]
        cap = np.where(tree.is_leaf[clusters], f[tree.peak[clusters]], tree.end[clusters])
        prob = np.zeros(n)
        ok = inside >= 0
        prob[ok] = np.exp(np.minimum(f[ok] - cap[inside[ok]], 0.0) / d)
        self.tree_ = tree
        self.cluster_nodes_ = clusters
        self.n_clusters_ = int(clusters.shape[0])
        self.labels_ = labels.astype(np.int64)
        self.probabilities_ = prob
        self.outlier_scores_ = -np.expm1((f - f[tree.peak[owner]]) / d)
        self._n_dims = d
        self._k = k
        self._node_cluster = node_cluster
        self._cap = cap
        self._floor = _radius_floor(raw, d) if self.log_density is None else None
        self._nn = NearestNeighbors(n_neighbors=min(k + 1, n)).fit(X)
        return self

    # ------------------------------------------------------------------ new points
    def approximate_predict(self, X: ArrayLike) -> Prediction:
        """Labels and membership strengths of new points without refitting (hdbscan's
        ``approximate_predict``).

        Each point's log-density is estimated against the training sample (its k nearest training
        points; a point equal to a training point does not count itself), and it takes the cluster
        of the basin of its densest neighbour; with ``noise=True`` it is noise when its density is
        below the level at which that cluster appears.
        """
        check_is_fitted(self, "tree_")
        X = _validate_data(self, X, dtype=np.float64, reset=False)
        tree, d, k = self.tree_, self._n_dims, self._k
        f_train = np.asarray(tree.log_density)
        dist, idx = self._nn.kneighbors(X)
        self_hit = dist[:, 0] == 0.0
        dist = np.where(self_hit[:, None], dist, np.c_[np.zeros((dist.shape[0], 1)), dist[:, :-1]])[:, 1:]
        idx = np.where(self_hit[:, None], idx, np.c_[idx[:, :1], idx[:, :-1]])[:, 1:]
        if self.log_density is None:
            f = knn_log_density_at(dist[:, k - 1], k, tree.n_points, d, self._floor)
        else:
            f = self._density_at(X)
        up = idx[np.arange(idx.shape[0]), np.argmax(f_train[idx], axis=1)]
        cluster = self._node_cluster[np.asarray(tree.basin)[up]]
        start = np.where(cluster >= 0, tree.start[self.cluster_nodes_[np.maximum(cluster, 0)]], np.inf)
        inside = (cluster >= 0) & (f >= start)
        labels = np.where(inside, cluster, -1) if self.noise else cluster
        prob = np.where(inside, np.exp(np.minimum(f - self._cap[np.maximum(cluster, 0)], 0.0) / d), 0.0)
        return Prediction(labels.astype(np.int64), prob)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Labels of new points: ``approximate_predict(X).labels``."""
        return self.approximate_predict(X).labels



def _radius_floor(tree: ClusterTree, n_dims: int) -> float:
    """The floor :func:`~topotree.density.knn_log_density` put under the training radii (the
    smallest positive k-th neighbour radius): the radius of the densest training point."""
    n, k = tree.n_points, tree.k
    f_max = float(np.max(tree.log_density))
    log_unit_ball = 0.5 * n_dims * math.log(math.pi) - math.lgamma(0.5 * n_dims + 1.0)
    return math.exp((math.log(k) - math.log(n) - log_unit_ball - f_max) / n_dims)
