"""Correspondence-free alignment benchmark: topotree.align against its peers, one table.

    python benchmarks/bench_alignment.py --quick      # a few cases (minutes)
    python benchmarks/bench_alignment.py              # the full grid (long)
    python benchmarks/bench_alignment.py --scale      # 200,000-point pair timing + GW's largest n

Cases: hierarchical mixtures; B = 1.7 * (X + warp * s * tanh(X W / s)) Q + t, rows shuffled, the
same sample or a fresh one (another size), optionally both whitened. Label transfer: 1-NN from B's
labels to T(A). Oracle: the same transform family on true pairs (same sample) or class means (fresh).
"""
from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np

from topotree import baselines, metrics
from topotree.align import align
from topotree.datasets import hierarchical_mixture

warnings.filterwarnings("ignore", category=FutureWarning)


def make_case(n, dim, leaves, weights, warp, fresh, whiten, seed, n_b=None):
    m = hierarchical_mixture(n, dim=dim, n_leaves=leaves, weights=weights, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    A, la = m.X, m.labels
    if fresh:
        n_b = n_b or int(0.8 * n)
        lb = rng.choice(len(m.weights), size=n_b, p=m.weights)
        L = np.linalg.cholesky(m.covariances)
        Xb = m.means[lb] + np.einsum("nij,nj->ni", L[lb], rng.normal(size=(n_b, dim)))
    else:
        Xb, lb = A.copy(), la.copy()
    s = np.sqrt(np.mean(np.sum((A - A.mean(0)) ** 2, 1)))
    W = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    Q = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    Y = 1.7 * (Xb + warp * s * np.tanh(Xb @ W / s)) @ Q + rng.normal(size=dim) * 3
    perm = rng.permutation(Y.shape[0])
    Y, lb = Y[perm], lb[perm]
    pairs = None
    if not fresh:
        pairs = np.empty_like(perm)
        pairs[perm] = np.arange(perm.shape[0])
    if whiten:
        def wh(Z):
            Z = Z - Z.mean(0)
            e, V = np.linalg.eigh(np.cov(Z.T))
            return Z @ V / np.sqrt(e)
        A, Y = wh(A), wh(Y)
    return A, la, Y, lb, pairs


def run_case(case, kind, methods, gw_n=1000):
    A, la, B, lb, pairs = case
    out = {}
    runners = {
        "topotree": lambda: align(A, B, kind),
        "topotree_knn": lambda: align(A, B, kind, density="knn"),
        "oracle": lambda: baselines.oracle_procrustes(A, B, kind, pairs=pairs) if pairs is not None
        else baselines.oracle_procrustes(A, B, kind, labels_a=la, labels_b=lb),
        "gw": lambda: baselines.gromov_wasserstein_align(A, B, kind, n_sub=gw_n),
        "moment": lambda: baselines.moment_align(A, B, kind),
        "kmeans_qap": lambda: baselines.kmeans_qap_align(A, B, kind),
        "random": lambda: baselines.random_orthogonal(A, B),
    }
    for name in methods:
        t = time.perf_counter()
        al = runners[name]()
        dt = time.perf_counter() - t
        TA = al.transform(A)
        acc = metrics.label_transfer_accuracy(TA, la, B, lb)
        rel = metrics.relative_error(TA, B[pairs]) if pairs is not None else float("nan")
        out[name] = (acc, rel, dt)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scale", action="store_true")
    ap.add_argument("--transform", default="affine")
    args = ap.parse_args()
    if args.scale:
        case = make_case(200_000, 6, 9, "uneven", 0.15, True, False, 0, n_b=150_000)
        t = time.perf_counter()
        al = align(case[0], case[2], args.transform)
        dt = time.perf_counter() - t
        print(f"200,000 x 150,000 points, 6 dims: align {dt:.1f} s, label transfer "
              f"{metrics.label_transfer_accuracy(al.transform(case[0]), case[1], case[2], case[3]):.3f}")
        for n in (500, 1000, 2000, 4000):
            c = make_case(n, 6, 9, "uneven", 0.15, False, False, 1)
            t = time.perf_counter()
            baselines.gromov_wasserstein_align(c[0], c[2], args.transform, n_sub=n)
            dt = time.perf_counter() - t
            print(f"GW at n={n}: {dt:.1f} s")
            if dt > 30:
                break
        return
    if args.quick:
        grid = [(2, 4, "equal"), (4, 9, "uneven"), (8, 27, "equal"), (16, 9, "uneven")]
        opts = [(0.3, True, False), (0.3, False, True)]
        n = 3000
    else:
        grid = [(d, L, w) for d in (2, 4, 8, 16, 32) for L in (4, 9, 27) for w in ("uneven", "equal")]
        opts = list(itertools.product((0.0, 0.5), (False, True), (False, True)))
        n = 4000
    methods = ["topotree", "oracle", "gw", "moment", "kmeans_qap", "random"]
    print("| dim | leaves | weights | warp | fresh | whitened | " + " | ".join(methods) + " | topotree/oracle | topotree s |")
    print("|" + "---|" * (len(methods) + 8))
    ratios = []
    for (d, L, w), (warp, fresh, whiten) in itertools.product(grid, opts):
        case = make_case(n, d, L, w, warp, fresh, whiten, seed=d * 100 + L)
        r = run_case(case, args.transform, methods, gw_n=500 if args.quick else 1000)
        ratio = r["topotree"][0] / r["oracle"][0]
        ratios.append(ratio)
        print(f"| {d} | {L} | {w} | {warp} | {fresh} | {whiten} | " + " | ".join(f"{r[m][0]:.3f}" for m in methods)
              + f" | {ratio:.3f} | {r['topotree'][2]:.1f} |", flush=True)
    print(f"\nratio to oracle: mean {np.mean(ratios):.3f}, worst {np.min(ratios):.3f} over {len(ratios)} cases")


if __name__ == "__main__":
    main()
