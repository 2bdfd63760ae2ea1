"""Quick start: the density cluster tree of a hierarchical Gaussian mixture, estimated and exact.

Run: python examples/quickstart.py
"""
import numpy as np

import topotree as tt
from topotree.datasets import hierarchical_mixture

mix = hierarchical_mixture(n=6000, dim=4, n_leaves=9, seed=7)
print(f"data: {mix.X.shape[0]} points in {mix.X.shape[1]} dims, {len(mix.weights)} true clusters")
for name, log_density in [("kNN estimate", None), ("exact density", mix.log_density)]:
    raw = tt.build_tree(mix.X, log_density=log_density)
    tree = raw.simplify()
    labels = tree.labels()
    purity = np.mean([np.bincount(mix.labels[labels == j]).max() / np.sum(labels == j)
                      for j in range(len(tree.leaves))])
    print(f"\n{name}: raw tree {len(raw.leaves)} leaves -> simplified {len(tree.leaves)} leaves "
          f"({tree.simplification.rule})")
    print(f"  mean leaf purity against the true components: {purity:.3f}")
    print(f"  persistence diagram: {len(raw.diagram)} finite pairs, {len(raw.essential)} essential")
    for leaf in tree.leaves:
        node = tree.nodes[leaf]
        print(f"  leaf {leaf:3d}: mass {node.mass:.3f}, levels ({node.start:7.2f}, {node.end:7.2f}], "
              f"majority component {np.bincount(mix.labels[node.members]).argmax()}")
