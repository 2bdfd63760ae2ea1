"""Reading tree files written by :meth:`ClusterTree.save`: ``load_tree``, which never runs code,
checks every declared size before allocating and validates the tree's invariants."""
from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from .._typing import PathLike
from ._cluster_tree import _ARRAYS, ClusterTree, Simplification

__all__ = ["load_tree"]


def load_tree(path: PathLike) -> ClusterTree:
    """Read a tree written by :meth:`ClusterTree.save`.

    Never runs code (JSON, or npz without pickle). Every array's declared size is checked against
    the file before anything is allocated, and the tree is validated (shapes, dtypes, index ranges,
    parents forming a tree, masses in [0, 1] and monotone, member ranges nested): a damaged or
    crafted file raises one ``ValueError`` naming the file and what is wrong.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such tree file: {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a tree file")
    if path.suffix not in (".json", ".npz"):
        raise ValueError(f"path must end in .json or .npz, got {str(path)!r}")
    try:
        meta, arrays = (_read_json if path.suffix == ".json" else _read_npz)(path)
        return _checked_tree(meta, arrays)
    except _Invalid as exc:
        raise ValueError(f"{str(path)!r} is not a valid topotree tree file: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        # anything the parsers raise on a damaged file (json, zipfile, zlib, numpy's header reader:
        # ValueError, KeyError, EOFError, BadZipFile, NotImplementedError for a flipped compression
        # method, RecursionError, OverflowError, ...): one ValueError naming the file
        msg = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise ValueError(f"{str(path)!r} is not a valid topotree tree file: {type(exc).__name__}: {msg}") from None


class _Invalid(Exception):
    """A tree file that parsed but breaks the format or the tree's invariants."""


_FLOAT_ARRAYS = ("log_density", "start", "end", "mass", "diagram", "essential")
_ZIP_MAX_RATIO = 1100  # deflate cannot expand more than ~1032:1: a larger claim is a crafted header


def _read_json(path):
    raw = path.read_bytes()
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("format") != "topotree.ClusterTree":
        raise _Invalid("not a topotree ClusterTree document")
    specs = doc.get("arrays")
    if not isinstance(specs, dict):
        raise _Invalid("'arrays' is missing or not an object")
    arrays = {}
    for name in _ARRAYS:
        spec = specs.get(name)
        if not isinstance(spec, dict) or not {"dtype", "shape", "data"} <= set(spec):
            raise _Invalid(f"array {name!r} is missing or lacks dtype/shape/data")
        shape, data, dtype = spec["shape"], spec["data"], spec["dtype"]
        if not isinstance(shape, list) or not all(type(v) is int and v >= 0 for v in shape) or len(shape) > 2:
            raise _Invalid(f"array {name!r} has an invalid shape {str(shape)[:60]}")
        size = math.prod(shape)
        if not isinstance(data, list) or len(data) != size:
            raise _Invalid(f"array {name!r}: shape {shape} does not match its {len(data) if isinstance(data, list) else 'non-list'} values")
        want = "float" if name in _FLOAT_ARRAYS else "int"
        if dtype not in ("float64", "float32") if want == "float" else dtype not in ("int64", "int32"):
            raise _Invalid(f"array {name!r} has dtype {str(dtype)[:40]!r}; expected {want}")
        ok = (all(type(v) in (int, float) for v in data) if want == "float" else all(type(v) is int for v in data))
        if not ok:
            raise _Invalid(f"array {name!r} holds values that are not {'numbers' if want == 'float' else 'integers'}")
        if want == "int" and data and (max(data) > 2**62 or min(data) < -2**62):
            raise _Invalid(f"array {name!r} holds integers out of range")
        arrays[name] = np.array(data, dtype=np.float64 if want == "float" else np.int64).reshape(shape)
    return doc, arrays


def _npy_header(fh):
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh, max_header_size=10_000)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh, max_header_size=10_000)
    raise _Invalid(f"unsupported .npy version {version}")


def _read_npz(path):
    with zipfile.ZipFile(path) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        names = ("__meta__",) + _ARRAYS
        for name in names:
            info = infos.get(name + ".npy")
            if info is None:
                raise _Invalid(f"array {name!r} is missing")
            if info.file_size > _ZIP_MAX_RATIO * max(info.compress_size, 1) + 65536:
                raise _Invalid(f"array {name!r} claims an impossible uncompressed size")
            with zf.open(info) as fh:  # sizes from the header, before numpy allocates anything
                shape, _, dtype = _npy_header(fh)
                header_len = fh.tell()
            if dtype.hasobject or dtype.kind not in ("U" if name == "__meta__" else "biuf"):
                raise _Invalid(f"array {name!r} has dtype {dtype}")
            if len(shape) > 2 or math.prod(shape) * dtype.itemsize != info.file_size - header_len:
                raise _Invalid(f"array {name!r}: shape {shape} does not match the stored data")
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            arrays = {name: z[name] for name in _ARRAYS}
    if not isinstance(meta, dict) or meta.get("format") != "topotree.ClusterTree":
        raise _Invalid("not a topotree ClusterTree file")
    for name in _ARRAYS:
        a = arrays[name]
        want = "f" if name in _FLOAT_ARRAYS else "iu"
        if a.dtype.kind not in want:
            raise _Invalid(f"array {name!r} has dtype {a.dtype}; expected {'float' if want == 'f' else 'int'}")
        if a.dtype.kind == "u" and a.size and a.max() > 2**62:
            raise _Invalid(f"array {name!r} holds integers out of range")
        arrays[name] = a.astype(np.float64 if want == "f" else np.int64)
    return meta, arrays


