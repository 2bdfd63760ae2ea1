"""Cluster trees of clouds larger than one machine's memory: the kNN graph, the log-density and the
graph's reduction to a spanning forest computed blockwise on Dask (``pip install topotree[dask]``),
the merge of the forest on the client.

What is distributed: the exact kNN search (each row block of X against the column blocks within
reach, a KD-tree per block; above 16 dimensions its leaves screened by float32 BLAS products
against the column block's and re-ranked exactly), which is the O(n log n) to O(n^2 d) part;
a log-density callable (applied block by block); and the
reduction of the (n, k) graph to its maximum spanning forest under the order in which the points
enter the superlevel sets (each row block's forest, then the forests combined pairwise in a tree of
tasks: :mod:`topotree._forest`), which keeps exactly what the merge needs, so the tree is the
in-memory tree exactly. A task holds two blocks and an (m, k + 1) neighbour list, or two forests,
so a task's memory is bounded by the chunk size (the last combinations by n, not n k), and the
graph waits on the workers between the two passes. Dask's scheduler runs the tasks: the active
``dask.distributed.Client`` if there is one (a ``LocalCluster`` or a cluster's address), otherwise
the local threaded scheduler; a lost worker's tasks are re-run by Dask (every task is a pure
function of its inputs).

What is not: the client ranks the points (O(n) values: k-th neighbour distances, tie keys, the
log-density, the rank, sent to every worker) and merges on the final forest (at most n - 1 edges)
with the in-memory kernels, about 100 bytes a point (10 GB at 1e8 points); the tree's own (n, k)
``neighbors`` array is written to the client block by block (memory mapped from an unlinked
temporary file above 256 MiB). When the kNN graph has several connected components, the bridges
between them are computed in memory from all points (n d values).

Dask is imported inside the functions: ``import topotree`` works without it.

References
----------
Morozov, D. and Weber, G. H. (2013). Distributed merge trees. PPoPP '13, 93-102.
Carr, H., Snoeyink, J. and Axen, U. (2003). Computing contour trees in all dimensions. Comput.
Geom. 26(1), 75-94.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ._dask_knn import cell_of, chain_order, knn_blocks, median_cells, needed_columns, own_states, screen_pays
from ._dask_screen import principal_frame
from ._knn_blocks import _ERR
from ._forest import MAX_POINTS, edge_components, forest_edges, row_keys, spanning_forest, union_forest
from ._progress import interactive
from ._typing import ArrayLike, LogDensity, PathLike
from ._validation import check_bool, check_choice, check_int, check_vector, exponent_from_extent
from .build import (_check_neighbors, _duplicate_chains, _is_blockwise_input, _is_estimate_of, _merged_tree, _order,
                    _Transient, _tie_key, _tree_from_graph, call_log_density, default_k)
from .density import knn_log_density_at, radius_floor
from .graph import _KDTREE_MAX_DIM, _bridge_labelled
from .tree import ClusterTree

__all__ = ["knn_graph", "as_dask_points", "subsample"]

_CHUNK_BYTES = 2**25  # rows read from a .npy / .zarr path per block: about 32 MiB
_ORDERED_ROWS = 2**17  # points a block of the spatially ordered search, about (a cell of the k-d partition)
_MIN_CELL_ROWS = 2**11  # no spatial ordering when the cells would be smaller than this
_ORDER_SAMPLE = 2**16  # points sampled to place the cells
_ORDERED_FILL = 0.5  # X's blocks count as spatially coherent when fewer (cell, block) pairs meet
_NEIGHBORS_IN_MEMORY_BYTES = 2**28  # the tree's neighbour lists in memory up to this size, memory mapped above


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError("a Dask array or a .zarr/.npy path needs Dask: pip install 'topotree[dask]'") from exc
    return dask, da


def _read_npy_rows(path, lo, hi):
    return np.array(np.load(path, mmap_mode="r")[lo:hi], dtype=np.float64)


def as_dask_points(X: Any, name: str = "X") -> Any:
    """``X`` (a Dask array, or the path of a .zarr or .npy store) as an (n, d) float64 Dask array
    with one chunk across the columns; rows keep the array's chunks (a path: about 32 MiB a block).

    Checks the shape and dtype (not the values: :func:`knn_graph` and ``build_tree`` check that
    they are finite in their first pass). A .npy file is read by memory map, rows by rows, in the
    tasks (on a cluster the path must be readable by the workers).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> as_dask_points(da.from_array(np.zeros((10, 3)), chunks=(4, 1))).chunks
    ((4, 4, 2), (3,))
    """
    dask, da = _import_dask()
    if isinstance(X, (str, os.PathLike)):
        path = Path(X)
        if path.suffix not in (".zarr", ".npy"):
            raise ValueError(f"{name} as a path must name a .zarr or .npy store, got {str(path)!r}")
        if not path.exists():
            raise ValueError(f"{name}: no such file or store: {str(path)!r}")
        if path.suffix == ".npy":
            try:
                mm = np.load(path, mmap_mode="r")
            except Exception as exc:
                raise ValueError(f"{name}: could not read {str(path)!r} as a .npy array: {exc}") from None
            shape, dtype = mm.shape, mm.dtype
            del mm
            if len(shape) != 2:
                raise ValueError(f"{name} must be a 2-D array of shape (n_points, n_dims), got shape {shape} "
                                 f"in {str(path)!r}")
            _check_dtype(dtype, name)
            rows = max(1, _CHUNK_BYTES // (8 * max(shape[1], 1)))
            parts = [da.from_delayed(dask.delayed(_read_npy_rows, pure=True)(str(path), lo, min(shape[0], lo + rows)),
                                     (min(shape[0], lo + rows) - lo, shape[1]), dtype=np.float64)
                     for lo in range(0, shape[0], rows)]
            if not parts:
                raise ValueError(f"{name} is empty: it has no points")
            X = da.concatenate(parts, axis=0)
        else:
            try:
                X = da.from_zarr(str(path))
            except Exception as exc:
                raise ValueError(f"{name}: could not open {str(path)!r} as a zarr array: {exc}") from None
            if X.ndim == 2:
                X = X.rechunk({0: max(X.chunksize[0], _CHUNK_BYTES // (8 * max(X.shape[1], 1))), 1: -1})
    if not _is_blockwise_input(X):
        raise TypeError(f"{name} must be a Dask array or a .zarr/.npy path, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_points, n_dims), got {X.ndim}-D array "
                         f"of shape {X.shape}")
    if any(np.isnan(s) for s in X.shape):
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first")
    _check_dtype(X.dtype, name)
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no points")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has zero dimensions (shape {X.shape})")
    return X.astype(np.float64).rechunk({1: -1})


def _check_dtype(dtype, name):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {dtype}")
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {dtype}")


def _active_client():
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover
        return None
    try:
        return default_client()
    except ValueError:  # no client
        return None


def _compute(arrays, show):
    """Compute Dask collections with the active Client (dashboard link and Dask's progress bar
    when ``show``) or the default scheduler (``dask.diagnostics.ProgressBar`` when ``show``)."""
    dask, _ = _import_dask()
    client = _active_client()
    if client is not None:
        futures = client.compute(list(arrays))
        if show:
            from distributed import progress

            print(f"topotree: Dask dashboard at {client.dashboard_link}", file=sys.stderr)
            progress(futures)
        return client.gather(futures)
    if show:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return dask.compute(*arrays)
    return dask.compute(*arrays)


def _show(progress, n):
    if progress is None:
        return n >= 100_000 and interactive()
    return check_bool(progress, "progress") and interactive()


def _checked_extent(X, show, name="X"):
    """One pass over ``X``: raise if a value is NaN or inf; the power of two of ``scale_exponent``."""
    _, da = _import_dask()
    half = 0.5 * X
    finite, big, half_spread = _compute([da.isfinite(X).all(), abs(X).max(),
                                         (half.max(axis=0) - half.min(axis=0)).max()], show)
    if not bool(finite):
        bad = np.asarray(_compute([da.argwhere(~da.isfinite(X))], False)[0])[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return exponent_from_extent(big, half_spread, X.shape[1], name)


def knn_graph(X: Any, k: int | None = None, *, store: PathLike | None = None,
              progress: bool | None = None) -> tuple[Any, Any]:
    """Exact k nearest neighbours of a Dask array (or a .zarr/.npy path), blockwise on Dask.

    Each row block is queried against every column block (a KD-tree per block; above 16
    dimensions its leaves screened by float32 BLAS products and re-ranked exactly), with the
    formulas of the in-memory search, so the result equals :func:`topotree.graph.knn` on the same
    points (up to neighbours at exactly equal distances).

    Parameters
    ----------
    X : (n, d) Dask array, or the path of a .zarr or .npy store (read blockwise).
    k : int, optional
        Neighbours per point (the point itself excluded); default :func:`topotree.default_k`.
    store : path, optional
        A .zarr directory to write the result to (groups ``indices`` and ``distances``), streamed
        block by block; the returned arrays then read from it. ``None`` returns lazy Dask arrays.
    progress : bool or None
        Dask's progress bar (and the dashboard link with a distributed Client) while ``store`` is
        written; ``None``: for n >= 100,000 in a terminal.

    Returns
    -------
    (indices, distances) : (n, k) int64 and float64 Dask arrays.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> X = da.from_array(np.array([[0.0], [1.0], [3.0], [7.0]]), chunks=(2, 1))
    >>> idx, dist = knn_graph(X, 1)
    >>> idx.compute().ravel().tolist(), dist.compute().ravel().tolist()
    ([1, 0, 1, 2], [1.0, 1.0, 2.0, 4.0])
    """
    dask, da = _import_dask()
    X = as_dask_points(X, "X")
    n = X.shape[0]
    show = _show(progress, n)
    k = _check_k(k, n)
    E = _checked_extent(X, show)
    Xd = X.map_blocks(np.ldexp, -E, dtype=np.float64) if E else X
    idx, dist = knn_blocks(Xd, k)
    if E:  # distances of the rescaled points, scaled back (exact: a power of two)
        dist = dist.map_blocks(np.ldexp, E, dtype=np.float64)
    if store is None:
        return idx, dist
    path = str(store)
    writes = [da.to_zarr(idx, path, component="indices", overwrite=True, compute=False),
              da.to_zarr(dist, path, component="distances", overwrite=True, compute=False)]
    _compute(writes, show)
    return da.from_zarr(path, component="indices"), da.from_zarr(path, component="distances")


def subsample(X: Any, m: int, seed: int | None = 0, name: str = "X") -> np.ndarray:
    """``m`` rows of ``X`` (a Dask array or .zarr/.npy path) drawn uniformly without replacement,
    in their order in X, as an in-memory array (all rows when X has at most ``m``); read blockwise.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> subsample(da.from_array(np.arange(20.0).reshape(10, 2), chunks=3), 3, seed=0).shape
    (3, 2)
    """
    X = as_dask_points(X, name)
    m = check_int(m, "m", low=1)
    n = X.shape[0]
    if n > m:
        rows = np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
        X = X[rows]
    out = np.ascontiguousarray(_compute([X], False)[0])
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        raise ValueError(f"{name} contains NaN or inf (in column {bad[1]})")
    return out


def _check_k(k, n):
    if k is None:
        if n < 2:
            raise ValueError(f"X has {n} point; at least 2 are needed to build a neighbour graph")
        return default_k(n)
    k = check_int(k, "k", low=1)
    if n < k + 1:
        raise ValueError(f"X has {n} points but k={k} neighbours need at least k + 1 = {k + 1} points")
    return k


def _apply_log_density(block, fn):
    values = call_log_density(fn, block, "a block of X")
    if values.shape != (block.shape[0],):
        raise ValueError(f"log_density(X) must give one value per point: a block of {block.shape[0]} "
                         f"points gave shape {values.shape}")
    return np.asarray(values, dtype=np.float64)


def _radius_and_tie(dist):
    """Per point of a block: its k-th neighbour distance and its tie key (both row by row)."""
    return np.column_stack([dist[:, -1], _tie_key(dist)])


def _block_forest(nb, offset, rank):
    """The spanning forest (sorted edge keys) of the kNN edges of one row block."""
    return spanning_forest(row_keys(nb, offset, rank), rank.shape[0])


def _all(perm, n):
    return slice(0, n) if perm is None else perm


def _put_rows(out, lo, block, perm):
    """Write the neighbour lists of the search's rows lo, lo + 1, ... into ``out`` in X's numbering
    (``perm[r]``: X's row of the search's row r; None: the same)."""
    if perm is None:
        out[lo:lo + block.shape[0]] = block
    else:
        out[perm[lo:lo + block.shape[0]]] = perm[block]


def _take_rows(block, rows):
    return block[rows]


def _stack_rows(pieces):
    return np.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]


def _search(Xd, k, client, show, token):
    """The kNN graph of ``Xd`` on Dask, on spatially ordered blocks when that pays:
    ``(Xs, perm, indices, distances)``, the rows and indices those of ``Xs = Xd[perm]`` (``perm``
    None: X's own blocks).

    Unless X's blocks are already spatially coherent
    (fewer than ``_ORDERED_FILL`` of the (cell, block) pairs meet on a sample), the points are
    regrouped into the cells of a k-d partition placed on a sample (median splits, about
    ``_ORDERED_ROWS`` points a cell), one block a cell, and each row block visits the column
    blocks by increasing gap between their cells, so the far ones prune at the root of their trees.
    With a distributed client, each row block first searches its own block, and its chain then
    lists only the blocks within reach of its current k-th distances (the others cannot give a
    nearer point: the result is the same, without moving their trees between workers). Where the
    in-memory search would screen leaves by float32 products (above 16 dimensions; from 10 when
    the KD-tree's work a point, probed on the sample, is large: :func:`screen_pays`), so do the
    links, and the cells and the blocks' trees are placed in the sample's principal frame."""
    dask, da = _import_dask()
    n, d = Xd.shape
    levels = max(1, math.ceil(math.log2(max(n / _ORDERED_ROWS, 1.0))))
    small = n < 2 ** levels * _MIN_CELL_ROWS
    if small and d <= _KDTREE_MAX_DIM:
        return (Xd, None, *knn_blocks(Xd, k))
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n, min(n, _ORDER_SAMPLE), replace=False))
    S = np.asarray(_compute([Xd[rows]], False)[0])
    frame = None
    screen = screen_pays(S, n, k)  # the in-memory search's choice of method, made on the sample
    if screen:  # cells and trees in the sample's principal frame: tighter boxes on anisotropic clouds
        frame = principal_frame(S)
        S = (S - frame.centre) @ frame.axes
        if small:
            return (Xd, None, *knn_blocks(Xd, k, frame=frame))
    dims, values, lo, hi = median_cells(S, levels)
    in_offsets = np.r_[0, np.cumsum(Xd.chunks[0])].astype(np.int64)
    B = len(Xd.chunks[0])
    sample_block = np.searchsorted(in_offsets, rows, side="right") - 1
    sample_cell = cell_of(S, dims, values)
    met = np.unique(sample_cell * B + sample_block).shape[0]
    if B > 1 and met < _ORDERED_FILL * (2 ** levels) * B:  # X's blocks are spatially coherent already
        return (Xd, None, *knn_blocks(Xd, k, frame=frame))
    cell = np.asarray(_compute([Xd.map_blocks(_cell_in_frame, dims, values, frame, drop_axis=1, dtype=np.int64)],
                               show)[0])
    perm = np.argsort(cell, kind="stable").astype(np.int64)
    counts = np.bincount(cell, minlength=2 ** levels)
    del cell
    used = np.flatnonzero(counts)
    sizes, lo, hi = counts[used], lo[used], hi[used]
    out_offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    blocks = Xd.to_delayed().ravel()
    parts = []
    for c in range(used.shape[0]):
        mine = perm[out_offsets[c]:out_offsets[c + 1]]  # increasing: the sort is stable
        cuts = np.searchsorted(mine, in_offsets)
        pieces = [dask.delayed(_take_rows)(blocks[b], mine[cuts[b]:cuts[b + 1]] - in_offsets[b],
                                           dask_key_name=f"topotree-take-{token}-{c}-{b}")
                  for b in range(B) if cuts[b + 1] > cuts[b]]
        cell_block = dask.delayed(_stack_rows)(pieces, dask_key_name=f"topotree-cell-{token}-{c}")
        parts.append(da.from_delayed(cell_block, (int(sizes[c]), d), dtype=np.float64))
    Xs = da.concatenate(parts, axis=0)
    order = chain_order(lo, hi)
    if client is None:
        return (Xs, perm, *knn_blocks(Xs, k, chains=order, frame=frame))
    trees, states = own_states(Xs, k, frame)
    kept = client.persist(trees + states)
    trees, states = kept[:len(trees)], kept[len(trees):]
    slack = 0.0
    if screen:  # the frame's rotation moves squared distances by at most this (as in the leaves' search)
        radius = max(_compute([dask.delayed(_block_radius)(t) for t in trees], False))
        slack = _ERR * (d + 8) * 2.0**-53 * (2.0 * radius) ** 2
    plans = [dask.delayed(needed_columns)(states[i], trees[i], lo, hi, order[i][1:], slack,
                                          dask_key_name=f"topotree-plan-{token}-{i}") for i in range(len(trees))]
    chains = _compute(plans, False)
    return (Xs, perm, *knn_blocks(Xs, k, chains=chains, trees=trees, states=states, frame=frame))


def _cell_in_frame(block, dims, values, frame):
    """:func:`cell_of` of a block's rows, in ``frame`` when there is one (above 16 dims)."""
    if frame is not None:
        block = (np.asarray(block, dtype=np.float64) - frame.centre) @ frame.axes
    return cell_of(block, dims, values)


def _block_radius(tree):
    """The largest norm of a point of a block in the frame (above 16 dims)."""
    return float(tree.norm.max()) if tree.norm.shape[0] else 0.0


def _neighbors_array(n, k):
    """Where the (n, k) neighbour lists of the tree go: memory up to ``_NEIGHBORS_IN_MEMORY_BYTES``;
    above, a memory-mapped .npy file in Dask's temporary directory, unlinked at once (the mapping
    keeps it, the space is freed with the array), so the client holds pages of it, not all of it."""
    if 8 * n * k <= _NEIGHBORS_IN_MEMORY_BYTES:
        return np.empty((n, k), dtype=np.int64)
    dask, _ = _import_dask()
    folder = dask.config.get("temporary-directory", None) or tempfile.gettempdir()
    fd, path = tempfile.mkstemp(suffix=".npy", prefix="topotree-neighbors-", dir=folder)
    os.close(fd)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(n, k))
    try:
        os.unlink(path)
    except OSError:  # pragma: no cover - a platform that cannot unlink an open file: left in place
        pass
    return out


def _reduce_forests(parts, n, token):
    """Combine the blocks' forests pairwise (a binary tree of Dask tasks) into one."""
    dask, _ = _import_dask()
    level = 0
    while len(parts) > 1:
        level += 1
        parts = [dask.delayed(union_forest)(parts[j], parts[j + 1], n,
                                            dask_key_name=f"topotree-forest-{token}-{level}-{j // 2}")
                 if j + 1 < len(parts) else parts[j] for j in range(0, len(parts), 2)]
    return parts[0]


def build_tree_blockwise(X: Any, log_density: LogDensity = None, *, k: int | None = None,
                         backend: str = "numba", connect: bool = True, neighbors: ArrayLike | None = None,
                         progress: bool | None = None) -> ClusterTree:
    """``build_tree`` of a Dask array or .zarr/.npy path (see :func:`topotree.build_tree`).

    Two passes on Dask. First the kNN graph, blockwise (:func:`knn_graph`), with each point's k-th
    neighbour distance and tie key (and a callable ``log_density``, block by block: it must give
    each point's value from that point alone); the client gathers these (n values each) and ranks
    the points. Then each row block's kNN edges are reduced to their maximum spanning forest under
    that rank order, and the forests are combined pairwise in a tree of tasks; the client merges on
    the final forest (at most n - 1 edges) plus the bridges, which gives the tree of the whole graph
    (:mod:`topotree._forest`): the ClusterTree of ``build_tree(X.compute())`` exactly. The client
    holds O(n) values; the tree's (n, k) ``neighbors`` are written to it block by block (memory
    mapped from a temporary file when larger than 256 MiB). With ``neighbors`` given, the graph is
    the caller's, in memory already, and the merge runs on it.

    References
    ----------
    Morozov, D. and Weber, G. H. (2013). Distributed merge trees. PPoPP '13, 93-102.
    Carr, H., Snoeyink, J. and Axen, U. (2003). Computing contour trees in all dimensions. Comput.
    Geom. 26(1), 75-94.
    """
    dask, da = _import_dask()
    X = as_dask_points(X, "X")
    n, d = X.shape
    backend = check_choice(backend, "backend", {"numba", "gudhi"})
    connect = check_bool(connect, "connect")
    show = _show(progress, n)
    E = _checked_extent(X, show)
    Xd = X.map_blocks(np.ldexp, -E, dtype=np.float64) if E else X

    def points(rows=None):
        """The (rescaled) points of rows ``rows`` (all when None), in that order."""
        if rows is None:
            return np.ascontiguousarray(_compute([Xd], False)[0])
        rows = np.asarray(rows, dtype=np.int64)
        o = np.argsort(rows, kind="stable")
        got = np.asarray(_compute([Xd[rows[o]]], False)[0])
        out = np.empty_like(got)
        out[o] = got
        return out

    values = None  # a callable's values, computed with the graph
    if log_density is None:
        f = None
    elif callable(log_density):
        f = None
        values = X.map_blocks(_apply_log_density, log_density, drop_axis=1, dtype=np.float64)
    else:
        given = log_density
        if _is_blockwise_input(given):
            given = _compute([given], False)[0]
        f = check_vector(given, n, "log_density")

    if neighbors is not None:  # the caller's graph, in memory: merge on it
        nb, k = _check_neighbors(neighbors, n, log_density)
        if values is not None:
            f = check_vector(_compute([values], show)[0], n, "log_density(X)")
        return _tree_from_graph(nb, _Transient(points=points), f, d=d, E=E, k=int(k), connect=connect,
                                backend=backend)

    k = _check_k(k, n)
    if n > MAX_POINTS:
        raise ValueError(f"X has {n} points; the blockwise path handles at most {MAX_POINTS}")
    client = _active_client()
    token = uuid.uuid4().hex
    # the search runs on X's blocks, or on spatially ordered ones (perm[r]: X's row of row r)
    Xs, perm, idx, dist = _search(Xd, k, client, show, token)
    stats = dist.map_blocks(_radius_and_tie, chunks=(dist.chunks[0], (2,)), dtype=np.float64)
    called = values is not None  # a callable's values come with the graph
    wanted = [stats, values] if called else [stats]
    nbs = _neighbors_array(n, k)
    sizes = np.asarray(Xs.chunks[0], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    if client is not None:  # the graph stays on the workers; the client fetches it block by block
        kept = client.persist([idx] + wanted)
        # the scheduler holds the graph now: drop the client's references to its inputs (the
        # search's KD-trees and first states), so that each is freed once its tasks have run
        del idx, dist, stats, wanted, values
        if show:
            from distributed import progress as dask_progress

            print(f"topotree: Dask dashboard at {client.dashboard_link}", file=sys.stderr)
            dask_progress(kept)
        idx_kept, got = kept[0], client.gather(client.compute(kept[1:]))
        blocks = list(idx_kept.to_delayed().ravel())
        for i, block in enumerate(blocks):
            _put_rows(nbs, offsets[i], client.compute(block).result(), perm)
        block_offsets = offsets
    else:  # one process: the graph is written to the tree's array as its blocks finish
        if perm is None:
            writes = [da.store(idx, nbs, lock=False, compute=False)]
        else:
            writes = [dask.delayed(_put_rows)(nbs, int(offsets[i]), block, perm,
                                              dask_key_name=f"topotree-put-{token}-{i}")
                      for i, block in enumerate(idx.to_delayed().ravel())]
        *got, _ = _compute(wanted + [writes], show)
        # the forest pass reads the lists back in X's numbering, in blocks of X's rows
        block_offsets = np.r_[0, np.cumsum(X.chunks[0])].astype(np.int64)
        blocks = [nbs[block_offsets[i]:block_offsets[i + 1]] for i in range(len(X.chunks[0]))]
    stats = np.asarray(got[0])
    r_k, tie = np.empty(n), np.empty(n)
    r_k[_all(perm, n)], tie[_all(perm, n)] = stats[:, 0], stats[:, 1]  # X's order
    del stats, got[0]
    estimate = knn_log_density_at(r_k, k, n, d, radius_floor(r_k))
    if called:
        f = check_vector(got[0], n, "log_density(X)")
    kind = "knn" if f is None or _is_estimate_of(f, estimate, d, E) else "given"
    estimated = f is None
    if estimated:
        f = estimate
    del estimate
    order = _order(f, None, None, tie=tie)
    del tie
    if E and estimated:  # r = r_scaled * 2**E: log f = log f_scaled - d E log 2 (order unchanged)
        f = f - d * E * math.log(2.0)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)

    # the second pass: each row block's forest, then the forests combined pairwise (edge keys are
    # ranks: the same forest whatever the blocks' numbering; on the workers, the search's)
    block_rank = rank if client is None or perm is None else rank[perm]
    shared = client.scatter(block_rank, broadcast=True, hash=False) if client is not None else block_rank
    del block_rank
    parts = [dask.delayed(_block_forest)(blocks[i], int(block_offsets[i]), shared,
                                         dask_key_name=f"topotree-forest-{token}-0-{i}") for i in range(len(blocks))]
    keys = _compute([_reduce_forests(parts, n, token)], show)[0]
    del parts, blocks, shared
    if client is not None:
        del kept, idx_kept
    edges = forest_edges(keys, order)
    del keys
    if connect and edges.shape[0] < n - 1:  # several components: bridges from all the points
        bridges = _bridge_labelled(points(), edge_components(edges, n))
    else:
        bridges = np.zeros((0, 2), dtype=np.int64)
    chains = _duplicate_chains(points, r_k, rank)
    if chains.shape[0]:
        bridges = np.concatenate([bridges, chains])
    return _merged_tree(f, order, rank, np.zeros((n, 0), dtype=np.int64), np.concatenate([edges, bridges]),
                        neighbors=nbs, bridges=np.sort(bridges, axis=1), k=k, kind=kind, backend=backend, perm=None)
