import numpy as np
import pytest

from topotree import metrics


def test_perfect_and_shuffled():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(200, 3))
    assert metrics.retrieval_at_k(B, B, 1) == 1.0
    assert metrics.mrr(B, B) == 1.0
    assert metrics.foscttm(B, B) == 0.0
    assert metrics.relative_error(B, B) == 0.0
    assert abs(metrics.cka(B, B) - 1.0) < 1e-12
    P = B[rng.permutation(200)]
    assert 0.3 < metrics.foscttm(P, B) < 0.7
    assert metrics.retrieval_at_k(P, B, 1) < 0.05


def test_against_bruteforce():
    rng = np.random.default_rng(1)
    TA = rng.normal(size=(60, 2))
    B = TA + 0.3 * rng.normal(size=(60, 2))
    D = np.linalg.norm(TA[:, None] - B[None], axis=2)
    ranks = np.array([np.sum(D[i] < D[i, i]) for i in range(60)])
    assert metrics.mrr(TA, B) == pytest.approx(np.mean(1 / (1 + ranks)))
    assert metrics.retrieval_at_k(TA, B, 5) == pytest.approx(np.mean(ranks < 5))
    la = rng.integers(0, 3, 60)
    lb = rng.integers(0, 3, 60)
    assert metrics.label_transfer_accuracy(TA, la, B, lb) == pytest.approx(np.mean(lb[D.argmin(1)] == la))


def test_cka_invariances():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 4))
    Q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    assert metrics.cka(X, 3 * X @ Q + 1) == pytest.approx(1.0)
    assert metrics.cka(X, rng.normal(size=(100, 6))) < 0.3


def test_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        metrics.relative_error(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="labels_a"):
        metrics.label_transfer_accuracy(np.zeros((3, 2)), [0, 1], np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="TA contains NaN"):
        metrics.mrr(np.array([[np.nan, 0.0]]), np.zeros((1, 2)))
