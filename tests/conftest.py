"""Fixtures shared by the whole suite (helper functions: tests/helpers.py)."""
import matplotlib
import pytest

matplotlib.use("Agg")  # no window, whatever the environment


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened (plots, the CLI, the demo)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def _restore_environ():
    """Undo what a test leaves in os.environ. Dask's LocalCluster sets OMP_NUM_THREADS=1,
    OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED... in the parent process before it spawns workers; a later
    subprocess (the golden cases) would inherit them, and single-threaded BLAS rounds differently."""
    import os

    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)
