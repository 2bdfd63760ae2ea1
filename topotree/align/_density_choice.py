"""Choosing among alignments made on different densities (kNN and GMM trees): ``pick_density``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._typing import ArrayLike, Seed
from .._validation import check_points
from ._diagnostics import energy, mixture_divergence
from ._params import (
    DEFAULT_MIXTURE_SIZE,
    ENERGY_DISTANCE_POINTS,
    GAUSS_FINAL_ITER,
    MANY_DIMS,
    TIE_BREAK_WEIGHT,
)
from ._result import Alignment
from ._shapes import GaussianFit, assignment_divergence

__all__ = ["pick_density", "choose"]


def pick_density(A: ArrayLike, B: ArrayLike, alignments: Sequence[Alignment], *, seed: Seed = 0) -> Alignment:
    """Of several alignments of A to B (e.g. on kNN and on GMM trees), the one whose T(A) is
    closest to B; its ``info["density_score"]`` records every candidate's score (lower is better)
    and ``info["density_score_kind"]`` what it is (an energy distance up to 8 dims, a divergence
    above); ``info["density_energy"]`` holds the same numbers under its old name.

    Up to 8 dims the distance is the energy distance. Above, where the energy distance barely
    sees two equal-weight clusters swapped, it judges the leaf correspondence each map implies:
    for the leaves of each candidate's trees in turn, each map's pairing of A's leaves with B's
    (Hungarian on the Kullback-Leibler divergence between every A leaf's mapped Gaussian and
    every B leaf's), then the divergence of the best affine map for that pairing (as in
    :func:`align`), relative to the best candidate's, summed over the candidates' clusterings
    (the unfitted divergence breaks ties). Without trees covering A and B (or when d_a < d_b), a symmetric
    Kullback-Leibler estimate between full-covariance Gaussian mixtures fitted to T(A) and to B
    (for every candidate as many components as the largest of the alignments' B trees has
    leaves).

    References
    ----------
    Székely, G. J. and Rizzo, M. L. (2013). Energy statistics. J. Stat. Plan. Inference 143(8).
    Hershey, J. R. and Olsen, P. A. (2007). Approximating the Kullback Leibler divergence between
    Gaussian mixture models. ICASSP.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> good, bad = tt.procrustes(X, X), tt.procrustes(X, X + 5.0)
    >>> pick_density(X, X, [bad, good]) is good
    True
    """
    A = check_points(A, "A")
    B = check_points(B, "B")
    if not alignments:
        raise ValueError("alignments must not be empty")
    return choose(A, B, alignments, seed)


def choose(A, B, alignments, seed=0):
    """:func:`pick_density` on checked arrays and a non-empty list."""
    labelled = [(al.info["tree_a"], al.info["tree_b"]) for al in alignments
                if al.info.get("tree_a") is not None and al.info.get("tree_b") is not None
                and al.info["tree_a"].n_points == A.shape[0] and al.info["tree_b"].n_points == B.shape[0]]
    if min(A.shape[1], B.shape[1]) > MANY_DIMS and A.shape[1] >= B.shape[1] and labelled:
        # many dims: swapped equal-weight clusters are invisible to distances but not to the
        # clusters' shapes. Compare the leaf correspondences the maps imply, each refitted by the
        # Gaussian fit (so a map is not judged by how well it fits inside the clusters), relative
        # to the best, on every candidate's clustering in turn (so none is favoured); the
        # unfitted divergence breaks ties (the same pairing)
        scores = np.zeros(len(alignments))
        for ta, tb in dict.fromkeys(labelled):
            g = GaussianFit(A, B, ta.labels(), tb.labels(), len(ta.leaves), len(tb.leaves))
            direct = [assignment_divergence(g, al.matrix, al.offset) for al in alignments]
            refit = np.array([g.fit(lm, GAUSS_FINAL_ITER)[2] for _, lm in direct])
            plain = np.array([v for v, _ in direct])
            if np.isfinite(refit).all() and refit.min() > 0:
                scores += refit / refit.min()
            if np.isfinite(plain).all() and plain.min() > 0:
                scores += TIE_BREAK_WEIGHT * plain / plain.min()
        scores = list(scores / len(labelled))
    elif min(A.shape[1], B.shape[1]) > MANY_DIMS:
        # many dims: the energy distance is nearly blind to swapped clusters of equal weight;
        # a symmetric Kullback-Leibler estimate between Gaussian mixtures of T(A) and B is not
        # the same number of components for every candidate (the most leaves any B tree found):
        # with fewer, a map could win by matching a coarser (e.g. single Gaussian) summary
        n_comp = max(len(al.info["tree_b"].leaves) if al.info.get("tree_b") is not None else DEFAULT_MIXTURE_SIZE
                     for al in alignments)
        scores = [mixture_divergence(A @ al.matrix + al.offset, B, n_comp, seed) for al in alignments]
    else:
        scores = [energy(A @ al.matrix + al.offset, B, ENERGY_DISTANCE_POINTS, seed) for al in alignments]
    if min(A.shape[1], B.shape[1]) > MANY_DIMS:
        kind = ("fitted Gaussian divergence of the leaf correspondence, relative to the best" if labelled
                else "symmetric Kullback-Leibler divergence between Gaussian mixtures of T(A) and B")
    else:
        kind = "energy distance between T(A) and B"
    best = alignments[int(np.argmin(scores))]
    best.info["density_energy"] = {f"{al.info.get('density_a')}": sc for al, sc in zip(alignments, scores)}
    # the same numbers under a name that does not say "energy" (above MANY_DIMS they are
    # divergences); "density_energy" is kept for existing readers
    best.info["density_score"] = dict(best.info["density_energy"])
    best.info["density_score_kind"] = kind
    best.info["density"] = best.info.get("density_a")
    return best
