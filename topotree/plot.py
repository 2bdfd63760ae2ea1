"""Plots of cluster trees: dendrogram, persistence diagram or barcode, matched trees, embeddings.

Every function takes an optional matplotlib ``ax`` and returns the Axes it drew on, and never
shows a window itself. matplotlib is imported inside the functions, so ``import topotree`` stays
quick.
Trees are drawn with a few ``LineCollection`` artists (not one artist per node), so a raw tree with
tens of thousands of leaves still plots in seconds.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["plot_dendrogram", "plot_persistence", "plot_matching", "plot_embedding", "leaf_colors",
           "dendrogram_layout"]

_MAX_LABELS = 200


# ---------------------------------------------------------------------------------------- helpers
def _check_tree(tree, name="tree"):
    from .tree import ClusterTree

    if not isinstance(tree, ClusterTree):
        raise TypeError(f"{name} must be a topotree ClusterTree, got {type(tree).__name__}")
    return tree


def _new_ax(ax, figsize):
    from matplotlib.axes import Axes

    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        return ax
    figsize = _check_figsize(figsize)
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _check_figsize(figsize):
    from ._validation import check_real

    try:
        w, h = figsize
    except (TypeError, ValueError):
        raise TypeError(f"figsize must be a pair (width, height) in inches, got {figsize!r}") from None
    return (check_real(w, "figsize width", low=0, low_open=True, high=1000),
            check_real(h, "figsize height", low=0, low_open=True, high=1000))


def _check_widths(max_width, min_width):
    from ._validation import check_real

    max_width = check_real(max_width, "max_width", low=0, low_open=True)
    min_width = check_real(min_width, "min_width", low=0)
    if min_width > max_width:
        raise ValueError(f"min_width ({min_width}) must not exceed max_width ({max_width})")
    return max_width, min_width


def _check_cmap(cmap):
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(f"cmap must be a matplotlib colormap or its name, got {cmap!r}")
    return cmap


def _check_color(value, name):
    from matplotlib.colors import is_color_like

    if not is_color_like(value):
        raise ValueError(f"{name} {value!r} is not a matplotlib colour")
    return value


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


def dendrogram_layout(tree, y="log_density") -> dict:
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


# ---------------------------------------------------------------------------------------- dendrogram
def plot_dendrogram(tree, ax=None, *, y="log_density", color=None, cmap="viridis", leaf_labels=None,
                    max_width=10.0, min_width=0.6, label_fontsize=None, figsize=(7, 4.5)):
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
    leaf_labels : None, False or sequence of str
        None labels the leaves 0, 1, ...; a sequence gives one string per leaf (e.g. "digit 3");
        False draws no labels. Labels are never drawn for more than 200 leaves.
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
    if leaf_labels is not None and leaf_labels is not False:
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


# ---------------------------------------------------------------------------------------- persistence
def _read_diagram(obj):
    """(finite (m,2), finite dims (m,), essential births (c,), essential dims (c,), superlevel, threshold)."""
    from .tree import ClusterTree

    if isinstance(obj, ClusterTree):
        if obj.simplification is not None:
            t = obj.simplification.min_persistence
        else:
            t = obj.default_thresholds().min_persistence
        d = np.asarray(obj.diagram, dtype=np.float64).reshape(-1, 2)
        e = np.asarray(obj.essential, dtype=np.float64)
        return d, np.zeros(len(d), int), e, np.zeros(len(e), int), True, float(t)
    if obj is None:
        raise TypeError("tree_or_diagram must be a ClusterTree, an (m, 2) array or a gudhi diagram, got None")
    dims = None
    if isinstance(obj, (list, tuple)) and len(obj) and isinstance(obj[0], (list, tuple)) and len(obj[0]) == 2 \
            and isinstance(obj[0][1], (list, tuple, np.ndarray)):
        # gudhi format: [(dim, (birth, death)), ...]
        try:
            dims = np.asarray([int(p[0]) for p in obj])
            pairs = np.asarray([[float(p[1][0]), float(p[1][1])] for p in obj])
        except (TypeError, ValueError, IndexError) as exc:
            raise TypeError(f"tree_or_diagram is not a gudhi diagram [(dim, (birth, death)), ...]: {exc}") from None
    else:
        try:
            pairs = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"tree_or_diagram could not be read as an (m, 2) array: {exc}") from None
        if pairs.size == 0:
            pairs = pairs.reshape(0, 2)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"tree_or_diagram must have shape (m, 2) (birth, death), got {pairs.shape}")
    if dims is None:
        dims = np.zeros(len(pairs), int)
    if np.isnan(pairs).any():
        raise ValueError("tree_or_diagram contains NaN")
    if not np.isfinite(pairs[:, 0]).all():
        raise ValueError("tree_or_diagram has an infinite birth")
    fin = np.isfinite(pairs[:, 1])
    d = pairs[fin]
    superlevel = bool(d.shape[0]) and bool(np.mean(d[:, 1] < d[:, 0]) > 0.5)
    return d, dims[fin], pairs[~fin, 0], dims[~fin], superlevel, None


def plot_persistence(tree_or_diagram, ax=None, *, barcode=False, threshold="auto", max_bars=500,
                     figsize=(5, 5)):
    """Persistence diagram (or barcode) of a cluster tree or of any diagram.

    Each finite pair is a point (birth, death) with the diagonal drawn; the essential classes
    (which never die) sit on a line marked infinity at the top. A cluster tree's pairs come from
    superlevel sets (a component is born at its peak and dies lower down, when it merges), so both
    axes run from high to low log-density: the diagram then reads like gudhi's, points above the
    diagonal, with persistence the distance to it. The band along the diagonal holds the pairs
    that ``simplify()`` removes (persistence below its ``min_persistence``).

    Parameters
    ----------
    tree_or_diagram : ClusterTree, (m, 2) array of (birth, death), or gudhi diagram
        A gudhi diagram is a list of ``(dim, (birth, death))``; infinite deaths are essential.
        Superlevel (death < birth) or sublevel (death > birth) convention is detected.
    ax : matplotlib Axes, optional
    barcode : bool
        Draw a barcode instead: one bar per pair from birth to death, longest first, essential
        bars running off the axis; bars shorter than the threshold are grey.
    threshold : "auto", float or None
        Persistence threshold drawn as a band. "auto": for a tree, the ``min_persistence`` of its
        simplification (or the one ``simplify()`` would choose, for a raw tree); none for an array.
    max_bars : int
        Barcode only: draw the ``max_bars`` most persistent pairs.

    Returns
    -------
    matplotlib Axes

    References
    ----------
    Edelsbrunner, H., Letscher, D. and Zomorodian, A. (2002). Topological persistence and
    simplification. Discrete Comput. Geom. 28.
    Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
    Riemannian manifolds. J. ACM 60(6).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import topotree as tt
    >>> ax = tt.plot_persistence([(0, (0.0, 1.0)), (0, (0.2, float("inf")))])
    >>> bool(ax.get_ylim()[1] > 1.0)
    True
    """
    from matplotlib.collections import LineCollection

    fin, dims, ess, ess_dims, superlevel, auto_t = _read_diagram(tree_or_diagram)
    from ._validation import check_int

    max_bars = check_int(max_bars, "max_bars", low=1)
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(f"threshold must be 'auto', a number or None, got {threshold!r}")
        threshold = auto_t
    elif threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not np.isfinite(threshold) \
                or threshold < 0:
            raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
        threshold = float(threshold)
    ax = _new_ax(ax, figsize)
    values = np.r_[fin.ravel(), ess]
    if values.size == 0:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 1.0
    pad = 0.05 * span
    sign = -1.0 if superlevel else 1.0  # death - birth has this sign
    udims = np.unique(np.r_[dims, ess_dims]) if values.size else np.array([0])
    pers = np.abs(fin[:, 1] - fin[:, 0])

    if barcode:
        order = np.argsort(-pers, kind="stable")[:max_bars]
        n_ess = min(len(ess), max_bars)
        end_inf = lo - pad if superlevel else hi + pad
        segs = [np.c_[ess[:n_ess], np.arange(n_ess), np.full(n_ess, end_inf), np.arange(n_ess)]]
        m = len(order)
        segs.append(np.c_[fin[order, 0], n_ess + np.arange(m), fin[order, 1], n_ess + np.arange(m)])
        segs = np.concatenate(segs).reshape(-1, 2, 2)
        keep = np.r_[np.ones(n_ess, bool), pers[order] >= (threshold or 0.0)]
        colors = np.where(keep[:, None], np.array([[0.12, 0.47, 0.71, 1.0]]), np.array([[0.6, 0.6, 0.6, 1.0]]))
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=2.0 if len(segs) < 100 else 0.8,
                                         label="bars"))
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(len(segs) - 0.5 + 0.5, -1)
        if superlevel:
            ax.invert_xaxis()
        ax.set_xlabel("log-density level" if superlevel else "filtration value")
        ax.set_ylabel("pairs (most persistent first)")
        ax.set_yticks([])
        title = f"barcode: {len(fin)} finite, {len(ess)} essential"
        if threshold:
            title += f" (grey: < {threshold:.3g})"
        ax.set_title(title, fontsize=10)
        return ax

    inf_line = hi + 2 * pad if not superlevel else lo - 2 * pad
    a, b = lo - pad, hi + pad
    ax.plot([min(a, inf_line), max(b, inf_line)], [min(a, inf_line), max(b, inf_line)], color="0.3", lw=0.8,
            zorder=1)
    if threshold:
        xs = np.array([min(a, inf_line), max(b, inf_line)])
        ax.fill_between(xs, xs, xs + sign * threshold, color="0.85", zorder=0,
                        label=f"simplify threshold {threshold:.3g}")
    ax.axhline(inf_line, color="0.5", lw=0.8, ls="--", zorder=1)
    many = len(fin) > 2000
    for k, dim in enumerate(udims):
        sel = dims == dim
        lab = f"H{dim}" if len(udims) > 1 else f"{sel.sum()} finite pairs"
        ax.scatter(fin[sel, 0], fin[sel, 1], s=4 if many else 16, color=f"C{k}", lw=0, zorder=3, label=lab,
                   rasterized=many)
        esel = ess_dims == dim
        if esel.any():
            ax.scatter(ess[esel], np.full(esel.sum(), inf_line), s=30, marker="^" if not superlevel else "v",
                       color=f"C{k}", zorder=3, label=f"{esel.sum()} essential" if len(udims) == 1 else None,
                       clip_on=False)
    lim = (min(a, inf_line) - 0.5 * pad, max(b, inf_line) + 0.5 * pad)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(*lim)
    ax.text(-0.01, inf_line, "-inf" if superlevel else "+inf", ha="right", va="center", fontsize=8,
            transform=ax.get_yaxis_transform(), clip_on=False)
    if superlevel:
        ax.invert_xaxis()
        ax.invert_yaxis()
        ax.set_xlabel("birth: peak log-density")
        ax.set_ylabel("death: merge log-density")
    else:
        ax.set_xlabel("birth")
        ax.set_ylabel("death")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title("persistence diagram", fontsize=10)
    return ax


# ---------------------------------------------------------------------------------------- matching
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


def plot_matching(tree_a, tree_b, matching=None, ax=None, *, y="log_density", max_width=6.0, min_width=0.5,
                  line_color="C3", leaf_labels=True, names=("tree A", "tree B"), figsize=(9, 5)):
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


# ---------------------------------------------------------------------------------------- embedding
def plot_embedding(X, tree, ax=None, *, core=False, contour=True, log_density=None, max_points=50_000,
                   point_size=None, seed=0, figsize=(5.5, 5)):
    """2-D view of a point cloud coloured by the tree's leaf labels.

    Shows the first two coordinates when d == 2, the first two principal components when d > 2,
    and the coordinate against log-density when d == 1. Point colours match the leaf colours of
    :func:`plot_dendrogram`. When d == 2 the tree's log-density is drawn as contour lines (averaged
    on a grid, or evaluated from ``log_density`` if it is a callable).

    Parameters
    ----------
    X : (n, d) array, the points the tree was built on.
    tree : ClusterTree
    core : bool
        Colour only the points inside leaf components (``tree.labels(core=True)``), the rest grey.
    contour : bool
        Draw density contours (d == 2 only).
    log_density : callable, optional
        Exact log-density, evaluated on the contour grid (d == 2).
    max_points : int
        Scatter a random subsample of at most this many points (the contours use all of them).

    Returns
    -------
    matplotlib Axes

    References
    ----------
    Pearson, K. (1901). On lines and planes of closest fit to systems of points in space. Phil. Mag. 2(11).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np, topotree as tt
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(400, 2)), rng.normal(size=(200, 2)) + [7, 0]]
    >>> ax = tt.plot_embedding(X, tt.build_tree(X, k=15).simplify())
    >>> len(ax.collections[0].get_offsets())
    600
    """
    from ._validation import check_int, check_points, check_real, check_seed

    tree = _check_tree(tree)
    X = check_points(X, "X")
    n, d = X.shape
    if n != tree.n_points:
        raise ValueError(f"X has {n} points but the tree was built on {tree.n_points}")
    max_points = check_int(max_points, "max_points", low=1)
    seed = check_seed(seed, allow_none=True, allow_generator=True)
    point_size = check_real(point_size, "point_size", low=0, allow_none=True)
    if log_density is not None and not callable(log_density):
        raise TypeError("log_density must be a callable (m, d) -> (m,) or None")
    ax = _new_ax(ax, figsize)
    if d == 1:
        P = np.c_[X[:, 0], tree.log_density]
        xlabel, ylabel = "x", "log-density"
    elif d == 2:
        P = X
        xlabel, ylabel = "x1", "x2"
    else:
        centred = X - X.mean(axis=0)
        _, s, vt = np.linalg.svd(centred[:: max(1, n // 200_000)], full_matrices=False)
        P = centred @ vt[:2].T
        ev = s ** 2 / np.sum(s ** 2)
        xlabel, ylabel = f"PC1 ({100 * ev[0]:.0f}%)", f"PC2 ({100 * ev[1]:.0f}%)"
    labels = tree.labels(core=core)
    L = len(tree.leaves)
    rgba = np.vstack([leaf_colors(L), [[0.75, 0.75, 0.75, 1.0]]])
    idx = np.arange(n)
    if n > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    s = point_size if point_size is not None else float(np.clip(3000.0 / len(idx), 0.5, 12.0))
    lab = labels[idx]
    ax.scatter(P[idx, 0], P[idx, 1], c=rgba[np.where(lab >= 0, lab, L)], s=s, lw=0, rasterized=len(idx) > 5000)
    if contour and d == 2:
        g = 100
        x0, x1 = P[:, 0].min(), P[:, 0].max()
        y0, y1 = P[:, 1].min(), P[:, 1].max()
        gx, gy = np.linspace(x0, x1, g), np.linspace(y0, y1, g)
        if log_density is not None:
            GX, GY = np.meshgrid(gx, gy)
            Z = np.asarray(log_density(np.c_[GX.ravel(), GY.ravel()]), dtype=np.float64).reshape(g, g)
        else:  # log of a smoothed 2-D histogram of all the points
            from scipy.ndimage import gaussian_filter

            H, _, _ = np.histogram2d(P[:, 1], P[:, 0], bins=g, range=[[y0, y1], [x0, x1]])
            H = gaussian_filter(H, sigma=1.0)
            with np.errstate(divide="ignore"):
                Z = np.ma.masked_less(np.log(np.maximum(H, 1e-300)), np.log(H.max()) - np.log(1e3))
        if np.ma.count(Z) > 3 and float(np.ma.max(Z) - np.ma.min(Z)) > 0:
            ax.contour(gx, gy, Z, levels=np.linspace(float(np.ma.min(Z)), float(np.ma.max(Z)), 8)[1:-1], colors="0.2",
                       linewidths=0.6, alpha=0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{n} points, {L} clusters" + (" (core)" if core else ""), fontsize=10)
    return ax
