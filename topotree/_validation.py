"""Argument checks run once, at the public boundary (in the spirit of scikit-learn's ``check_array``)."""
from __future__ import annotations

import math
import numbers
import os
import sys

import numpy as np


def check_points(X, name="X", min_points=1):
    """Return ``X`` as a C-contiguous float64 array of shape (n, d), or raise a clear error."""
    if X is None:
        raise TypeError(f"{name} must be an array of shape (n_points, n_dims), got None")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "c":
            raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_points, n_dims), got {arr.ndim}-D array of shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no points")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has zero dimensions (shape {arr.shape})")
    if arr.shape[0] < min_points:
        raise ValueError(f"{name} has {arr.shape[0]} points; at least {min_points} are needed")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return arr


def check_vector(v, n, name):
    """Return ``v`` as a finite float64 vector of length ``n``."""
    try:
        arr = np.asarray(v)
    except Exception as exc:
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        kind = "complex" if arr.dtype.kind == "c" else "non-numeric"
        raise TypeError(f"{name} must be real numbers, got {kind} dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of length {n}, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has length {arr.shape[0]} but there are {n} points")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} contains NaN or inf (first at index {i})")
    return arr


def check_int(value, name, low=None, high=None):
    """Return ``value`` as a Python int within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_fraction(value, name, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


# Squared distances are exact up to rounding (and scale exactly with the points under a power of
# two) while every coordinate difference squared, and their sums, are normal float64 numbers. Points
# whose spread lies in [2**-SCALE_EXP, 2**SCALE_EXP] (and coordinates below 2**SCALE_EXP / sqrt(d))
# are used as given; others are multiplied by a power of two, which is exact, first.
SCALE_EXP = 300


def scale_exponent(X, name="X"):
    """The power of two E such that the distances are computed on ``X * 2**-E`` (0 when X is in the
    safe range, so ordinary input is used exactly as given).

    ``X`` must already be a finite float64 (n, d) array. The safe range: the largest coordinate
    spread (max - min of a column) is 0 or at least ``2**-SCALE_EXP``, and every coordinate times
    sqrt(d) is at most ``2**SCALE_EXP``; then no squared distance, or sum of them, overflows, and
    none of the coordinate differences that matter at the data's scale underflows. Outside it, E
    brings the spread to [0.5, 1). Raises ValueError when no power of two helps (coordinates more
    than ``2**(2 * SCALE_EXP)`` times larger than the spread).
    """
    n, d = X.shape
    big = float(np.abs(X).max())
    half = 0.5 * X  # exact for normal numbers; no overflow in max - min
    half_spread = float((half.max(axis=0) - half.min(axis=0)).max())  # the spread is twice this
    return exponent_from_extent(big, half_spread, d, name)


def exponent_from_extent(big, half_spread, d, name="X"):
    """:func:`scale_exponent` from the largest absolute coordinate ``big`` and the largest half
    spread of a column (``max(0.5 X) - min(0.5 X)``), so that blockwise reductions can give them."""
    big, half_spread = float(big), float(half_spread)
    spread = 2.0 * half_spread  # for the message only (inf when the spread exceeds float64)
    root_d = math.sqrt(d)
    lim = 2.0 ** SCALE_EXP
    if big * root_d <= lim and (half_spread == 0.0 or half_spread >= 0.5 / lim):
        return 0
    # spread = m * 2**e with 0.5 <= m < 1 (from the half spread, which never overflows)
    e = math.frexp(half_spread)[1] + 1 if half_spread > 0 else math.frexp(big)[1]
    if math.log2(big) - e + math.log2(root_d) > SCALE_EXP:
        raise ValueError(
            f"{name} spans too many orders of magnitude: coordinates up to {big:.3g} but a spread of only "
            f"{spread:.3g}, so squared distances cannot be represented in float64; centre {name} "
            f"(subtract a typical point) first")
    return e


MAX_SEED = 2**63 - 1
SKLEARN_MAX_SEED = 2**32 - 1  # scikit-learn's random_state takes no larger seed


def sklearn_seed(seed):
    """A seed derived by an offset (``seed + j``, each run its own) brought back into
    scikit-learn's range [0, SKLEARN_MAX_SEED], wrapping around: a user's seed near the top of
    the range must not fail in the second run."""
    return int(seed) % (SKLEARN_MAX_SEED + 1)


def check_seed(seed, name="seed", allow_none=True, allow_generator=False, high=MAX_SEED):
    """A seed: None (if allowed), an int in [0, high] (numpy ints too), or a numpy Generator."""
    if seed is None and allow_none:
        return None
    if allow_generator and isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, {_power(high)}]"
                        f"{' or a numpy Generator' if allow_generator else ''}, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= high:
        raise ValueError(f"{name} must be in [0, {_power(high)}], got {seed}")
    return seed


def _power(high):
    """``2**e - 1`` written as such when it is one, else the number."""
    e = (high + 1).bit_length() - 1
    return f"2**{e} - 1" if high + 1 == 1 << e else str(high)


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    """A finite real number (Python or numpy scalar) within the bounds, as a Python float."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not math.isfinite(value) or not lo_ok or not hi_ok:
        lo_s = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi_s = "" if high is None else f"{'<' if high_open else '<='} {high}"
        rng = " and ".join(x for x in (lo_s, hi_s) if x)
        raise ValueError(f"{name} must be finite{' and ' + rng if rng else ''}, got {value}")
    return value


MAX_SAMPLE_VALUES = 2**30  # numbers per sample (8 GiB of float64): a larger request is a mistake


def check_sample_size(m, dim, name="n"):
    m = check_int(m, name, low=1)
    if m * max(int(dim), 1) > MAX_SAMPLE_VALUES:
        raise ValueError(f"{name}={m} points of {dim} dims would need {m * dim * 8 / 2**30:.3g} GiB; "
                         f"at most {MAX_SAMPLE_VALUES} values per call (draw in batches)")
    return m


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def as_numpy(values):
    """An array from what a user callable returned: numpy, lists, or a tensor of any framework
    (detached and moved to the CPU first when it has ``detach``/``cpu``, as torch tensors do;
    topotree never imports torch)."""
    if hasattr(values, "detach") and callable(values.detach):
        values = values.detach()
        if hasattr(values, "cpu") and callable(values.cpu):
            values = values.cpu()
        if hasattr(values, "numpy") and callable(values.numpy):
            values = values.numpy()
    try:
        return np.asarray(values)
    except Exception as exc:
        raise TypeError(f"could not read the values as a numeric array: {exc}") from None


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that points at the first caller outside topotree
    (the user's line), however deep inside the package the warning is raised."""
    frame = sys._getframe(1)  # the function that calls warnings.warn
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level
