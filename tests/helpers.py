"""Helper functions shared by the tests (fixtures live in conftest.py)."""
import numpy as np


def rot(d, seed):
    """A random orthogonal (d, d) matrix."""
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))[0]


def whiten(Z):
    """Centre and whiten the rows of Z (identity covariance)."""
    Z = Z - Z.mean(0)
    e, V = np.linalg.eigh(np.cov(Z.T))
    return Z @ V / np.sqrt(e)