def _checked_tree(meta, a) -> ClusterTree:
    """Check the invariants every ClusterTree method relies on; build the tree."""
    if meta.get("version") != 1:
        raise _Invalid(f"unsupported version {str(meta.get('version'))[:20]!r}")
    vr, k, density, simp = (meta.get(key) for key in ("virtual_root", "k", "density", "simplification"))
    if not isinstance(vr, bool):
        raise _Invalid("'virtual_root' must be true or false")
    if type(k) is not int or k < 0:
        raise _Invalid("'k' must be a non-negative integer")
    if density not in ("knn", "given"):
        raise _Invalid("'density' must be 'knn' or 'given'")
    if simp is not None:
        if not isinstance(simp, dict) or set(simp) != {"min_persistence", "min_mass", "rule"} \
                or not isinstance(simp["rule"], str) \
                or not all(type(simp[x]) in (int, float) and math.isfinite(simp[x]) and simp[x] >= 0
                           for x in ("min_persistence", "min_mass")):
            raise _Invalid("'simplification' must hold finite min_persistence, min_mass >= 0 and a rule")
        simp = Simplification(float(simp["min_persistence"]), float(simp["min_mass"]), simp["rule"])

    def shape(name, *dims):
        if a[name].shape != dims:
            raise _Invalid(f"array {name!r} has shape {a[name].shape}, expected {dims}")

    def within(name, low, high):
        v = a[name]
        if v.size and (v.min() < low or v.max() >= high):
            raise _Invalid(f"array {name!r} has values outside [{low}, {high})")

    f = a["log_density"]
    if f.ndim != 1 or f.shape[0] < 1:
        raise _Invalid(f"'log_density' must be a non-empty vector, got shape {f.shape}")
    n, m = f.shape[0], a["parent"].shape[0] if a["parent"].ndim == 1 else 0
    if m < 1:
        raise _Invalid(f"'parent' must be a non-empty vector, got shape {a['parent'].shape}")
    if not np.isfinite(f).all():
        raise _Invalid("'log_density' contains NaN or inf")
    for name in ("order", "member_order", "owner", "basin"):
        shape(name, n)
    shape("neighbors", n, k)
    if a["bridges"].ndim != 2 or a["bridges"].shape[1] != 2:
        raise _Invalid(f"array 'bridges' has shape {a['bridges'].shape}, expected (b, 2)")
    for name in ("start", "end", "mass", "peak", "split", "member_lo", "member_hi"):
        shape(name, m)
    if a["diagram"].ndim != 2 or a["diagram"].shape[1] != 2:
        raise _Invalid(f"array 'diagram' has shape {a['diagram'].shape}, expected (p, 2)")
    if a["essential"].ndim != 1:
        raise _Invalid(f"array 'essential' has shape {a['essential'].shape}, expected (c,)")
    for name in ("start", "end", "diagram", "essential"):
        if np.isnan(a[name]).any():
            raise _Invalid(f"array {name!r} contains NaN")
    for name in ("order", "member_order"):
        if not np.array_equal(np.sort(a[name]), np.arange(n)):
            raise _Invalid(f"array {name!r} is not a permutation of the {n} points")
    for name in ("neighbors", "bridges", "peak"):
        within(name, 0, n)
    within("split", -1, n)
    within("owner", 0, m)
    within("basin", 0, m)
    parent = a["parent"]
    if parent[0] != -1 or not (parent[1:] >= 0).all() or not (parent[1:] < np.arange(1, m)).all():
        raise _Invalid("'parent' does not describe a tree in preorder (root 0, each parent before its child)")
    mass = a["mass"]
    if not (np.isfinite(mass).all() and (mass >= 0).all() and (mass <= 1).all()):
        raise _Invalid("'mass' must lie in [0, 1]")
    if not (mass[1:] <= mass[parent[1:]]).all():
        raise _Invalid("'mass' is not monotone (a node heavier than its parent)")
    lo, hi = a["member_lo"], a["member_hi"]
    if not ((0 <= lo).all() and (lo <= hi).all() and (hi <= n).all()):
        raise _Invalid("member ranges 'member_lo'/'member_hi' are outside [0, n] or reversed")
    if not ((lo[1:] >= lo[parent[1:]]).all() and (hi[1:] <= hi[parent[1:]]).all()):
        raise _Invalid("member ranges are not nested within their parents'")
    if not np.allclose((hi - lo) / n, mass, rtol=0, atol=0.5 / n):
        raise _Invalid("'mass' does not match the member ranges")
    return ClusterTree(virtual_root=vr, k=k, density=density, simplification=simp, **a)
