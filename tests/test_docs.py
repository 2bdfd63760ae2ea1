"""`make docs`: the API reference builds from the docstrings with no warning (pdoc, the docs extra)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("pdoc")
    make = (ROOT / "Makefile").read_text()
    modules = re.search(r"DOC_MODULES := (.*?)\n(?!\t)", make, re.S).group(1).replace("\\\n", " ").split()
    assert "topotree.adapters" in modules
    try:
        import torch  # noqa: F401
    except ImportError:  # the torch layer is documented where torch is installed (make venv installs it)
        modules.remove("topotree.adapters")
    res = subprocess.run([sys.executable, "-W", "error", str(ROOT / "docs" / "build_api.py"), "--docformat", "numpy",
                          "-o", str(tmp_path),
                          *modules], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0 and "Warning" not in res.stderr, res.stderr[-2000:]
    for name in ("estimator", "tree", "compare", "build"):
        assert (tmp_path / "topotree" / f"{name}.html").exists()
    assert "DensityTree" in (tmp_path / "topotree" / "estimator.html").read_text()
    assert all(f'id="{name}"' in (tmp_path / "topotree" / "align.html").read_text() for name in ("align", "Alignment"))
    if "topotree.adapters" in modules:
        assert 'id="FlowAutoencoder"' in (tmp_path / "topotree" / "adapters.html").read_text()


def test_package_metadata():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT" and (ROOT / "LICENSE").exists()
    assert (ROOT / "topotree" / "py.typed").exists() and (ROOT / "CHANGELOG.md").exists()
    assert "Typing :: Typed" in meta["classifiers"]
    assert all(">=" in d for d in meta["dependencies"])  # every dependency has a tested lower bound
