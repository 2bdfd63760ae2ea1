"""The correspondence-free score that ranks candidate maps (lower is better): Chamfer (or, in many
dims, energy) distance between T(A) and B, leaf inconsistency, and in many dims the likelihood of
each matched A leaf's mapped points under its partner B leaf's Gaussian."""
from __future__ import annotations

import numpy as np

from .._nearest import mean_dist, nearest
from ._params import (
    ENERGY_POINTS,
    LEAF_GAUSSIAN_POINTS,
    LEAF_SHRINK,
    MANY_DIMS,
    SHAPE_CAP,
    SHAPE_WEIGHT,
    TWIN_MIN_FACTOR,
)

__all__ = ["SelectionScore", "leaf_gaussians", "leaf_covariances"]


class SelectionScore:
    """Correspondence-free selector for candidate maps (lower is better): the Chamfer score plus
    the leaf inconsistency, the fraction of mapped A points whose nearest B point lies in another
    leaf than the one the leaf map sends theirs to. In many dimensions nearest-neighbour distances
    are dominated by within-cluster noise and the Chamfer score barely moves; the consistency
    term still sees a cluster landing on the wrong cluster."""

    def __init__(self, A, B, lab_a, lab_b, n_points, seed, twin_b=None):
        self.twin_b = twin_b
        rng = np.random.default_rng(seed)
        self.ia = rng.choice(A.shape[0], min(n_points, A.shape[0]), replace=False)
        ib = rng.choice(B.shape[0], min(n_points, B.shape[0]), replace=False)
        self.A, self.B = A[self.ia], B[ib]
        self.la, self.lb = lab_a[self.ia], lab_b[ib]
        self.spread = np.sqrt(np.mean(np.sum((self.B - self.B.mean(0)) ** 2, axis=1))) or 1.0
        self.e_bb = mean_dist(self.B[:ENERGY_POINTS], self.B[:ENERGY_POINTS]) or 1.0
        self.cov_a, self.mass_a = leaf_covariances(A, lab_a)
        self.cov_b, _ = leaf_covariances(B, lab_b)
        # with twins (the final comparison) a leaf needs 3 points per dimension for its Gaussian:
        # the likelihood under a covariance from fewer points (a sliver of a split cluster) misleads
        self.gauss_b = (leaf_gaussians(B, lab_b, self.cov_b, min_factor=1 if twin_b is None else TWIN_MIN_FACTOR)
                        if A.shape[1] > MANY_DIMS else None)
        self.leaf_pts_a = [A[np.flatnonzero(lab_a == i)[:LEAF_GAUSSIAN_POINTS]] for i in range(self.cov_a.shape[0])]

    def _parts(self, M, t, leaf_map):
        leaf_map = np.asarray(leaf_map)
        TA = self.A @ M + t
        da, ja = nearest(TA, self.B)
        db, _ = nearest(self.B, TA)
        chamfer = 0.5 * (da.mean() + db.mean()) / self.spread
        # leaves left unmatched on either side (spurious splits) neither help nor hurt
        img = np.zeros(int(self.lb.max()) + 1 if self.lb.size else 1, dtype=bool)
        img[leaf_map[leaf_map >= 0]] = True
        target = leaf_map[self.la]
        ok = (self.lb[ja] == target) | ~img[self.lb[ja]]
        if self.twin_b is not None:
            ok |= (self.twin_b[self.lb[ja]] == target) & (target >= 0)
        valid = target >= 0
        cons = float(np.mean(ok[valid])) if valid.any() else 0.0
        if self.A.shape[1] <= MANY_DIMS:
            return chamfer, cons, 0.0
        # many dims: the Chamfer distance rewards shrinking T(A) towards B's centre (every point
        # then sits equally far from all of B's noisy clusters); the energy distance does not
        m = min(TA.shape[0], ENERGY_POINTS)
        e_ab = mean_dist(TA[:m], self.B[:m])
        e_aa = mean_dist(TA[:m], TA[:m])
        chamfer = (2.0 * e_ab - e_aa - self.e_bb) / self.e_bb
        # shape: each matched leaf's covariance carried by the map against its partner's
        # shape: mean negative log-likelihood of each matched A leaf's mapped points under a
        # Gaussian fitted to its partner B leaf, over B's own (per dimension); a wrong leaf map
        # misplaces or mis-shapes whole clusters, which this sees even where distances do not
        shape, wsum = 0.0, 0.0
        for i in np.flatnonzero(leaf_map >= 0):
            g = self.gauss_b[leaf_map[i]] if leaf_map[i] < len(self.gauss_b) else None
            P = self.leaf_pts_a[i] if i < len(self.leaf_pts_a) else None
            if g is None or P is None or P.shape[0] == 0:
                continue
            mu, L, base = g
            Z = np.linalg.solve(L, (P @ M + t - mu).T)
            nll = 0.5 * float(np.mean(np.sum(Z**2, axis=0)))
            shape += self.mass_a[i] * min(nll - base, SHAPE_CAP * M.shape[1]) / M.shape[1]
            wsum += self.mass_a[i]
        return chamfer, cons, shape / wsum if wsum > 0 else 0.0

    def consistency(self, M, t, leaf_map):
        return self._parts(M, t, leaf_map)[1]

    def __call__(self, M, t, leaf_map):
        chamfer, cons, shape = self._parts(M, t, leaf_map)
        return float(chamfer + (1.0 - cons) + SHAPE_WEIGHT * shape)


def leaf_gaussians(X, labels, covs, shrink=LEAF_SHRINK, min_factor=1):
    """Per leaf: (mean, Cholesky factor of the shrunk covariance, the leaf's own mean squared
    Mahalanobis half-distance) or None for leaves with too few points."""
    out = []
    d = X.shape[1]
    for i in range(covs.shape[0]):
        Z = X[labels == i]
        if Z.shape[0] <= min_factor * d:
            out.append(None)
            continue
        C = covs[i]
        C = (1.0 - shrink) * C + shrink * (np.trace(C) / d) * np.eye(d)
        try:
            L = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            out.append(None)
            continue
        mu = Z.mean(0)
        W = np.linalg.solve(L, (Z[:LEAF_GAUSSIAN_POINTS] - mu).T)
        out.append((mu, L, 0.5 * float(np.mean(np.sum(W**2, axis=0)))))
    return out


def leaf_covariances(X, labels):
    k = int(labels.max()) + 1 if labels.size else 0
    d = X.shape[1]
    covs = np.zeros((k, d, d))
    mass = np.bincount(labels, minlength=k) / max(labels.size, 1)
    for i in range(k):
        Z = X[labels == i]
        if Z.shape[0] > 1:
            Z = Z - Z.mean(0)
            covs[i] = Z.T @ Z / (Z.shape[0] - 1)
    return covs, mass
