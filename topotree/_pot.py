"""POT (Python Optimal Transport), an optional extra, imported without its torch/jax/tf backends.

POT imports every array library it finds at import time; topotree never imports torch, so the
backends are switched off for the import (and the environment restored afterwards).
"""
import os
import sys

_KEYS = ("POT_BACKEND_DISABLE_PYTORCH", "POT_BACKEND_DISABLE_JAX", "POT_BACKEND_DISABLE_TENSORFLOW",
         "POT_BACKEND_DISABLE_CUPY")


def import_pot():
    """Return the ``ot`` module; raise ImportError when POT is not installed."""
    if "ot" in sys.modules:
        if sys.modules["ot"] is None:  # import blocked on purpose (as in a test)
            raise ImportError("POT is not available")
        return sys.modules["ot"]
    saved = {k: os.environ.get(k) for k in _KEYS}
    try:
        for k in _KEYS:
            os.environ[k] = "1"
        import ot
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ot
