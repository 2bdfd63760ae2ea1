"""Assignment problems shared by the matching and the alignment layers: the minimum-cost partial
assignment with deletions (Hungarian on a padded matrix) and one FAQ quadratic assignment."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["BIG", "partial_assignment", "faq_map"]

BIG = 1e6  # cost of a forbidden cell in the padded assignment matrix


def partial_assignment(C, del_a, del_b):
    """Min-cost partial assignment: rows and columns may be deleted at del_a / del_b."""
    La, Lb = C.shape
    big = np.full((La + Lb, La + Lb), BIG)
    big[:La, :Lb] = C
    big[np.arange(La), Lb + np.arange(La)] = del_a
    big[La + np.arange(Lb), np.arange(Lb)] = del_b
    big[La:, Lb:] = 0.0
    r, c = linear_sum_assignment(big)
    keep = (r < La) & (c < Lb)
    return r[keep], c[keep], float(big[r, c].sum())


def faq_map(Sa, Sb, opts, ka, kb):
    """One FAQ quadratic assignment of the (padded) matrices: A's leaves onto B's (-1 for a
    padding partner) and the objective, or None if scipy fails."""
    from scipy.optimize import quadratic_assignment

    try:
        res = quadratic_assignment(Sa, Sb, method="faq", options=opts)
    except Exception:  # pragma: no cover - scipy versions
        return None
    q = np.asarray(res.col_ind)[:ka].copy()
    q[q >= kb] = -1
    return q, float(res.fun)
