"""The level-set (cluster) tree of a density on a point cloud: ``ClusterTree`` and its nodes."""
from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._assemble import node_depth, subtree_sum
from .._atomic import atomic_write
from .._merge import lca_kernel, lift_table
from .._simplify import simplified_arrays
from .._typing import ArrayLike, PathLike
from .._validation import check_fraction
from . import _export

if TYPE_CHECKING:  # optional: imported by the methods that need them
    import networkx as nx
    import pandas as pd

__all__ = ["ClusterTree", "Node", "Simplification"]

_ARRAYS = ("log_density", "order", "neighbors", "bridges", "parent", "start", "end", "mass", "peak", "split",
           "member_order", "member_lo", "member_hi", "owner", "basin", "diagram", "essential")


@dataclass(frozen=True)
class Simplification:
    """What ``ClusterTree.simplify`` did: the thresholds and how they were chosen."""

    min_persistence: float
    min_mass: float
    rule: str


@dataclass(frozen=True)
class Node:
    """One node of the level-set tree: a connected component of a superlevel set.

    Attributes
    ----------
    id, parent : int (parent is -1 for the root)
    children : tuple of int, the elder child (highest peak) first
    start : float, the level just above which the node exists as its own component (the level at
        which it merges with its siblings); for a root, the lowest log-density of its points
    end : float, the level at which it splits into its children, or its peak for a leaf
    mass : float, fraction of all points in the component just above ``start``
    peak : int, index of the point of highest log-density in the node
    members : (size,) int array, the points of the component just above ``start``
    """

    id: int
    parent: int
    children: tuple
    start: float
    end: float
    mass: float
    peak: int
    members: np.ndarray = field(repr=False)

    @property
    def is_leaf(self) -> bool:
        return len(self.children) == 0

    @property
    def size(self) -> int:
        return int(self.members.shape[0])


