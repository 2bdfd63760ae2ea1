"""Distances between cluster trees: ``tree_distance`` and ``merge_distortion``."""
from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._pot import import_pot
from .._typing import Seed
from .._validation import check_choice, check_int, check_seed
from ..tree import ClusterTree
from ._inputs import check_tree as _check_tree
from ._matching import match_trees
from ._params import MAX_SAMPLED_PAIRS

__all__ = ["tree_distance", "merge_distortion", "mass_diagram"]


def mass_diagram(tree: ClusterTree) -> np.ndarray:
    """The tree's persistence diagram in mass-above terms, essential classes included.

    Every level ``L`` becomes the fraction of points with log-density >= L, so the diagram does
    not change under any increasing change of the density (a rescaled or shifted log-density, a
    density estimated in other coordinates with the same ranks). A pair (birth = peak, death =
    merge level) becomes (mass above the peak, mass above the merge level), with birth < death;
    an essential class dies at 1 (all the points).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> rng = np.random.default_rng(0)
    >>> t = tt.build_tree(np.r_[rng.normal(size=(300, 2)), rng.normal(size=(100, 2)) + 8], k=15).simplify()
    >>> mass_diagram(t).round(2).tolist()
    [[0.53, 0.99], [0.0, 1.0]]
    """
    tree = _check_tree(tree, "tree")
    f = np.sort(np.asarray(tree.log_density))
    n = f.shape[0]

    def above(v):
        return (n - np.searchsorted(f, v, side="left")) / n

    fin = np.asarray(tree.diagram).reshape(-1, 2)
    ess = np.asarray(tree.essential).reshape(-1)
    out = np.vstack([np.column_stack([above(fin[:, 0]), above(fin[:, 1])]),
                     np.column_stack([above(ess), np.ones(ess.shape[0])])])
    return np.ascontiguousarray(out, dtype=np.float64)


def tree_distance(tree_a: ClusterTree, tree_b: ClusterTree,
                  method: Literal["matching", "bottleneck", "wasserstein"] = "matching", *, order: float = 1.0,
                  **match_kwargs: Any) -> float:
    """A distance between two cluster trees that ignores coordinates and density scale.

    Parameters
    ----------
    tree_a, tree_b : ClusterTree
    method : {"matching", "bottleneck", "wasserstein"}
        ``"matching"``: the normalised cost in [0, 1] of :func:`topotree.match_trees` (extra keyword
        arguments go to it). It is the edit cost of a matching found by assignment, an upper bound
        on the optimal (NP-hard) unordered edit distance, so it is 0 on identical trees and
        symmetric but not guaranteed to satisfy the triangle inequality.
        ``"bottleneck"`` / ``"wasserstein"``: the exact bottleneck distance (hera, through gudhi) or the
        ``order``-Wasserstein distance (L-infinity ground metric; exact with POT installed, else
        hera's to a relative error of 1e-6) between the two trees' :func:`mass_diagram`;
        pseudo-metrics on trees (0 for trees with equal diagrams).
    order : float, the Wasserstein exponent.

    Returns
    -------
    float

    References
    ----------
    Cohen-Steiner, D., Edelsbrunner, H. and Harer, J. (2007). Stability of persistence diagrams.
    Discrete Comput. Geom. 37.
    Pont, M., Vidal, J., Delon, J. and Tierny, J. (2022). Wasserstein distances, geodesics and
    barycenters of merge trees. IEEE TVCG 28(1).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> t = tt.build_tree(hierarchical_mixture(1000, dim=2, n_leaves=3, seed=0).X).simplify()
    >>> [tt.tree_distance(t, t, m) for m in ("matching", "bottleneck", "wasserstein")]
    [0.0, 0.0, 0.0]
    """
    method = check_choice(method, "method", {"matching", "bottleneck", "wasserstein"})
    tree_a = _check_tree(tree_a, "tree_a")
    tree_b = _check_tree(tree_b, "tree_b")
    if method == "matching":
        return float(match_trees(tree_a, tree_b, **match_kwargs).cost)
    if match_kwargs:
        raise TypeError(f"unexpected keyword arguments for method={method!r}: {sorted(match_kwargs)}")
    da, db = mass_diagram(tree_a), mass_diagram(tree_b)
    if method == "bottleneck":
        # hera's exact mode: gudhi's own exact bottleneck_distance (3.13) returns a wrong,
        # asymmetric value on some inputs (gudhi-devel PR #1367); tests check against brute force.
        from gudhi.hera import bottleneck_distance

        return float(bottleneck_distance(da, db, delta=0.0))
    if not np.isfinite(order) or order < 1:
        raise ValueError(f"order must be a finite number >= 1, got {order!r}")
    try:  # exact (gudhi's optimal-transport version needs POT)
        import_pot()
        from gudhi.wasserstein import wasserstein_distance
    except ImportError:  # pragma: no cover - POT is an optional extra
        from gudhi.hera import wasserstein_distance as hera

        return float(hera(da, db, order=float(order), internal_p=np.inf, delta=1e-6))
    return float(wasserstein_distance(da, db, order=float(order), internal_p=np.inf))


