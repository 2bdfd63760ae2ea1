"""The blockwise (Dask) path of build_tree: the same ClusterTree as in memory, exactly.

The trees are compared field by field (every array of the dataclass, bit for bit). The Dask
scheduler is a LocalCluster with 2 workers (threads, so the module starts in seconds); the
worker-kill test uses worker processes.
"""
import dataclasses
import os
import signal
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import topotree as tt  # noqa: E402
from topotree.blockwise import knn_graph  # noqa: E402
from topotree.datasets import hierarchical_mixture  # noqa: E402
from topotree.graph import knn  # noqa: E402


def assert_same_tree(a, b, X=None):
    """Every field equal; with ``X`` (points with exact copies), the neighbour lists may list
    different copies at exactly equal distances: their distances must be equal."""
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "neighbors" and X is not None:
            dx = np.linalg.norm(X[:, None, :] - X[x], axis=2)
            dy = np.linalg.norm(X[:, None, :] - X[y], axis=2)
            assert np.array_equal(dx, dy), "neighbour distances differ"
            continue
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert np.array_equal(x, y), f"{f.name} differs"
        else:
            assert x == y, f.name
    assert np.array_equal(a.labels(), b.labels())
    sa, sb = a.simplify(), b.simplify()
    assert np.array_equal(sa.diagram, sb.diagram) and np.array_equal(sa.labels(), sb.labels())


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        yield c


def _cloud(n, d, seed=0, by_cluster=False):
    m = hierarchical_mixture(n, dim=d, n_leaves=6, seed=seed)
    X = m.X
    if by_cluster:  # clusters in consecutive rows, cut by the blocks
        X = X[np.argsort(m.labels, kind="stable")]
    return X


@pytest.mark.parametrize("d, n", [(2, 100_000), (8, 100_000), (32, 20_000),
                                  pytest.param(32, 100_000, marks=pytest.mark.slow)])
@pytest.mark.heavy
def test_tree_equals_in_memory(client, d, n):
    """1e5 points in 2 and 8 dims; in 32 (brute force: minutes on 2 cores, in memory as
    blockwise) 2e4 by default, 1e5 in the slow run."""
    X = _cloud(n, d, seed=d, by_cluster=True)
    expect = tt.build_tree(X)
    # blocks of 0.23 n rows: every cluster is cut across blocks
    got = tt.build_tree(da.from_array(X, chunks=(int(0.23456 * n), d)))
    assert_same_tree(expect, got)
    assert len(expect.simplify().leaves) > 1


def test_knn_graph_equals_in_memory_knn(client):
    rng = np.random.default_rng(1)
    for d, chunk in [(3, 700), (20, 900)]:
        X = rng.normal(size=(3000, d))
        idx, dist = knn(X, 12)
        bi, bd = knn_graph(da.from_array(X, chunks=(chunk, d)), 12)
        assert np.array_equal(bi.compute(), idx) and np.array_equal(bd.compute(), dist)


def test_given_log_density_bridges_duplicates_and_rescaling(client):
    rng = np.random.default_rng(4)
    # three far-apart groups (a disconnected kNN graph: bridges), exact copies, and a tiny spread
    X = np.r_[rng.normal(size=(600, 2)), rng.normal(size=(500, 2)) + 50, rng.normal(size=(40, 2)) - 80,
              np.repeat([[0.5, 0.5]], 25, axis=0)]
    rng.shuffle(X)
    m = hierarchical_mixture(800, dim=2, n_leaves=3, seed=5)
    cases = [(X, {}), (X * 1e-200, {}), (X, {"connect": False}), (X, {"k": 20, "backend": "gudhi"}),
             (m.X, {"log_density": m.log_density}), (m.X, {"log_density": m.log_density(m.X)})]
    for data, kw in cases:
        expect = tt.build_tree(data, **kw)
        got = tt.build_tree(da.from_array(data, chunks=(217, 2)), **kw)
        assert_same_tree(expect, got, data)
    assert tt.build_tree(X).bridges.shape[0] >= 2
    nb = tt.build_tree(m.X).neighbors
    f = m.log_density(m.X)
    assert_same_tree(tt.build_tree(m.X, f, neighbors=nb), tt.build_tree(da.from_array(m.X, chunks=300), f, neighbors=nb))


