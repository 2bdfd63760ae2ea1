"""Neighbourhood agreement: how well a map's optimal-transport matching of T(A) onto B keeps
neighbours neighbours, the refinement that maximises it, and the calibrated trust built on it.

A map T is judged by the exact optimal transport (squared distances, uniform weights) between
subsamples of T(A) and B: the fraction of A's k-nearest-neighbour pairs (a, a') whose partners are
among each other's k nearest neighbours in B. Any continuous relation between two latent spaces
(a non-linear one included) keeps neighbourhoods, so the right map scores high; a map that sends
clusters to the wrong places matches points across unrelated neighbourhoods where it is wrong,
and loses agreement there. It needs no correspondence and is invariant under every similarity
transform of either cloud.

Refinement is iterative self-learning: match by OT, weight every matched pair by its own
agreement (its neighbours' partners among its partner's neighbours), refit the map on the
weighted pairs, keep the best agreement seen (a few non-improving rounds allowed).

Separated clusters (both clouds' kNN graphs fall apart into several substantial components) are
agreement's blind spot: any bijection between the components keeps every neighbourhood, and an
affine map in d dims can realise any arrangement of up to d + 1 clusters. There candidates are
judged by distance consistency instead: the rank correlation between the distances of A's points
and those of their OT partners in B, which sees how the clusters are arranged (and, like
agreement, ignores every similarity transform of either cloud); the trust is read on its own
null and ceiling.

Trust places the agreement between a null (maps that only match the first two moments, with a
random rotation, refined the same way as the candidates) and a ceiling (two disjoint halves of B matched by the identity: what
sampling alone leaves), so 1 means "as consistent as B with itself" and 0 "no better than moments";
and asks the map to be unique: it must beat every substantially different candidate (see
:class:`Trust`).

References
----------
Artetxe, M., Labaka, G. and Agirre, E. (2018). A robust self-learning method for fully
unsupervised cross-lingual mappings of word embeddings. ACL (self-learning from a matching).
Grave, E., Joulin, A. and Berthet, Q. (2019). Unsupervised alignment of embeddings with
Wasserstein Procrustes. AISTATS. Venna, J. and Kaski, S. (2001). Neighborhood preservation in
nonlinear projection methods. ICANN (neighbourhood preservation as a score). Memoli, F. (2011).
Gromov-Wasserstein distances and the metric approach to object matching. Found. Comput. Math. 11
(a matching judged by how well it keeps distances).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist, pdist
from scipy.stats import rankdata

from .._pot import import_pot
from .._procrustes import fit_map, sqrtm
from ._params import (
    AGREEMENT_K,
    AGREEMENT_POINTS,
    ANSWER_REGION,
    IMPROVE_TOL,
    NULL_ROTATIONS,
    REFINE_PATIENCE,
    REFINE_ROUNDS,
    SEPARATED_COMPONENTS,
    SEPARATED_SHARE,
    UNIQUE_GAP,
    WEIGHT_FLOOR,
)

__all__ = ["AgreementContext", "refine_by_agreement", "Calibration", "calibrate", "calibrate_consistency", "Trust",
           "trust"]


def _knn(X, k):
    return cKDTree(X).query(X, k + 1)[1][:, 1:]


def _substantial_components(neighbours):
    """Connected components of a kNN graph (``neighbours``: each row's neighbour indices) holding at
    least SEPARATED_SHARE of its points."""
    m, k = neighbours.shape
    G = csr_matrix((np.ones(m * k), (np.repeat(np.arange(m), k), neighbours.ravel())), shape=(m, m))
    labels = connected_components(G, directed=False)[1]
    return int(np.sum(np.bincount(labels) >= SEPARATED_SHARE * m))


class AgreementContext:
    """Fixed subsamples of A and B, their kNN lists, and B's kNN membership table, so that every
    candidate map is judged on the same points (``agreement``) and refined on them. ``spare_b``:
    rows of B outside the subsample (as many, when B has them), for the trust's ceiling."""

    def __init__(self, A_sub, B_sub, k, spare_b=None):
        self.ot = import_pot()
        m = A_sub.shape[0]
        self.k = int(min(k, m - 1, B_sub.shape[0] - 1))
        self.A, self.B, self.spare_b = A_sub, B_sub, spare_b
        self.nb_a = _knn(self.A, self.k)
        nb_b = _knn(self.B, self.k)
        self.in_b = np.zeros((B_sub.shape[0], B_sub.shape[0]), dtype=bool)
        self.in_b[np.repeat(np.arange(B_sub.shape[0]), self.k), nb_b.ravel()] = True
        self.wa, self.wb = np.full(m, 1.0 / m), np.full(B_sub.shape[0], 1.0 / B_sub.shape[0])
        # separated clusters: both kNN graphs fall apart into several substantial components. Any
        # bijection between the components then keeps every neighbourhood, so agreement cannot
        # tell how the components are arranged; the distance consistency can (see ``consistency``)
        parts = min(_substantial_components(self.nb_a), _substantial_components(nb_b))
        self.separated = parts >= SEPARATED_COMPONENTS
        self._ranks_a = self._dist_b = self._region_b = None

    def same_answer(self, partners, other):
        """Share of the subsample's points whose two partners in B (``partners``, ``other``: two
        maps' optimal-transport partners) lie in one region of B: equal, or ``other`` among the
        ``ANSWER_REGION`` share of B's subsample nearest to ``partners``. Two maps of one basin send
        most points into the same regions; maps of different basins (clusters exchanged) do not."""
        if self._region_b is None:
            m = self.B.shape[0]
            r = int(min(m - 1, max(self.k, np.ceil(ANSWER_REGION * m))))
            self._region_b = np.zeros((m, m), dtype=bool)
            self._region_b[np.repeat(np.arange(m), r), _knn(self.B, r).ravel()] = True
        return float(np.mean((other == partners) | self._region_b[partners, other]))

    @classmethod
    def for_clouds(cls, A, B, seed=0, n_points=AGREEMENT_POINTS, k=AGREEMENT_K):
        """Subsamples of ``n_points`` (at most half of B, so that a disjoint half remains)."""
        rng = np.random.default_rng(seed)
        m = int(max(min(n_points, A.shape[0], B.shape[0] // 2), 2))
        ia = np.sort(rng.choice(A.shape[0], m, replace=False))
        perm_b = rng.permutation(B.shape[0])
        return cls(A[ia], B[np.sort(perm_b[:m])], k, spare_b=B[np.sort(perm_b[m:2 * m])])

    def match(self, TA):
        """Each row of TA's partner in the subsample of B under exact optimal transport."""
        G = self.ot.emd(self.wa, self.wb, self.ot.dist(TA, self.B), numItermax=1_000_000)
        return np.argmax(G, axis=1)

    def pointwise(self, M, t):
        """(per-point agreement, partners) of the map X -> X M + t."""
        return self.pointwise_mapped(self.A @ M + t)

    def pointwise_mapped(self, TA):
        """(per-point agreement, partners) of the subsample of A mapped to ``TA`` (any map)."""
        pi = self.match(TA)
        c = self.in_b[np.repeat(pi, self.k), pi[self.nb_a].ravel()].reshape(-1, self.k).mean(axis=1)
        return c, pi

    def agreement(self, M, t):
        return float(self.pointwise(M, t)[0].mean())

    def consistency(self, M, t):
        """Distance consistency of the map X -> X M + t: the rank correlation (Spearman) between
        the distances of every two points of A's subsample and the distances of their optimal
        transport partners in B. Invariant under a similarity transform of either cloud; it sees
        how clusters are arranged (which agreement does not, once they are separated)."""
        return self.consistency_mapped(self.A @ M + t)

    def consistency_mapped(self, TA):
        """Distance consistency of the subsample of A mapped to ``TA`` (any map)."""
        if self._ranks_a is None:
            ra = rankdata(pdist(self.A))
            ra -= ra.mean()
            self._ranks_a = ra / (np.linalg.norm(ra) or 1.0)
            self._dist_b = cdist(self.B, self.B)
        pi = self.match(TA)
        i, j = np.triu_indices(pi.size, 1)
        rb = rankdata(self._dist_b[pi[i], pi[j]])
        rb -= rb.mean()
        return float(self._ranks_a @ rb / (np.linalg.norm(rb) or 1.0))


def refine_by_agreement(ctx, M, t, kind, allow_reflection=True, ridge=0.0, rounds=REFINE_ROUNDS,
                        patience=REFINE_PATIENCE):
    """Self-learning from the OT matching, each pair weighted by its own neighbourhood agreement;
    returns ``(M, t, s, agreement)`` of the best map seen (the start included)."""
    c, pi = ctx.pointwise(M, t)
    s = float(np.linalg.svd(M, compute_uv=False).mean())
    best = (M, t, s, float(c.mean()))
    bad = 0
    for _ in range(rounds):
        w = c + WEIGHT_FLOOR
        M, t, s = fit_map(ctx.A, ctx.B[pi], w / w.sum(), kind, allow_reflection, ridge)
        c, pi = ctx.pointwise(M, t)
        if c.mean() > best[3] + IMPROVE_TOL:
            best, bad = (M, t, s, float(c.mean())), 0
        else:
            if c.mean() >= best[3]:  # as good: the refit of the same matching is the better estimate
                best = (M, t, s, float(c.mean()))
            bad += 1
            if bad >= patience:
                break
    return best


@dataclass(frozen=True)
class Trust:
    """How far a map can be trusted. ``structure``: its neighbourhood agreement placed between a
    moment-only map (``null``, 0) and B against a disjoint half of itself (``ceiling``, 1);
    ``uniqueness``: how far it beats the best substantially different map found, in the same units
    (1 when no other map was found); ``score``: ``structure * min(1, uniqueness / UNIQUE_GAP)``, in
    [0, 1]. Two clouds with the same kind of structure but nothing in common (five blobs against
    five other blobs) can reach a high ``structure``, but then several different maps do about as
    well: a correspondence is trusted only when it is both consistent and unique. ``criterion``:
    what ``agreement``, ``null`` and ``ceiling`` measure: neighbourhood ``"agreement"``, or, for
    separated clusters (whose arrangement agreement cannot see), distance ``"consistency"``."""

    agreement: float
    null: float
    ceiling: float
    structure: float
    uniqueness: float
    score: float
    criterion: str = "agreement"


@dataclass(frozen=True)
class Calibration:
    """The agreement of refined moment-only maps (``null``) and of B against a disjoint half of
    itself (``ceiling``) on one context: the scale on which agreements are read."""

    null: float
    ceiling: float
    null_maps: tuple = field(default=(), repr=False, compare=False)  # the refined null maps, (M, t) each

    @property
    def span(self) -> float:
        return self.ceiling - self.null


def calibrate(ctx, kind="affine", allow_reflection=True, ridge=0.0, seed=0):
    """The null and the ceiling of ``ctx``. The null maps are refined like every candidate
    (``kind``, ``allow_reflection``, ``ridge``), so that what the refinement alone buys is not
    mistaken for shared structure. They are not bent (``_bend``): in a few dims a warp carries a
    moment-only map onto the true matching, and the null would no longer be one."""
    d_a, d_b = ctx.A.shape[1], ctx.B.shape[1]
    # ceiling: a disjoint half of B matched onto B's subsample by the identity (sampling alone)
    ceiling = AgreementContext(ctx.spare_b, ctx.B, ctx.k).agreement(np.eye(d_b), np.zeros(d_b))
    # null: A whitened, rotated at random, coloured with B's moments (the first two moments only),
    # then refined
    rng = np.random.default_rng(seed)
    Wa = sqrtm(np.cov(ctx.A.T).reshape(d_a, d_a), inverse=True)
    Cb = sqrtm(np.cov(ctx.B.T).reshape(d_b, d_b))
    nulls = []
    for _ in range(NULL_ROTATIONS):
        d = max(d_a, d_b)
        R = np.linalg.qr(rng.normal(size=(d, d)))[0][:d_a, :d_b]
        M = Wa @ R @ Cb
        nulls.append(refine_by_agreement(ctx, M, ctx.B.mean(0) - ctx.A.mean(0) @ M, kind, allow_reflection, ridge))
    return Calibration(null=float(np.mean([n[3] for n in nulls])), ceiling=float(ceiling),
                       null_maps=tuple((n[0], n[1]) for n in nulls))


def calibrate_consistency(ctx, calibration):
    """The same scale for the distance consistency (``AgreementContext.consistency``): the null
    maps of ``calibration`` (moment-only, refined) and B against a disjoint half of itself."""
    d_b = ctx.B.shape[1]
    ceiling = AgreementContext(ctx.spare_b, ctx.B, ctx.k).consistency(np.eye(d_b), np.zeros(d_b))
    null = np.mean([ctx.consistency(M, t) for M, t in calibration.null_maps])
    return Calibration(null=float(null), ceiling=float(ceiling))


def trust(calibration, agreement, rival=None, criterion="agreement"):
    """The trust of a map whose agreement is ``agreement`` on the calibrated scale; ``rival``: the
    agreement of the best substantially different map (None: none was found). ``criterion``: what
    the values are (neighbourhood ``"agreement"`` or distance ``"consistency"``), kept in the Trust."""
    null, ceiling, span = calibration.null, calibration.ceiling, calibration.span
    structure = float(np.clip((agreement - null) / span, 0.0, 1.0)) if span > 0 else 0.0
    uniqueness = 1.0 if rival is None else (float(max(agreement - rival, 0.0) / span) if span > 0 else 0.0)
    score = structure * min(1.0, uniqueness / UNIQUE_GAP)
    return Trust(agreement=float(agreement), null=null, ceiling=ceiling, structure=structure,
                 uniqueness=uniqueness, score=float(score), criterion=criterion)
