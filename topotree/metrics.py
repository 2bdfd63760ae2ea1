"""Scores of an alignment against ground truth (labels or true pairs), for benchmarks and tests.

References
----------
Liu, J., Huang, Y., Singh, R., Vert, J.-P. and Noble, W. S. (2019). Jointly embedding multiple
single-cell omics measurements (FOSCTTM). WABI. Kornblith, S., Norouzi, M., Lee, H. and Hinton, G.
(2019). Similarity of neural network representations revisited (CKA). ICML.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._typing import ArrayLike
from ._validation import check_int, check_points

__all__ = ["label_transfer_accuracy", "retrieval_at_k", "mrr", "foscttm", "relative_error", "cka"]


def _labels(y, n, name):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must be 1-D of length {n}, got shape {y.shape}")
    return y


def _pair(TA, B, same_dim=True, same_n=False):
    TA = check_points(TA, "TA")
    B = check_points(B, "B")
    if same_dim and TA.shape[1] != B.shape[1]:
        raise ValueError(f"TA and B must have the same number of columns, got {TA.shape[1]} and {B.shape[1]}")
    if same_n and TA.shape[0] != B.shape[0]:
        raise ValueError(f"TA and B must have the same number of rows (row i of TA pairs with row i of B), "
                         f"got {TA.shape[0]} and {B.shape[0]}")
    return TA, B


def label_transfer_accuracy(TA: ArrayLike, labels_a: ArrayLike, B: ArrayLike, labels_b: ArrayLike) -> float:
    """Fraction of mapped A points whose nearest B point carries the same label (1-NN transfer).

    Examples
    --------
    >>> import numpy as np
    >>> B = np.array([[0.0], [10.0]]); TA = np.array([[1.0], [9.0], [2.0]])
    >>> label_transfer_accuracy(TA, [0, 1, 1], B, [0, 1])
    0.6666666666666666
    """
    TA, B = _pair(TA, B)
    la = _labels(labels_a, TA.shape[0], "labels_a")
    lb = _labels(labels_b, B.shape[0], "labels_b")
    _, j = cKDTree(B).query(TA)
    return float(np.mean(lb[j] == la))


def _ranks(TA, B):
    """Rank (0 = nearest) of each row's true counterpart B[i] among all B points, for T(a_i)."""
    TA, B = _pair(TA, B, same_n=True)
    d_true = np.sum((TA - B) ** 2, axis=1)
    ranks = np.empty(TA.shape[0], dtype=np.int64)
    sqB = np.sum(B**2, axis=1)
    for s in range(0, TA.shape[0], 2048):
        blk = TA[s:s + 2048]
        D = np.sum(blk**2, axis=1)[:, None] - 2 * blk @ B.T + sqB[None]
        ranks[s:s + 2048] = np.sum(D < (d_true[s:s + 2048, None] - 1e-12 * (1 + np.abs(d_true[s:s + 2048, None]))), axis=1)
    return ranks


def retrieval_at_k(TA: ArrayLike, B: ArrayLike, k: int = 1) -> float:
    """Fraction of rows i whose counterpart B[i] is among the k nearest B points of TA[i]."""
    k = check_int(k, "k", low=1)
    return float(np.mean(_ranks(TA, B) < k))


def mrr(TA: ArrayLike, B: ArrayLike) -> float:
    """Mean reciprocal rank of each counterpart B[i] among the neighbours of TA[i] (1 is perfect)."""
    return float(np.mean(1.0 / (1.0 + _ranks(TA, B))))


def foscttm(TA: ArrayLike, B: ArrayLike) -> float:
    """Fraction Of Samples Closer Than the True Match, averaged both ways (0 is perfect, 0.5 chance)."""
    TA, B = _pair(TA, B, same_n=True)
    n = TA.shape[0]
    if n < 2:
        raise ValueError("foscttm needs at least 2 pairs")
    return float((np.mean(_ranks(TA, B)) + np.mean(_ranks(B, TA))) / (2 * (n - 1)))


def relative_error(TA: ArrayLike, B: ArrayLike) -> float:
    """||T(A) - B||_F / ||B - mean(B)||_F for paired rows (0 is perfect)."""
    TA, B = _pair(TA, B, same_n=True)
    den = np.linalg.norm(B - B.mean(0))
    return float(np.linalg.norm(TA - B) / (den if den > 0 else 1.0))


def cka(X: ArrayLike, Y: ArrayLike) -> float:
    """Linear centred kernel alignment of paired representations (dimensions may differ), in [0, 1]."""
    X, Y = _pair(X, Y, same_dim=False, same_n=True)
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    num = np.linalg.norm(X.T @ Y) ** 2
    den = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    return float(num / den) if den > 0 else 0.0
