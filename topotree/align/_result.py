"""The results of an alignment: ``Alignment`` (a map from space A to space B, with its diagnostics),
``LeafMatching`` (the built-in matcher's leaf map) and ``Candidate`` (one candidate map while
``align`` runs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .._typing import ArrayLike
from .._validation import check_points
from .._warp import Warp

__all__ = ["Alignment", "AlignmentWarning", "Candidate", "LeafMatching", "Options"]


@dataclass(frozen=True, eq=False, repr=False)
class Alignment:
    """A map from space A to space B: ``transform(X) = X @ matrix + offset``, followed by the
    non-linear ``warp`` when there is one (:func:`topotree.warp_alignment`).

    Attributes
    ----------
    kind : "orthogonal", "similarity" or "affine".
    matrix : (d_a, d_b) linear part (for orthogonal/similarity: ``scale`` times a semi-orthogonal
        matrix, orthonormal rows if d_a <= d_b, orthonormal columns otherwise).
    offset : (d_b,) translation.
    scale : float, the isotropic scale (1 for orthogonal; for affine the mean singular value).
    matching : the tree matching the anchors came from (None for :func:`procrustes`).
    anchors : (anchors_a, anchors_b, weights) used for the fit.
    residuals : (m,) per-anchor residual ``|T(a) - b|``.
    score : diagnostic needing no ground truth (lower is better): the symmetric mean
        nearest-neighbour distance between T(A) and B divided by B's RMS spread (NaN when the
        clouds were not given, as in :func:`procrustes`).
    mutual_nn : fraction of T(A)'s points whose nearest neighbour in B has them as its nearest
        neighbour too (NaN when not computed).
    trust : float in [0, 1], calibrated across data sets (NaN where not computed): the neighbourhood
        agreement of T(A)'s optimal-transport matching onto B, placed between maps that only match
        the first two moments (0) and B against a disjoint half of itself (1), times how clearly it
        beats every substantially different map. Below 0.4 ``align`` warns
        (:class:`AlignmentWarning`): the clouds may share no structure.
    info : dict of extra diagnostics: ``tree_a``/``tree_b`` (the trees), ``leaf_map`` (position in
        A's leaves -> position in B's, -1 unmatched), ``node_pairs`` (node ids), ``candidate_scores``,
        ``n_candidates``, ``icp_accepted``, ``leaf_consistency``, ``density`` (the density kept, or
        ``"gw-<metric>"`` when a Gromov-Wasserstein start won: ``gw-euclidean``, ``gw-hops``,
        ``gw-geodesic``), ``density_score`` (each density's selection score; ``density_score_kind`` says which
        score: an energy distance up to 8 dims, a divergence above), ``density_energy`` (the same
        numbers under their old name), ``scale_exponents``, ``search`` (the global search: the
        origin of the map kept, every candidate's agreement, and its ``direction``: ``"forward"``, or
        ``"reverse"`` when the search from B to A was kept, whose trust ``trust`` then is, with the
        forward map's in ``forward_trust``; and ``bulk`` when the map was found on the clouds' bulks:
        ``rows_a``/``rows_b``, the rows searched, which the trees then index, and ``whole_trust``, the
        trust of the map found on the whole clouds), ``trust`` (the :class:`Trust` record:
        agreement, null, ceiling, structure, uniqueness), ``calibration`` (when agreement could not
        judge).
    warp : :class:`~topotree._warp.Warp` or None, the smooth displacement applied after the affine
        part (``transform(X) = W(X @ matrix + offset)``); ``trust`` and ``score`` judge the affine
        part.

    ``repr`` prints a summary, not the matrix.
    """

    kind: str
    matrix: np.ndarray
    offset: np.ndarray
    scale: float
    matching: object = field(default=None, repr=False)
    anchors: tuple = field(default=(), repr=False)
    residuals: np.ndarray = field(default=None, repr=False)
    score: float = float("nan")
    mutual_nn: float = float("nan")
    info: dict = field(default_factory=dict, repr=False)
    trust: float = float("nan")
    warp: Warp | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """A summary: the map's kind and shape, its diagnostics, the anchors and the tree sizes
        (the matrix itself is ``matrix``)."""
        parts = [f"kind={self.kind!r}", f"dims={self.dim_a}->{self.dim_b}", f"scale={self.scale:.4g}",
                 f"score={self.score:.4g}", f"mutual_nn={self.mutual_nn:.4g}"]
        if self.anchors:
            parts.append(f"anchors={len(self.anchors[0])}")
        info = self.info or {}
        if info.get("tree_a") is not None and info.get("tree_b") is not None:
            parts.append(f"leaves={len(info['tree_a'].leaves)}/{len(info['tree_b'].leaves)}")
        if "density" in info:
            parts.append(f"density={info['density']!r}")
        if "n_candidates" in info:
            parts.append(f"candidates={info['n_candidates']}")
        if self.trust == self.trust:  # not NaN
            parts.append(f"trust={self.trust:.2f}")
        if self.warp is not None:
            parts.append(f"warp={self.warp.centres.shape[0]} centres")
        return f"Alignment({', '.join(parts)})"

    def __post_init__(self):
        for arr in (self.matrix, self.offset, self.residuals):
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)

    @property
    def dim_a(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dim_b(self) -> int:
        return int(self.matrix.shape[1])

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Map points of space A (rows of ``X``, shape (m, d_a)) into space B."""
        X = check_points(X, "X")
        if X.shape[1] != self.dim_a:
            raise ValueError(f"X must have {self.dim_a} columns (space A's dimension), got {X.shape[1]}")
        Y = X @ self.matrix + self.offset
        return Y if self.warp is None else self.warp(Y)

    def inverse_transform(self, Y: ArrayLike) -> np.ndarray:
        """Map points of space B back into space A.

        Exists when the linear part is injective (d_a <= d_b and full rank); when d_a < d_b it is
        the left inverse, which projects B's points onto the image of A first.
        """
        Y = check_points(Y, "Y")
        if Y.shape[1] != self.dim_b:
            raise ValueError(f"Y must have {self.dim_b} columns (space B's dimension), got {Y.shape[1]}")
        if self.warp is not None:
            raise ValueError("a warped alignment (non-linear) has no closed-form inverse; align B to A instead")
        M = self.matrix
        if self.dim_a > self.dim_b or np.linalg.matrix_rank(M) < self.dim_a:
            raise ValueError(f"the map from {self.dim_a} to {self.dim_b} dims is not injective; it has no inverse")
        if self.kind in ("orthogonal", "similarity"):
            return (Y - self.offset) @ M.T / self.scale**2
        return (Y - self.offset) @ np.linalg.pinv(M)


