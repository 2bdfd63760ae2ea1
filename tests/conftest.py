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
