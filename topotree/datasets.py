"""Synthetic point clouds with known cluster trees and exact log-densities."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import logsumexp

from ._typing import ArrayLike, Seed
from ._validation import check_int, check_points, check_real, check_sample_size, check_seed

__all__ = ["GaussianMixture", "hierarchical_mixture", "warp_and_move"]


@dataclass(frozen=True)
class GaussianMixture:
    """A sample of a Gaussian mixture with its exact log-density.

    Attributes
    ----------
    X : (n, d) sample; labels : (n,) component of each point; groups : (n,) top-level group.
    weights : (c,), means : (c, d), covariances : (c, d, d); leaf_groups : (c,) group of each leaf.
    """

    X: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    leaf_groups: np.ndarray
    _chol: np.ndarray = field(repr=False)

    def log_density(self, Y: ArrayLike) -> np.ndarray:
        """Exact log-density of the mixture at the rows of ``Y`` (log-sum-exp, no underflow)."""
        Y = np.atleast_2d(np.asarray(Y, dtype=np.float64))
        d = Y.shape[1]
        out = np.empty((Y.shape[0], self.weights.shape[0]))
        for c, (w, mu, L) in enumerate(zip(self.weights, self.means, self._chol)):
            z = np.linalg.solve(L, (Y - mu).T)
            out[:, c] = (np.log(w) - 0.5 * np.einsum("ij,ij->j", z, z) - np.log(np.diag(L)).sum()
                         - 0.5 * d * np.log(2 * np.pi))
        return logsumexp(out, axis=1)

    def sample(self, n: int, seed: Seed = None) -> tuple[np.ndarray, np.ndarray]:
        """A fresh sample of ``n`` points from the same mixture: ``(X, labels)``, no shared rows.

        Examples
        --------
        >>> X, labels = hierarchical_mixture(500, dim=2, n_leaves=3, seed=0).sample(200, seed=1)
        >>> X.shape, labels.shape
        ((200, 2), (200,))
        """
        n = check_sample_size(n, self.means.shape[1], "n")
        rng = np.random.default_rng(check_seed(seed, allow_generator=True))
        labels = rng.choice(self.weights.shape[0], size=n, p=self.weights)
        return _draw(self.means, self._chol, labels, rng.normal(size=(n, self.means.shape[1]))), labels


def warp_and_move(X: ArrayLike, seed: Seed = None, warp: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random smooth warp, orthogonal map (det +1 or -1), scaling and translation of ``X``.

    ``Y = exp(u) * (X + warp * s * tanh(X W / s)) Q + t``, with s the cloud's RMS spread per axis,
    W a random matrix, Q random orthogonal (a reflection half of the time), u ~ U(-1, 1) and t of
    scale 10: the kind of change that relates two models' latent spaces.

    Examples
    --------
    >>> import numpy as np
    >>> Y = warp_and_move(np.eye(3), seed=0)
    >>> Y.shape
    (3, 3)
    """
    X = check_points(X, "X")
    warp = check_real(warp, "warp", low=0)
    rng = np.random.default_rng(check_seed(seed, allow_generator=True))
    X = np.asarray(X, dtype=np.float64)
    d = X.shape[1]
    scale = np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, axis=1)) / d)
    W = rng.normal(size=(d, d)) / np.sqrt(d)
    Y = X + warp * scale * np.tanh(X @ W / scale)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    if rng.uniform() < 0.5:
        Q[:, 0] *= -1
    return np.exp(rng.uniform(-1, 1)) * Y @ Q + rng.normal(scale=10, size=d)


def _draw(means, chol, labels, z):
    """means[labels] + chol[labels] @ z, one component at a time (no (n, d, d) temporary)."""
    X = np.empty_like(z)
    for c in range(means.shape[0]):
        idx = labels == c
        X[idx] = means[c] + z[idx] @ chol[c].T
    return X