@dataclass(frozen=True)
class LeafMatching:
    """The built-in matching's result: node pairs and the leaf map (position in leaves -> position)."""

    pairs: tuple
    leaf_map: np.ndarray
    cost: float
    candidates_scores: tuple



class AlignmentWarning(UserWarning):
    """``align`` found no correspondence it can trust (see ``Alignment.trust``)."""


@dataclass(frozen=True)
class Options:
    """The checked parameters of one :func:`topotree.align` call."""

    transform: str
    density: str
    k: int | None
    icp_rounds: int
    ridge: float
    allow_reflection: bool
    max_points: int
    n_candidates: int
    use_matching: str
    n_refine: int
    seed: int
    search: str = "auto"


class Candidate(NamedTuple):
    """A candidate map while :func:`topotree.align` runs: its selection score (lower is better),
    the leaf map (position in A's leaves -> position in B's, -1 unmatched), the node pairs it
    implies, the anchors ``Pa``, ``Pb`` and their weights ``w``, the fitted map ``(M, t, s)`` and
    the number of ICP steps accepted."""

    score: float
    leaf_map: np.ndarray
    pairs: list
    Pa: np.ndarray
    Pb: np.ndarray
    w: np.ndarray
    M: np.ndarray
    t: np.ndarray
    s: float
    accepted: int = 0
