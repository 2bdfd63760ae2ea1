"""The blockwise (Dask) path without a distributed Client: Dask's local threaded scheduler, the
.npy/.zarr paths, streaming the graph to disk, input checks, and the progress display."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import topotree as tt  # noqa: E402
from topotree.blockwise import _active_client, as_dask_points, knn_graph  # noqa: E402
from topotree.graph import knn  # noqa: E402

from .test_blockwise import _cloud, assert_same_tree  # noqa: E402


@pytest.fixture(autouse=True)
def _no_client():
    assert _active_client() is None, "a distributed Client is active: these tests are about the local scheduler"


def test_local_threaded_scheduler_and_paths(tmp_path):
    """No Client: Dask's local scheduler; X as a .npy file and a .zarr store, read blockwise."""
    X = _cloud(5000, 3, seed=3)
    expect = tt.build_tree(X)
    np.save(tmp_path / "X.npy", X)
    da.from_array(X, chunks=(1234, 3)).to_zarr(str(tmp_path / "X.zarr"))
    for source in (da.from_array(X, chunks=(999, 1)), str(tmp_path / "X.npy"), tmp_path / "X.zarr"):
        assert_same_tree(expect, tt.build_tree(source))


def test_large_neighbour_lists_are_memory_mapped(monkeypatch, tmp_path):
    """The local scheduler writes the neighbour lists into the memory map as the blocks finish;
    the tree saves and loads as any other."""
    import topotree.blockwise as bw

    monkeypatch.setattr(bw, "_NEIGHBORS_IN_MEMORY_BYTES", 0)
    X = _cloud(5000, 2, seed=5, by_cluster=True)
    expect = tt.build_tree(X)
    got = tt.build_tree(da.from_array(X, chunks=(1100, 2)))
    assert isinstance(got.neighbors, np.memmap)
    assert_same_tree(expect, got)
    got.save(tmp_path / "tree.npz")
    assert_same_tree(expect, tt.load_tree(tmp_path / "tree.npz"))


def test_spatially_ordered_search_without_a_client(monkeypatch):
    """The local scheduler: the cells' blocks chained over every block by increasing gap (no
    plan), the lists written back in X's numbering; the tree is the in-memory one."""
    from .test_blockwise import _spy_search

    seen = _spy_search(monkeypatch)
    X = _cloud(15_000, 3, seed=9)
    assert_same_tree(tt.build_tree(X), tt.build_tree(da.from_array(X, chunks=(4000, 3))))
    (blocks, chains), = seen
    assert blocks == 8 and sorted(len(c) for c in chains) == [8] * 8 and all(c[0] == i for i, c in enumerate(chains))


@pytest.mark.parametrize("direct, cols", [(512, 4096), (0, 300), (10**9, 300)])
def test_many_dims_screen_is_exact_against_brute_force(monkeypatch, direct, cols):
    """Above 16 dims the float32 screen drops no neighbour: against float64 brute force on
    clouds that stress it (far from the origin, rounded coordinates with ties, exact copies, blocks
    smaller than k), every run in place, gathered, or both."""
    import topotree._dask_screen as ds

    monkeypatch.setattr(ds, "_DIRECT", direct)
    monkeypatch.setattr(ds, "_COLS", cols)
    rng = np.random.default_rng(5)
    clouds = [(rng.normal(size=(1500, 20)) * np.geomspace(5.0, 0.01, 20) + 3e3, 400, True),
              (np.round(rng.normal(size=(160, 32)), 1), 7, False),
              (np.repeat(rng.normal(size=(300, 40)), 3, axis=0), 250, False)]
    for X, chunk, no_ties in clouds:
        k = 9
        idx, dist = knn_graph(da.from_array(X, chunks=(chunk, X.shape[1])), k)
        idx, dist = idx.compute(), dist.compute()
        D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(D, np.inf)
        want = np.sort(D, axis=1)[:, :k]
        assert np.allclose(dist, want, rtol=1e-12, atol=1e-12)
        assert np.allclose(np.take_along_axis(D, idx, axis=1), dist, rtol=1e-12, atol=1e-12)
        assert (idx != np.arange(X.shape[0])[:, None]).all()
        if no_ties:  # (near-)ties may be broken otherwise by the in-memory KD-tree's loop
            assert np.array_equal(dist, knn(X, k)[1])


