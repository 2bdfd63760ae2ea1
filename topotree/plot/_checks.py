"""Argument checks and the new-Axes helper shared by the plots."""
from __future__ import annotations


def _check_tree(tree, name="tree"):
    from ..tree import ClusterTree

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
    from .._validation import check_real

    try:
        w, h = figsize
    except (TypeError, ValueError):
        raise TypeError(f"figsize must be a pair (width, height) in inches, got {figsize!r}") from None
    return (check_real(w, "figsize width", low=0, low_open=True, high=1000),
            check_real(h, "figsize height", low=0, low_open=True, high=1000))


def _check_widths(max_width, min_width):
    from .._validation import check_real

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