@dataclass(frozen=True, eq=False)
class ClusterTree:
    """Level-set tree of a log-density on a neighbourhood graph (immutable).

    Built by :func:`topotree.build_tree`. Nodes are numbered in preorder (a parent before its
    children, the elder child first); node 0 is the root. When the graph has several connected
    components, node 0 is a *virtual root* (``virtual_root``; start = end = -inf) whose children
    are the components.

    Attributes
    ----------
    log_density : (n,) log-density at every point (estimated or given).
    order : (n,) the points by decreasing log-density, the order in which they enter the
        superlevel sets (ties broken by the mean log-distance to the neighbours).
    neighbors : (n, k) indices of each point's k nearest neighbours; the graph is their
        symmetrisation (i ~ j if either lists the other) plus the edges in ``bridges``.
    bridges : (b, 2) point pairs added to the kNN graph: single-linkage bridges joining its components,
        and chains joining exact copies of a point that has k or more (the k-nearest lists cannot
        hold them all); empty for a connected graph without such copies.
    diagram : (m, 2) finite persistence pairs (birth = peak log-density, death = merge level).
    essential : (c,) births of the essential classes, one per connected component of the graph.
    k : neighbours per point; density : "knn" (estimated) or "given".
    simplification : what ``simplify`` did, or None for a raw tree.
    """

    log_density: np.ndarray
    order: np.ndarray
    neighbors: np.ndarray
    bridges: np.ndarray
    parent: np.ndarray
    start: np.ndarray
    end: np.ndarray
    mass: np.ndarray
    peak: np.ndarray
    split: np.ndarray
    member_order: np.ndarray
    member_lo: np.ndarray
    member_hi: np.ndarray
    owner: np.ndarray
    basin: np.ndarray
    diagram: np.ndarray
    essential: np.ndarray
    virtual_root: bool
    k: int
    density: str
    simplification: Simplification | None = None

    def __post_init__(self):
        for name in _ARRAYS:
            arr = getattr(self, name)
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)

    # ------------------------------------------------------------------ structure
    @property
    def n_points(self) -> int:
        return int(self.log_density.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.parent.shape[0])

    @functools.cached_property
    def _child_lists(self):
        kids = [[] for _ in range(self.n_nodes)]
        for i in np.flatnonzero(self.parent >= 0):
            kids[self.parent[i]].append(int(i))
        return tuple(tuple(c) for c in kids)

    def children(self, node: int) -> tuple:
        """Children of ``node``, the elder (highest peak) first."""
        return self._child_lists[node]

    def members(self, node: int) -> np.ndarray:
        """Indices of the points in ``node``'s component just above its ``start`` level."""
        return self.member_order[self.member_lo[node]:self.member_hi[node]]

    @functools.cached_property
    def nodes(self) -> tuple:
        """All nodes as :class:`Node` records, indexed by id."""
        return tuple(
            Node(id=i, parent=int(self.parent[i]), children=self._child_lists[i],
                 start=float(self.start[i]), end=float(self.end[i]), mass=float(self.mass[i]),
                 peak=int(self.peak[i]), members=self.members(i))
            for i in range(self.n_nodes)
        )

    @functools.cached_property
    def is_leaf(self) -> np.ndarray:
        leaf = np.ones(self.n_nodes, dtype=bool)
        leaf[self.parent[self.parent >= 0]] = False
        if self.virtual_root:
            leaf[0] = False
        leaf.setflags(write=False)
        return leaf

    @functools.cached_property
    def leaves(self) -> tuple:
        """Ids of the leaf nodes, in preorder (elder branches first)."""
        return tuple(int(i) for i in np.flatnonzero(self.is_leaf))

    @property
    def persistence(self) -> np.ndarray:
        """Per node: its peak's log-density minus its start level (inf for a root)."""
        return self.log_density[self.peak] - self.start

    @functools.cached_property
    def basin_mass(self) -> np.ndarray:
        """Per node: fraction of all points whose basin (steepest-ascent leaf) lies in its subtree."""
        counts = np.bincount(self.basin, minlength=self.n_nodes)
        out = subtree_sum(np.asarray(self.parent), counts) / self.n_points
        out.setflags(write=False)
        return out

    @functools.cached_property
    def depth(self) -> np.ndarray:
        d = node_depth(np.asarray(self.parent))
        d.setflags(write=False)
        return d

    # ------------------------------------------------------------------ per point
    @functools.cached_property
    def leaf_position(self) -> np.ndarray:
        """Per node id: its position in ``leaves`` (the value ``labels()`` gives its points), -1 for
        an internal node; ``leaves[j]`` goes the other way (position -> node id)."""
        pos = np.full(self.n_nodes, -1, dtype=np.int64)
        pos[list(self.leaves)] = np.arange(len(self.leaves))
        pos.setflags(write=False)
        return pos

    def labels(self, core: bool = False, *, node_ids: bool = False) -> np.ndarray:
        """Per-point leaf index (position in ``leaves``; with ``node_ids=True`` the leaf's node id,
        as matchings, reports and ``nodes`` name it).

        By default every point gets the leaf whose basin of attraction holds it (steepest ascent
        on the graph, pruned branches absorbed by their elder sibling, as ToMATo's ``labels_``).
        With ``core=True`` only points inside a leaf's component at its ``start`` are labelled;
        the rest get -1.
        """
        if node_ids:
            ids = np.where(self.is_leaf, np.arange(self.n_nodes), -1)
            return ids[self.owner] if core else ids[self.basin]
        pos = np.asarray(self.leaf_position)
        return pos[self.owner] if core else pos[self.basin]

    @functools.cached_property
    def _lift(self):
        levels = max(1, int(math.ceil(math.log2(max(2, int(self.depth.max()) + 1)))) + 1)
        return lift_table(np.asarray(self.parent), levels)

    def merge_height(self, i: ArrayLike, j: ArrayLike) -> np.ndarray:
        """Highest level at which points ``i`` and ``j`` lie in one component (vectorised).

        ``-inf`` for points in different connected components of the graph.

        Examples
        --------
        >>> import numpy as np, topotree as tt
        >>> X = np.r_[np.random.default_rng(0).normal(size=(50, 2)), np.random.default_rng(1).normal(size=(50, 2)) + 8]
        >>> t = tt.build_tree(X, k=10)
        >>> bool(t.merge_height(0, 1) > t.merge_height(0, 99))
        True
        """
        i = np.asarray(i)
        j = np.asarray(j)
        n = self.n_points
        for name, a in (("i", i), ("j", j)):
            if a.dtype.kind not in "iu":
                raise TypeError(f"{name} must be integer point indices, got dtype {a.dtype}")
            # compare as Python ints: no overflow of small dtypes (int8) or of uint64 against -n
            if a.size and (int(a.min()) < -n or int(a.max()) >= n):
                raise ValueError(f"{name} has indices outside [-{n}, {n})")
        scalar = i.ndim == 0 and j.ndim == 0
        try:
            i, j = np.broadcast_arrays(np.atleast_1d(i), np.atleast_1d(j))
        except ValueError:
            raise ValueError(f"i and j must broadcast to one shape, got shapes {i.shape} and {j.shape}") from None
        shape = i.shape
        i = i.ravel().astype(np.int64)
        j = j.ravel().astype(np.int64)
        i = np.where(i < 0, i + n, i)
        j = np.where(j < 0, j + n, j)
        oi, oj = self.owner[i], self.owner[j]
        lca = lca_kernel(self._lift, self.depth, oi, oj)
        f = self.log_density
        out = np.minimum(np.minimum(f[i], f[j]), self.end[lca])
        out = out.reshape(shape)
        return float(out[0]) if scalar else out

    # ------------------------------------------------------------------ simplification
    def simplify(self, min_persistence: float | None = None, min_mass: float | None = None) -> ClusterTree:
        """A new tree in which branches below the thresholds are merged into their parents.

        A child branch is kept when its persistence (its peak's log-density minus the level at
        which it merges) is at least ``min_persistence`` and its basin mass (the fraction of
        points whose steepest ascent ends in it, ``basin_mass``) at least ``min_mass``; a node left with a single child is fused with it. Points of a removed branch
        are absorbed by the elder branch it merged into (the elder rule).

        Parameters
        ----------
        min_persistence : float or None
            In log-density units. ``None`` chooses it from the data: three times the noise of
            the kNN log-density estimate (1/sqrt(k), Biau et al. 2011); for a given (exact)
            density, the median log-density change across a graph edge (the resolution of the
            graph). 0 switches it off.
        min_mass : float or None
            Fraction of all points, in [0, 1] (a count is rejected: pass m / n_points).
            ``None`` chooses max(0.005, k / n). 0 switches it off.

        References
        ----------
        Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based
        clustering in Riemannian manifolds. J. ACM 60(6).
        Kent, B. P., Rinaldo, A. and Verstynen, T. (2013). DeBaCl: a Python package for
        interactive density-based clustering. arXiv:1307.8136.

        Examples
        --------
        >>> import numpy as np, topotree as tt
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(size=(500, 2)), rng.normal(size=(300, 2)) + 6]
        >>> len(tt.build_tree(X, k=20).simplify().leaves)
        2
        """
        min_persistence = check_fraction(min_persistence, "min_persistence")
        min_mass = check_fraction(min_mass, "min_mass")
        if min_mass is not None and min_mass > 1.0:
            raise ValueError(f"min_mass is a fraction of all points, in [0, 1], got {min_mass:g} "
                             f"(for a number m of points pass m / n_points = m / {self.n_points})")
        rule = "given"
        if min_persistence is None or min_mass is None:  # the data-driven choice costs a pass over the graph
            auto = self.default_thresholds()
            rule = "; ".join(part for part, given in zip(auto.rule.split("; "), (min_persistence, min_mass))
                             if given is None)
            min_persistence = auto.min_persistence if min_persistence is None else min_persistence
            min_mass = auto.min_mass if min_mass is None else min_mass
        arrays = simplified_arrays(self, min_persistence, min_mass)
        return ClusterTree(log_density=self.log_density, order=self.order, neighbors=self.neighbors, bridges=self.bridges,
                           k=self.k, density=self.density,
                           simplification=Simplification(float(min_persistence), float(min_mass), rule),
                           **arrays)

    def default_thresholds(self) -> Simplification:
        """The thresholds ``simplify()`` chooses with no argument, and the rule behind them."""
        if self.density == "knn":
            pers = 3.0 / math.sqrt(self.k)
            how = f"min_persistence = 3/sqrt(k) (3 x the kNN log-density noise, k={self.k}) = {pers:.4g}"
        else:
            f = self.log_density
            pers = float(np.median(np.abs(f[:, None] - f[self.neighbors]))) if self.neighbors.size else 0.0
            how = f"min_persistence = median |log-density change| across a graph edge = {pers:.4g}"
        mass = max(0.005, self.k / self.n_points)
        return Simplification(float(pers), float(mass), f"{how}; min_mass = max(0.005, k/n) = {mass:.4g}")

    # ------------------------------------------------------------------ export
    def diagram_for(self, library: str = "gudhi", *, levels: str = "log_density", essential: bool = False) -> np.ndarray:
        """The persistence diagram with birth < death for gudhi, persim or ripser (see
        :func:`topotree.tree._export.diagram_for`): ``diagram`` holds superlevel pairs (birth > death),
        which those libraries read as points under the diagonal.

        Examples
        --------
        >>> import numpy as np, topotree as tt
        >>> rng = np.random.default_rng(0)
        >>> t = tt.build_tree(np.r_[rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 6]).simplify()
        >>> bool(np.all(t.diagram[:, 0] > t.diagram[:, 1])), bool(np.all(np.diff(t.diagram_for("gudhi")) > 0))
        (True, True)
        """
        return _export.diagram_for(self, library, levels=levels, essential=essential)

    def to_pandas(self) -> pd.DataFrame:
        """The hierarchy as hdbscan's condensed tree (``parent``, ``child``, ``lambda_val``,
        ``child_size``; points are ids below ``n_points``, node ``i`` is ``n_points + i``; levels are
        log-densities). Needs pandas. See :func:`topotree.tree._export.to_pandas`."""
        return _export.to_pandas(self)

    def to_linkage(self) -> np.ndarray:
        """A scipy linkage matrix of the leaves (observation ``i`` = ``leaves[i]``), for a binary tree;
        distances are ``max(log_density) - level``. See :func:`topotree.tree._export.to_linkage`."""
        return _export.to_linkage(self)

    def to_networkx(self) -> nx.DiGraph:
        """The tree as a ``networkx.DiGraph`` (edges parent -> child) with node attributes."""
        import networkx as nx

        g = nx.DiGraph()
        for i in range(self.n_nodes):
            g.add_node(i, start=float(self.start[i]), end=float(self.end[i]), mass=float(self.mass[i]),
                       peak=int(self.peak[i]), size=int(self.member_hi[i] - self.member_lo[i]),
                       leaf=bool(self.is_leaf[i]))
        for i in np.flatnonzero(self.parent >= 0):
            g.add_edge(int(self.parent[i]), int(i))
        return g

    def save(self, path: PathLike) -> Path:
        """Write the tree to ``path``: ``.json`` (text) or ``.npz`` (binary). Loads back exactly.

        The write is atomic: a temporary file in the same folder, fsynced, then renamed, so a failed
        or interrupted save leaves any previous file at ``path`` intact.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        path = Path(path)
        if path.suffix not in (".json", ".npz"):
            raise ValueError(f"path must end in .json or .npz, got {str(path)!r}")
        meta = dict(format="topotree.ClusterTree", version=1, virtual_root=self.virtual_root, k=self.k,
                    density=self.density,
                    simplification=None if self.simplification is None else vars(self.simplification))
        if path.suffix == ".json":
            doc = dict(meta)
            doc["arrays"] = {name: dict(dtype=str(getattr(self, name).dtype), shape=list(getattr(self, name).shape),
                                        data=getattr(self, name).ravel().tolist()) for name in _ARRAYS}
            text = json.dumps(doc).encode()
            return atomic_write(path, lambda fh: fh.write(text), "tree file")
        return atomic_write(path, lambda fh: np.savez_compressed(
            fh, __meta__=np.array(json.dumps(meta)), **{name: getattr(self, name) for name in _ARRAYS}), "tree file")

    def __repr__(self):
        s = "raw" if self.simplification is None else "simplified"
        return (f"ClusterTree({s}, n_points={self.n_points}, n_nodes={self.n_nodes}, "
                f"n_leaves={len(self.leaves)}, k={self.k}, density={self.density!r})")
