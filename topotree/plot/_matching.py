"""Two matched trees side by side, matched nodes joined."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..compare import TreeMatching
from ..tree import ClusterTree
from ._checks import _check_color, _check_tree, _check_widths, _new_ax
from ._layout import _MAX_LABELS, _node_colors, _segments, _widths, dendrogram_layout

if TYPE_CHECKING:  # matplotlib is imported lazily, when a picture is drawn
    from matplotlib.axes import Axes

__all__ = ["plot_matching"]


def _read_pairs(matching, n_a, n_b):
    if matching is None:
        return np.zeros((0, 2), dtype=np.int64), None
    conf = None
    pairs = getattr(matching, "pairs", matching)
    if hasattr(matching, "pairs"):
        conf = getattr(matching, "confidence", None)
    try:
        arr = np.asarray(pairs)
    except Exception as exc:
        raise TypeError(f"matching pairs could not be read as an array: {exc}") from None
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64), None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"matching pairs must be a list of (node_a, node_b), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"matching pairs must be integer node ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr[:, 0].min() < 0 or arr[:, 0].max() >= n_a:
        raise ValueError(f"matching has node ids of tree_a outside [0, {n_a})")
    if arr[:, 1].min() < 0 or arr[:, 1].max() >= n_b:
        raise ValueError(f"matching has node ids of tree_b outside [0, {n_b})")
    if conf is not None:
        conf = np.asarray(conf, dtype=np.float64).ravel()
        if conf.shape[0] != arr.shape[0]:
            raise ValueError(f"matching.confidence has {conf.shape[0]} values for {arr.shape[0]} pairs")
        if not np.isfinite(conf).all():
            raise ValueError("matching.confidence contains NaN or inf")
    return arr, conf


def plot_matching(tree_a: ClusterTree, tree_b: ClusterTree, matching: TreeMatching | None = None, ax: Axes | None = None,
                  *, y: Literal["log_density", "mass"] = "log_density", max_width: float = 6.0, min_width: float = 0.5,
                  line_color: Any = "C3", leaf_labels: Any = True, names: tuple[str, str] = ("tree A", "tree B"),
                  figsize: tuple[float, float] = (9, 5)) -> Axes:
    """Two dendrograms facing each other, with lines joining matched nodes.

    Tree A grows from the left (root at the left edge), tree B from the right, leaves towards the
    middle; each tree's levels are scaled to its own range (the two densities live in different
    spaces). A matched node is marked at its branch's top (its ``end`` level). Without a matching,
    the two trees are drawn side by side.

    Parameters
    ----------
    tree_a, tree_b : ClusterTree
    matching : None, object with ``pairs`` (and optional ``confidence``), or list of (node_a, node_b)
        ``confidence`` (one value per pair in [0, 1]) sets each line's opacity.
    y : {"log_density", "mass"}, as in :func:`plot_dendrogram`.
    leaf_labels : bool
        Label leaves with their index when a tree has at most 200 leaves.

    Returns
    -------
    matplotlib Axes

    References
    ----------
    Kent, B. P., Rinaldo, A. and Verstynen, T. (2013). DeBaCl: a Python package for interactive
    density-based clustering. arXiv:1307.8136.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np, topotree as tt
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(400, 2)), rng.normal(size=(200, 2)) + [7, 0]]
    >>> t = tt.build_tree(X, k=15).simplify()
    >>> ax = tt.plot_matching(t, t, [(i, i) for i in range(t.n_nodes)])
    >>> len(ax.collections[-1].get_segments()) == t.n_nodes
    True
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    if isinstance(names, str) or not isinstance(names, (tuple, list)) or len(names) != 2 \
            or not all(isinstance(x, str) for x in names):
        raise ValueError(f"names must be a pair of strings (tree A, tree B), got {names!r}")
    if not isinstance(leaf_labels, (bool, np.bool_)):
        raise TypeError(f"leaf_labels must be True or False, got {type(leaf_labels).__name__} {leaf_labels!r}")
    _check_color(line_color, "line_color")
    max_width, min_width = _check_widths(max_width, min_width)
    tree_a = _check_tree(tree_a, "tree_a")
    tree_b = _check_tree(tree_b, "tree_b")
    pairs, conf = _read_pairs(matching, tree_a.n_nodes, tree_b.n_nodes)
    ax = _new_ax(ax, figsize)
    reach = 0.44
    pos = {}
    for side, tree in (("a", tree_a), ("b", tree_b)):
        lay = dendrogram_layout(tree, y=y)
        ys = np.r_[lay["y0"], lay["y1"]]
        lo, hi = float(ys.min()), float(ys.max())
        span = hi - lo if hi > lo else 1.0
        if y == "mass":
            u0, u1 = (hi - lay["y0"]) / span, (hi - lay["y1"]) / span
        else:
            u0, u1 = (lay["y0"] - lo) / span, (lay["y1"] - lo) / span
        L = lay["leaves"].shape[0]
        p = (lay["x"] + 0.5) / L
        h0, h1 = (reach * u0, reach * u1) if side == "a" else (1 - reach * u0, 1 - reach * u1)
        lay2 = dict(lay, x=p, y0=h0, y1=h1)
        vert, vnodes, horiz, internal = _segments(lay2, tree.virtual_root)
        vert, horiz = vert[..., ::-1], horiz[..., ::-1]  # (pos, level) -> (level, pos): trees lie on their side
        rgba = _node_colors(tree, None, "viridis")
        ax.add_collection(LineCollection(horiz, colors=rgba[internal], linewidths=min_width, capstyle="butt"))
        ax.add_collection(LineCollection(vert, colors=rgba[vnodes],
                                         linewidths=_widths(tree.mass, max_width, min_width)[vnodes],
                                         capstyle="butt"))
        if leaf_labels and L <= _MAX_LABELS:
            fs = 8 if L <= 30 else 5
            for j, node in enumerate(lay["leaves"]):
                ax.text(h1[node] + (0.005 if side == "a" else -0.005), p[node], str(j), fontsize=fs,
                        ha="left" if side == "a" else "right", va="center", gid="leaf-label")
        pos[side] = (h1, p)
        ax.text(0.0 if side == "a" else 1.0, 1.02, names[0 if side == "a" else 1], ha="left" if side == "a"
                else "right", va="bottom", fontsize=10, transform=ax.transAxes)
    if pairs.shape[0]:
        ha, pa = pos["a"]
        hb, pb = pos["b"]
        segs = np.stack([np.c_[ha[pairs[:, 0]], pa[pairs[:, 0]]], np.c_[hb[pairs[:, 1]], pb[pairs[:, 1]]]], axis=1)
        rgba = np.tile(np.array(to_rgba(line_color)), (pairs.shape[0], 1))
        if conf is not None:
            rgba[:, 3] = 0.15 + 0.85 * np.clip(conf, 0.0, 1.0)
        else:
            rgba[:, 3] = 0.7
        ax.add_collection(LineCollection(segs, colors=rgba, linewidths=1.0, linestyles="dotted", zorder=4,
                                         gid="matching"))
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0.0, 1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    what = "log-density" if y == "log_density" else "mass above level"
    ax.set_xlabel(f"{what} (each tree scaled to its range; roots at the edges)", fontsize=8)
    if matching is None:
        ax.set_title("trees side by side (no matching)", fontsize=10)
    else:
        ax.set_title(f"matching: {pairs.shape[0]} pairs", fontsize=10)
    return ax
