"""Separated clusters: align on clouds whose kNN graphs fall apart into blobs, where neighbourhood
agreement cannot see how the blobs are arranged and align judges by distance consistency.

    python benchmarks/bench_separated.py            # 12 cases, about 10 min on 2 cores
    python benchmarks/bench_separated.py --quick    # 3 cases

Each case: 10 Gaussian blobs (centres 4 sd apart per axis, unit spread) in ``dim`` dims; A encodes
one half of the points, B the other half through a rotation and a tanh warp of strength ``warp``
(``tanh(warp x Q) / warp`` plus 0.1 noise), so no affine map relates them exactly. Scored by
label transfer of A's test points (the second half, encoded by both) into B's labelled codes;
oracle = affine least squares on the true pairs. Side by side in one run: topotree's defaults,
topotree judged by agreement alone (the criterion before separated clusters were detected), and
POT's Gromov-Wasserstein as its users run it (``bench_real.gw_best``: 1000 points, 5 starts by GW
loss, affine fit on the coupling).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")

import topotree as tt  # noqa: E402
from bench_real import affine_fit, gw_best  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

_agreement = importlib.import_module("topotree.align._agreement")

CASES = [(n, dim, warp, seed) for n, dim in ((1000, 8), (1000, 12), (3000, 16), (10000, 16))
         for warp, seed in ((0.3, 0), (0.3, 1), (1.0, 2))]
QUICK = [(1000, 8, 0.3, 0), (1000, 12, 0.3, 0), (3000, 16, 1.0, 2)]


def blobs(n, dim, warp, seed, k=10):
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(k, dim))
    labels = rng.integers(0, k, 2 * n)
    X = centres[labels] + rng.normal(size=(2 * n, dim))
    Q = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    Y = np.tanh(warp * X @ Q) / warp + 0.1 * rng.normal(size=(2 * n, dim))
    return X[:n], Y[n:], X[n:], labels[n:]


def run(case):
    A, B, XT, yT = blobs(*case)
    knn = KNeighborsClassifier(1).fit(B, yT)
    lt = lambda TA: float((knn.predict(TA) == yT).mean())  # noqa: E731
    row = {"oracle": lt(affine_fit(XT, B)(XT))}
    t = time.time()
    al = tt.align(A, B)
    row["topotree"] = (lt(al.transform(XT)), al.trust, al.info["search"].get("criterion", "unjudged"), time.time() - t)
    saved = _agreement.SEPARATED_COMPONENTS
    _agreement.SEPARATED_COMPONENTS = 10**9  # agreement alone
    try:
        t = time.time()
        al = tt.align(A, B)
        row["agreement"] = (lt(al.transform(XT)), al.trust, time.time() - t)
    finally:
        _agreement.SEPARATED_COMPONENTS = saved
    t = time.time()
    row["gw"] = (lt(gw_best(A, B)(XT)), time.time() - t)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    print("| n per cloud | dims | warp | seed | oracle | topotree (trust, criterion, s) | agreement alone (trust, s) "
          "| POT GW (s) | topotree / oracle |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios, alone, gws = [], [], []
    for case in QUICK if args.quick else CASES:
        r = run(case)
        top, ag, gw = r["topotree"], r["agreement"], r["gw"]
        ratios.append(top[0] / r["oracle"])
        alone.append(ag[0] / r["oracle"])
        gws.append(gw[0] / r["oracle"])
        print(f"| {case[0]} | {case[1]} | {case[2]} | {case[3]} | {r['oracle']:.3f} | {top[0]:.3f} ({top[1]:.2f}, "
              f"{top[2]}, {top[3]:.1f}) | {ag[0]:.3f} ({ag[1]:.2f}, {ag[2]:.1f}) | {gw[0]:.3f} ({gw[1]:.1f}) "
              f"| {ratios[-1]:.2f} |", flush=True)
    print(f"\ntopotree / oracle: mean {np.mean(ratios):.3f}, >= 0.9x on {sum(x >= 0.9 for x in ratios)}/{len(ratios)}; "
          f"agreement alone: mean {np.mean(alone):.3f}, >= 0.9x on {sum(x >= 0.9 for x in alone)}/{len(alone)}; "
          f"POT GW: mean {np.mean(gws):.3f}, >= 0.9x on {sum(x >= 0.9 for x in gws)}/{len(gws)}")


if __name__ == "__main__":
    main()
