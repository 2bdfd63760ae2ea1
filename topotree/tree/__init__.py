"""The level-set tree: ``ClusterTree`` (its nodes, labels, merge heights, simplification, export
and saving) in ``_cluster_tree``, and reading saved trees, ``load_tree``, in ``_io``."""
from ._cluster_tree import ClusterTree, Node, Simplification
from ._io import load_tree

__all__ = ["ClusterTree", "Node", "Simplification", "load_tree"]
