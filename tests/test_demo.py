"""The main job at a tiny size: every output file is written and the table has every method."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from topotree.adapters.demo import run_demo  # noqa: E402

METHODS = ["topotree + model likelihood (align_models)", "topotree (trees on exact density)", "topotree (trees on kNN density", "oracle", "moment", "Gromov-Wasserstein", "k-means + QAP", "random orthogonal",
           "anchor Procrustes", "permutation"]


@pytest.mark.heavy
def test_demo_pipeline_tiny(tmp_path):
    # no model-tree start here (tests/test_adapters_alignment.py runs align_models with one): the rest
    # of the demo path, in a third of the time
    result = run_demo(latent_dim=3, epochs=3, out=tmp_path, max_points=500, progress=False, depth=2, hidden=32,
                      tree_samples=0)
    for name in ("table.md", "table.csv", "trees.png", "persistence.png", "latents.png", "stitched.png", "report.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    table = (tmp_path / "table.md").read_text()
    names = [r["method"] for r in result.rows]
    for m in METHODS:
        assert any(m in n for n in names), m
        assert m in table
    for r in result.rows:
        assert 0.0 <= r["label transfer"] <= 1.0 and 0.0 <= r["foscttm"] <= 1.0
    csv_rows = (tmp_path / "table.csv").read_text().strip().splitlines()
    assert len(csv_rows) == len(result.rows) + 1
    report = (tmp_path / "report.md").read_text()
    assert "| node A | A holds |" in report and "trees.png" in report
    # nodes are named by their majority digit and its share
    assert all("(" in v for v in result.names_a.values())


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "topotree.cli", "demo", *args], capture_output=True, text=True)


def test_demo_cli_bad_input(tmp_path):
    r = _cli("--data", str(tmp_path / "missing.npy"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not found" in r.stderr
    np.save(tmp_path / "nan.npy", np.full((20, 3), np.nan))
    r = _cli("--data", str(tmp_path / "nan.npy"))
    assert r.returncode == 2 and "NaN" in r.stderr and "Traceback" not in r.stderr
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(40, 3)))
    np.save(tmp_path / "lab.npy", np.zeros(7))
    r = _cli("--data", str(tmp_path / "ok.npy"), "--labels", str(tmp_path / "lab.npy"))
    assert r.returncode == 2 and "labels must have one entry per row" in r.stderr
    r = _cli("--data", str(tmp_path / "ok.npy"), "--tree-samples", "-1")
    assert r.returncode == 2 and "--tree-samples must be >= 0" in r.stderr and "Traceback" not in r.stderr