def test_ties_in_the_log_density_and_the_radii(client):
    """Equal log-densities (a given one rounded; a lattice, where many points share their k-th
    neighbour distance and their tie key): the rank order and so the spanning forest break the
    ties as the in-memory merge does. (k = 8 fills whole shells of the lattice: with more points
    than places at exactly the k-th distance, which ones are listed depends on the search, in
    memory or blockwise, and so may the tree: the same before the forest.)"""
    m = hierarchical_mixture(4000, dim=3, n_leaves=5, seed=7)
    f = np.round(m.log_density(m.X), 1)
    assert np.unique(f).shape[0] < 200
    grid = np.stack(np.meshgrid(np.arange(40.0), np.arange(30.0)), axis=-1).reshape(-1, 2)
    grid = np.r_[grid, grid[:300] + [100.0, 0.0]]  # a second, disconnected lattice
    grid = grid[np.random.default_rng(2).permutation(grid.shape[0])]
    for data, kw, chunk in [(m.X, {"log_density": f}, 333), (m.X, {"log_density": f, "backend": "gudhi"}, 1000),
                            (grid, {"k": 8}, 250), (grid, {"k": 8, "connect": False}, 97)]:
        expect = tt.build_tree(data, **kw)
        got = tt.build_tree(da.from_array(data, chunks=(chunk, data.shape[1])), **kw)
        assert_same_tree(expect, got, data)


def test_large_neighbour_lists_are_memory_mapped(client, monkeypatch):
    """Above ``_NEIGHBORS_IN_MEMORY_BYTES`` the tree's neighbour lists are a memory map of an
    unlinked temporary file, filled by the client block by block: the same values."""
    import topotree.blockwise as bw

    monkeypatch.setattr(bw, "_NEIGHBORS_IN_MEMORY_BYTES", 0)
    X = _cloud(6000, 3, seed=2, by_cluster=True)
    got = tt.build_tree(da.from_array(X, chunks=(1500, 3)))
    assert isinstance(got.neighbors, np.memmap)
    assert_same_tree(tt.build_tree(X), got)


