"""Build the API reference with pdoc (``make docs``): ``python -W error docs/build_api.py [pdoc args]``.

``topotree.DensityTree`` is imported on first use (see ``topotree/__init__.py``); it is touched
here first so that pdoc finds it in the package's namespace.
"""
import topotree

topotree.DensityTree  # noqa: B018 - binds the lazily imported estimator

from pdoc.__main__ import cli  # noqa: E402

if __name__ == "__main__":
    cli()
