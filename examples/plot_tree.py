"""Draw the cluster tree of a hierarchical Gaussian mixture: dendrogram and persistence diagram.

Writes examples/images/dendrogram.png and examples/images/persistence.png (shown in the README).
Run: python examples/plot_tree.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import numpy as np  # noqa: E402

import topotree as tt  # noqa: E402
from topotree.datasets import hierarchical_mixture  # noqa: E402
from topotree.plot import plot_dendrogram, plot_embedding, plot_persistence  # noqa: E402

out = Path(__file__).parent / "images"
out.mkdir(exist_ok=True)
mix = hierarchical_mixture(n=6000, dim=2, n_leaves=9, seed=7)
raw = tt.build_tree(mix.X)
tree = raw.simplify()
labels = tree.labels()
names = [f"{j}: comp {np.bincount(mix.labels[labels == j]).argmax()}" for j in range(len(tree.leaves))]

fig = Figure(figsize=(9, 4))
ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1.5, 1]))
plot_dendrogram(tree, ax=ax1, leaf_labels=names)
plot_embedding(mix.X, tree, ax=ax2)
fig.tight_layout()
fig.savefig(out / "dendrogram.png", dpi=80)

fig = Figure(figsize=(8, 4))
ax1, ax2 = fig.subplots(1, 2)
plot_persistence(raw, ax=ax1)
plot_persistence(raw, ax=ax2, barcode=True, max_bars=60)
fig.tight_layout()
fig.savefig(out / "persistence.png", dpi=80)
print(f"raw tree {len(raw.leaves)} leaves -> {len(tree.leaves)}; wrote {out / 'dendrogram.png'} and "
      f"{out / 'persistence.png'}")
