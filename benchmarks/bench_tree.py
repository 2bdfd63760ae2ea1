"""build_tree against gudhi's ToMATo, side by side, same data, k=15.

ToMATo runs with its defaults (one thread for the kNN search, as a user gets it) and, where it
does not take minutes, with ``n_jobs=-1`` (all cores, like topotree).

Each run is a fresh subprocess, so its peak resident memory is its own. Prints a Markdown table.

    python benchmarks/bench_tree.py            # n = 1e4, 1e5, 1e6; d = 2, 8
    python benchmarks/bench_tree.py --quick    # n = 1e4, 1e5
"""
import argparse
import json
import multiprocessing as mp
import resource
import sys
import time

import numpy as np


def _data(n, d, seed=0):
    from topotree.datasets import hierarchical_mixture

    return hierarchical_mixture(n, dim=d, n_leaves=8, seed=seed).X


def _run(kind, n, d, k, queue, jobs=1):
    X = _data(n, d)
    if kind != "tomato":  # load every compiled numba kernel before timing (ToMATo is precompiled C++):
        import topotree as tt  # a small sample of the same mixture, several components, so bridged

        tt.build_tree(_data(3000, d, seed=1), k=k, backend=kind, progress=False)
    t0 = time.perf_counter()
    if kind == "tomato":
        from gudhi.clustering.tomato import Tomato

        t = Tomato(k=k, n_jobs=jobs).fit(X)
        leaves = int(t.n_leaves_)
    else:
        import topotree as tt

        tree = tt.build_tree(X, k=k, backend=kind, progress=False)
        leaves = len(tree.leaves)
    dt = time.perf_counter() - t0
    queue.put(dict(seconds=dt, leaves=leaves, peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(kind, n, d, k, jobs=1):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run, args=(kind, n, d, k, q, jobs))
    p.start()
    out = q.get()
    p.join()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--sizes", type=int, nargs="+", help="numbers of points (default 1e4 1e5 1e6)")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 8], help="dimensions (default 2 8)")
    ap.add_argument("--all-cores", action="store_true", help="also run ToMATo with n_jobs=-1 at 1e6 points, d=8")
    args = ap.parse_args()
    # compile the numba kernels into the on-disk cache once, so no run pays for compilation
    import topotree as tt

    tt.build_tree(_data(2000, 2), k=args.k, progress=False)
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    rows = []
    print("| n | d | topotree s | topotree (gudhi backend) s | ToMATo s (default, 1 thread) | ToMATo s (n_jobs=-1) "
          "| ToMATo / topotree | ToMATo all cores / topotree | peak MB topotree | peak MB ToMATo | raw leaves (ours / ToMATo) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in args.dims:
        for n in sizes:
            ours = measure("numba", n, d, args.k)
            gb = measure("gudhi", n, d, args.k) if n <= 100_000 else None
            tom = measure("tomato", n, d, args.k)
            tom2 = measure("tomato", n, d, args.k, jobs=-1) if (n <= 100_000 or d == 2 or args.all_cores) else None
            ratio = tom["seconds"] / ours["seconds"]
            ratio2 = tom2["seconds"] / ours["seconds"] if tom2 else float("nan")
            rows.append(dict(n=n, d=d, ours=ours, gudhi_backend=gb, tomato=tom, tomato_all_cores=tom2, ratio=ratio))
            gbs = f"{gb['seconds']:.2f}" if gb else "-"
            t2 = f"{tom2['seconds']:.2f}" if tom2 else "-"
            r2 = f"{ratio2:.1f}x" if tom2 else "-"
            print(f"| {n:,} | {d} | {ours['seconds']:.2f} | {gbs} | {tom['seconds']:.2f} | {t2} | {ratio:.1f}x | {r2} | "
                  f"{ours['peak_mb']:.0f} | {tom['peak_mb']:.0f} | {ours['leaves']} / {tom['leaves']} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
