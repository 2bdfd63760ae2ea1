"""Confidence of a matching: the cost of exchanging partners (swap margins), per-pair confidence
and the groups exchangeable below the tolerance."""
from __future__ import annotations

import numpy as np

__all__ = ["swap_margins", "confidence"]


def swap_margins(C, del_a, del_b, ra, cb):
    """(P, P) cost increases of exchanging partners of pairs p and q, and (P,) best alternatives."""
    P = ra.shape[0]
    own = C[ra, cb]
    swap = C[ra[:, None], cb[None, :]] + C[ra[None, :], cb[:, None]] - own[:, None] - own[None, :]
    np.fill_diagonal(swap, np.inf)
    alt = np.full(P, np.inf)
    free_b = np.setdiff1d(np.arange(C.shape[1]), cb)
    free_a = np.setdiff1d(np.arange(C.shape[0]), ra)
    if free_b.size:  # give a's partner up for an unmatched leaf of B
        alt = np.minimum(alt, (C[ra[:, None], free_b[None, :]] + del_b[cb][:, None]
                               - own[:, None] - del_b[free_b][None, :]).min(axis=1))
    if free_a.size:
        alt = np.minimum(alt, (C[free_a[None, :], cb[:, None]] + del_a[ra][:, None]
                               - own[:, None] - del_a[free_a][None, :]).min(axis=1))
    # dropping the pair altogether
    alt = np.minimum(alt, del_a[ra] + del_b[cb] - own)
    return np.maximum(swap, 0.0), np.maximum(alt, 0.0)


def confidence(C, da, db, ra, cb, tol):
    """Per leaf pair confidence 1 - exp(-margin / tol) and the groups exchangeable below tol."""
    P = ra.shape[0]
    if P == 0:
        return np.zeros(0), []
    swap, alt = swap_margins(C, da, db, ra, cb)
    margin = np.minimum(swap.min(axis=1) if P > 1 else np.inf, alt)
    conf = 1.0 - np.exp(-margin / tol)
    # groups: connected components of the "cheap exchange" graph
    adj = swap < tol
    label = -np.ones(P, dtype=np.int64)
    groups = []
    for p in range(P):
        if label[p] >= 0:
            continue
        stack, comp = [p], []
        label[p] = p
        while stack:
            x = stack.pop()
            comp.append(x)
            for y in np.flatnonzero(adj[x]):
                if label[y] < 0:
                    label[y] = p
                    stack.append(int(y))
        if len(comp) > 1:
            groups.append(tuple(sorted(comp)))
    return conf, groups