def _spread(rng, m, dim, min_dist, radius):
    """m points in a ball of growing radius with pairwise distances >= min_dist."""
    pts = np.zeros((0, dim))
    while pts.shape[0] < m:
        for _ in range(200):
            p = rng.normal(size=dim)
            p *= radius * rng.uniform() ** (1 / dim) / np.linalg.norm(p)
            if pts.shape[0] == 0 or np.min(np.linalg.norm(pts - p, axis=1)) >= min_dist:
                pts = np.vstack([pts, p])
                break
        else:
            radius *= 1.1
    return pts - pts.mean(axis=0)


def hierarchical_mixture(n: int = 4000, dim: int = 2, n_leaves: int = 6, *, n_groups: int | None = None,
                         separation: float = 8.0, weights: Literal["uneven", "equal"] | ArrayLike = "uneven",
                         anisotropy: float = 2.0, seed: Seed = None) -> GaussianMixture:
    """A two-level hierarchical Gaussian mixture: groups of leaves, leaves well separated.

    Leaves in a group are at least ``separation`` (in units of the largest leaf standard deviation)
    apart; groups are about three times as far apart again, so the true cluster tree has the
    groups as the top splits and the leaves below them.

    Parameters
    ----------
    n : points; dim : dimension; n_leaves : mixture components.
    n_groups : top-level groups (default about sqrt(n_leaves)).
    separation : minimum distance between leaf means in one group, in leaf standard deviations.
    weights : "uneven" (random, each at least a third of uniform) or "equal".
    anisotropy : ratio of the largest to the smallest axis of each leaf's covariance.
    seed : int or numpy Generator.

    Examples
    --------
    >>> m = hierarchical_mixture(1000, dim=3, n_leaves=5, seed=0)
    >>> m.X.shape, len(set(m.labels.tolist()))
    ((1000, 3), 5)
    """
    dim = check_int(dim, "dim", low=1)
    n = check_sample_size(n, dim, "n")
    n_leaves = check_int(n_leaves, "n_leaves", low=1)
    if n_groups is not None:
        n_groups = check_int(n_groups, "n_groups", low=1)
    separation = check_real(separation, "separation", low=0, low_open=True)
    anisotropy = check_real(anisotropy, "anisotropy", low=1)
    rng = np.random.default_rng(check_seed(seed, allow_generator=True))
    if n_groups is None:
        n_groups = max(1, int(round(np.sqrt(n_leaves)))) if n_leaves > 3 else 1
    n_groups = min(n_groups, n_leaves)
    sizes = np.full(n_groups, n_leaves // n_groups)
    sizes[: n_leaves % n_groups] += 1
    sd = 1.0
    group_radius = []
    offsets = []
    for m in sizes:
        off = _spread(rng, m, dim, separation * sd, separation * sd * max(1.0, m ** (1 / dim)))
        offsets.append(off)
        group_radius.append(np.max(np.linalg.norm(off, axis=1)) if m > 1 else 0.0)
    gap = 2 * max(group_radius) + 3 * separation * sd
    centers = _spread(rng, n_groups, dim, gap, gap * max(1.0, n_groups ** (1 / dim)))
    means = np.vstack([centers[g] + offsets[g] for g in range(n_groups)])
    leaf_groups = np.repeat(np.arange(n_groups), sizes)
    if weights == "equal":
        w = np.full(n_leaves, 1.0 / n_leaves)
    elif weights == "uneven":
        w = 1.0 / (3 * n_leaves) + (2.0 / 3.0) * rng.dirichlet(np.full(n_leaves, 1.5))
        w /= w.sum()
    else:
        raise ValueError(f"weights must be 'uneven' or 'equal', got {weights!r}")
    covs = np.empty((n_leaves, dim, dim))
    for c in range(n_leaves):
        q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        axes = sd * np.exp(rng.uniform(-np.log(anisotropy), 0, size=dim))
        covs[c] = (q * axes**2) @ q.T
    chol = np.linalg.cholesky(covs)
    labels = rng.choice(n_leaves, size=n, p=w)
    X = _draw(means, chol, labels, rng.normal(size=(n, dim)))
    return GaussianMixture(X=X, labels=labels, groups=leaf_groups[labels], weights=w, means=means,
                           covariances=covs, leaf_groups=leaf_groups, _chol=chol)
