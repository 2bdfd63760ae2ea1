"""Correspondence-free alignment of two latent spaces from their matched cluster trees.

``procrustes`` fits a map from paired points (the supervised case); ``align`` derives the pairs
itself from the two clouds' density cluster trees (no point correspondences) and refines the map
by iterative closest points restricted to matched clusters.

Modules: ``_pipeline`` (``align`` as named phases), ``_result`` (Alignment, candidates),
``_families`` (``procrustes``, moment correction), ``_trees`` (tree helpers), ``_leafmaps`` (the
built-in leaf matcher), ``_anchors``, ``_selection`` (the score that ranks candidates),
``_shapes`` (leaf Gaussians and shape-based leaf maps, many dims), ``_diagnostics`` (Chamfer,
energy, mixture divergence), ``_many`` (``align_many``: N spaces into one frame),
``_density_choice`` (``pick_density``), ``_judge`` (``judge_alignments``: maps from anywhere judged
as ``align`` judges its own), ``_align`` (``align``: checks, then the global search of
``_search`` over the tree pipeline's maps and the GW starts of ``_gw_starts``, judged by
``_agreement``), ``_nonlinear`` (``warp_alignment``: a smooth non-linear refinement),
``_params`` (every tuning constant).
"""
from ._align import align
from ._density_choice import pick_density
from ._diagnostics import chamfer_score, energy_distance
from ._families import procrustes
from ._judge import Judgement, judge_alignments
from ._nonlinear import warp_alignment
from ._many import MultiAlignment, align_many, cycle_error
from ._result import Alignment, AlignmentWarning

__all__ = ["Alignment", "AlignmentWarning", "align", "procrustes", "chamfer_score", "energy_distance",
           "pick_density", "align_many", "MultiAlignment", "cycle_error", "warp_alignment", "judge_alignments",
           "Judgement"]
