"""The dendrogram layout (node positions and levels), leaf colours, node colours and widths: the
arrays every tree picture is drawn from."""
from __future__ import annotations

import numbers
from typing import Literal

import numpy as np

from ..tree import ClusterTree
from ._checks import _check_tree

__all__ = ["leaf_colors", "dendrogram_layout"]

_MAX_LABELS = 200  # at most this many leaf labels are written


def leaf_colors(n_leaves: int) -> np.ndarray:
    """The (n_leaves, 4) RGBA colours given to leaves (tab10, tab20, then tab20 cycled).

    The dendrogram and the embedding plot use the same colours, so leaf ``j`` of the dendrogram
    and the points with ``tree.labels() == j`` match.
    """
    from matplotlib import colormaps

    if n_leaves <= 10:
        base = np.asarray(colormaps["tab10"].colors)
    else:
        base = np.asarray(colormaps["tab20"].colors)
    rgb = base[np.arange(n_leaves) % base.shape[0]]
    return np.c_[rgb, np.ones(n_leaves)]


def _mass_above(sorted_f, levels):
    """Fraction of points with log-density >= level (monotone decreasing in level)."""
    n = sorted_f.shape[0]
    return (n - np.searchsorted(sorted_f, levels, side="left")) / n


def dendrogram_layout(tree: ClusterTree, y: Literal["log_density", "mass"] = "log_density") -> dict:
    """Positions of the nodes of ``tree`` in a dendrogram (used by the plot functions).

    Leaves sit at x = 0, 1, ..., n_leaves - 1 in the order of ``tree.leaves`` (preorder, elder
    branches first); an internal node is centred between its first and last child. Each node's
    branch runs from its ``start`` to its ``end`` level; with ``y="mass"`` a level is replaced by the
    fraction of points whose log-density is at least that level. A virtual root (levels -inf) is
    drawn at the lowest finite level.

    Returns
    -------
    dict with ``x`` (n_nodes,), ``y0`` and ``y1`` (n_nodes,) branch bottom and top, ``first`` and
    ``last`` (n_nodes,) first and last child (-1 for leaves), ``leaves`` (n_leaves,) ids.
    """
    tree = _check_tree(tree)
    if y not in ("log_density", "mass"):
        raise ValueError(f"y must be 'log_density' or 'mass', got {y!r}")
    M = tree.n_nodes
    parent = np.asarray(tree.parent)
    kids = np.flatnonzero(parent >= 0)
    first = np.full(M, M, dtype=np.int64)
    last = np.full(M, -1, dtype=np.int64)
    np.minimum.at(first, parent[kids], kids)
    np.maximum.at(last, parent[kids], kids)
    first[first == M] = -1
    leaves = np.asarray(tree.leaves, dtype=np.int64)
    x = np.zeros(M)
    x[leaves] = np.arange(leaves.shape[0], dtype=np.float64)
    xl = x.tolist()
    fl, ll = first.tolist(), last.tolist()
    for i in range(M - 1, -1, -1):  # preorder: children have larger ids than their parent
        if fl[i] >= 0:
            xl[i] = 0.5 * (xl[fl[i]] + xl[ll[i]])
    x = np.asarray(xl)
    f = np.asarray(tree.log_density)
    floor = float(f.min())
    y0 = np.where(np.isfinite(tree.start), tree.start, floor)
    y1 = np.where(np.isfinite(tree.end), tree.end, floor)
    if y == "mass":
        sf = np.sort(f)
        y0 = _mass_above(sf, y0)
        y1 = _mass_above(sf, y1)
    return dict(x=x, y0=y0, y1=y1, first=first, last=last, leaves=leaves, y=y)


def _segments(lay, virtual_root):
    """Branch segments (vertical, one per node) then joins (horizontal, one per internal node)."""
    x, y0, y1, first, last = lay["x"], lay["y0"], lay["y1"], lay["first"], lay["last"]
    M = x.shape[0]
    nodes = np.arange(1 if virtual_root else 0, M)
    vert = np.stack([np.c_[x[nodes], y0[nodes]], np.c_[x[nodes], y1[nodes]]], axis=1)
    internal = np.flatnonzero(first >= 0)
    horiz = np.stack([np.c_[x[first[internal]], y1[internal]], np.c_[x[last[internal]], y1[internal]]], axis=1)
    return vert, nodes, horiz, internal


def _node_colors(tree, color, cmap):
    """(n_nodes, 4) RGBA per node from ``color`` (None, a colour, a dict or a per-node array)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_rgba, to_rgba_array

    M = tree.n_nodes
    grey = np.array(to_rgba("0.35"))
    out = np.tile(grey, (M, 1))
    if color is None:
        out[list(tree.leaves)] = leaf_colors(len(tree.leaves))
        return out
    if isinstance(color, str) or (isinstance(color, tuple) and len(color) in (3, 4)
                                  and all(isinstance(c, numbers.Real) for c in color)):
        try:
            return np.tile(np.array(to_rgba(color)), (M, 1))
        except ValueError as exc:
            raise ValueError(f"color {color!r} is not a matplotlib colour") from exc
    if isinstance(color, dict):
        for node, c in color.items():
            if not (isinstance(node, numbers.Integral) and 0 <= node < M):
                raise ValueError(f"color has a key {node!r} that is not a node id in [0, {M})")
            out[int(node)] = to_rgba(c)
        return out
    arr = np.asarray(color)
    if arr.shape[:1] != (M,):
        raise ValueError(f"color must have one entry per node ({M}), got shape {arr.shape}")
    if arr.ndim == 1 and arr.dtype.kind in "biuf":
        vals = arr.astype(np.float64)
        if not np.isfinite(vals).all():
            raise ValueError("color contains NaN or inf")
        return colormaps[cmap](Normalize(vals.min(), vals.max())(vals))
    return to_rgba_array(list(arr) if arr.ndim == 1 else arr)


def _widths(mass, max_width, min_width):
    return np.maximum(min_width, max_width * np.asarray(mass, dtype=np.float64))
