"""Align two latent clouds of one hierarchical mixture without any point pairs."""
import numpy as np

import topotree as tt
from topotree import baselines, metrics
from topotree.align import align
from topotree.datasets import hierarchical_mixture

mix = hierarchical_mixture(4000, dim=4, n_leaves=9, seed=0)
rng = np.random.default_rng(1)
Q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
perm = rng.permutation(4000)
B = (2.0 * mix.X @ Q + 3.0)[perm]          # rotated, scaled, shifted, shuffled
labels_b = mix.labels[perm]

al = align(mix.X, B, "similarity")
print(al, "score", round(al.score, 4))
print("label transfer", metrics.label_transfer_accuracy(al.transform(mix.X), mix.labels, B, labels_b))
print("scale", round(al.scale, 4), "(true 2.0)")
mom = baselines.moment_align(mix.X, B, "similarity")
print("moment baseline", metrics.label_transfer_accuracy(mom.transform(mix.X), mix.labels, B, labels_b))
