"""A tqdm progress bar that can be turned off (and degrades to a no-op without tqdm).

When stderr is not a terminal (logs, CI, ``make demo > log``) the bar is off: tqdm would write
hundreds of carriage-return updates into the file. ``TOPOTREE_PROGRESS=1`` forces it on.
"""
import os
import sys

try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover
    _tqdm = None


class _Null:
    def update(self, *_):
        pass

    def close(self):
        pass


def interactive(stream=None) -> bool:
    """Whether progress bars should be drawn: stderr (or ``stream``) is a terminal, or
    ``TOPOTREE_PROGRESS=1`` is set."""
    if os.environ.get("TOPOTREE_PROGRESS") == "1":
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_bar(total, desc, disable):
    if disable or _tqdm is None or not interactive():
        return _Null()
    return _tqdm(total=total, desc=desc, leave=False)
