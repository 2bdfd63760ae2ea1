"""Hardening (issue 14): no memory corruption, no raw tracebacks, files that validate on load and
never half-write, every argument checked at the boundary. ``benchmarks/fuzz_hardening.py`` counts
the same categories over more cases."""
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topotree as tt
from topotree.cli import main
from topotree.tree import load_tree
from topotree.tree._cluster_tree import _ARRAYS

ROOT = Path(__file__).resolve().parents[1]


def _cloud(seed=0, d=2):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(size=(150, d)), rng.normal(size=(100, d)) + 6]


def _structure(t):
    """What a tree says, independent of the scale of its levels: parents, masses, member sets."""
    return (t.parent.tolist(), t.mass.tolist(), [sorted(t.members(i).tolist()) for i in range(t.n_nodes)])


@pytest.fixture(scope="module")
def tree():
    return tt.build_tree(_cloud(), k=10)


# ------------------------------------------------------------------ 1. memory corruption
CRASHERS = {
    "X*1e300": "X * 1e300",
    "one point at (1.7e308, -1.7e308)": "np.r_[[[1.7e308, -1.7e308]], X]",
    "two opposite extreme corners": "np.r_[[[1.7e308, -1.7e308], [-1.7e308, 1.7e308]], X]",
    "columns scaled 1e200 / 1e-200": "X * [1e200, 1e-200]",
    "20 dims (brute force) * 1e300": "np.random.default_rng(1).normal(size=(200, 20)) * 1e300",
}


