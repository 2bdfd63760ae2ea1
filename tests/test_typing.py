"""The public API carries type hints (``py.typed`` ships them) and every hint resolves to a real type."""
import importlib
import inspect
import os
import sys
import typing
from pathlib import Path

import matplotlib.axes
import networkx
import pandas
import pytest

# by module (``topotree.align`` the attribute is the function; the subpackage is in sys.modules)
MODULES = [importlib.import_module(f"topotree{m}")
           for m in ("", ".compare", ".align", ".plot", ".metrics", ".baselines", ".datasets")]
# names imported only for type checkers (matplotlib, pandas and networkx are imported lazily)
LAZY = {"Axes": matplotlib.axes.Axes, "pd": pandas, "nx": networkx}
try:  # the torch layer, where torch is installed
    import topotree.adapters as adapters
    from topotree.adapters.model_tree import ModelTree
    from topotree.adapters.priors import Prior
    from topotree.adapters.training import FitHistory

    MODULES.append(adapters)
    LAZY |= {"ModelTree": ModelTree, "FitHistory": FitHistory, "FlowAutoencoder": adapters.FlowAutoencoder,
             "Prior": Prior}
except ImportError:
    pass


def _public_callables():
    seen = {}
    for mod in MODULES:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                seen.setdefault(obj.__qualname__, obj)
            elif inspect.isclass(obj) and obj.__module__.startswith("topotree"):
                for attr, fn in vars(obj).items():
                    if inspect.isfunction(fn) and not attr.startswith("_"):
                        seen.setdefault(f"{obj.__qualname__}.{attr}", fn)
    return sorted(seen.items())


CALLABLES = _public_callables()


def test_the_list_is_not_empty():
    names = {n for n, _ in CALLABLES}
    assert {"build_tree", "align", "match_trees", "ClusterTree.simplify", "DensityTree.fit"} <= names


@pytest.mark.parametrize("name,fn", CALLABLES, ids=[n for n, _ in CALLABLES])
def test_public_callable_is_fully_annotated(name, fn):
    sig = inspect.signature(fn)
    missing = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty and p not in ("self", "cls")]
    assert not missing, f"{name}: parameters without a type hint: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
    hints = typing.get_type_hints(fn, localns=LAZY)  # every hint names a real type
    assert "return" in hints


USER_CODE = '''
import numpy as np
import topotree as tt

X = np.random.default_rng(0).normal(size=(300, 2))
tree: tt.ClusterTree = tt.build_tree(X, k=15)
simple = tree.simplify(min_mass=0.05)
matching = tt.match_trees(simple, simple)
d: float = tt.tree_distance(simple, simple, "bottleneck")
Y: np.ndarray = tt.align(X, X + 1.0, "similarity", seed=0).transform(X)
labels = tt.DensityTree().fit(X).labels_
ax = tt.plot_dendrogram(simple)
'''
MISUSE = '''
bad = tt.build_tree(X, backend="cuda")
s: str = tt.align(X, X).transform(X)
'''


def test_mypy_accepts_user_code_and_flags_misuse(tmp_path):
    api = pytest.importorskip("mypy.api")
    root = str(Path(__file__).resolve().parents[1])
    (tmp_path / "good.py").write_text(USER_CODE)
    (tmp_path / "bad.py").write_text(USER_CODE + MISUSE)
    # MYPYPATH: mypy cannot follow the import hook of an editable install (a wheel needs no help)
    args = ["--follow-imports=silent", "--ignore-missing-imports", "--no-incremental", "--python-executable",
            sys.executable]
    env = os.environ.get("MYPYPATH")
    os.environ["MYPYPATH"] = root
    try:
        out_good, _, code_good = api.run([*args, str(tmp_path / "good.py")])
        out_bad, _, code_bad = api.run([*args, str(tmp_path / "bad.py")])
    finally:
        if env is None:
            os.environ.pop("MYPYPATH")
        else:
            os.environ["MYPYPATH"] = env
    assert code_good == 0, out_good
    assert code_bad == 1 and 'expected "Literal[\'numba\', \'gudhi\']"' in out_bad and "variable has type \"str\"" in out_bad
