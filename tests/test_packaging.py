"""The package as installed: topotree.adapters under the topotree namespace, no top-level `adapters`.

The repository keeps the torch layer in its own folder, ``adapters/``; pyproject.toml installs it as
``topotree.adapters`` (``package-dir``), because a top-level ``adapters`` would shadow the unrelated
``adapters`` library on PyPI (AdapterHub).
"""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_package_list_names_every_package():
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "topotree").rglob("__init__.py")}
    cfg = _setuptools()
    assert set(cfg["packages"]) == on_disk | {"topotree.adapters"}, "pyproject.toml [tool.setuptools] packages"
    assert cfg["package-dir"] == {"topotree.adapters": "adapters"}
    assert not any(p.split(".")[0] == "adapters" for p in cfg["packages"])


def _probe(code):
    """Run ``code`` in a fresh interpreter outside the repository (so its folders are not on sys.path)."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()


def test_installed_as_topotree_adapters_and_not_as_adapters():
    out = _probe(
        "import importlib.util as u, sys\n"
        "import topotree\n"
        "print('topotree.adapters' in sys.modules)\n"  # the core never imports the torch layer
        "s = u.find_spec('topotree.adapters'); print(s.origin if s else None)\n"
        "a = u.find_spec('adapters'); print(a.origin if a else None)\n"
    )
    assert out[0] == "False"
    assert Path(out[1]) == ROOT / "adapters" / "__init__.py"
    # no top-level `adapters` from this checkout (another package of that name may be installed)
    assert out[2] == "None" or not Path(out[2]).is_relative_to(ROOT)


def test_adapters_import_under_the_namespace():
    out = _probe("from topotree.adapters import FlowAutoencoder, fit\n"
                 "import topotree.adapters.autoencoder as m\n"
                 "print(FlowAutoencoder.__module__, m.FlowAutoencoder is FlowAutoencoder)")
    assert out == ["topotree.adapters.autoencoder True"]
