"""``align``: correspondence-free alignment of two latent spaces. Validates every argument once,
rescales clouds whose squared distances would leave float64, and runs the global search
(``search="auto"``: the trees' maps and Gromov-Wasserstein starts, judged by neighbourhood
agreement) or the tree pipeline alone (``search="trees"``)."""
from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from .._procrustes import KINDS
from .._typing import ArrayLike, Seed, Transform
from .._validation import (
    SKLEARN_MAX_SEED,
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_points,
    check_seed,
    scale_exponent,
)
from ..build import _is_blockwise_input
from ..tree import ClusterTree
from ._nonlinear import warp_alignment
from ._params import FALLBACK_K, MIN_TREE_POINTS
from ._pipeline import align_on_trees
from ._result import Alignment, Options
from ._search import search as global_search
from ._trees import check_tree

__all__ = ["align"]


def align(A: ArrayLike, B: ArrayLike, transform: Transform = "affine", *, tree_a: ClusterTree | None = None,
          tree_b: ClusterTree | None = None, density: Literal["auto", "knn", "gmm"] = "auto", k: int | None = None,
          icp_rounds: int = 5, ridge: float = 0.1, allow_reflection: bool = True, max_points: int = 20000,
          n_candidates: int = 24, use_matching: Literal["auto", "trees", "fallback"] = "auto", n_refine: int = 3,
          search: Literal["auto", "trees"] = "auto", warp: bool = False, seed: Seed = 0) -> Alignment:
    """Align two point clouds without point correspondences, from their matched cluster trees
    and a global search judged by neighbourhood agreement.

    **Global search** (``search="auto"``, the default). Candidate maps come from the tree
    pipeline below (on kNN and on GMM trees) and from Gromov-Wasserstein between the k-means
    clusters of A and of B (Euclidean distances between centres, and hop counts through a kNN
    graph, which a non-linear relation keeps; many cheap starts, the lowest GW losses kept).
    Every candidate is refined by self-learning from the exact optimal-transport matching of T(A)
    onto B, each matched pair weighted by its *neighbourhood agreement* (the share of its k nearest
    neighbours whose partners are among its partner's k nearest neighbours in B); the candidate
    of highest agreement is returned. Agreement needs no correspondence and survives non-linear
    relations between the spaces (which keep neighbourhoods), where distances and cluster
    centroids do not: on the latents of two ordinary non-linear autoencoders the trees alone pick
    a wrong leaf map as often as not. The best distinct candidates are also *bent*: a smooth warp
    carries their image onto B, and the map is refitted to the matching it proposes. The chosen
    map is finally *straightened*: replaced by the affine map nearest, in least squares, to the
    pairs of two smooth warps, one carrying its image onto B and one carrying B onto its image (each
    cloud's points weigh half), an estimate of the best affine map of the true relation, unless that
    changes which neighbourhoods of B the points reach
    (``info["search"]["straightened"]`` says which). The result's ``trust`` (in [0, 1], the same meaning on every
    data set) places the agreement between maps that only match the first two moments (0) and B
    against a disjoint half of itself (1), and asks the map to beat every substantially different
    candidate; below 0.4 the search first *escalates* (up to two more rounds of Gromov-Wasserstein
    starts, geodesic distances through the kNN graph on fresh k-means quantisations, refined and
    bent like the first; ``info["search"]["escalations"]`` counts them, and an added candidate
    replaces the choice only by agreeing better by more than a near-tie), and if the trust stays
    below 0.4 an :class:`AlignmentWarning` says that nothing reliable was found. Between spaces of
    different dimension, a map trusted less than 0.6 is also sought the other way (from B to A, then
    turned into a map from A to B by least squares on B's points and their images), and the more
    trusted direction is kept (``info["search"]["direction"]``): embedding into more dimensions and
    projecting onto fewer are different searches, and one often finds what the other missed.
    When a map is trusted less than 0.6 and a cloud is heavy-tailed (at least 1% of its points
    beyond Tukey's far-out fence, 3 interquartile ranges above the upper quartile of the distances
    to its coordinatewise median: the codes of rare inputs far from the rest, which can steer every
    matching and fit of the search), the map is also sought on the clouds' *bulks* (each without
    its points beyond the inner fence, 1.5 interquartile ranges); that map, applied to all points,
    is kept when it is trusted more (``info["search"]["bulk"]`` holds the rows searched).
    Where agreement cannot judge (B's neighbourhoods are not reproducible: B against a half of
    itself agrees no better than a moment-only map, as in many-dimensional blobs or latents that
    barely carry classes), the tree pipeline's map competes with maps from the moments alone
    (principal axes matched by rank; independent components matched by their marginal laws), the
    one whose image is closest in law to B is returned (``info["search"]["law_gaps"]``), with no
    trust and a warning that it is unverified.
    ``search="trees"`` runs the tree pipeline alone (no trust). ``warp=True`` follows the affine
    map by a smooth non-linear one (:func:`warp_alignment`).

    **Tree pipeline.** Leaves of the two density cluster trees are matched (by their growth curves and the
    geometry of their centroids); matched nodes give anchor pairs (centroids of each node's
    densest 100/50/25% points, plus the roots); a Procrustes-family map is fitted to them and
    refined by ICP with mutual nearest neighbours restricted to matched clusters, keeping a step
    only where the diagnostic ``score`` (symmetric Chamfer distance) improves. Several candidate
    leaf matchings (ambiguous siblings) are tried and the one with the best selection score kept:
    the Chamfer distance (above 8 dims the energy distance, which does not reward shrinking) plus
    the leaf inconsistency (mapped points whose nearest B point lies in another leaf than the
    matched one) plus, above 8 dims, the mean negative log-likelihood of each matched A leaf's
    mapped points under a Gaussian fitted to its partner B leaf.

    Above 8 dims (with d_a >= d_b) a wrong matching can fit every centroid as well as the right
    one (equal-weight clusters of whitened clouds: their centroids form a near-regular simplex,
    which any permutation maps onto itself). There the leaf map is chosen by the clusters'
    shapes: candidates also come from a quadratic assignment of each leaf's variance along the
    directions to the other leaves' centroids (in whitened coordinates, so affine-invariant), and
    the map kept is the one under which one affine map carries every matched A leaf's Gaussian
    closest (Kullback-Leibler) to its partner's, after a local search (exchanges of two leaves'
    partners; whole subtrees sent onto subtrees). That map is then fitted as above, or taken
    from the Gaussian fit when that scores better. When d_a < d_b the ``n_refine`` best
    candidates are each refined by ICP and compared after it.

    Parameters
    ----------
    A : (n_a, d_a) points in space A; B : (n_b, d_b) points in space B (n_a != n_b is fine).
    transform : {"affine", "similarity", "orthogonal"}
        The family of the map (default affine: two networks' latents share no scale or basis).
    tree_a, tree_b : ClusterTree, optional
        Simplified trees of A and B (built with ``density`` when not given).
    density : {"auto", "knn", "gmm"}
        How the trees are built when not given. "knn": the kNN log-density on the points' own kNN
        graph. "gmm": a diagonal Gaussian mixture with its size chosen by BIC; the tree is built on
        the log-density of its marginal in the points' discriminant coordinates (the span of the
        component means after whitening by the pooled within-component covariance), over the kNN
        graph of those coordinates, which drops
        the noise dimensions in which a kNN graph of 16-64-dim points links every cluster to every
        other. "auto": both, keeping the alignment whose T(A) is closer
        to B (:func:`pick_density`; twice the time). For latents with an exact density (e.g. a
        normalising-flow autoencoder), build the trees yourself with
        ``build_tree(X, log_density=exact).simplify()`` and pass them as ``tree_a``/``tree_b``.
    k : neighbours for the trees (default :func:`topotree.default_k`).
    icp_rounds : int, rounds of restricted ICP (0 switches it off).
    ridge : float, affine only: pull towards the similarity fit (relative to A's variance).
    allow_reflection : bool, allow det -1 (default True).
    max_points : int, clouds larger than this are subsampled (uniformly) for the trees and the fit.
        A Dask array or a .zarr/.npy path (``pip install topotree[dask]``) is subsampled blockwise
        to ``max_points`` rows (uniformly, by ``seed``) before anything else; with its tree given
        (``tree_a``/``tree_b``, e.g. ``build_tree`` of the full Dask cloud) it is loaded whole.
    n_candidates : int, candidate leaf matchings scored by the diagnostic.
    n_refine : int
        Above 8 dims when d_a < d_b, how many of the best candidate matchings are refined by ICP
        before the final choice (by the selection score after ICP).
    use_matching : {"auto", "trees", "fallback"}
        Where the leaf matching comes from: ``topotree.match_trees`` when available ("auto"), or
        the built-in growth-curve + geometry matcher.
    search : {"auto", "trees"}
        The global search judged by neighbourhood agreement (default), or the tree pipeline alone.
    warp : bool
        Refine the map found by a smooth non-linear displacement (:func:`warp_alignment` with its
        defaults; the result's ``warp``). Two networks' latents are rarely related by an affine map.
    seed : int, for subsampling, k-means and the Gromov-Wasserstein starts.

    Returns
    -------
    Alignment

    References
    ----------
    Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
    Riemannian manifolds. J. ACM 60(6). Besl, P. J. and McKay, N. D. (1992). A method for
    registration of 3-D shapes. IEEE TPAMI 14(2). Umeyama, S. (1991). IEEE TPAMI 13(4).
    Schwarz, G. (1978). Estimating the dimension of a model. Ann. Statist. 6(2) (BIC). Fisher, R. A.
    (1936). The use of multiple measurements in taxonomic problems. Ann. Eugenics 7(2)
    (discriminant coordinates). Székely, G. J. and Rizzo, M. L. (2013). Energy statistics. J. Stat.
    Plan. Inference 143(8). Vogelstein, J. T. et al. (2015). Fast approximate quadratic programming
    for graph matching. PLoS ONE 10(4) (FAQ). Jian, B. and Vemuri, B. C. (2011). Robust point set
    registration using Gaussian mixture models. IEEE TPAMI 33(8). Memoli, F. (2011).
    Gromov-Wasserstein distances and the metric approach to object matching. Found. Comput. Math.
    11. Artetxe, M., Labaka, G. and Agirre, E. (2018). A robust self-learning method for fully
    unsupervised cross-lingual mappings of word embeddings. ACL. Grave, E., Joulin, A. and Berthet,
    Q. (2019). Unsupervised alignment of embeddings with Wasserstein Procrustes. AISTATS.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> m = hierarchical_mixture(2000, dim=3, n_leaves=5, seed=1)
    >>> Q = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    >>> B = 2.0 * m.X @ Q + 5.0
    >>> al = tt.align(m.X, B, "similarity")
    >>> bool(np.abs(al.transform(m.X) - B).max() < 0.05 * np.abs(B).max())
    True
    """
    A, B = _in_memory(A, "A", tree_a, max_points, seed), _in_memory(B, "B", tree_b, max_points, seed)
    A, B, tree_a, tree_b, opts = _validate(A, B, transform, tree_a, tree_b, density, k, icp_rounds, ridge,
                                           allow_reflection, max_points, n_candidates, use_matching,
                                           n_refine, search, seed)
    warp = check_bool(warp, "warp")
    ea, eb = scale_exponent(A, "A"), scale_exponent(B, "B")
    if ea or eb:  # coordinates whose squared distances would leave float64: work on A 2^-ea, B 2^-eb
        al = _rescaled(_dispatch(np.ldexp(A, -ea), np.ldexp(B, -eb), tree_a, tree_b, opts), ea, eb)
    else:
        al = _dispatch(A, B, tree_a, tree_b, opts)
    return warp_alignment(al, A, B, seed=opts.seed) if warp else al


