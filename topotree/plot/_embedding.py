"""A 2-D point cloud coloured by its tree's leaves, with density contours."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._typing import ArrayLike, Seed
from ..tree import ClusterTree
from ._checks import _check_tree, _new_ax
from ._layout import leaf_colors

if TYPE_CHECKING:  # matplotlib is imported lazily, when a picture is drawn
    from matplotlib.axes import Axes

__all__ = ["plot_embedding"]


def plot_embedding(X: ArrayLike, tree: ClusterTree, ax: Axes | None = None, *, core: bool = False, contour: bool = True,
                   log_density: ArrayLike | None = None, max_points: int = 50_000, point_size: float | None = None,
                   seed: Seed = 0, figsize: tuple[float, float] = (5.5, 5)) -> Axes:
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
    from .._validation import check_int, check_points, check_real, check_seed

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
