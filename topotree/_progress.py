"""A tqdm progress bar that can be turned off (and degrades to a no-op without tqdm)."""
try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover
    _tqdm = None


class _Null:
    def update(self, *_):
        pass

    def close(self):
        pass


def progress_bar(total, desc, disable):
    if disable or _tqdm is None:
        return _Null()
    return _tqdm(total=total, desc=desc, leave=False)