@pytest.mark.parametrize("expr", CRASHERS.values(), ids=list(CRASHERS))
def test_overflowing_distances_do_not_corrupt_memory(expr):
    """Run in a subprocess: memory corruption kills the process (SIGABRT, SIGSEGV) rather than fail."""
    code = textwrap.dedent(f"""
        import numpy as np, topotree as tt
        rng = np.random.default_rng(0)
        X = np.r_[rng.normal(size=(150, 2)), rng.normal(size=(100, 2)) + 6]
        Y = {expr}
        for backend in ("numba", "gudhi"):
            t = tt.build_tree(Y, backend=backend)
            assert t.neighbors.min() >= 0 and t.n_nodes >= 1
            t.simplify().merge_height(np.arange(5), np.arange(5))
        print("clean")
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "clean" in r.stdout, (r.returncode, r.stderr[-2000:])


def test_knn_lists_are_filled_even_with_infinite_distances():
    """The kernel itself, bypassing the rescaling: every neighbour index is valid."""
    from topotree.graph import knn_local

    X = _cloud() * 1e300  # squared distances overflow to inf
    perm, idx, dist, _ = knn_local(X, 15)
    assert idx.min() >= 0 and idx.max() < len(X)
    assert all(len(set(row.tolist())) == 15 for row in idx)


# ------------------------------------------------------------------ 2. exact scaling, duplicates
@pytest.mark.parametrize("d", [2, 20])
@pytest.mark.parametrize("factor", [2.0 ** -700, 2.0 ** 700, 2.0 ** -1000, 2.0 ** 500])
def test_tree_exactly_invariant_under_power_of_two_scalings(d, factor):
    X = _cloud(3, d)
    ref, t = tt.build_tree(X), tt.build_tree(X * factor)
    assert _structure(t) == _structure(ref)
    np.testing.assert_array_equal(t.neighbors, ref.neighbors)
    # levels shift by -d log(factor); equal up to the rounding of that shift
    np.testing.assert_allclose(t.log_density + d * np.log(factor), ref.log_density, rtol=0, atol=1e-9 * d * 700)


@pytest.mark.parametrize("factor", [1e-200, 1e154, 1e155, 1e-300, 1e300])
def test_tree_invariant_under_extreme_scalings(factor):
    for d in (2, 20):
        X = _cloud(4, d)
        assert _structure(tt.build_tree(X * factor).simplify()) == _structure(tt.build_tree(X).simplify())


def test_ordinary_input_is_used_as_given():
    from topotree._validation import scale_exponent

    assert scale_exponent(_cloud()) == 0 and scale_exponent(_cloud() * 1e80) == 0
    assert scale_exponent(_cloud() * 1e300) != 0 and scale_exponent(_cloud() * 1e-200) != 0


def test_unrepresentable_spread_is_a_clear_error():
    X = np.c_[np.full(50, 1e300), np.random.default_rng(0).normal(size=50) * 1e-300]
    with pytest.raises(ValueError, match="orders of magnitude"):
        tt.build_tree(X)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(copies=st.integers(16, 40), noise=st.integers(3, 60), seed=st.integers(0, 2**31 - 1))
def test_heavy_duplicates_give_an_order_independent_tree(copies, noise, seed):
    rng = np.random.default_rng(seed)
    Y = np.r_[np.repeat(rng.normal(size=(1, 2)), copies, axis=0), rng.normal(size=(noise, 2))]
    ref = tt.build_tree(Y, k=15)
    masses = {tuple(ref.mass.tolist())}
    for s in range(3):
        p = np.random.default_rng(s).permutation(len(Y))
        t = tt.build_tree(Y[p], k=15)
        masses.add(tuple(t.mass.tolist()))
        # the same member sets, in the caller's numbering
        assert sorted(sorted(p[t.members(i)].tolist()) for i in range(t.n_nodes)) == \
            sorted(sorted(ref.members(i).tolist()) for i in range(ref.n_nodes))
    assert len(masses) == 1


def test_duplicate_chains_are_part_of_the_stored_graph():
    Y = np.r_[np.zeros((20, 2)), np.random.default_rng(0).normal(size=(40, 2))]
    t = tt.build_tree(Y, k=15)
    assert len(t.bridges) >= 19  # the 20 copies chained
    assert t.simplify().n_nodes >= 1  # simplify rebuilds the graph from neighbors + bridges


# ------------------------------------------------------------------ 3. load_tree validation
def _mutated(tmp_path, tree, suffix, mutate=None, raw=None):
    path = tmp_path / f"t{suffix}"
    tree.save(path)
    if mutate is not None and suffix == ".json":
        doc = json.loads(path.read_text())
        mutate(doc)
        path.write_text(json.dumps(doc))
    if mutate is not None and suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        mutate(arrays)
        np.savez(path, **arrays)
    if raw is not None:
        path.write_bytes(raw(path.read_bytes()))
    return path


def _set(name, i, value):
    return lambda d: d["arrays"][name]["data"].__setitem__(i, value)


JSON_CORRUPTIONS = {
    "empty": dict(raw=lambda b: b""),
    "not json": dict(raw=lambda b: b"hello"),
    "a list": dict(raw=lambda b: b"[1, 2]"),
    "truncated": dict(raw=lambda b: b[: len(b) // 2]),
    "deeply nested": dict(raw=lambda b: b"[" * 100_000 + b"]" * 100_000),
    "missing arrays": dict(mutate=lambda d: d.pop("arrays")),
    "missing parent": dict(mutate=lambda d: d["arrays"].pop("parent")),
    "missing k": dict(mutate=lambda d: d.pop("k")),
    "nan log-density": dict(mutate=_set("log_density", 0, float("nan"))),
    "inf log-density": dict(mutate=_set("log_density", 0, float("inf"))),
    "str log-density": dict(mutate=_set("log_density", 0, "1.5")),
    "complex dtype": dict(mutate=lambda d: d["arrays"]["log_density"].__setitem__("dtype", "complex128")),
    "float parents": dict(mutate=lambda d: d["arrays"]["parent"].update(
        dtype="float64", data=[x + 0.5 for x in d["arrays"]["parent"]["data"]])),
    "reshaped neighbours": dict(mutate=lambda d: d["arrays"]["neighbors"].update(
        shape=d["arrays"]["neighbors"]["shape"][::-1])),
    "parent 1e7": dict(mutate=_set("parent", 1, 10**7)),
    "parent cycle": dict(mutate=_set("parent", 1, 2)),
    "owner out of range": dict(mutate=_set("owner", 0, 999)),
    "neighbour out of range": dict(mutate=_set("neighbors", 0, 10**6)),
    "member out of range": dict(mutate=_set("member_order", 0, -5)),
    "member range beyond n": dict(mutate=_set("member_hi", 0, 10**6)),
    "mass 5": dict(mutate=_set("mass", 0, 5.0)),
    "mass not monotone": dict(mutate=_set("mass", 0, 0.01)),
    "int 1e30": dict(mutate=_set("order", 0, 10**30)),
    "huge shape": dict(mutate=lambda d: d["arrays"]["log_density"].__setitem__("shape", [10**12])),
    "k mismatch": dict(mutate=lambda d: d.__setitem__("k", 3)),
    "bad density": dict(mutate=lambda d: d.__setitem__("density", ["x"])),
    "bad simplification": dict(mutate=lambda d: d.__setitem__("simplification", {"evil": 1})),
}
NPZ_CORRUPTIONS = {
    "empty": dict(raw=lambda b: b""),
    "not a zip": dict(raw=lambda b: b"PK" + b"x" * 100),
    "truncated": dict(raw=lambda b: b[: len(b) // 2]),
    "missing array": dict(mutate=lambda a: a.pop("parent")),
    "missing meta": dict(mutate=lambda a: a.pop("__meta__")),
    "complex log-density": dict(mutate=lambda a: a.__setitem__("log_density", a["log_density"].astype(complex))),
    "str log-density": dict(mutate=lambda a: a.__setitem__("log_density", a["log_density"].astype(str))),
    "float parents": dict(mutate=lambda a: a.__setitem__("parent", a["parent"] + 0.5)),
    "transposed neighbours": dict(mutate=lambda a: a.__setitem__("neighbors", a["neighbors"].T.copy())),
    "parent 1e7": dict(mutate=lambda a: a["parent"].__setitem__(1, 10**7)),
    "meta a list": dict(mutate=lambda a: a.__setitem__("__meta__", np.array("[1]"))),
}


@pytest.mark.parametrize("suffix, how", [(".json", v) for v in JSON_CORRUPTIONS.values()]
                         + [(".npz", v) for v in NPZ_CORRUPTIONS.values()],
                         ids=[f"json-{k}" for k in JSON_CORRUPTIONS] + [f"npz-{k}" for k in NPZ_CORRUPTIONS])
def test_corrupt_tree_files_raise_one_value_error_naming_the_file(tmp_path, tree, suffix, how):
    path = _mutated(tmp_path, tree, suffix, **how)
    with pytest.raises(ValueError) as info:
        load_tree(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7), suffix=st.sampled_from([".json", ".npz"]))
def test_bit_flips_give_a_clear_error_or_a_valid_tree(tmp_path, tree, pos, bit, suffix):
    def flip(b):
        i = int(pos * len(b))
        return b[:i] + bytes([b[i] ^ (1 << bit)]) + b[i + 1:]

    path = _mutated(tmp_path, tree, suffix, raw=flip)
    try:
        t = load_tree(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:  # the flip hit something harmless (a digit, a timestamp): what loads is a valid tree
        t.simplify()
        t.merge_height(np.arange(t.n_points), np.arange(t.n_points)[::-1])
        assert len(t.labels()) == t.n_points


def test_npz_sizes_are_checked_before_allocating(tmp_path, tree):
    """A header declaring 1e11 floats (745 GiB) is refused before numpy allocates it."""
    path = tmp_path / "huge.npz"
    tree.save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    hdr = np.lib.format.header_data_from_array_1_0(np.zeros(3))
    np.lib.format.write_array_header_1_0(buf, dict(hdr, shape=(10**11,)))
    members["log_density.npy"] = buf.getvalue() + np.zeros(3).tobytes()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match="does not match the stored data"):
        load_tree(path)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_round_trip_still_exact(tmp_path, tree, suffix):
    for t in (tree, tree.simplify(), tt.build_tree(_cloud(), k=5, connect=False)):
        t.save(tmp_path / f"r{suffix}")
        back = load_tree(tmp_path / f"r{suffix}")
        for name in _ARRAYS:
            np.testing.assert_array_equal(getattr(back, name), getattr(t, name))
        assert (back.k, back.density, back.virtual_root, back.simplification) == \
            (t.k, t.density, t.virtual_root, t.simplification)


# ------------------------------------------------------------------ 4. atomic writes
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_a_failed_tree_save_leaves_the_old_file(tmp_path, tree, suffix, monkeypatch):
    import topotree.tree._cluster_tree as T

    path = tmp_path / f"a{suffix}"
    tree.save(path)
    before = path.read_bytes()

    def boom(fh, *a, **k):
        fh.write(b"partial")
        raise KeyboardInterrupt

    if suffix == ".npz":
        monkeypatch.setattr(T.np, "savez_compressed", boom)
    else:
        monkeypatch.setattr(T, "atomic_write", lambda p, write, what: __import__("topotree._atomic").
                            _atomic.atomic_write(p, lambda fh: boom(fh), what))
    with pytest.raises(KeyboardInterrupt):
        tree.simplify().save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary left behind


def test_a_killed_save_leaves_the_old_file(tmp_path, tree):
    path = tmp_path / "k.npz"
    tree.save(path)
    before = path.read_bytes()
    code = textwrap.dedent(f"""
        import os, signal, numpy as np, topotree as tt, topotree.tree._cluster_tree as T
        def die(fh, **kw):
            fh.write(b"PK"); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)
        T.np.savez_compressed = die
        tt.build_tree(np.random.default_rng(0).normal(size=(100, 2)), k=5).save({str(path)!r})
    """)
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert r.returncode != 0
    assert path.read_bytes() == before
    assert load_tree(path).n_points == tree.n_points


def test_save_into_missing_folder_or_onto_directory(tmp_path, tree):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tree.save(tmp_path / "nope" / "t.json")
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        tree.save(tmp_path / "d.npz")
    with pytest.raises(ValueError, match=".json or .npz"):
        tree.save(tmp_path / "t.txt")


# ------------------------------------------------------------------ 5. arguments



@pytest.mark.parametrize("seed", ["x", 1.5, 2**70, -1])
def test_bad_seeds_are_rejected(tree, seed):
    from topotree.datasets import hierarchical_mixture, warp_and_move

    X = _cloud()
    calls = [lambda: tt.plot_embedding(X, tree, seed=seed, max_points=10),
             lambda: hierarchical_mixture(100, seed=seed),
             lambda: hierarchical_mixture(100, seed=0).sample(10, seed=seed),
             lambda: warp_and_move(X, seed=seed)]
    for call in calls:
        with pytest.raises((TypeError, ValueError), match="seed"):
            call()


def test_numpy_scalars_are_accepted(tree):
    from topotree.datasets import hierarchical_mixture

    tt.build_tree(_cloud(), k=np.int64(10))
    tree.simplify(min_persistence=np.float32(0.5), min_mass=np.float64(0.01))
    hierarchical_mixture(np.int32(100), dim=np.int64(2), separation=np.float32(6), seed=np.int64(3))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint64])
def test_merge_height_any_integer_dtype(tree, dtype):
    i, j = np.array([0, 1, 5], dtype=dtype), np.array([2, 3, 120], dtype=dtype)
    np.testing.assert_array_equal(tree.merge_height(i, j), tree.merge_height(i.astype(int), j.astype(int)))
    if np.dtype(dtype).kind == "i":
        assert tree.merge_height(np.array([-1], dtype=dtype), np.array([0], dtype=dtype))[0] == \
            tree.merge_height(tree.n_points - 1, 0)


@pytest.mark.parametrize("i, j, err", [
    (np.arange(3), np.arange(4), ValueError), (10**6, 0, ValueError), (0.5, 1, TypeError),
    ("a", 0, TypeError), (np.array([2**63], dtype=np.uint64), 0, ValueError)])
def test_merge_height_bad_indices(tree, i, j, err):
    with pytest.raises(err):
        tree.merge_height(i, j)


def test_log_density_tensor_requiring_grad_is_detached():
    torch = pytest.importorskip("torch")
    X = _cloud()
    t = tt.build_tree(X, log_density=lambda Y: -torch.tensor((Y ** 2).sum(1), requires_grad=True))
    ref = tt.build_tree(X, log_density=-(X ** 2).sum(1))
    np.testing.assert_array_equal(t.log_density, ref.log_density)


@pytest.mark.parametrize("kwargs", [dict(backend=["numba"]), dict(backend={}), dict(connect="no"),
                                    dict(k=5.0), dict(k=True), dict(k=10**12)])
def test_build_tree_bad_arguments(kwargs):
    with pytest.raises((TypeError, ValueError)):
        tt.build_tree(_cloud(), **kwargs)


@pytest.mark.parametrize("call", [
    lambda t: tt.plot_dendrogram(t, ax="x"),
    lambda t: tt.plot_dendrogram(t, color="notacolour"),
    lambda t: tt.plot_dendrogram(t, cmap="nocmap"),
    lambda t: tt.plot_dendrogram(t, leaf_labels=["a"]),
    lambda t: tt.plot_dendrogram(t, max_width=float("nan")),
    lambda t: tt.plot_dendrogram(t, figsize=(-1, "a")),
    lambda t: tt.plot_persistence(t, max_bars=-1),
    lambda t: tt.plot_persistence(t, max_bars=2.5),
    lambda t: tt.plot_matching(t, t, names="ab"),
    lambda t: tt.plot_matching(t, t, names=("a", "b", "c")),
    lambda t: tt.plot_matching(t, t, line_color="nocolour"),
    lambda t: tt.plot_matching(t, t, leaf_labels="yes"),
    lambda t: tt.plot_embedding(_cloud(), t, point_size=-3),
])
def test_plot_arguments(tree, call):
    import matplotlib

    matplotlib.use("Agg")
    with pytest.raises((TypeError, ValueError)):
        call(tree)


@pytest.mark.parametrize("call", [lambda m: m.sample(10**12), lambda m: m.sample(-1), lambda m: m.sample(2.5)])
def test_sample_sizes(call):
    from topotree.datasets import hierarchical_mixture

    with pytest.raises((TypeError, ValueError)):
        call(hierarchical_mixture(100, seed=0))


# ------------------------------------------------------------------ 6. CLI: one line, exit 2
def _cli(*argv):
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, err.getvalue().strip()


def _one_line_error(*argv):
    code, err = _cli(*argv)
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1, (code, err)
    return err


@pytest.mark.parametrize("how", list(JSON_CORRUPTIONS.values())[:12], ids=list(JSON_CORRUPTIONS)[:12])
def test_cli_show_and_plot_bad_tree_files(tmp_path, tree, how):
    path = _mutated(tmp_path, tree, ".json", **how)
    _one_line_error("show", path)
    _one_line_error("plot", path, "--out", tmp_path / "o.png")


@pytest.mark.parametrize("first", ["1", "1,2,3"], ids=["short", "wider"])
def test_cli_ragged_first_csv_row_is_an_error_not_a_header(tmp_path, first):
    X = _cloud()
    p = tmp_path / "r.csv"
    p.write_text(first + "\n" + "\n".join(f"{a},{b}" for a, b in X))
    _one_line_error("tree", p, "--out", tmp_path / "x.json")


def test_cli_csv_header_still_read(tmp_path):
    X = _cloud()
    p = tmp_path / "h.csv"
    p.write_text("x,y\n" + "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in X))
    code, err = _cli("tree", p, "--out", tmp_path / "h.json")
    assert code == 0, err
    assert load_tree(tmp_path / "h.json").n_points == len(X)


@pytest.mark.parametrize("dpi", ["1000000000", "0", "-5"])
def test_cli_absurd_dpi(tmp_path, tree, dpi):
    tree.save(tmp_path / "t.json")
    _one_line_error("plot", tmp_path / "t.json", "--out", tmp_path / "o.png", "--dpi", dpi)


def test_cli_bare_command_prints_usage():
    code, err = _cli()
    assert code == 2 and "usage" in err.lower()


def test_cli_overflowing_points(tmp_path):
    np.save(tmp_path / "big.npy", _cloud() * 1e300)
    code, err = _cli("tree", tmp_path / "big.npy", "--out", tmp_path / "big.json")
    assert code == 0, err


# ------------------------------------------------------------------ adapters
@pytest.fixture(scope="module")
def small_model():
    pytest.importorskip("torch")
    from topotree.adapters import FlowAutoencoder

    return FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4)


@pytest.mark.parametrize("kwargs", [
    dict(weight_decay=float("nan")), dict(weight_decay=-1.0), dict(grad_clip=float("nan")), dict(grad_clip=-1.0),
    dict(grad_clip=0.0), dict(lr=0.0), dict(lr=float("nan")), dict(lr="fast"), dict(val_fraction=1.5),
    dict(val_fraction=float("nan")), dict(anneal_sigma=-1.0), dict(anneal_sigma=float("nan")),
    dict(adversarial_weight=float("nan")), dict(adversarial_weight=-1.0), dict(adversarial_weight="a"),
    dict(seed="x"), dict(seed=1.5), dict(seed=2**70)])
def test_fit_bad_settings(small_model, kwargs):
    from topotree.adapters import fit

    with pytest.raises((TypeError, ValueError), match=next(iter(kwargs))):
        fit(small_model, _cloud(), epochs=1, progress=False, **kwargs)


def test_fit_accepts_numpy_scalars():
    pytest.importorskip("torch")
    from topotree.adapters import FlowAutoencoder, fit

    m = FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4, sigma=np.float32(0.1), reg_covar=np.float64(1e-3))
    h = fit(m, _cloud(), epochs=2, progress=False, lr=np.float32(1e-3), weight_decay=np.float32(1e-4),
            val_fraction=np.float64(0.2), grad_clip=np.int64(3), seed=np.int64(1))
    assert np.isfinite(h.train_nll).all()


@pytest.mark.parametrize("device", ["banana", "cuda:99", [0]])
def test_latent_cloud_bad_device(device):
    torch = pytest.importorskip("torch")
    from topotree.adapters import latent_cloud

    with pytest.raises((TypeError, ValueError), match="device"):
        latent_cloud(torch.nn.Linear(2, 1), _cloud(), device=device)


def test_flow_sample_size_and_seeds(small_model):
    with pytest.raises(ValueError, match="GiB"):
        small_model.sample(10**12)
    for seed in ("x", 1.5, 2**70):
        with pytest.raises((TypeError, ValueError), match="seed"):
            small_model.sample(3, seed=seed)


def _edit_model_file(path, edit):
    import torch

    blob = torch.load(path, weights_only=True)
    edit(blob)
    torch.save(blob, path)


@pytest.mark.parametrize("edit", [
    lambda b: b.pop("config"),
    lambda b: b["config"].__setitem__("evil", 1),
    lambda b: b["config"].__setitem__("hidden", 10**9),
    lambda b: b["state_dict"].__setitem__(next(iter(b["state_dict"])), __import__("torch").zeros(7, 7, 7)),
    lambda b: b["state_dict"].pop(next(iter(b["state_dict"]))),
    lambda b: b.__setitem__("format", "x"),
], ids=["no config", "extra config key", "huge config", "wrong shape", "missing tensor", "wrong format"])
def test_flow_load_rejects_bad_files(tmp_path, small_model, edit):
    from topotree.adapters import FlowAutoencoder

    path = tmp_path / "m.pt"
    small_model.save(path)
    _edit_model_file(path, edit)
    with pytest.raises(ValueError) as info:
        FlowAutoencoder.load(path)
    assert str(path) in str(info.value)


def test_flow_load_never_runs_code(tmp_path):
    pytest.importorskip("torch")
    import pickle

    from topotree.adapters import FlowAutoencoder

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="not a FlowAutoencoder file"):
        FlowAutoencoder.load(path)
    assert not marker.exists()
    for raw in (b"", b"garbage"):
        path.write_bytes(raw)
        with pytest.raises(ValueError):
            FlowAutoencoder.load(path)


def test_flow_save_is_atomic(tmp_path, small_model, monkeypatch):
    import topotree.adapters.autoencoder as A
    from topotree.adapters import FlowAutoencoder

    path = tmp_path / "f.pt"
    small_model.save(path)
    before = path.read_bytes()

    def boom(obj, fh, *a, **k):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(A.torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4, seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["f.pt"]
    with pytest.raises(FileNotFoundError):
        small_model.save(tmp_path / "nope" / "m.pt")
    (tmp_path / "d.pt").mkdir()
    with pytest.raises(IsADirectoryError):
        small_model.save(tmp_path / "d.pt")


# ------------------------------------------------------------------ the whole fuzz (slow)
@pytest.mark.slow
def test_fuzz_script_finds_nothing():
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_hardening.py"), "--verbose"],
                       capture_output=True, text=True, env=env, timeout=1800)
    total = [line for line in r.stdout.splitlines() if line.startswith("total*")][0].split()
    assert total[3:5] == ["0", "0"], r.stdout[-3000:]
