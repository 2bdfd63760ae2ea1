"""Imports point only down the layers (ARCHITECTURE.md), and nothing in topotree/ imports torch.

Every module's imports, function-level ones included, are read with ``ast`` (no code runs).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "topotree"

# module (path below topotree/, without .py; a package by its folder name) -> layer
LAYERS = {
    # 0: the toolbox
    "_validation": 0, "_pot": 0, "_progress": 0, "disjoint_set": 0, "datasets": 0,
    "_procrustes": 0, "_assignment": 0, "_nearest": 0, "_icp": 0, "_warp": 0, "_atomic": 0, "_typing": 0, "_threads": 0,
    # 1: kernels (graph, density, merge tree)
    "_kdtree": 1, "_components": 1, "_renumber": 1, "graph": 1, "density": 1, "_gmm": 1,
    "_merge": 1, "_assemble": 1, "_dask_knn": 1, "_dask_screen": 1, "_knn_blocks": 1, "_forest": 1,
    # 2: the tree
    "_simplify": 2, "tree": 2, "build": 2, "blockwise": 2,
    # 3: comparing trees
    "compare": 3, "matching": 3,
    # 4: alignment
    "align": 4,
    # 5: peers and scores
    "baselines": 5, "metrics": 5, "estimator": 5,
    # 6: pictures and the command line
    "plot": 6, "cli": 6,
    # the package itself re-exports everything
    "__init__": 7, "__main__": 7, "_warmup": 7,
}
LAZY_ADAPTERS = {"cli"}  # `topotree demo` hands over to topotree.adapters.demo, imported inside the function


def _is_adapters(mod: str) -> bool:
    """The torch layer: the repository's adapters/ folder, installed as topotree.adapters."""
    parts = mod.split(".")
    return parts[0] == "adapters" or parts[:2] == ["topotree", "adapters"]


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return rel.parts[0]


def _imports(path: Path):
    """(module imported, line) for every import in the file, resolved to topotree units."""
    tree = ast.parse(path.read_text())
    pkg = path.relative_to(ROOT).parent.parts  # package of the file, below topotree
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module or "", node.lineno
                continue
            base = list(pkg[: len(pkg) - (node.level - 1)]) if node.level > 1 else list(pkg)
            if node.level - 1 > len(pkg):
                yield "<outside topotree>", node.lineno
                continue
            mod = ".".join(["topotree", *base, *(node.module.split(".") if node.module else [])])
            if node.module is None:  # from . import x, y
                for a in node.names:
                    if a.name != "__version__":  # a constant of the package, not a module
                        yield f"{mod}.{a.name}", node.lineno
            else:
                yield mod, node.lineno


FILES = sorted(ROOT.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = sorted({_unit(f) for f in FILES} - set(LAYERS))
    assert not missing, f"add these modules to LAYERS (and ARCHITECTURE.md): {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    me = _unit(path)
    bad = []
    for mod, line in _imports(path):
        top = mod.split(".")[0]
        if top == "torch":
            bad.append(f"line {line}: imports torch")
        elif _is_adapters(mod):
            if me not in LAZY_ADAPTERS:
                bad.append(f"line {line}: imports {mod} (only the CLI may, lazily)")
        elif top == "topotree":
            parts = mod.split(".")
            other = parts[1] if len(parts) > 1 else "__init__"
            if other == me:
                continue
            if other not in LAYERS:
                bad.append(f"line {line}: imports unknown topotree module {mod}")
            elif LAYERS[other] > LAYERS[me]:
                bad.append(f"line {line}: {me} (layer {LAYERS[me]}) imports {other} (layer {LAYERS[other]})")
    assert not bad, f"{path.relative_to(ROOT)}:\n" + "\n".join(bad)


def test_cli_imports_adapters_only_inside_functions():
    tree = ast.parse((ROOT / "cli.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    for n in top_level:
        names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
        assert not any(_is_adapters(x) for x in names)
