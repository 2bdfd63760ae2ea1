"""The blockwise kNN alone on a LocalCluster of 1 then 2 worker processes (one thread each), with
Dask's task stream: wall time and the seconds each worker spent computing (are both busy?).

    python benchmarks/bench_dask_scaling.py            # 3e5 points, 8 dims, 4 blocks
    python benchmarks/bench_dask_scaling.py --n 1e6 --rows 250000
"""
import argparse
import time

import dask
import dask.array as da
import distributed

from topotree._dask_knn import knn_blocks
from topotree.datasets import hierarchical_mixture


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=float, default=3e5)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--rows", type=int, default=75000)
    args = ap.parse_args()
    X = hierarchical_mixture(int(args.n), dim=args.d, n_leaves=8, seed=0).X
    print("| workers | wall s | compute s per worker |")
    print("|---|---|---|")
    for w in (1, 2):
        with distributed.LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=50) as cluster, distributed.Client(cluster):
            dask.compute(*knn_blocks(da.from_array(X[:4000], chunks=(1000, args.d)), args.k))  # compile
            Xd = da.from_array(X, chunks=(args.rows, args.d))
            with distributed.get_task_stream() as ts:
                t0 = time.perf_counter()
                dask.compute(*knn_blocks(Xd, args.k))
                dt = time.perf_counter() - t0
            busy = {}
            for rec in ts.data:
                for s in rec["startstops"]:
                    if s["action"] == "compute":
                        busy[rec["worker"]] = busy.get(rec["worker"], 0.0) + s["stop"] - s["start"]
            print(f"| {w} | {dt:.1f} | {' / '.join(f'{v:.1f}' for v in sorted(busy.values()))} |", flush=True)


if __name__ == "__main__":
    main()
