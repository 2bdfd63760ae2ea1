"""Matching and distances between cluster trees: ``match_trees``, ``tree_distance``,
``merge_distortion``, ``mass_diagram``, ``matching_accuracy``.

Only basis-free quantities are used (see :mod:`topotree.compare._descriptors`): masses, levels expressed
as the mass above them, the nesting of the clusters, and, when the point clouds are given,
geometry that no similarity transform changes (distance ratios through a Procrustes residual,
relative spreads, normalised covariance spectra).

The matching is made in three steps:

1. **Leaves** are paired by a minimum-cost assignment (Hungarian, with a deletion column for
   every leaf) on: the leaf's *growth curve* (the mass of the component holding its peak at 64
   mass-above levels, held flat below the level where the leaf merges, since merge levels move
   much more under noise and warps than the clusters do), its basin mass, and its *nesting curve*
   (for every mass t, the mass of the smallest cluster of the tree that holds the leaf and at
   least t of the points). None depends on the order of near-simultaneous merges, which is
   what defeats recursive matching of the binary shape.
2. With point clouds, geometry that similarity transforms leave alone is added: relative spreads,
   normalised covariance spectra, and each leaf's distribution of distances to the other leaves
   (relative to their mean; Memoli's local distribution of distances, a lower bound of
   Gromov-Wasserstein). Then, from several starts (the assignment above, fused
   Gromov-Wasserstein couplings of the leaf centroids, and assignments anchored on one of A's
   largest leaves paired in turn with each leaf of B), an orthogonal Procrustes fit
   (reflections allowed) of the standardised centroids of all matched nodes adds its residual to
   the leaf costs and the assignment is solved again, until stable; exchanges of two partners
   are then tried while they lower the objective. The lowest objective wins.
3. **Internal nodes** are paired through the leaves: a node of A and a node of B are paired when
   the matched leaves below them are the same pairs (clusters that agree); when several nodes
   on a chain qualify, the closest pair by descriptors. Pairs of laminar families that agree
   preserve the hierarchy: ancestors are matched to ancestors or left unmatched, never crossed.
   A leaf can thus be paired with a subtree of the other tree.

The cost of a matching is the edit cost of the mapping it defines, with every node described by
its *area* curve (its component's mass at every level it holds): matched nodes pay the L1
distance between their curves, unmatched nodes their whole area. Each tree's total area is 1/2,
so the cost divided by the sum of the areas lies in [0, 1], 0 for identical trees.

Modules: ``_matching`` (``match_trees`` as phases), ``_result`` (TreeMatching), ``_inputs``
(argument checks), ``_descriptors`` and ``_curves`` (node descriptors and curves), ``_costs`` (the
cost model), ``_starts`` (starting assignments), ``_refine`` (geometric refinement),
``_hierarchy`` (internal pairs, edit cost), ``_confidence``, ``_supervised`` (Jaccard overlap,
``matching_accuracy``), ``_distances`` (``tree_distance``, ``merge_distortion``, ``mass_diagram``),
``_params`` (every tuning constant).
"""
from ._distances import mass_diagram, merge_distortion, tree_distance
from ._matching import match_trees
from ._result import TreeMatching
from ._supervised import matching_accuracy

__all__ = ["TreeMatching", "match_trees", "matching_accuracy", "tree_distance", "merge_distortion",
           "mass_diagram"]
