"""build_tree and its exact kNN search against their peers, side by side, same data, k = 15.

Peers of build_tree: gudhi's ToMATo (``n_jobs=-1``, all cores), fast_hdbscan and hdbscan
(``core_dist_n_jobs=-1``); of the exact kNN search: faiss ``IndexFlatL2``, scikit-learn brute
force (``n_jobs=-1``) and scipy's ``cKDTree`` (``workers=-1``). Beside the brute-force rows, the
time of the plain product ``X @ X.T`` of the same size (float64, in row blocks) and the fraction
of that throughput each search achieves. ``knn="approx"`` (pynndescent) is timed with its recall
of the exact neighbours and the agreement of its tree with the exact one (ARI of the simplified
trees' labels, leaf counts).

Each run is a fresh subprocess (its peak resident memory is its own; every numba-compiled peer,
topotree included, is warmed on a small sample first). Every ratio comes from one invocation.
Prints Markdown tables (``--out`` also writes them to a file, row by row).

    python benchmarks/bench_tree.py                           # d = 16 32 64 128, n = 1e4 1e5
    python benchmarks/bench_tree.py --dims 2 8 --sizes 10000  # any grid
    python benchmarks/bench_tree.py --sizes 10000 --repeat 3  # the fastest of 3 runs of each
"""
import argparse
import json
import queue
import multiprocessing as mp
import resource
import sys
import time

import numpy as np

TIMEOUT = 150  # seconds a single run may take; slower ones are reported as "> TIMEOUT" (and not run
# again at more dimensions for the same n)


def _data(n, d, seed=0):
    from topotree.datasets import hierarchical_mixture

    return hierarchical_mixture(n, dim=d, n_leaves=8, seed=seed).X


def _warm(kind, d, k):
    """Compile (or load from the cache) whatever the run will use, on a small sample."""
    Xw = _data(3000, d, seed=1)
    if kind in ("topotree", "approx"):
        import topotree as tt

        tt.build_tree(Xw, k=k, progress=False, knn="exact" if kind == "topotree" else "approx")
    elif kind == "knn":
        from topotree.graph import knn

        knn(Xw, k)
    elif kind == "fast_hdbscan":
        import fast_hdbscan

        fast_hdbscan.HDBSCAN(min_cluster_size=k, min_samples=k).fit(Xw)
    elif kind == "hdbscan":
        import hdbscan

        hdbscan.HDBSCAN(min_cluster_size=k, min_samples=k, core_dist_n_jobs=-1).fit(Xw)


