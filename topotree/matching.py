"""Old import path of the tree matching; it lives in :mod:`topotree.compare` now."""
from .compare import TreeMatching, match_trees, matching_accuracy

__all__ = ["TreeMatching", "match_trees", "matching_accuracy"]
