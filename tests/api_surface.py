"""The public surface of topotree: every public module's names and every public callable's signature.

``python tests/api_surface.py > tests/api_snapshot.json`` records it (run it only when the API is
meant to change); ``tests/test_api.py`` checks that every recorded name still exists with the
same signature (names may be added, never removed or changed). A signature is its parameters'
names, kinds and defaults; type hints are left out (adding or refining them changes no call).
"""
import importlib
import inspect
import json

MODULES = ["topotree", "topotree.align", "topotree.matching", "topotree.compare", "topotree.build",
           "topotree.tree", "topotree.graph", "topotree.density", "topotree.baselines", "topotree.metrics",
           "topotree.datasets", "topotree.plot", "topotree.cli"]


def public_names(mod):
    if hasattr(mod, "__all__"):
        return sorted(mod.__all__)
    return sorted(n for n, v in vars(mod).items() if not n.startswith("_") and not inspect.ismodule(v)
                  and getattr(v, "__module__", None) == mod.__name__)


def _without_hints(sig):
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=inspect.Signature.empty)


def surface():
    out = {}
    for name in MODULES:
        mod = importlib.import_module(name)
        entry = {}
        for n in public_names(mod):
            obj = getattr(mod, n)
            sig = None
            if callable(obj):
                try:
                    sig = str(_without_hints(inspect.signature(obj)))
                except (TypeError, ValueError):
                    sig = None
            entry[n] = sig
        out[name] = entry
    return out


if __name__ == "__main__":
    print(json.dumps(surface(), indent=1, sort_keys=True))
