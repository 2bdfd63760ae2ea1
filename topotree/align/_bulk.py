"""The bulk of a cloud: its points within Tukey's fence of the distances to the cloud's
coordinatewise median. ``align`` seeks a map it could not trust again on the two bulks (see
``_search.search``): a few far points (the codes of rare inputs) can decide the optimal-transport
matchings, the clusterings and the least-squares fits of the whole search."""
from __future__ import annotations

import numpy as np

from ._params import BULK_FENCE, FAR_OUT_FENCE, HEAVY_TAIL_SHARE

__all__ = ["bulk_rows", "heavy_tailed"]


def bulk_rows(X, fence=BULK_FENCE):
    """Sorted rows of ``X`` whose distance to the coordinatewise median is at most the upper
    quartile of those distances plus ``fence`` times their interquartile range.

    References
    ----------
    Tukey, J. W. (1977). Exploratory Data Analysis. Addison-Wesley (the fences: 1.5 IQR beyond the
    quartiles for outliers, 3 IQR for far-out points).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.random.default_rng(0).normal(size=(200, 2)), [[40.0, 0.0]]]
    >>> rows = bulk_rows(X)  # the far point, and the normal cloud's 4 farthest, lie beyond the fence
    >>> rows.size, 200 in rows
    (196, False)
    >>> bulk_rows(X, fence=3.0).size  # only the far point lies beyond the far-out fence
    200
    """
    r = _distances(X)
    q1, q3 = np.quantile(r, (0.25, 0.75))
    return np.flatnonzero(r <= q3 + fence * (q3 - q1))


def heavy_tailed(X, share=HEAVY_TAIL_SHARE):
    """Whether at least ``share`` of the rows of ``X`` lie beyond the far-out fence (FAR_OUT_FENCE
    interquartile ranges above the upper quartile of the distances to the coordinatewise median).
    A Gaussian cloud has about 0.01% of its points there in any dimension (a Gaussian mixture of
    comparable spreads as few); the codes of MLP autoencoders of MNIST digits standardised pixel by
    pixel had 0.6-3.5%, of the same digits scaled to [0, 1] at most 0.2% (see BULK_FENCE).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> heavy_tailed(rng.normal(size=(2000, 8))), heavy_tailed(rng.standard_cauchy(size=(2000, 8)))
    (False, True)
    """
    return bool(X.shape[0] - bulk_rows(X, FAR_OUT_FENCE).size >= share * X.shape[0])


def _distances(X):
    return np.linalg.norm(X - np.median(X, axis=0), axis=1)
