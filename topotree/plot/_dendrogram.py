"""The dendrogram of a cluster tree."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..tree import ClusterTree
from ._checks import _check_cmap, _check_tree, _check_widths, _new_ax
from ._layout import _MAX_LABELS, _node_colors, _segments, _widths, dendrogram_layout

if TYPE_CHECKING:  # matplotlib is imported lazily, when a picture is drawn
    from matplotlib.axes import Axes

__all__ = ["plot_dendrogram"]


def plot_dendrogram(tree: ClusterTree, ax: Axes | None = None, *, y: Literal["log_density", "mass"] = "log_density",
                    color: Any = None, cmap: str = "viridis", leaf_labels: Any = None, max_width: float = 10.0,
                    min_width: float = 0.6, label_fontsize: float | None = None,
                    figsize: tuple[float, float] = (7, 4.5)) -> Axes:
    """Draw the level-set tree as a dendrogram.

    Each node is a vertical branch from its ``start`` level (where it splits off its parent) to its
    ``end`` level (where it splits, or its peak for a leaf), as wide as its mass; a horizontal line
    at a node's ``end`` joins its children. Leaves are laid out in the order of ``tree.leaves`` and
    labelled (when there are at most 200) with their index, the value ``tree.labels()`` gives
    their points. The whole tree is two ``LineCollection`` artists, so a raw tree with tens of
    thousands of leaves plots in seconds.

    Parameters
    ----------
    tree : ClusterTree
    ax : matplotlib Axes, optional (a new figure is made if None)
    y : {"log_density", "mass"}
        Vertical axis: the log-density level, or the mass above the level (fraction of points with
        log-density at least the level; the axis is inverted so the tree still grows upward).
    color : None, colour, dict or array, optional
        None colours leaf ``j`` like cluster ``j`` in :func:`plot_embedding` (internal nodes grey);
        one colour for all; a dict node id -> colour (others grey); or one entry per node (colours,
        or numbers mapped through ``cmap``).
    leaf_labels : None, "node", False or sequence of str
        None labels the leaves 0, 1, ... (their position in ``tree.leaves``, the value
        ``tree.labels()`` gives their points); ``"node"`` labels them ``#id`` with their node ids
        (the ids matchings, reports and ``tree.nodes`` use; ``tree.leaves[j]`` maps one to the
        other); a sequence gives one string per leaf (e.g. "digit 3"); False draws no labels.
        Labels are never drawn for more than 200 leaves.
    max_width, min_width : float
        Line width (points) of a branch of mass 1, and the thinnest line.

    Returns
    -------
    matplotlib Axes

    References
    ----------
    Stuetzle, W. (2003). Estimating the cluster tree of a density by analyzing the minimal spanning
    tree of a sample. J. Classification 20(1).
    Kent, B. P., Rinaldo, A. and Verstynen, T. (2013). DeBaCl: a Python package for interactive
    density-based clustering. arXiv:1307.8136.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np, topotree as tt
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(400, 2)), rng.normal(size=(200, 2)) + [7, 0]]
    >>> ax = tt.plot_dendrogram(tt.build_tree(X, k=15).simplify())
    >>> len(ax.texts)
    2
    """
    from matplotlib.collections import LineCollection

    tree = _check_tree(tree)
    lay = dendrogram_layout(tree, y=y)
    leaves = lay["leaves"]
    L = leaves.shape[0]
    cmap = _check_cmap(cmap)
    max_width, min_width = _check_widths(max_width, min_width)
    if isinstance(leaf_labels, str) and leaf_labels == "node":
        leaf_labels = [f"#{int(node)}" for node in leaves]
    elif leaf_labels is not None and leaf_labels is not False:
        if isinstance(leaf_labels, str) or len(leaf_labels) != L:
            raise ValueError(f"leaf_labels must be a sequence of {L} strings (one per leaf)")
    ax = _new_ax(ax, figsize)
    rgba = _node_colors(tree, color, cmap)
    vert, vnodes, horiz, internal = _segments(lay, tree.virtual_root)
    widths = _widths(tree.mass, max_width, min_width)
    ax.add_collection(LineCollection(horiz, colors=rgba[internal], linewidths=min_width,
                                     capstyle="butt", zorder=1, label="joins"))
    ax.add_collection(LineCollection(vert, colors=rgba[vnodes], linewidths=widths[vnodes],
                                     capstyle="butt", zorder=2, label="branches"))

    ys = np.r_[lay["y0"], lay["y1"]]
    lo, hi = float(ys.min()), float(ys.max())
    span = hi - lo if hi > lo else 1.0
    draw_labels = leaf_labels is not False and L <= _MAX_LABELS
    texts = [str(j) for j in range(L)] if leaf_labels is None or leaf_labels is False else [str(t) for t in leaf_labels]
    vertical = L > 12 or max(len(t) for t in texts) > 4
    pad_top = 0.04 * span
    if draw_labels:
        pad_top = (0.06 + 0.025 * max(len(t) for t in texts)) * span if vertical else 0.1 * span
    ax.set_xlim(-0.6, L - 0.4)
    if y == "mass":
        ax.set_ylim(hi + 0.03 * span, lo - pad_top)  # inverted: mass 1 (the root) at the bottom
        ax.set_ylabel("mass above level")
    else:
        ax.set_ylim(lo - 0.03 * span, hi + pad_top)
        ax.set_ylabel("log-density")
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if draw_labels:
        fs = label_fontsize or (9 if L <= 30 else 7 if L <= 80 else 5)
        off = (-1 if y == "mass" else 1) * 0.01 * span
        for j, node in enumerate(leaves):
            ax.text(lay["x"][node], lay["y1"][node] + off, texts[j], ha="center", va="bottom",
                    rotation=90 if vertical else 0, fontsize=fs, clip_on=False, gid="leaf-label")
    kind = "raw" if tree.simplification is None else "simplified"
    ax.set_title(f"cluster tree ({kind}): {L} leaves, {tree.n_points} points", fontsize=10)
    return ax