def _spy_search(monkeypatch, rows=2500):
    """Small cells for the spatially ordered search; returns the list of the searches' (number of
    blocks, chains) (chains None: X's own blocks, every link)."""
    import topotree.blockwise as bw

    monkeypatch.setattr(bw, "_ORDERED_ROWS", rows)
    monkeypatch.setattr(bw, "_MIN_CELL_ROWS", rows // 5)
    seen, search = [], bw.knn_blocks

    def spy(X, k, **kw):
        seen.append((len(X.chunks[0]), kw.get("chains")))
        return search(X, k, **kw)

    monkeypatch.setattr(bw, "knn_blocks", spy)
    return seen


@pytest.mark.parametrize("d", [2, 8])
def test_spatially_ordered_search_gives_the_same_tree(client, monkeypatch, d):
    """Points in random order: regrouped into the cells of a sampled k-d partition (8 here), each
    row block chained only over the blocks within reach of its own k-th distances; the lists are
    mapped back to X's order and the tree is the in-memory one."""
    seen = _spy_search(monkeypatch)
    X = _cloud(20_000, d, seed=d)
    got = tt.build_tree(da.from_array(X, chunks=(3000, d)))
    assert_same_tree(tt.build_tree(X), got)
    (blocks, chains), = seen
    assert blocks == 8 and chains is not None
    if d == 2:  # few dimensions: most cells are out of reach
        assert sum(len(c) for c in chains) < blocks * (blocks - 1) // 2
    ordered = X[np.argsort(_cloud(20_000, d, seed=d, by_cluster=False)[:, 0], kind="stable")]
    seen.clear()
    tt.build_tree(da.from_array(ordered, chunks=(2000, d)))
    assert seen == [(10, None)]  # blocks already coherent (sorted along an axis): searched as given


def test_spatially_ordered_search_in_many_dims(client, monkeypatch):
    """Above 16 dims: cells and block trees in the sample's principal frame, far from the origin
    and anisotropic (the frame's rounding bounded in the plan), chains pruned by the plan: the
    in-memory tree, and fewer links than every pair of blocks."""
    seen = _spy_search(monkeypatch)
    m = hierarchical_mixture(20_000, dim=24, n_leaves=6, seed=3)
    X = m.X * np.geomspace(4.0, 0.25, 24) + 1e3
    got = tt.build_tree(da.from_array(X, chunks=(3000, 24)))
    assert_same_tree(tt.build_tree(X), got)
    (blocks, chains), = seen
    assert blocks == 8 and chains is not None
    assert sum(len(c) for c in chains) < blocks * (blocks - 1)


def test_screened_links_from_ten_dims_give_the_same_tree(client, monkeypatch):
    """Where the in-memory search would screen (forced here at 12 dims), the links screen too and
    report distances by the KD-tree's formula, as in memory: the same tree."""
    import topotree.blockwise as bw

    seen = _spy_search(monkeypatch)
    frames = []
    search = bw.knn_blocks

    def spy(X, k, **kw):
        frames.append(kw.get("frame"))
        return search(X, k, **kw)

    monkeypatch.setattr(bw, "knn_blocks", spy)
    monkeypatch.setattr(bw, "screen_pays", lambda S, n, k: True)
    X = _cloud(20_000, 12, seed=12)
    assert_same_tree(tt.build_tree(X), tt.build_tree(da.from_array(X, chunks=(3000, 12))))
    (blocks, chains), = seen
    assert frames == [frames[0]] and frames[0] is not None and chains is not None


@pytest.mark.heavy
def test_killing_a_worker_mid_run_gives_the_same_tree(monkeypatch):
    """Dask re-runs the lost worker's tasks (every task is pure); the tree is unchanged. (Cells of
    6000 points for the spatially ordered search: 16 blocks, enough kNN links to kill mid-run.)"""
    import topotree.blockwise as bw

    monkeypatch.setattr(bw, "_ORDERED_ROWS", 6000)
    X = _cloud(60_000, 8, seed=8, by_cluster=True)
    expect = tt.build_tree(X)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        client.run(lambda: tt.build_tree(np.random.default_rng(0).normal(size=(300, 8))))  # warm the JIT caches
        result = {}

        def run():
            try:
                result["tree"] = tt.build_tree(da.from_array(X, chunks=(6000, 8)))
            except Exception as exc:  # pragma: no cover - reported below
                result["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()

        def n_done(dask_scheduler):  # chain links finished (kept in memory or already consumed)
            return sum(str(key).startswith("_tree_step") and ts.state in ("memory", "released")
                       for key, ts in dask_scheduler.tasks.items())

        deadline = time.monotonic() + 300
        while client.run_on_scheduler(n_done) < 20 and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
        assert thread.is_alive(), "the run ended before a worker could be killed"
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(600)
        assert "error" not in result, result.get("error")
        assert victim not in client.scheduler_info()["workers"]  # the worker was lost (its nanny starts a new one)
        assert_same_tree(expect, result["tree"])


def test_align_on_dask_clouds_uses_a_blockwise_subsample():
    from topotree.blockwise import subsample

    m = hierarchical_mixture(3000, dim=3, n_leaves=4, seed=11)
    Q = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
    A, B = m.X, 2.0 * m.X @ Q + 5.0
    dA, dB = da.from_array(A, chunks=700), da.from_array(B, chunks=900)
    got = tt.align(dA, dB, "similarity", max_points=1500, search="trees", seed=4)
    want = tt.align(subsample(dA, 1500, 4), subsample(dB, 1500, 4), "similarity", max_points=1500, search="trees",
                    seed=4)
    assert np.array_equal(got.matrix, want.matrix) and np.array_equal(got.offset, want.offset)
    assert np.abs(got.transform(A) - B).max() < 0.05 * np.abs(B).max()
    # with its tree (built on the full Dask cloud) a cloud is used whole
    full = tt.align(dA, dB, "similarity", tree_a=tt.build_tree(dA), tree_b=tt.build_tree(dB), max_points=5000,
                    search="trees", seed=4)
    assert np.abs(full.transform(A) - B).max() < 0.05 * np.abs(B).max()
