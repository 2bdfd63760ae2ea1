"""Fixtures shared by the whole suite (helper functions: tests/helpers.py)."""
import os
import sys

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


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread_per_worker():
    """Under pytest-xdist (``make test``: two workers on two cores) each worker's BLAS runs one thread:
    two workers with a two-thread pool each oversubscribe the cores, and idle pool threads spin. Set in
    this process only (threadpoolctl), not in os.environ, so the golden cases' subprocesses keep the
    BLAS threading they were recorded with. numba keeps its threads (its parallel paths stay tested)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(autouse=True)
def _one_torch_thread_per_worker():
    """The same for torch, once a test has imported it (the core never does)."""
    torch = sys.modules.get("torch")
    if torch is not None and os.environ.get("PYTEST_XDIST_WORKER") and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    yield


# docstring examples of over 15 s (a default `align` runs its whole search): doctests cannot carry the
# `heavy` marker that tests of that length get
HEAVY_DOCTESTS = ("topotree.align._many.align_many", "adapters.alignment.align_models")


def pytest_collection_modifyitems(config, items):
    """Start the longest cases first: with ``pytest -n 2 --dist worksteal`` (``make test``) the two
    workers then share the short ones around them and finish together, instead of one worker
    starting a two-minute case when the other has run out of work."""
    def heavy(item):
        return item.get_closest_marker("heavy") is not None or item.name in HEAVY_DOCTESTS

    items.sort(key=lambda item: not heavy(item))  # stable: the collection order otherwise
