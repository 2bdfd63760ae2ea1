"""topotree: density cluster trees, their persistence, matching and correspondence-free alignment."""
from .build import build_tree, default_k
from .tree import ClusterTree, Node, Simplification, load_tree

__all__ = ["build_tree", "default_k", "ClusterTree", "Node", "Simplification", "load_tree"]
__version__ = "0.1.0"
