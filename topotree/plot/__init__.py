"""Plots of cluster trees: dendrogram, persistence diagram or barcode, matched trees, embeddings.

Every function takes an optional matplotlib ``ax`` and returns the Axes it drew on, and never
shows a window itself. matplotlib is imported inside the functions, so ``import topotree`` stays
quick.
Trees are drawn with a few ``LineCollection`` artists (not one artist per node), so a raw tree with
tens of thousands of leaves still plots in seconds.

Modules: ``_layout`` (dendrogram layout, leaf and node colours, widths), ``_checks`` (argument
checks), one module per picture: ``_dendrogram``, ``_persistence``, ``_matching``, ``_embedding``.
"""
from ._dendrogram import plot_dendrogram
from ._embedding import plot_embedding
from ._layout import dendrogram_layout, leaf_colors
from ._matching import plot_matching
from ._persistence import plot_persistence

__all__ = ["plot_dendrogram", "plot_persistence", "plot_matching", "plot_embedding", "leaf_colors",
           "dendrogram_layout"]
