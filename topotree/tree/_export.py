"""The tree in other libraries' conventions: persistence diagrams for gudhi, persim and ripser,
hdbscan's condensed-tree table, scipy's linkage matrix."""
from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_choice

__all__ = ["diagram_for", "to_pandas", "to_linkage", "DIAGRAM_FORMATS"]

DIAGRAM_FORMATS = ("gudhi", "persim", "ripser")


def _mass_above(tree, values):
    """Fraction of the points with log-density >= each value (as :func:`topotree.mass_diagram`)."""
    f = np.sort(np.asarray(tree.log_density))
    n = f.shape[0]
    return (n - np.searchsorted(f, values, side="left")) / n


def diagram_for(tree, library="gudhi", *, levels="log_density", essential=False):
    """The persistence diagram with birth < death, the convention of gudhi, persim and ripser.

    ``tree.diagram`` holds superlevel-set pairs (birth = peak log-density > death = merge level);
    the libraries expect sublevel pairs, so with ``levels="log_density"`` the levels are negated
    (the sublevel filtration of -f, the same persistence): ``(-birth, -death)``, and essential classes
    ``(-birth, inf)``. With ``levels="mass"`` each level becomes the fraction of points at least as
    dense (:func:`topotree.mass_diagram`), essential classes dying at 1; these are the diagrams
    ``tree_distance`` compares.

    Returns an (m, 2) float array for ``"gudhi"`` and ``"persim"`` (gudhi's distances and
    ``plot_persistence_diagram``, persim's ``bottleneck``, ``wasserstein``, ``plot_diagrams`` take it),
    and ``[array]`` (one diagram per homology dimension, as ``ripser(...)["dgms"]``) for ``"ripser"``.
    ``essential=False`` (default) leaves the essential classes out: persim drops infinite points.
    """
    library = check_choice(library, "library", set(DIAGRAM_FORMATS))
    levels = check_choice(levels, "levels", {"log_density", "mass"})
    essential = check_bool(essential, "essential")
    fin = np.asarray(tree.diagram, dtype=np.float64).reshape(-1, 2)
    ess = np.asarray(tree.essential, dtype=np.float64).reshape(-1) if essential else np.zeros(0)
    if levels == "log_density":
        pairs = np.vstack([-fin, np.column_stack([-ess, np.full(ess.shape[0], np.inf)])])
    else:
        pairs = np.vstack([np.column_stack([_mass_above(tree, fin[:, 0]), _mass_above(tree, fin[:, 1])]),
                           np.column_stack([_mass_above(tree, ess), np.ones(ess.shape[0])])])
    pairs = np.ascontiguousarray(pairs, dtype=np.float64)
    return [pairs] if library == "ripser" else pairs


def to_pandas(tree):
    """The hierarchy as hdbscan's ``condensed_tree_.to_pandas()``: one row per edge.

    Columns ``parent``, ``child``, ``lambda_val``, ``child_size``. As in hdbscan, ids below
    ``n_points`` are points and node ``i`` of the tree is ``n_points + i`` (the root is
    ``n_points``). A node's row says it appears, out of its parent, at ``lambda_val`` = its
    ``start`` level; a point's row says it leaves the node that holds it (its ``owner``) at its own
    log-density. ``lambda_val`` is a log-density level: it grows with density as hdbscan's lambda
    (1 / core distance) does, and for the kNN density hdbscan's lambda is ``exp(lambda_val / d)``
    up to a constant factor.
    """
    import pandas as pd

    n = tree.n_points
    kids = np.flatnonzero(np.asarray(tree.parent) >= 0)
    sizes = np.asarray(tree.member_hi) - np.asarray(tree.member_lo)
    points = np.arange(n)
    return pd.DataFrame({
        "parent": np.r_[n + np.asarray(tree.parent)[kids], n + np.asarray(tree.owner)].astype(np.int64),
        "child": np.r_[n + kids, points].astype(np.int64),
        "lambda_val": np.r_[np.asarray(tree.start)[kids], np.asarray(tree.log_density)].astype(np.float64),
        "child_size": np.r_[sizes[kids], np.ones(n)].astype(np.int64),
    })


def to_linkage(tree):
    """A scipy linkage matrix of the leaves, for a binary tree (every split into two).

    Observation ``i`` is leaf ``tree.leaves[i]``, the cluster that ``tree.labels()`` calls ``i``;
    row ``r`` forms cluster ``len(leaves) + r`` as in ``scipy.cluster.hierarchy.linkage``. The
    distance of a merge is ``max(log_density) - level`` of the split (>= 0, growing towards the
    root), so ``cophenet`` of two leaves is ``max(log_density) - merge_height`` of their peaks.
    Raises ValueError when a node splits into more than two (then ``scipy.cluster.hierarchy``
    cannot hold the tree; simplify it, or read it with :meth:`to_networkx`) or the graph was
    disconnected (a virtual root, whose children never merge).
    """
    if tree.virtual_root:
        raise ValueError("the tree has a virtual root (a disconnected graph, connect=False): its "
                         "components never merge, so it has no linkage matrix")
    leaves = list(tree.leaves)
    L = len(leaves)
    internal = [c for c in range(tree.n_nodes) if not tree.is_leaf[c]]
    for c in internal:
        if len(tree.children(c)) != 2:
            raise ValueError(f"the tree is not binary: node {c} splits into {len(tree.children(c))} "
                             f"children, which a linkage matrix cannot hold")
    top = float(np.max(tree.log_density))
    cid = np.full(tree.n_nodes, -1, dtype=np.int64)
    cid[leaves] = np.arange(L)
    count = np.zeros(tree.n_nodes, dtype=np.int64)
    count[leaves] = 1
    # deepest splits first: by level, highest first; a child splits above its parent, and ties
    # (a plateau) are broken by depth so children still come before parents
    end = np.asarray(tree.end)
    depth = np.asarray(tree.depth)
    Z = np.zeros((len(internal), 4))
    for r, c in enumerate(sorted(internal, key=lambda c: (-end[c], -depth[c], c))):
        a, b = tree.children(c)
        cid[c] = L + r
        count[c] = count[a] + count[b]
        lo, hi = sorted((cid[a], cid[b]))
        Z[r] = (lo, hi, max(0.0, top - float(end[c])), count[c])
    return Z