def _run(kind, n, d, k, queue):
    X = _data(n, d)
    _warm(kind, d, k)
    out = {}
    t0 = time.perf_counter()
    if kind == "topotree" or kind == "approx":
        import topotree as tt

        tree = tt.build_tree(X, k=k, progress=False, knn="exact" if kind == "topotree" else "approx")
        out["leaves"] = len(tree.leaves)
    elif kind == "tomato":
        from gudhi.clustering.tomato import Tomato

        out["leaves"] = int(Tomato(k=k, n_jobs=-1).fit(X).n_leaves_)
    elif kind == "fast_hdbscan":
        import fast_hdbscan

        fast_hdbscan.HDBSCAN(min_cluster_size=k, min_samples=k).fit(X)
    elif kind == "hdbscan":
        import hdbscan

        hdbscan.HDBSCAN(min_cluster_size=k, min_samples=k, core_dist_n_jobs=-1).fit(X)
    elif kind == "knn":
        from topotree.graph import knn

        knn(X, k)
    elif kind == "faiss":
        import faiss

        X32 = np.ascontiguousarray(X, dtype=np.float32)
        index = faiss.IndexFlatL2(d)
        index.add(X32)
        index.search(X32, k + 1)
    elif kind == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        NearestNeighbors(n_neighbors=k + 1, algorithm="brute", n_jobs=-1).fit(X).kneighbors(X)
    elif kind == "ckdtree":
        from scipy.spatial import cKDTree

        cKDTree(X).query(X, k + 1, workers=-1)
    elif kind == "matmul":  # the plain product X @ X.T, in row blocks of at most 256 MB
        rows = max(1, (256 << 20) // (8 * n))
        for lo in range(0, n, rows):
            X[lo:lo + rows] @ X.T
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if kind == "approx":  # agreement with the exact search and tree (not timed)
        import topotree as tt
        from sklearn.metrics import adjusted_rand_score
        from topotree.graph import knn

        exact_nb, _ = knn(X, k)
        exact = tt.build_tree(X, k=k, progress=False)
        hits = (np.sort(tree.neighbors, axis=1)[:, :, None] == np.sort(exact_nb, axis=1)[:, None, :]).any(axis=2)
        out["recall"] = float(hits.mean())
        a, b = exact.simplify(), tree.simplify()
        out["ari"] = float(adjusted_rand_score(a.labels(), b.labels()))
        out["leaves_exact"] = len(exact.leaves)
        out["simplified"] = (len(a.leaves), len(b.leaves))
    queue.put(out)


def measure(kind, n, d, k, timeout=TIMEOUT):
    """One run in a fresh process; None if it took longer than ``timeout`` seconds."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run, args=(kind, n, d, k, q))
    p.start()
    out, deadline = None, time.monotonic() + timeout + 120  # + the warm-up and the data
    while out is None and time.monotonic() < deadline:
        try:
            out = q.get(timeout=1.0)
        except queue.Empty:
            if not p.is_alive():  # ended: its result is in the pipe, or it failed (traceback on stderr)
                try:
                    out = q.get(timeout=2.0)
                except queue.Empty:
                    break
    p.join(timeout=5)
    if p.is_alive():
        p.kill()
        p.join()
    return out


def best_of(kind, n, d, k, timeout=TIMEOUT, repeat=1):
    """The fastest of ``repeat`` runs, each in a fresh process (None as soon as one times out):
    runs of a tenth of a second vary by 30-50% between processes (the repeats tame that; every
    kind gets the same number)."""
    best = None
    for _ in range(repeat):
        r = measure(kind, n, d, k, timeout=timeout)
        if r is None:
            return None
        if best is None or r["seconds"] < best["seconds"]:
            best = r
    return best


def _s(r):
    return f"{r['seconds']:.2f}" if r else f"> {TIMEOUT:g}"


def _sec(r):
    return r["seconds"] if r else float("inf")


def _ratio(peers, ours):
    """Fastest peer over ours; every peer killed at the timeout gives a lower bound ("> 7.3x")."""
    if not peers or not ours:
        return "-"
    fastest = min(peers)
    return f"{fastest / _sec(ours):.2f}x" if np.isfinite(fastest) else f"> {TIMEOUT / _sec(ours):.1f}x"


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dims", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--skip", nargs="*", default=[], help="kinds not to run (e.g. hdbscan ckdtree)")
    ap.add_argument("--json", help="also write the raw rows to this file")
    ap.add_argument("--out", help="also write the tables to this Markdown file, row by row")
    ap.add_argument("--timeout", type=float, default=TIMEOUT,
                    help="seconds a single run may take before it is killed and reported as '> timeout'")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per kind and size, each in a fresh process; the fastest is reported")
    args = ap.parse_args()
    TIMEOUT = args.timeout
    # compile the numba kernels into the on-disk cache once, so no run pays for compilation
    import topotree as tt

    tt.build_tree(_data(2000, 2), k=args.k, progress=False)
    kinds = [c for c in ("topotree", "approx", "tomato", "fast_hdbscan", "hdbscan", "knn", "faiss", "sklearn",
                         "ckdtree", "matmul") if c not in args.skip]
    rows = []
    lines = {"tree": ["| n | d | topotree s | ToMATo (all cores) s | fast_hdbscan s | hdbscan s | fastest peer / topotree "
                      "| peak MB topotree | peak MB ToMATo | memory topotree / ToMATo | raw leaves (ours / ToMATo) |",
                      "|---|---|---|---|---|---|---|---|---|---|---|"],
             "knn": ["| n | d | topotree kNN s | faiss IndexFlatL2 s | sklearn brute s | cKDTree s | fastest peer / topotree "
                     "| X @ X.T s | matmul fraction: topotree / faiss / sklearn |",
                     "|---|---|---|---|---|---|---|---|---|"],
             "approx": ["| n | d | knn=\"approx\" s | exact s | exact / approx | recall@k | ARI (simplified) "
                        "| leaves exact / approx (raw; simplified) |",
                        "|---|---|---|---|---|---|---|---|"]}

    def emit():
        if args.out:
            with open(args.out, "w") as fh:
                for name in ("tree", "knn", "approx"):
                    fh.write("\n".join(lines[name]) + "\n\n")

    for n in args.sizes:
        slow = set()
        for d in sorted(args.dims):
            r = {c: (None if c in slow else best_of(c, n, d, args.k, args.timeout, args.repeat)) for c in kinds}
            slow |= {c for c in kinds if r[c] is None}
            rows.append(dict(n=n, d=d, **r))
            ours, tom = r.get("topotree"), r.get("tomato")
            peers = [_sec(r.get(c)) for c in ("tomato", "fast_hdbscan", "hdbscan") if c in r]
            ratio = _ratio(peers, ours)
            mem = f"{ours['peak_mb'] / tom['peak_mb']:.2f}" if ours and tom else "-"
            cell = lambda c: _s(r[c]) if c in r else "skipped"  # noqa: E731
            lines["tree"].append(
                f"| {n:,} | {d} | {cell('topotree')} | {cell('tomato')} | {cell('fast_hdbscan')} | {cell('hdbscan')} | "
                f"{ratio} | {ours['peak_mb'] if ours else float('nan'):.0f} | {tom['peak_mb'] if tom else float('nan'):.0f} | {mem} | "
                f"{ours['leaves'] if ours else '-'} / {tom['leaves'] if tom else '-'} |")
            kn = r.get("knn")
            peers = [_sec(r.get(c)) for c in ("faiss", "sklearn", "ckdtree") if c in r]
            ratio = _ratio(peers, kn)
            mm = r.get("matmul")
            frac = " / ".join(f"{_sec(mm) / _sec(r.get(c)):.2f}" if mm and r.get(c) else "-"
                              for c in ("knn", "faiss", "sklearn"))
            lines["knn"].append(f"| {n:,} | {d} | {cell('knn')} | {cell('faiss')} | {cell('sklearn')} | "
                                f"{cell('ckdtree')} | {ratio} | {cell('matmul')} | {frac} |")
            ap_ = r.get("approx")
            if ap_ and ours:
                lines["approx"].append(
                    f"| {n:,} | {d} | {_s(ap_)} | {_s(ours)} | {_sec(ours) / _sec(ap_):.2f}x | {ap_['recall']:.4f} | "
                    f"{ap_['ari']:.3f} | {ap_['leaves_exact']} / {ap_['leaves']}; {ap_['simplified'][0]} / "
                    f"{ap_['simplified'][1]} |")
            for name in ("tree", "knn", "approx"):
                print(lines[name][-1], flush=True)
            emit()
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(rows, fh, indent=1)
    print()
    for name in ("tree", "knn", "approx"):
        print("\n".join(lines[name]) + "\n")


if __name__ == "__main__":
    sys.exit(main())
