"""Three flow autoencoders on three disjoint parts of the digits, put into one frame with no pairs.

The digits (standardized) are cut into three disjoint 26% parts, one per model (seeds 0, 1, 2), and a
22% test part every model encodes. Printed for every ordered pair (i, j): label transfer of model
i's test codes mapped into space j (1-NN on model j's labelled codes of its own part) by

* ``tt.align`` run on the pair alone,
* ``align_models`` on the pair (codes and model trees, each also refined by model j's likelihood,
  judged on the codes),
* ``tt.align_many`` over the three spaces (one generalized Procrustes frame),
* the oracle (affine least squares on the true test pairs, cross-fitted),

and the cycle error 0 -> 1 -> 2 -> 0 of the pairwise maps against align_many's (RMS displacement of
the test codes of space 0 around the cycle, over their RMS spread).

Run:  .venv/bin/python examples/align_many_digits.py [--latent-dim 8]

References: Gower (1975), generalized Procrustes analysis; Dinh, Krueger & Bengio (2014), NICE.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import topotree as tt  # noqa: E402
from topotree import metrics  # noqa: E402
from topotree.adapters import FlowAutoencoder, align_models, fit  # noqa: E402
from topotree.adapters.demo import load_data  # noqa: E402


def oracle_transfer(Zi, Zj, yT, Zj_train, yj, folds=5, seed=0):
    """Label transfer of the affine map fitted on true test pairs (cross-fitted over folds)."""
    out = np.empty_like(Zj)
    parts = np.array_split(np.random.default_rng(seed).permutation(len(Zi)), folds)
    for p in parts:
        rest = np.setdiff1d(np.arange(len(Zi)), p)
        al = tt.procrustes(Zi[rest], Zj[rest], "affine")
        out[p] = al.transform(Zi[p])
    return metrics.label_transfer_accuracy(out, yT, Zj_train, yj)


def cycle(maps, Z):
    Y = Z
    for m in maps:
        Y = m.transform(Y)
    return float(np.sqrt(np.mean(np.sum((Y - Z) ** 2, 1))) / np.sqrt(np.sum(Z.var(0))))


def main(latent_dim=8, seed=0):
    torch.set_num_threads(1)
    X, y = load_data(seed=seed)
    perm = np.random.default_rng(seed).permutation(len(X))
    cut = (np.array([0.26, 0.52, 0.78]) * len(X)).astype(int)
    parts = np.split(perm, cut)
    X = (X - X[perm[: cut[-1]]].mean(0)) / np.where(X[perm[: cut[-1]]].std(0) > 0, X[perm[: cut[-1]]].std(0), 1.0)
    XT, yT = X[parts[3]], y[parts[3]]
    models, Z, ZT, ys = [], [], [], []
    t0 = time.perf_counter()
    for i in range(3):
        m = FlowAutoencoder(X.shape[1], latent_dim, seed=seed + i)
        fit(m, X[parts[i]], progress=False)
        models.append(m)
        Z.append(m.encode(X[parts[i]]))
        ZT.append(m.encode(XT))
        ys.append(y[parts[i]])
    print(f"digits: 3 models (latent dim {latent_dim}) on disjoint parts of {[len(p) for p in parts[:3]]} points, "
          f"test {len(parts[3])}; trained in {time.perf_counter() - t0:.0f} s\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tt.AlignmentWarning)
        t0 = time.perf_counter()
        many = tt.align_many(Z, "affine", seed=seed)
        t_many = time.perf_counter() - t0
        pair, pair_models = {}, {}
        for i, j in itertools.permutations(range(3), 2):
            pair[i, j] = tt.align(Z[i], Z[j], "affine", seed=seed)
            pair_models[i, j] = align_models(models[i], models[j], X[parts[i]], X[parts[j]], seed=seed)
    print(f"{'pair':>6} | {'tt.align':>8} {'align_models':>12} {'align_many':>10} {'oracle':>6} | "
          f"{'align / oracle':>14} {'models / oracle':>15} {'many / oracle':>13}")
    ratios = []
    for i, j in itertools.permutations(range(3), 2):
        lt = lambda al: metrics.label_transfer_accuracy(al.transform(ZT[i]), yT, Z[j], ys[j])  # noqa: E731
        a, b, c = lt(pair[i, j]), lt(pair_models[i, j]), lt(many.between(i, j))
        o = oracle_transfer(ZT[i], ZT[j], yT, Z[j], ys[j], seed=seed)
        ratios.append((a / o, b / o, c / o))
        print(f"{i} -> {j} | {a:8.3f} {b:12.3f} {c:10.3f} {o:6.3f} | {a / o:14.2f} {b / o:15.2f} {c / o:13.2f}")
    r = np.array(ratios)
    print(f"{'mean':>6} | {'':8} {'':12} {'':10} {'':6} | {r[:, 0].mean():14.2f} {r[:, 1].mean():15.2f} {r[:, 2].mean():13.2f}")
    print(f"\ncycle 0 -> 1 -> 2 -> 0 (RMS displacement / RMS spread of space 0's test codes): "
          f"tt.align {cycle([pair[0, 1], pair[1, 2], pair[2, 0]], ZT[0]):.3f}, "
          f"align_models {cycle([pair_models[0, 1], pair_models[1, 2], pair_models[2, 0]], ZT[0]):.3f}, "
          f"align_many {cycle([many.between(0, 1), many.between(1, 2), many.between(2, 0)], ZT[0]):.1e} "
          f"({t_many:.0f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latent-dim", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.latent_dim, a.seed)
