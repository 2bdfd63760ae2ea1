"""Progress bars stay silent when stderr is not a terminal (logs), unless forced."""
import io

import numpy as np

from topotree import _progress
from topotree.graph import knn


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_no_bar_without_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("TOPOTREE_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not _progress.interactive()
    assert isinstance(_progress.progress_bar(10, "x", disable=False), _progress._Null)
    knn(np.random.default_rng(0).normal(size=(500, 2)), 5, progress=True)
    import sys

    assert sys.stderr.getvalue() == ""


def test_bar_on_a_terminal_or_when_forced(monkeypatch):
    monkeypatch.delenv("TOPOTREE_PROGRESS", raising=False)
    assert _progress.interactive(_TTY())
    monkeypatch.setenv("TOPOTREE_PROGRESS", "1")
    assert _progress.interactive(io.StringIO())
    bar = _progress.progress_bar(3, "x", disable=False)
    assert not isinstance(bar, _progress._Null)
    bar.close()
    assert isinstance(_progress.progress_bar(3, "x", disable=True), _progress._Null)