def _in_memory(X, name, tree, max_points, seed):
    """A Dask cloud (array or .zarr/.npy path) as the points align works on: its blockwise uniform
    subsample of ``max_points`` rows, or, when its tree is given (built on the full cloud, e.g. by
    ``build_tree`` on the Dask array), all of it. Other inputs are returned unchanged."""
    if not _is_blockwise_input(X):
        return X
    from ..blockwise import as_dask_points, subsample

    if tree is not None:
        return subsample(X, as_dask_points(X, name).shape[0], name=name)
    return subsample(X, check_int(max_points, "max_points", low=1), check_seed(seed), name)


def _dispatch(A, B, tree_a, tree_b, opts):
    if opts.search == "trees":
        return align_on_trees(A, B, tree_a, tree_b, opts)
    return global_search(A, B, tree_a, tree_b, opts)


def _rescaled(al, ea, eb):
    """The alignment of A 2^-ea to B 2^-eb as one of A to B: scaling by powers of two is exact, so
    this is the map found on the rescaled clouds, expressed in the original units."""
    M = np.ldexp(al.matrix, eb - ea)
    if not np.isfinite(M).all() or np.count_nonzero(M) < np.count_nonzero(al.matrix):
        raise ValueError(f"A and B differ in scale by about 2**{eb - ea}: the map between them cannot be "
                         "represented in float64; rescale one of the clouds")
    info = dict(al.info, scale_exponents=(ea, eb))
    anchors = al.anchors
    if len(anchors) == 3:
        anchors = (np.ldexp(anchors[0], ea), np.ldexp(anchors[1], eb), anchors[2])
    residuals = None if al.residuals is None else np.ldexp(al.residuals, eb)
    return replace(al, matrix=M, offset=np.ldexp(al.offset, eb), scale=float(np.ldexp(al.scale, eb - ea)),
                   anchors=anchors, residuals=residuals, info=info)


