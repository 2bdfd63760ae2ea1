"""The persistence diagram or barcode of a tree (or of a diagram array, or gudhi's list of pairs)."""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from .._typing import ArrayLike
from ..tree import ClusterTree
from ._checks import _new_ax

if TYPE_CHECKING:  # matplotlib is imported lazily, when a picture is drawn
    from matplotlib.axes import Axes

__all__ = ["plot_persistence"]


def _read_diagram(obj):
    """(finite (m,2), finite dims (m,), essential births (c,), essential dims (c,), superlevel, threshold)."""
    from ..tree import ClusterTree

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


def plot_persistence(tree_or_diagram: ClusterTree | ArrayLike, ax: Axes | None = None, *, barcode: bool = False,
                     threshold: Any = "auto", max_bars: int = 500, figsize: tuple[float, float] = (5, 5)) -> Axes:
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
    from .._validation import check_int

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
