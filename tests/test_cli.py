"""The ``topotree`` command line: subprocess runs on good and bad inputs (exit codes, one-line errors,
files written), and in-process runs of ``main(argv)`` for the rest."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import topotree as tt
from topotree.cli import COMMANDS, main

PNG = b"\x89PNG\r\n\x1a\n"


def _cmd():
    script = Path(sys.executable).parent / "topotree"
    return [str(script)] if script.exists() else [sys.executable, "-m", "topotree.cli"]


def run(*args):
    return subprocess.run(_cmd() + [str(a) for a in args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    d = tmp_path_factory.mktemp("pts")
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) + [7, 0]]
    np.save(d / "X.npy", X)
    return d, X


def _error_line(res):
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len(lines) == 1 and lines[0].startswith("topotree: error: "), res.stderr
    return lines[0]


def test_tree_show_plot_end_to_end(points, tmp_path):
    d, X = points
    res = run("tree", d / "X.npy", "--out", tmp_path / "t.json", "--plot", tmp_path / "t.png", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "2 leaves" in res.stdout
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG
    tree = tt.load_tree(tmp_path / "t.json")
    ref = tt.build_tree(X).simplify()
    assert tree.leaves == ref.leaves
    np.testing.assert_array_equal(tree.mass, ref.mass)

    res = run("show", tmp_path / "t.json")
    assert res.returncode == 0, res.stderr
    assert "leaves: 2" in res.stdout and "essential" in res.stdout
    for i in ref.leaves:
        assert f"{ref.mass[i]:.4f}" in res.stdout

    res = run("plot", tmp_path / "t.json", "--out", tmp_path / "f.svg", "--kind", "both")
    assert res.returncode == 0, res.stderr
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:2000]


def test_help_on_every_command():
    res = run("--help")
    assert res.returncode == 0 and all(name in res.stdout for name in COMMANDS)
    for name in COMMANDS:
        res = run(name, "--help")
        assert res.returncode == 0 and res.stdout.startswith(f"usage: topotree {name}")


def test_bad_inputs_subprocess(points, tmp_path):
    d, X = points
    line = _error_line(run("tree", tmp_path / "missing.npy", "--out", tmp_path / "t.json"))
    assert "not found" in line and "missing.npy" in line
    np.save(tmp_path / "flat.npy", X[:, 0])
    line = _error_line(run("tree", tmp_path / "flat.npy", "--out", tmp_path / "t.json"))
    assert "2-D" in line and "(500,)" in line
    Y = X.copy()
    Y[7, 1] = np.nan
    np.savetxt(tmp_path / "nan.csv", Y, delimiter=",")
    line = _error_line(run("tree", tmp_path / "nan.csv", "--out", tmp_path / "t.json"))
    assert "NaN" in line and "row 7" in line
    line = _error_line(run("show", tmp_path / "nope.json"))
    assert "not found" in line


@pytest.mark.parametrize("fmt", ["csv", "txt", "csv-header", "npz"])
def test_point_formats(points, tmp_path, fmt, capsys):
    d, X = points
    extra = []
    if fmt == "csv":
        path = tmp_path / "X.csv"
        np.savetxt(path, X, delimiter=",")
    elif fmt == "csv-header":
        path = tmp_path / "X.csv"
        np.savetxt(path, X, delimiter=",", header="x,y", comments="")
    elif fmt == "txt":
        path = tmp_path / "X.txt"
        np.savetxt(path, X)
    else:
        path = tmp_path / "X.npz"
        np.savez(path, latents=X, labels=np.arange(len(X)))
        extra = ["--key", "latents"]
    assert main(["tree", str(path), *extra, "--out", str(tmp_path / "t.npz"), "--no-progress"]) == 0
    tree = tt.load_tree(tmp_path / "t.npz")
    assert tree.n_points == len(X) and len(tree.leaves) == 2


def _main_error(argv, capsys):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("topotree: error: ")
    return err[0]


def test_bad_inputs_in_process(points, tmp_path, capsys):
    d, X = points
    out = ["--out", tmp_path / "t.json"]
    np.savez(tmp_path / "two.npz", a=X, b=X)
    assert "--key" in _main_error(["tree", tmp_path / "two.npz", *out], capsys)
    assert "no array 'c'" in _main_error(["tree", tmp_path / "two.npz", "--key", "c", *out], capsys)
    np.save(tmp_path / "cube.npy", np.zeros((4, 3, 2)))
    assert "2-D" in _main_error(["tree", tmp_path / "cube.npy", *out], capsys)
    np.save(tmp_path / "f.npy", np.zeros(10))
    msg = _main_error(["tree", d / "X.npy", "--log-density", tmp_path / "f.npy", *out], capsys)
    assert "length 10" in msg and "500" in msg
    assert "k" in _main_error(["tree", d / "X.npy", "--k", "0", *out], capsys)
    assert ".json or .npz" in _main_error(["tree", d / "X.npy", "--out", tmp_path / "t.pkl"], capsys)
    (tmp_path / "X.pkl").write_bytes(b"x")
    assert ".npy, .npz" in _main_error(["tree", tmp_path / "X.pkl", *out], capsys)
    (tmp_path / "junk.json").write_text("{}")
    assert "not a topotree" in _main_error(["plot", tmp_path / "junk.json", "--out", tmp_path / "f.png"], capsys)
    # usage errors are argparse's (exit 2, usage then the message)
    assert main(["tree", str(d / "X.npy"), "--out", "t.json", "--simplify", "abc"]) == 2
    assert "--simplify" in capsys.readouterr().err
    assert main([]) == 2


def test_simplify_and_log_density_options(points, tmp_path, capsys):
    d, X = points
    f = -np.sum(X ** 2, axis=1)
    np.savetxt(tmp_path / "f.txt", f)
    base = ["tree", str(d / "X.npy"), "--no-progress"]
    assert main(base + ["--simplify", "none", "--k", "10", "--out", str(tmp_path / "raw.npz")]) == 0
    raw = tt.load_tree(tmp_path / "raw.npz")
    ref = tt.build_tree(X, k=10)
    assert raw.simplification is None and raw.leaves == ref.leaves
    assert main(base + ["--simplify", "0.25", "--out", str(tmp_path / "s.npz")]) == 0
    assert tt.load_tree(tmp_path / "s.npz").simplification.min_persistence == 0.25
    assert main(base + ["--log-density", str(tmp_path / "f.txt"), "--out", str(tmp_path / "g.npz")]) == 0
    g = tt.load_tree(tmp_path / "g.npz")
    assert g.density == "given" and g.leaves == tt.build_tree(X, log_density=f).simplify().leaves
    np.testing.assert_allclose(g.log_density, f)
    capsys.readouterr()
    for kind in ("dendrogram", "persistence", "barcode"):
        assert main(["plot", str(tmp_path / "s.npz"), "--out", str(tmp_path / f"{kind}.png"), "--kind", kind,
                     "--y", "mass", "--dpi", "40"]) == 0
        assert (tmp_path / f"{kind}.png").read_bytes()[:8] == PNG


def test_labels_output_and_python_m(points, tmp_path):
    d, X = points
    res = subprocess.run([sys.executable, "-m", "topotree", "tree", str(d / "X.npy"), "--out", str(tmp_path / "t.npz"),
                          "--labels", str(tmp_path / "lab.npy"), "--no-progress"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    labels = np.load(tmp_path / "lab.npy")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, tt.build_tree(X).simplify().labels())
    np.testing.assert_array_equal(labels, tt.load_tree(tmp_path / "t.npz").labels())
    assert "written to" in res.stdout
    assert main(["tree", str(d / "X.npy"), "--out", str(tmp_path / "u.json"), "--labels", str(tmp_path / "l.txt")]) == 2
    res = subprocess.run([sys.executable, "-m", "topotree", "--help"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "tree" in res.stdout
