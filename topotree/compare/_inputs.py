"""Argument checks of the matching layer: trees, their clouds, point correspondences."""
from __future__ import annotations

import numpy as np

from .._validation import check_points
from ..tree import ClusterTree

__all__ = ["check_tree", "prepare", "check_correspondence"]


def check_tree(tree, name):
    if not isinstance(tree, ClusterTree):
        raise TypeError(f"{name} must be a topotree ClusterTree, got {type(tree).__name__}")
    return tree


def prepare(tree, X, name, xname, simplify):
    tree = check_tree(tree, name)
    if X is not None:
        X = check_points(X, xname)
        if X.shape[0] != tree.n_points:
            raise ValueError(f"{xname} has {X.shape[0]} points but {name} is built on {tree.n_points}")
    if simplify and tree.simplification is None:
        tree = tree.simplify()
    return tree, X


def check_correspondence(correspondence, n_a, n_b):
    """Return (ia, ib): index arrays of the corresponding point pairs."""
    c = np.asarray(correspondence)
    if c.dtype.kind not in "iu":
        raise TypeError(f"correspondence must hold integer point indices, got dtype {c.dtype}")
    if c.ndim == 1:
        if c.shape[0] != n_a:
            raise ValueError(f"correspondence has length {c.shape[0]} but tree_a has {n_a} points "
                             "(give an (n_a,) map, -1 for no partner, or (m, 2) pairs)")
        ia = np.flatnonzero(c >= 0)
        ib = c[ia].astype(np.int64)
    elif c.ndim == 2 and c.shape[1] == 2:
        ia, ib = c[:, 0].astype(np.int64), c[:, 1].astype(np.int64)
        if ia.size and (ia.min() < 0 or ia.max() >= n_a):
            raise ValueError(f"correspondence[:, 0] has indices outside [0, {n_a})")
    else:
        raise ValueError(f"correspondence must have shape (n_a,) or (m, 2), got {c.shape}")
    if ib.size and (ib.max() >= n_b or ib.min() < 0):
        raise ValueError(f"correspondence maps to indices outside [0, {n_b})")
    if ia.size == 0:
        raise ValueError("correspondence holds no point pairs")
    return ia, ib
