"""``align_many``: N latent spaces into one frame, consistent around every cycle.

Every pair of spaces is aligned by :func:`topotree.align` (so whatever improves ``align`` improves
this too); the pairs' correspondences (the anchors of the matched tree nodes, plus a subsample of
each cloud with its image under the pairwise map) then enter one generalized Procrustes problem
(Gower 1975): one map per space into the reference space's frame, fitted by alternation, the
reference's map fixed at the identity. The maps between spaces are compositions through the frame,
so going round a cycle A -> B -> C -> A gives the identity (exactly, up to rounding, when the
spaces have equal dimensions), which the pairwise maps alone do not.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from .._procrustes import KINDS
from .._typing import ArrayLike, Seed, Transform
from .._validation import check_bool, check_choice, check_int, check_points, check_real, check_seed
from ..tree import ClusterTree
from ._align import align
from ._families import procrustes
from ._result import Alignment

__all__ = ["MultiAlignment", "align_many", "cycle_error"]

_TOL = 1e-10  # relative change of the frame images at which the alternation stops


@dataclass(frozen=True, eq=False)
class MultiAlignment:
    """Maps from N spaces into one frame (the reference space).

    Attributes
    ----------
    kind : "orthogonal", "similarity" or "affine".
    maps : tuple of :class:`Alignment`, one per space, each from that space into the frame
        (``maps[reference]`` is the identity).
    reference : int, the space whose coordinates are the frame.
    pairwise : dict ``(i, j) -> Alignment``, the :func:`topotree.align` result from space i to j.
    residual : float, weighted RMS distance between corresponding points in the frame, divided by
        the frame cloud's RMS spread (0 when every pairwise correspondence is met exactly).
    info : dict (iterations, correspondences per pair).
    """

    kind: str
    maps: tuple
    reference: int
    pairwise: dict = field(repr=False)
    residual: float = float("nan")
    info: dict = field(default_factory=dict, repr=False)

    def transform(self, i: int, X: ArrayLike) -> np.ndarray:
        """Map points of space ``i`` into the common frame."""
        return self.maps[self._index(i, "i")].transform(X)

    def between(self, i: int, j: int) -> Alignment:
        """The map from space ``i`` to space ``j`` through the frame: ``maps[j]^-1 o maps[i]``.

        Needs ``maps[j]`` injective (space j's dimension at most the frame's, full rank).
        """
        i, j = self._index(i, "i"), self._index(j, "j")
        Mi, ti = self.maps[i].matrix, self.maps[i].offset
        Mj, tj = self.maps[j].matrix, self.maps[j].offset
        if Mj.shape[0] > Mj.shape[1] or np.linalg.matrix_rank(Mj) < Mj.shape[0]:
            raise ValueError(f"the map of space {j} into the frame is not injective; there is no map into space {j}")
        P = np.linalg.pinv(Mj)
        M, t = Mi @ P, (ti - tj) @ P
        s = float(np.mean(np.linalg.svd(M, compute_uv=False)))
        return Alignment(kind=self.kind, matrix=M, offset=t, scale=s)

    def _index(self, i, name):
        return check_int(i, name, low=-len(self.maps), high=len(self.maps) - 1) % len(self.maps)


def cycle_error(alignments: Sequence[Alignment], X: ArrayLike) -> float:
    """How far a chain of maps is from the identity: ``RMS |T_k(...T_1(X)) - X| / RMS spread of X``.

    Parameters
    ----------
    alignments : sequence of :class:`Alignment` (or anything with ``transform``), applied in order;
        the last must land back in X's space.
    X : (n, d) points of the first map's space.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> ab = tt.procrustes(X, 2 * X + 1, "similarity")
    >>> ba = tt.procrustes(2 * X + 1, X, "similarity")
    >>> round(cycle_error([ab, ba], X), 6)
    0.0
    """
    X = check_points(X, "X", min_points=2)
    if isinstance(alignments, (str, bytes)) or not hasattr(alignments, "__iter__"):
        raise TypeError(f"alignments must be a sequence of alignments, got {type(alignments).__name__}")
    maps = list(alignments)
    if not maps or not all(hasattr(m, "transform") for m in maps):
        raise TypeError("alignments must be a non-empty sequence of objects with a transform method")
    Y = X
    for m in maps:
        Y = m.transform(Y)
    if Y.shape != X.shape:
        raise ValueError(f"the chain ends in a {Y.shape[1]}-dim space, not X's {X.shape[1]} dims")
    spread = np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, axis=1)))
    return float(np.sqrt(np.mean(np.sum((Y - X) ** 2, axis=1))) / spread) if spread > 0 else 0.0


def align_many(clouds: Sequence[ArrayLike], transform: Transform = "affine", *,
               trees: Sequence[ClusterTree | None] | None = None, reference: int = 0, points_per_pair: int = 256,
               anchor_share: float = 0.5, n_iter: int = 100, symmetric: bool = True, seed: Seed = 0,
               **align_kwargs: Any) -> MultiAlignment:
    """Align N point clouds into one frame from their matched trees, consistently around cycles.

    Parameters
    ----------
    clouds : sequence of N >= 2 arrays (n_i, d_i), one per latent space (sizes and dimensions may
        differ; no row of one corresponds to a row of another).
    transform : {"affine", "similarity", "orthogonal"}, the family of every map.
    trees : sequence of N simplified ClusterTrees or None (built by :func:`topotree.align` when
        None), e.g. trees on each model's exact density, passed as ``tree_a``/``tree_b``.
    reference : int, the space whose coordinates are the frame.
    points_per_pair : int, points of cloud i (a seeded subsample) paired with their images under
        the pairwise map i -> j, added to the matched nodes' anchors (0: anchors only).
    anchor_share : float in [0, 1], the share of each pair's weight on the tree anchors (the rest
        on the mapped points).
    n_iter : int, maximum alternation rounds of the generalized Procrustes fit.
    symmetric : bool, align every pair in both directions (default) and give the frame both maps'
        correspondences. An affine map fitted one way can be good forward and poor inverted (it may
        shrink directions that its inverse then blows up); ``between(j, i)`` inverts the frame maps, so
        both directions must inform them. ``False`` halves the pairwise work.
    seed : int, for the subsamples and every pairwise :func:`topotree.align`.
    **align_kwargs : passed to every :func:`topotree.align` call (``density``, ``k``, ...).

    Returns
    -------
    MultiAlignment

    References
    ----------
    Gower, J. C. (1975). Generalized Procrustes analysis. Psychometrika 40(1).
    Ten Berge, J. M. F. (1977). Orthogonal Procrustes rotation for two or more matrices.
    Psychometrika 42(2).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> X = hierarchical_mixture(900, dim=2, n_leaves=4, seed=0).X
    >>> R = np.array([[0.0, 1.0], [-1.0, 0.0]])
    >>> many = tt.align_many([X[:300], X[300:600] @ R, X[600:] * 2.0], "similarity")
    >>> ab, bc, ca = many.between(0, 1), many.between(1, 2), many.between(2, 0)
    >>> cycle_error([ab, bc, ca], X[:300]) < 1e-8
    True
    """
    if isinstance(clouds, (str, bytes, np.ndarray)) or not hasattr(clouds, "__iter__"):
        raise TypeError(f"clouds must be a sequence of (n, d) arrays, got {type(clouds).__name__}")
    clouds = [check_points(Z, f"clouds[{i}]", min_points=2) for i, Z in enumerate(clouds)]
    N = len(clouds)
    if N < 2:
        raise ValueError(f"clouds must hold at least 2 point clouds, got {N}")
    if trees is not None:
        if isinstance(trees, (str, bytes)) or not hasattr(trees, "__iter__"):
            raise TypeError(f"trees must be a sequence of ClusterTrees or None, got {type(trees).__name__}")
        trees = list(trees)
        if len(trees) != N:
            raise ValueError(f"trees must have one tree per cloud ({N}), got {len(trees)}")
    transform = check_choice(transform, "transform", KINDS)
    reference = check_int(reference, "reference", low=0, high=N - 1)
    points_per_pair = check_int(points_per_pair, "points_per_pair", low=0)
    anchor_share = check_real(anchor_share, "anchor_share", low=0, high=1)
    n_iter = check_int(n_iter, "n_iter", low=1)
    seed = check_seed(seed, allow_none=False)
    if points_per_pair == 0:
        anchor_share = 1.0
    rng = np.random.default_rng(seed)

    symmetric = check_bool(symmetric, "symmetric")
    # pairwise alignments; the reference is always the target of the pairs it is in (the one-way
    # maps start the frame); with symmetric, each pair is also aligned the other way
    pairwise, corr = {}, []
    for i, j in combinations(range(N), 2):
        if i == reference:
            i, j = j, i
        for src, dst in ((i, j), (j, i)) if symmetric else ((i, j),):
            kw = dict(align_kwargs)
            if trees is not None:
                kw.update(tree_a=trees[src], tree_b=trees[dst])
            al = align(clouds[src], clouds[dst], transform, seed=seed, **kw)
            pairwise[(src, dst)] = al
            corr.append((src, dst) + _correspondences(al, clouds[src], rng, points_per_pair, anchor_share))

    # start: every space's map to the reference, directly or through one intermediate space
    maps = {reference: (np.eye(clouds[reference].shape[1]), np.zeros(clouds[reference].shape[1]))}
    for (i, j), al in pairwise.items():
        if j == reference and i != reference:
            maps[i] = (al.matrix, al.offset)

    def frame(k, P):
        M, t = maps[k]
        return P @ M + t

    prev, iters = None, 0
    for iters in range(1, n_iter + 1):
        for k in range(N):
            if k == reference:
                continue
            P, Q, W = [], [], []
            for i, j, Pi, Pj, w in corr:
                if k == i:
                    P.append(Pi), Q.append(frame(j, Pj)), W.append(w)
                elif k == j:
                    P.append(Pj), Q.append(frame(i, Pi)), W.append(w)
            fit = procrustes(np.vstack(P), np.vstack(Q), transform, weights=np.concatenate(W))
            maps[k] = (fit.matrix, fit.offset)
        now = np.vstack([frame(k, clouds[k][: min(len(clouds[k]), 200)]) for k in range(N)])
        if prev is not None and np.linalg.norm(now - prev) <= _TOL * (np.linalg.norm(now) + 1e-300):
            break
        prev = now

    sq, wsum = 0.0, 0.0
    for i, j, Pi, Pj, w in corr:
        sq += float(np.sum(w * np.sum((frame(i, Pi) - frame(j, Pj)) ** 2, axis=1)))
        wsum += float(w.sum())
    Zr = clouds[reference]
    spread = np.sqrt(np.mean(np.sum((Zr - Zr.mean(0)) ** 2, axis=1)))
    out = []
    for k in range(N):
        M, t = maps[k]
        s = float(np.mean(np.linalg.svd(M, compute_uv=False)))
        out.append(Alignment(kind=transform, matrix=M, offset=t, scale=s))
    return MultiAlignment(kind=transform, maps=tuple(out), reference=reference, pairwise=pairwise,
                          residual=float(np.sqrt(sq / wsum) / spread) if spread > 0 else 0.0,
                          info=dict(iterations=iters, correspondences={(i, j): len(w) for i, j, _, _, w in corr}))


def _correspondences(al, Z, rng, m, anchor_share):
    """The pair's corresponding points: the matched nodes' anchors (weighted as ``align`` did) and
    a subsample of the source cloud with its image under the pairwise map."""
    parts_a, parts_b, weights = [], [], []
    if len(al.anchors) == 3 and len(al.anchors[0]) and anchor_share > 0:
        Pa, Pb, w = (np.asarray(a, dtype=np.float64) for a in al.anchors)
        parts_a.append(Pa), parts_b.append(Pb), weights.append(anchor_share * w / w.sum())
    else:  # no anchors: the mapped points carry the pair
        anchor_share, m = 0.0, max(m, 256)
    if m > 0 and anchor_share < 1:
        idx = rng.choice(len(Z), size=min(m, len(Z)), replace=False)
        S = Z[np.sort(idx)]
        parts_a.append(S), parts_b.append(al.transform(S)), weights.append(np.full(len(S), (1 - anchor_share) / len(S)))
    return np.vstack(parts_a), np.vstack(parts_b), np.concatenate(weights)