def test_screen_pays_follows_the_in_memory_rule():
    """The screened links are chosen as the in-memory search chooses its method: never below 10
    dims or for few points, always above 16; between, on full-dimensional clusters (the KD-tree's
    work grows with n) and not on a low-dimensional manifold (its work stays flat)."""
    from topotree._dask_knn import screen_pays

    rng = np.random.default_rng(0)
    blob = rng.normal(size=(8000, 14))
    t = rng.uniform(size=(8000, 2))
    manifold = np.c_[np.sin(3 * t), np.cos(2 * t), t ** 2, t * t[:, ::-1], np.sin(t + 1), np.cos(5 * t),
                     t[:, :1] * 0.5, t[:, 1:] ** 3] + 1e-3 * rng.normal(size=(8000, 14))
    assert screen_pays(blob, 10**6, 15) and not screen_pays(manifold, 10**6, 15)
    assert not screen_pays(blob[:, :8], 10**6, 15) and not screen_pays(blob, 10_000, 15)
    assert screen_pays(rng.normal(size=(500, 20)), 600, 15)


def test_store_streams_the_graph_to_zarr(tmp_path):
    X = np.random.default_rng(2).normal(size=(2000, 4))
    idx, dist = knn_graph(da.from_array(X, chunks=(500, 4)), 10, store=tmp_path / "g.zarr")
    ri, rd = knn(X, 10)
    assert np.array_equal(idx.compute(), ri) and np.array_equal(dist.compute(), rd)
    assert (tmp_path / "g.zarr").is_dir()


def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="X: no such file"):
        tt.build_tree(str(tmp_path / "missing.npy"))
    with pytest.raises(ValueError, match="X as a path must name a .zarr or .npy"):
        tt.build_tree(str(tmp_path / "points.csv"))
    with pytest.raises(ValueError, match="X must be a 2-D"):
        tt.build_tree(da.zeros(10, chunks=5))
    bad = np.zeros((50, 2))
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at row 7, column 1\)"):
        tt.build_tree(da.from_array(bad, chunks=20))
    with pytest.raises(TypeError, match="X must be real-valued"):
        tt.build_tree(da.zeros((10, 2), dtype=complex, chunks=5))
    with pytest.raises(ValueError, match="k=30 neighbours"):
        tt.build_tree(da.from_array(np.random.default_rng(0).normal(size=(20, 2))), k=30)
    with pytest.raises(ValueError, match="log_density callable failed"):
        tt.build_tree(da.from_array(np.random.default_rng(0).normal(size=(40, 2))), lambda Y: 1 / 0)
    assert as_dask_points(da.ones((6, 3), chunks=(2, 1), dtype=np.int32)).dtype == np.float64


def test_progress_bar_and_dashboard_link(monkeypatch, capsys):
    """Dask's own diagnostics: a progress bar with the local scheduler, the dashboard link and
    distributed's progress bar with a Client; nothing when stderr is not a terminal."""
    import distributed

    X = da.from_array(np.random.default_rng(0).normal(size=(400, 2)), chunks=100)
    tt.build_tree(X, progress=True)
    assert capsys.readouterr().err == ""  # not a terminal
    monkeypatch.setenv("TOPOTREE_PROGRESS", "1")
    tt.build_tree(X, progress=True)
    assert "Completed" in capsys.readouterr().err  # dask.diagnostics.ProgressBar
    tt.build_tree(X, progress=False)
    assert capsys.readouterr().err == ""
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0", silence_logs=50) as cluster, \
            distributed.Client(cluster):
        tt.build_tree(X, progress=True)
    assert "Dask dashboard at http" in capsys.readouterr().err