def merge_distortion(tree: ClusterTree, reference: ClusterTree, *, reduce: Literal["max", "mean"] = "max",
                     levels: Literal["log_density", "mass"] = "log_density", n_pairs: int | None = None,
                     seed: Seed = None) -> float:
    """Merge distortion between two cluster trees on the same points (Eldridge et al. 2015).

    The merge height of two points is the highest level at which they lie in one component
    (:meth:`ClusterTree.merge_height`); the distortion is the largest (or mean) absolute
    difference of merge heights over point pairs.

    Parameters
    ----------
    tree, reference : ClusterTree built on the same points (in the same order).
    reduce : {"max", "mean"}
    levels : {"log_density", "mass"}
        Compare merge heights in log-density, as in the paper, or in mass-above terms (each tree's
        own fraction of points at or above the height), which ignores a monotone change of the
        density (e.g. a kNN estimate against the exact density).
    n_pairs : int or None
        ``None``: all pairs when there are at most 2,000 points, else 200,000 random pairs. An
        integer: that many random pairs (sampled with replacement, i != j).
    seed : int or None, for the sampled pairs.

    Returns
    -------
    float (``inf`` if a pair is connected in one tree and not in the other)

    References
    ----------
    Eldridge, J., Belkin, M. and Wang, Y. (2015). Beyond Hartigan consistency: merge distortion
    metric for hierarchical clustering. COLT 2015, PMLR 40.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> t = tt.build_tree(X, k=10)
    >>> tt.merge_distortion(t, t)
    0.0
    """
    tree = _check_tree(tree, "tree")
    reference = _check_tree(reference, "reference")
    reduce = check_choice(reduce, "reduce", {"max", "mean"})
    levels = check_choice(levels, "levels", {"log_density", "mass"})
    n = tree.n_points
    if reference.n_points != n:
        raise ValueError(f"tree and reference must be built on the same points: tree has {n} points, "
                         f"reference has {reference.n_points}")
    if n < 2:
        raise ValueError("merge distortion needs at least 2 points")
    if n_pairs is not None:
        n_pairs = check_int(n_pairs, "n_pairs", low=1, high=MAX_SAMPLED_PAIRS)
    seed = check_seed(seed)
    if n_pairs is None and n <= 2000:
        pair_chunks = _all_pairs(n)
    else:
        m = 200_000 if n_pairs is None else n_pairs
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, size=m)
        j = (i + rng.integers(1, n, size=m)) % n  # j != i
        pair_chunks = [(i, j)]
    to_a = _level_map(tree, levels)
    to_b = _level_map(reference, levels)
    best, total, count = 0.0, 0.0, 0
    for i, j in pair_chunks:
        ha = to_a(tree.merge_height(i, j))
        hb = to_b(reference.merge_height(i, j))
        both_inf = np.isneginf(ha) & np.isneginf(hb)
        with np.errstate(invalid="ignore"):
            diff = np.where(both_inf, 0.0, np.abs(ha - hb))
        best = max(best, float(diff.max()))
        total += float(diff.sum())
        count += diff.shape[0]
    return best if reduce == "max" else total / count


def _all_pairs(n, chunk=1_000_000):
    i, j = np.triu_indices(n, k=1)
    return [(i[s:s + chunk], j[s:s + chunk]) for s in range(0, i.shape[0], chunk)]


def _level_map(tree, levels):
    if levels == "log_density":
        return lambda h: h
    f = np.sort(np.asarray(tree.log_density))
    n = f.shape[0]
    return lambda h: np.where(np.isneginf(h), -np.inf, (n - np.searchsorted(f, h, side="left")) / n)
