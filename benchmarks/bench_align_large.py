"""tt.align on a large pair: issue 11 asks for a 100,000-point pair in under a minute.

A is a sample of a hierarchical Gaussian mixture, B a fresh sample of the same mixture rotated,
scaled by 1.5 and shifted (no row of B corresponds to a row of A). Printed per size and dimension:
seconds, trust, and the relative error of the map on A's points against the true map.

    python benchmarks/bench_align_large.py                      # 100,000 points, 8 and 16 dims
    python benchmarks/bench_align_large.py --sizes 200000 --dims 8
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import topotree as tt  # noqa: E402
from topotree.datasets import hierarchical_mixture  # noqa: E402

SCALE, SHIFT, LEAVES = 1.5, 0.3, 8


def run(n, d, seed=0):
    m = hierarchical_mixture(n, dim=d, n_leaves=LEAVES, seed=seed)
    Q = np.linalg.qr(np.random.default_rng(seed + 2).normal(size=(d, d)))[0]
    B = m.sample(n, seed=seed + 1)[0] @ Q * SCALE + SHIFT
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tt.AlignmentWarning)
        t0 = time.perf_counter()
        al = tt.align(m.X, B)
        seconds = time.perf_counter() - t0
    P = m.X[:5000]
    err = tt.metrics.relative_error(al.transform(P), P @ Q * SCALE + SHIFT)
    return seconds, al.trust, err, len(caught)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dims", type=int, nargs="+", default=[8, 16])
    a = ap.parse_args(argv)
    print("| n | d | align s | trust | relative error vs the true map | warned |")
    print("|---|---|---|---|---|---|")
    for n in a.sizes:
        for d in a.dims:
            s, trust, err, warned = run(n, d)
            print(f"| {n:,} | {d} | {s:.1f} | {trust:.2f} | {err:.3f} | {'yes' if warned else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
