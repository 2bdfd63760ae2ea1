"""Type aliases of the public API (the hints that ``py.typed`` ships; PEP 484/561).

Inputs are array-likes (anything :func:`numpy.asarray` takes: lists, numpy arrays, pandas frames,
torch tensors on the CPU); outputs are numpy arrays.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: a file path (``str`` or :class:`os.PathLike`)
PathLike = Union[str, os.PathLike]
#: a random seed: ``None`` or an integer (numpy integers too)
Seed = Union[int, np.integer, None]
#: a log-density: values at the points, a callable mapping an (m, d) array to (m,) values, or None
LogDensity = Union[ArrayLike, Callable[[NDArray[np.float64]], ArrayLike], None]
#: the map families of :func:`topotree.align` and :func:`topotree.procrustes`
Transform = Literal["orthogonal", "similarity", "affine"]
#: point pairs: an (m, 2) integer array of (index in A, index in B)
Pairs = ArrayLike

__all__ = ["ArrayLike", "NDArray", "PathLike", "Seed", "LogDensity", "Transform", "Pairs"]
