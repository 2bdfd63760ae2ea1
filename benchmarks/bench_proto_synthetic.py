"""The prototype (benchmarks/_proto_align.py) on bench_alignment's synthetic mixtures, against the oracle.

    python benchmarks/bench_proto_synthetic.py --quick     # bench_alignment's 5 quick cases
    python benchmarks/bench_proto_synthetic.py             # its 18-case grid
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _proto_align as proto  # noqa: E402
import bench_alignment as ba  # noqa: E402
from topotree import baselines, metrics  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    grid = ba.QUICK if args.quick else ba.GRID
    print("| dims | leaves | weights | warp | sample | whitened | oracle | proto | proto / oracle | trust | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for ci, (d, L, w, warp, fresh, whiten, na, nb) in enumerate(grid):
        ci_full = ba.GRID.index((d, L, w, warp, fresh, whiten, na, nb))  # same seeds as bench_alignment
        A, la, B, lb, pairs = ba.make_case(na, d, L, w, warp, fresh, whiten, seed=d * 100 + L + ci_full, n_b=nb)
        orc = (baselines.oracle_procrustes(A, B, "affine", pairs=pairs) if pairs is not None
               else baselines.oracle_procrustes(A, B, "affine", labels_a=la, labels_b=lb))
        o = metrics.label_transfer_accuracy(orc.transform(A), la, B, lb)
        t = time.perf_counter()
        al = proto.align(A, B)
        dt = time.perf_counter() - t
        acc = metrics.label_transfer_accuracy(al.transform(A), la, B, lb)
        ratios.append(acc / o)
        print(f"| {d} | {L} | {w} | {warp} | {'fresh' if fresh else 'shared'} | {'yes' if whiten else 'no'} | "
              f"{o:.3f} | {acc:.3f} | {acc / o:.3f} | {al.trust:.2f} | {dt:.1f} |", flush=True)
    print(f"\nproto / oracle (affine): mean {np.mean(ratios):.3f}, worst {np.min(ratios):.3f} over {len(ratios)} cases")


if __name__ == "__main__":
    main()
