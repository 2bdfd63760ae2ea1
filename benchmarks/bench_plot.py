"""Time to plot a raw cluster tree (d = 2) up to 1e6 points, against hdbscan's condensed-tree plot.

hdbscan's ``condensed_tree_.plot()`` draws one artist per cluster and becomes very slow on large
trees, so it is timed at 1e4 and 1e5 points only and reported as a ratio against our dendrogram of a
raw tree of the same data, in the same process. Timings include rendering a PNG (Agg).

Run: python benchmarks/bench_plot.py [--max-n 1000000] [--skip-hdbscan]
"""
import argparse
import time

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import topotree as tt  # noqa: E402
from topotree.datasets import hierarchical_mixture  # noqa: E402
from topotree.plot import plot_dendrogram  # noqa: E402


def time_ours(tree, y="log_density"):
    t0 = time.perf_counter()
    fig = Figure(figsize=(8, 5))
    plot_dendrogram(tree, ax=fig.subplots(), y=y)
    t1 = time.perf_counter()
    fig.savefig("/tmp/bench_plot_ours.png", dpi=100)
    return t1 - t0, time.perf_counter() - t0


def time_hdbscan(X, min_cluster_size=5):
    import hdbscan
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    clusterer = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size).fit(X)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    fig, ax = plt.subplots(figsize=(8, 5))
    clusterer.condensed_tree_.plot(axis=ax)
    fig.savefig("/tmp/bench_plot_hdbscan.png", dpi=100)
    plt.close(fig)
    n_clusters = int((clusterer.condensed_tree_.to_numpy()["child_size"] > 1).sum())
    return time.perf_counter() - t0, fit, n_clusters


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=1_000_000)
    ap.add_argument("--skip-hdbscan", action="store_true")
    args = ap.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max_n]
    print(f"{'n':>9} {'build s':>8} {'leaves':>7} {'ours draw s':>11} {'ours +png s':>11} "
          f"{'hdbscan plot s':>14} {'hdb clusters':>12} {'ratio':>7}")
    for n in sizes:
        mix = hierarchical_mixture(n=n, dim=2, n_leaves=9, seed=0)
        t0 = time.perf_counter()
        raw = tt.build_tree(mix.X, progress=False)
        build = time.perf_counter() - t0
        draw, total = time_ours(raw)
        hd = "-"
        ratio = "-"
        ncl = "-"
        if n <= 100_000 and not args.skip_hdbscan:
            h, _, ncl = time_hdbscan(mix.X)
            hd, ratio = f"{h:.2f}", f"{h / total:.1f}x"
        print(f"{n:>9} {build:>8.1f} {len(raw.leaves):>7} {draw:>11.2f} {total:>11.2f} {hd:>14} {ncl!s:>12} "
              f"{ratio:>7}", flush=True)


if __name__ == "__main__":
    main()