# ---------------------------------------------------------------------------------------- phases
def _validate(A, B, transform, tree_a, tree_b, density, k, icp_rounds, ridge, allow_reflection, max_points,
              n_candidates, use_matching, n_refine, search, seed):
    """Every argument checked once; returns the arrays, the trees and the options."""
    A = check_points(A, "A")
    B = check_points(B, "B")
    transform = check_choice(transform, "transform", KINDS)
    density = check_choice(density, "density", {"auto", "knn", "gmm"})
    use_matching = check_choice(use_matching, "use_matching", {"auto", "trees", "fallback"})
    icp_rounds = check_int(icp_rounds, "icp_rounds", low=0)
    max_points = check_int(max_points, "max_points", low=100)
    n_candidates = check_int(n_candidates, "n_candidates", low=1)
    n_refine = check_int(n_refine, "n_refine", low=1)
    if k is not None:
        k = check_int(k, "k", low=2)
    min_pts = max(MIN_TREE_POINTS, (k or FALLBACK_K) + 1)
    for X, name in ((A, "A"), (B, "B")):
        if X.shape[0] < min_pts:
            raise ValueError(f"{name} has {X.shape[0]} points; at least {min_pts} are needed to build a cluster tree")
    tree_a = check_tree(tree_a, A.shape[0], "tree_a", "A")
    tree_b = check_tree(tree_b, B.shape[0], "tree_b", "B")
    ridge = check_fraction(ridge, "ridge", allow_none=False)
    if not isinstance(allow_reflection, (bool, np.bool_)):
        raise TypeError(f"allow_reflection must be True or False, got {type(allow_reflection).__name__} {allow_reflection!r}")
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    search = check_choice(search, "search", {"auto", "trees"})
    opts = Options(transform, density, k, icp_rounds, float(ridge), bool(allow_reflection), max_points,
                   n_candidates, use_matching, n_refine, seed, search)
    return A, B, tree_a, tree_b, opts


