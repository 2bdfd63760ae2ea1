"""topotree: density cluster trees, their persistence, matching and correspondence-free alignment.

>>> import numpy as np, topotree as tt
>>> rng = np.random.default_rng(0)
>>> X = np.r_[rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) + [6, 0]]
>>> len(tt.build_tree(X).simplify().leaves)
2
"""
from . import baselines, blockwise, metrics
from .align import (
    Alignment,
    AlignmentWarning,
    MultiAlignment,
    align,
    align_many,
    Judgement,
    cycle_error,
    judge_alignments,
    procrustes,
    warp_alignment,
)
from .build import build_tree, default_k
from .compare import TreeMatching, mass_diagram, match_trees, matching_accuracy, merge_distortion, tree_distance
from .plot import plot_dendrogram, plot_embedding, plot_matching, plot_persistence
from .tree import ClusterTree, Node, Simplification, load_tree

__all__ = [
    "build_tree", "default_k", "ClusterTree", "Node", "Simplification", "load_tree",
    "match_trees", "TreeMatching", "matching_accuracy", "tree_distance", "merge_distortion", "mass_diagram",
    "align", "Alignment", "AlignmentWarning", "procrustes", "align_many", "MultiAlignment", "cycle_error", "warp_alignment",
    "judge_alignments", "Judgement", "metrics", "baselines", "blockwise",
    "plot_dendrogram", "plot_persistence", "plot_matching", "plot_embedding",
    "DensityTree",
]
__version__ = "0.1.0"


def __getattr__(name):
    # DensityTree is imported on first use: it pulls in scikit-learn's estimator machinery, which
    # `import topotree` does not need (and which changes what the process has allocated before the
    # golden cases run, hence the last bits of numpy's reductions)
    if name == "DensityTree":
        from .estimator import DensityTree

        globals()["DensityTree"] = DensityTree
        return DensityTree
    raise AttributeError(f"module 'topotree' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"DensityTree"})
