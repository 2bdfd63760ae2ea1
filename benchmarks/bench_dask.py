"""build_tree on Dask (a LocalCluster of 1 or 2 worker processes) against the in-memory path.

The points (a hierarchical Gaussian mixture, rows in random order) are written once to a .npy
file; the Dask runs read it blockwise (``tt.build_tree(path)``), the in-memory run loads it. Each
run is a fresh process; the table gives the wall time (numba kernels compiled before timing),
the number of blocks of X and of the kNN search (the cells of the spatial order), the peak
resident memory of the process that builds the tree (the client: it ranks the points, receives
the (n, k) neighbour lists block by block into the tree's array, memory mapped above 256 MiB, and
merges on the spanning forest) and of each Dask worker (kNN and forest tasks), the time of the
merge on the client (union-find and the tree's arrays: on the kNN graph in memory, on the
spanning forest for Dask), and whether the tree equals the in-memory one (when both ran).
Default k (50 above 5,000 points).

    python benchmarks/bench_dask.py                                  # 1e6 points, d = 8 and 32
    python benchmarks/bench_dask.py --n 1e5 --d 8 --workers 1 2      # scaling from 1 to 2 workers
    python benchmarks/bench_dask.py --n 1e7 --d 8 --no-memory        # Dask only
    python benchmarks/bench_dask.py --address tcp://scheduler:8786   # an existing cluster

On a cluster the same code runs with ``distributed.Client(address)``: ``build_tree`` uses the
active client (the .npy path must then be readable by the workers, e.g. on a shared file system).
"""
import argparse
import dataclasses
import multiprocessing as mp
import os
import resource
import tempfile
import time

import numpy as np


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data_path(n, d, folder):
    path = os.path.join(folder, f"points_{n}_{d}.npy")
    if not os.path.exists(path):
        from topotree.datasets import hierarchical_mixture

        X = hierarchical_mixture(n, dim=d, n_leaves=8, seed=0).X  # rows in random order
        np.save(path + ".tmp.npy", X)
        os.replace(path + ".tmp.npy", path)
    return path


def _warm(d):
    import topotree as tt
    from topotree.datasets import hierarchical_mixture

    tt.build_tree(hierarchical_mixture(3000, dim=d, n_leaves=4, seed=1).X, progress=False)


def _timed_merge(module, times):
    """Time the merge on the client (``_merged_tree``: the union-find over the points by rank and
    the tree's arrays; on the kNN graph in memory, on the spanning forest for Dask)."""
    orig = module._merged_tree

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        out = orig(*args, **kwargs)
        times["merge"] = times.get("merge", 0.0) + time.perf_counter() - t0
        return out

    module._merged_tree = timed


def _counted_search(module, blocks):
    """Record the number of blocks the kNN search runs on (spatially ordered cells or X's own)."""
    orig = module.knn_blocks

    def counted(X, k, **kwargs):
        blocks.append(len(X.chunks[0]))
        return orig(X, k, **kwargs)

    module.knn_blocks = counted


def _in_memory(path, d, out, queue):
    import topotree as tt
    import topotree.build

    _warm(d)
    times = {}
    _timed_merge(topotree.build, times)
    X = np.load(path)
    t0 = time.perf_counter()
    tree = tt.build_tree(X, progress=False)
    dt = time.perf_counter() - t0
    np.savez(out, **{f.name: getattr(tree, f.name) for f in dataclasses.fields(tree)
                     if isinstance(getattr(tree, f.name), np.ndarray)})
    queue.put(dict(seconds=dt, merge=times["merge"], client_mb=_peak_mb(), leaves=len(tree.leaves)))


def _dask(path, d, workers, address, rows, out, queue):
    import distributed

    import topotree as tt

    if address:
        client = distributed.Client(address)
    else:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           memory_limit=0, dashboard_address=":0", silence_logs=40)
        client = distributed.Client(cluster)
    _warm(d)
    client.run(_warm, d)
    client.run(lambda: __import__("gc").collect())
    times, searched = {}, []
    _timed_merge(tt.blockwise, times)
    _counted_search(tt.blockwise, searched)
    X = tt.blockwise.as_dask_points(path)
    if rows:
        X = X.rechunk((rows, d))
    t0 = time.perf_counter()
    tree = tt.build_tree(X, progress=False)
    dt = time.perf_counter() - t0
    worker_mb = sorted(client.run(_peak_mb).values())
    np.savez(out, **{f.name: getattr(tree, f.name) for f in dataclasses.fields(tree)
                     if isinstance(getattr(tree, f.name), np.ndarray)})
    queue.put(dict(seconds=dt, merge=times["merge"], client_mb=_peak_mb(), worker_mb=worker_mb, leaves=len(tree.leaves),
                   blocks=f"{len(X.chunks[0])} -> {searched[-1]}", dashboard=client.dashboard_link))
    client.close()


def _spawn(target, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def _same(a, b):
    A, B = np.load(a), np.load(b)
    return all(np.array_equal(A[key], B[key]) for key in A.files)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=float, nargs="+", default=[1e6])
    ap.add_argument("--d", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--rows", type=int, default=None,
                    help="rows per block (default: build_tree's for a path, about 32 MiB)")
    ap.add_argument("--no-memory", action="store_true", help="skip the in-memory run")
    ap.add_argument("--address", default=None, help="a running Dask scheduler instead of a LocalCluster")
    ap.add_argument("--folder", default=None, help="where the .npy files go (default: a temporary folder)")
    args = ap.parse_args()
    folder = args.folder or tempfile.mkdtemp(prefix="bench_dask_")
    os.makedirs(folder, exist_ok=True)
    print("| n | d | run | blocks (X -> search) | seconds | of which not the merge | of which merge | peak MB client "
          "| peak MB per worker | raw leaves | same tree |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.n):
        for d in args.d:
            path = _data_path(n, d, folder)
            ref = None
            if not args.no_memory:
                ref = os.path.join(folder, f"tree_mem_{n}_{d}.npz")
                r = _spawn(_in_memory, path, d, ref)
                print(f"| {n:,} | {d} | in memory | - | {r['seconds']:.1f} | {r['seconds'] - r['merge']:.1f} | "
                      f"{r['merge']:.1f} | {r['client_mb']:.0f} | - | "
                      f"{r['leaves']} | - |", flush=True)
            for w in args.workers:
                out = os.path.join(folder, f"tree_dask_{n}_{d}_{w}.npz")
                r = _spawn(_dask, path, d, w, args.address, args.rows, out)
                same = "-" if ref is None else ("yes" if _same(ref, out) else "NO")
                mb = " / ".join(f"{x:.0f}" for x in r["worker_mb"])
                label = "Dask, cluster" if args.address else f"Dask, {w} worker{'s' if w > 1 else ''}"
                print(f"| {n:,} | {d} | {label} | {r['blocks']} | {r['seconds']:.1f} | {r['seconds'] - r['merge']:.1f} | "
                      f"{r['merge']:.1f} | {r['client_mb']:.0f} | {mb} | "
                      f"{r['leaves']} | {same} |", flush=True)


if __name__ == "__main__":
    main()
