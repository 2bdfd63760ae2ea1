"""The characterization ("golden") cases: every public result of the tree, compare and align layers
on small fixed inputs, as flat dicts of arrays.

``python tests/golden/make_golden.py [group ...]`` records each group to ``tests/golden/<kind>/<group>.npz``;
``tests/test_golden.py`` recomputes them and compares with ``np.array_equal``. A change that is
meant to move numbers regenerates the file deliberately (and says so in its commit); a change that
is not (code motion, renames) must leave it passing untouched. BLAS and numba are pinned to one
thread while the cases run.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

import topotree as tt
from topotree import baselines
from topotree.align import pick_density
from topotree.datasets import hierarchical_mixture


@contextlib.contextmanager
def one_thread():
    """BLAS and numba on one thread (reductions then add in one fixed order)."""
    import numba
    from threadpoolctl import threadpool_limits

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        numba.set_num_threads(old)


def _rot(d, seed):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))[0]


def _pair(n, dim, leaves, seed, d_b=None, warp=0.15, n_b=None, weights="uneven"):
    """A mixture sample and a fresh, warped, rotated sample of the same mixture (optionally
    embedded into or projected onto d_b dims)."""
    m = hierarchical_mixture(n, dim=dim, n_leaves=leaves, weights=weights, seed=seed)
    rng = np.random.default_rng(seed + 1)
    A = m.X
    B = m.sample(n_b or int(0.8 * n), seed=seed + 2)
    B = np.asarray(B[0] if isinstance(B, tuple) else B)
    s = np.sqrt(np.mean(np.sum((A - A.mean(0)) ** 2, 1)))
    W = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    B = 1.5 * (B + warp * s * np.tanh(B @ W / s)) @ _rot(dim, seed + 3) + rng.normal(size=dim)
    if d_b is not None and d_b > dim:
        B = np.c_[B, 0.05 * rng.normal(size=(B.shape[0], d_b - dim))] @ _rot(d_b, seed + 4)
    elif d_b is not None and d_b < dim:
        B = B[:, :d_b]
    return A, B


def _tree(t):
    out = {}
    for name in ("log_density", "order", "neighbors", "bridges", "parent", "start", "end", "mass",
                 "peak", "split", "member_order", "member_lo", "member_hi", "owner", "basin",
                 "diagram", "essential"):
        out[name] = np.asarray(getattr(t, name))
    out["labels"] = t.labels()
    return out


def _matching(m):
    return {"pairs": np.asarray(m.pairs, dtype=np.int64).reshape(-1, 2), "cost": np.float64(m.cost),
            "confidence": np.asarray(m.confidence), "leaf_cost": np.float64(m.leaf_cost),
            "ambiguous": np.asarray([i for g in m.ambiguous for i in (*g, -1)], dtype=np.int64),
            "unmatched_a": np.asarray(m.unmatched_a, dtype=np.int64),
            "unmatched_b": np.asarray(m.unmatched_b, dtype=np.int64)}


def _alignment(al):
    out = {"matrix": al.matrix, "offset": al.offset, "scale": np.float64(al.scale),
           "score": np.float64(al.score), "mutual_nn": np.float64(al.mutual_nn)}
    if al.residuals is not None:
        out["residuals"] = np.asarray(al.residuals)
    info = al.info
    if np.isfinite(al.trust):
        out["trust"] = np.float64(al.trust)
    for key in ("leaf_map", "candidate_scores", "icp_accepted", "leaf_consistency"):
        if key in info:
            out["info_" + key] = np.asarray(info[key], dtype=np.float64)
    if "density" in info:
        out["info_density"] = np.asarray(str(info["density"]))
    if "density_energy" in info:
        out["info_density_energy"] = np.asarray([v for _, v in sorted(info["density_energy"].items())])
    return out


# ---------------------------------------------------------------------------------------- cases
def tree_cases():
    res = {}
    for dim in (2, 8, 20):
        X = hierarchical_mixture(900, dim=dim, n_leaves=5, seed=dim).X
        t = tt.build_tree(X, progress=False)
        res[f"tree_knn_d{dim}"] = _tree(t)
        res[f"tree_knn_d{dim}_simplified"] = _tree(t.simplify())
    m = hierarchical_mixture(800, dim=3, n_leaves=4, seed=5)
    exact = m.log_density(m.X)
    res["tree_given"] = _tree(tt.build_tree(m.X, log_density=exact, k=12, progress=False))
    res["tree_gudhi"] = _tree(tt.build_tree(m.X, backend="gudhi", progress=False))
    res["tree_forest"] = _tree(tt.build_tree(m.X, connect=False, k=10, progress=False))
    nb = tt.build_tree(m.X, k=10, progress=False).neighbors
    res["tree_neighbors"] = _tree(tt.build_tree(m.X, log_density=exact, neighbors=nb, progress=False))
    res["tree_simplify_args"] = _tree(tt.build_tree(m.X, progress=False).simplify(min_persistence=0.5, min_mass=0.05))
    return res


def compare_cases():
    res = {}
    ma = hierarchical_mixture(900, dim=3, n_leaves=5, seed=11)
    A, B = _pair(900, 3, 5, 11)
    ta, tb = tt.build_tree(A, progress=False), tt.build_tree(B, progress=False)
    res["match_trees_only"] = _matching(tt.match_trees(ta, tb))
    res["match_clouds"] = _matching(tt.match_trees(ta, tb, A, B))
    res["match_swapped"] = _matching(tt.match_trees(tb, ta, B, A))
    perm = np.random.default_rng(0).permutation(ma.X.shape[0])
    tp = tt.build_tree(ma.X[perm], progress=False)
    tx = tt.build_tree(ma.X, progress=False)
    m = tt.match_trees(tx, tp, correspondence=np.argsort(perm))
    res["match_correspondence"] = _matching(m)
    res["matching_accuracy"] = {"value": np.float64(tt.matching_accuracy(m, np.argsort(perm))),
                                "leaves": np.float64(tt.matching_accuracy(m, np.argsort(perm), leaves_only=True))}
    # many leaves: the n_starts branches (<= 32 leaves: 24 starts, <= 64: 8, above: 0)
    for n_leaves, tag in ((40, "many"), (70, "very_many")):
        Xa, Xb = _pair(2500 if n_leaves == 40 else 3500, 2, n_leaves, 20 + n_leaves, warp=0.0)
        sa = tt.build_tree(Xa, k=10, progress=False).simplify(min_persistence=0.3, min_mass=0.002)
        sb = tt.build_tree(Xb, k=10, progress=False).simplify(min_persistence=0.3, min_mass=0.002)
        mm = tt.match_trees(sa, sb, Xa, Xb, simplify=False)
        res[f"match_{tag}"] = _matching(mm)
        res[f"match_{tag}"]["n_leaves"] = np.array([len(sa.leaves), len(sb.leaves)])
    # without POT: only the descriptor start (a None entry blocks the import, see topotree._pot)
    import sys

    saved = sys.modules.get("ot")
    sys.modules["ot"] = None
    try:
        res["match_no_pot"] = _matching(tt.match_trees(ta, tb, A, B))
    finally:
        if saved is None:
            del sys.modules["ot"]
        else:
            sys.modules["ot"] = saved
    res["tree_distance"] = {meth: np.float64(tt.tree_distance(ta, tb, meth))
                            for meth in ("matching", "bottleneck", "wasserstein")}
    res["tree_distance"]["wasserstein_2"] = np.float64(tt.tree_distance(ta, tb, "wasserstein", order=2.0))
    res["mass_diagram"] = {"a": tt.mass_diagram(ta.simplify()), "b": tt.mass_diagram(tb.simplify())}
    exact = ma.log_density(ma.X)
    te = tt.build_tree(ma.X, log_density=exact, k=tx.k, progress=False)
    res["merge_distortion"] = {
        "max": np.float64(tt.merge_distortion(tx, te)),
        "mean": np.float64(tt.merge_distortion(tx, te, reduce="mean")),
        "mass": np.float64(tt.merge_distortion(tx, te, levels="mass")),
        "sampled": np.float64(tt.merge_distortion(tx, te, n_pairs=5000, seed=1)),
    }
    from topotree.plot import dendrogram_layout

    lay = dendrogram_layout(ta.simplify())
    res["dendrogram_layout"] = {k: np.asarray(v) for k, v in lay.items() if isinstance(v, np.ndarray)}
    return res


def align_cases():
    res = {}
    low = _pair(900, 3, 5, 31)
    done = {}  # each distinct call runs once; cases that repeat a call reuse its result
    for kind in ("orthogonal", "similarity", "affine"):
        for density in ("knn", "gmm", "auto"):
            done[kind, density] = tt.align(*low, kind, density=density)
            res[f"align_d3_{kind}_{density}"] = _alignment(done[kind, density])
    A, B = low
    # the leaf matchers (use_matching) act in the tree pipeline: pinned there, without the global
    # search on top (its own numbers are pinned by the cases above)
    res["align_d3_trees"] = _alignment(tt.align(A, B, use_matching="trees", density="knn", search="trees"))
    res["align_d3_fallback"] = _alignment(tt.align(A, B, use_matching="fallback", density="knn", search="trees"))
    res["align_d3_affine_fallback"] = _alignment(tt.align(A, B, "affine", use_matching="fallback", density="knn",
                                                          search="trees"))
    ta = tt.build_tree(A, progress=False).simplify()
    tb = tt.build_tree(B, progress=False).simplify()
    res["align_d3_given_trees"] = _alignment(tt.align(A, B, tree_a=ta, tree_b=tb))
    # A with more leaves than B (the swap branch of the fallback matcher)
    Am = hierarchical_mixture(900, dim=3, n_leaves=7, seed=33).X
    Bf = _pair(900, 3, 4, 34)[1]
    res["align_d3_swap_fallback"] = _alignment(tt.align(Am, Bf, use_matching="fallback", density="knn"))
    res["align_d3_swap_auto"] = _alignment(tt.align(Am, Bf, density="knn"))
    # A and B of different dims
    res["align_d3_to_d5"] = _alignment(tt.align(*_pair(900, 3, 5, 35, d_b=5), density="knn"))
    res["align_d4_to_d3"] = _alignment(tt.align(*_pair(900, 4, 5, 36, d_b=3), density="knn"))
    res["align_subsampled"] = _alignment(tt.align(*low, density="knn", max_points=500))
    # the tree pipeline alone (search="trees"): its own numbers pinned too
    res["trees_d3_similarity_auto"] = _alignment(tt.align(*low, "similarity", search="trees"))
    res["trees_d3_fallback"] = _alignment(tt.align(*low, use_matching="fallback", density="knn", search="trees"))
    # pick_density on its own
    al1 = done["affine", "knn"]  # align's defaults: kind="affine"
    al2 = tt.procrustes(A[:50], B[:50])
    best = pick_density(A, B, [al2, al1])
    res["pick_density_low"] = {"best": np.int64(best is al1), **_alignment(best)}
    return res


def align_high_cases():
    """The many-dimensions cases of ``align`` (a group of their own: the two align groups are the
    slowest of the suite and run in parallel under pytest-xdist)."""
    res = {}
    high = _pair(700, 12, 6, 32, warp=0.1)
    done = {}  # each distinct call runs once; cases that repeat a call reuse its result
    for kind in ("orthogonal", "similarity", "affine"):
        done[kind, "knn"] = tt.align(*high, kind, density="knn")
        res[f"align_d12_{kind}_knn"] = _alignment(done[kind, "knn"])
    done["affine", "gmm"] = tt.align(*high, density="gmm")  # align's default kind is "affine" (old key kept)
    res["align_d12_similarity_gmm"] = _alignment(done["affine", "gmm"])
    res["align_d12_auto"] = _alignment(tt.align(*high, "affine"))
    res["align_d12_fallback"] = _alignment(tt.align(*high, use_matching="fallback", density="knn", search="trees"))
    d10_to_d12 = _pair(700, 10, 6, 37, d_b=12, warp=0.1)
    res["align_d10_to_d12"] = _alignment(tt.align(*d10_to_d12, density="knn"))
    res["align_d12_to_d10"] = _alignment(tt.align(*_pair(700, 12, 6, 38, d_b=10, warp=0.1), density="knn",
                                                   search="trees"))
    res["trees_d12_affine_auto"] = _alignment(tt.align(*high, "affine", search="trees"))
    res["trees_d10_to_d12"] = _alignment(tt.align(*d10_to_d12, density="knn", search="trees"))
    Ah, Bh = high
    alh = [done["affine", d] for d in ("knn", "gmm")]
    bh = pick_density(Ah, Bh, alh)
    res["pick_density_high"] = {"best": np.int64(alh.index(bh))}
    res["pick_density_high_notrees"] = {"best": np.int64(pick_density(Ah, Bh, [tt.procrustes(Ah[:60], Bh[:60]), alh[0]]) is alh[0])}
    return res


def baseline_cases():
    res = {}
    A, B = _pair(900, 3, 5, 41)
    pairs = np.c_[np.arange(50), np.arange(50)]
    la = np.random.default_rng(0).integers(0, 3, A.shape[0])
    lb = np.random.default_rng(1).integers(0, 3, B.shape[0])
    res["oracle_pairs"] = _alignment(baselines.oracle_procrustes(A, B, pairs=pairs))
    res["oracle_labels"] = _alignment(baselines.oracle_procrustes(A, B, labels_a=la, labels_b=lb))
    res["moment"] = _alignment(baselines.moment_align(A, B))
    res["gw"] = _alignment(baselines.gromov_wasserstein_align(A, B, n_sub=300))
    res["kmeans_qap"] = _alignment(baselines.kmeans_qap_align(A, B, n_clusters=8, n_init=2, n_trials=2))
    res["random_orthogonal"] = _alignment(baselines.random_orthogonal(A, B))
    res["anchor_procrustes"] = _alignment(baselines.anchor_procrustes(A, B, pairs, 20))
    ra, rb = baselines.relative_representation(A, B, pairs, 20)
    res["relative_representation"] = {"a": ra, "b": rb}
    res["permutation_align"] = _alignment(baselines.permutation_align(A, B, pairs, 20))
    return res


GROUPS = {"tree": tree_cases, "compare": compare_cases, "align": align_cases, "align_high": align_high_cases,
          "baselines": baseline_cases}


def flatten(group: str) -> dict:
    """All arrays of one group as ``{case/key: array}``, computed on one thread."""
    with one_thread():
        cases = GROUPS[group]()
    return {f"{case}/{key}": np.asarray(v) for case, d in cases.items() for key, v in d.items()}
