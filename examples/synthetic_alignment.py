"""Align two latent clouds of one hierarchical mixture without any point pairs, against the baselines.

Four cases: a rotated, scaled, shuffled 4-dim cloud; the same with both clouds whitened (identity
covariance: the moment baseline has nothing to go on); a 16-dim whitened pair of fresh samples of
different sizes (trees on a BIC-chosen Gaussian mixture); and 32 dims, 9 equal-weight leaves,
whitened, fresh (the centroids form a near-regular simplex that every leaf map fits: the clusters'
shapes decide). Prints label transfer (1-NN from B's
labels to T(A)), relative error on the class means, and seconds, per method. The full table over
2-32 dims is ``python benchmarks/bench_alignment.py``.
"""
import time

import numpy as np

from topotree import baselines, metrics
from topotree.align import align
from topotree.datasets import hierarchical_mixture


def whiten(Z):
    Z = Z - Z.mean(0)
    e, V = np.linalg.eigh(np.cov(Z.T))
    return Z @ V / np.sqrt(e)


def case(dim, leaves, white, fresh, n_a, n_b, seed, weights="uneven"):
    mix = hierarchical_mixture(n_a, dim=dim, n_leaves=leaves, weights=weights, seed=seed)
    rng = np.random.default_rng(seed + 1)
    if fresh:
        lb = rng.choice(len(mix.weights), size=n_b, p=mix.weights)
        L = np.linalg.cholesky(mix.covariances)
        Xb = mix.means[lb] + np.einsum("nij,nj->ni", L[lb], rng.normal(size=(n_b, dim)))
    else:
        Xb, lb = mix.X, mix.labels
    Q = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    perm = rng.permutation(Xb.shape[0])
    A, B = mix.X, (2.0 * Xb @ Q + 3.0)[perm]
    if white:
        A, B = whiten(A), whiten(B)
    return A, mix.labels, B, lb[perm]


def class_mean_error(al, A, la, B, lb):
    c = np.intersect1d(la, lb)
    Ma = np.array([A[la == i].mean(0) for i in c])
    Mb = np.array([B[lb == i].mean(0) for i in c])
    return metrics.relative_error(al.transform(Ma), Mb)


methods = {
    "topotree": lambda A, B, la, lb: align(A, B, "affine"),
    "oracle": lambda A, B, la, lb: baselines.oracle_procrustes(A, B, "affine", labels_a=la, labels_b=lb),
    "moment": lambda A, B, la, lb: baselines.moment_align(A, B, "affine"),
    "kmeans_qap": lambda A, B, la, lb: baselines.kmeans_qap_align(A, B, "affine"),
    "gw (500)": lambda A, B, la, lb: baselines.gromov_wasserstein_align(A, B, "affine", n_sub=500),
}
cases = {
    "4 dims, 9 leaves, rotated": case(4, 9, False, False, 4000, 4000, 0),
    "4 dims, 9 leaves, whitened": case(4, 9, True, False, 4000, 4000, 0),
    "16 dims, 5 leaves, whitened, fresh 3000/2000": case(16, 5, True, True, 3000, 2000, 3),
    "32 dims, 9 equal leaves, whitened, fresh 4000/3000": case(32, 9, True, True, 4000, 3000, 5, "equal"),
}
print("| case | " + " | ".join(methods) + " |")
print("|---|" + "---|" * len(methods))
for name, (A, la, B, lb) in cases.items():
    cells = []
    for m, fn in methods.items():
        t = time.perf_counter()
        al = fn(A, B, la, lb)
        dt = time.perf_counter() - t
        acc = metrics.label_transfer_accuracy(al.transform(A), la, B, lb)
        cells.append(f"{acc:.3f} / {class_mean_error(al, A, la, B, lb):.3f} / {dt:.1f}s")
    print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
print("\ncells: label transfer / relative error of the mapped class means / seconds")
