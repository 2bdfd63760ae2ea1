"""``judge_alignments``: several maps of A onto B, from anywhere, judged without correspondences on
the scale ``align`` judges its own candidates on (see ``_agreement`` and ``_search``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._procrustes import fit_map
from .._typing import ArrayLike, Seed
from .._validation import SKLEARN_MAX_SEED, check_bool, check_fraction, check_points, check_seed
from ._agreement import AgreementContext, Trust, calibrate, trust
from ._params import AGREEMENT_MIN_SPAN, AGREEMENT_TIE
from ._result import Alignment
from ._search import _Criterion, _rival, _Row

__all__ = ["Judgement", "judge_alignments"]

_GENERALITY = {"orthogonal": 0, "similarity": 1, "affine": 2}


@dataclass(frozen=True)
class Judgement:
    """What :func:`judge_alignments` found.

    ``best``: the position of the map judged best (near-ties go to the earlier map), or None when
    the clouds cannot be judged (``judged`` False: B's neighbourhoods are not reproducible, B
    against a half of itself agrees no better than a moment-only map). ``trusts``: each map's
    :class:`~topotree.align._agreement.Trust` on the common scale, its uniqueness measured against
    the best substantially different map of the list (empty when not judged). ``near_best``: the
    positions of every map within a near-tie of the best (``best`` among them; the criterion cannot
    tell these apart, so another judge, such as a model's likelihood, may). ``criterion``:
    ``"agreement"`` (neighbourhood agreement) or ``"consistency"`` (distance consistency, for
    separated clusters)."""

    best: int | None
    trusts: tuple[Trust, ...]
    near_best: tuple[int, ...]
    criterion: str
    judged: bool


def judge_alignments(A: ArrayLike, B: ArrayLike, alignments: Sequence[Alignment], *, ridge: float = 0.1,
                     allow_reflection: bool = True, seed: Seed = 0) -> Judgement:
    """Judge several maps of A onto B without correspondences, as :func:`topotree.align` judges
    its own candidates: each map's neighbourhood agreement (do A's near neighbours land, under the
    optimal-transport matching of T(A) onto B, among near neighbours in B?) on one subsample of each
    cloud, placed between refined moment-only maps (0) and B against a disjoint half of itself (1);
    for separated clusters, whose arrangement agreement cannot see, the distance consistency of the
    matching instead. The maps may come from anywhere (``align`` with other settings or other trees,
    Gromov-Wasserstein, a model's likelihood, :func:`topotree.procrustes` on a few known pairs).

    Parameters
    ----------
    A : (n_a, d_a) array, the points the maps move.
    B : (n_b, d_b) array, the target cloud (at least 4 points: half of it calibrates the scale).
    alignments : non-empty sequence of Alignments from d_a to d_b dims. A warped map's agreement is
        its own; its distance consistency and its distinctness from the others are those of its
        affine restriction to the subsample (exact for affine, similarity and orthogonal maps).
    ridge, allow_reflection : the refinement of the moment-only null maps, as in ``align``; they are
        fitted in the most general family among the alignments.
    seed : int, the subsamples and the null maps.

    Returns
    -------
    Judgement

    References
    ----------
    Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
    Riemannian manifolds. J. ACM 60 (the neighbourhood structure shared by the two clouds).
    Memoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching.
    Found. Comput. Math. 11 (distance consistency of a matching).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> X = hierarchical_mixture(1200, dim=2, n_leaves=4, seed=0).X
    >>> R = np.array([[0.0, 1.0], [-1.0, 0.0]])
    >>> right = tt.procrustes(X, X @ R, "orthogonal")
    >>> wrong = tt.procrustes(X, -X @ R, "orthogonal")
    >>> j = tt.judge_alignments(X[:600], X[600:] @ R, [wrong, right])
    >>> j.best, j.trusts[1].structure > 0.8, j.trusts[0].structure < 0.5
    (1, True, True)
    """
    A = check_points(A, "A", min_points=2)
    B = check_points(B, "B", min_points=4)
    if isinstance(alignments, (str, bytes, np.ndarray)) or not hasattr(alignments, "__iter__"):
        raise TypeError(f"alignments must be a sequence of Alignments, got {type(alignments).__name__}")
    alignments = list(alignments)
    if not alignments:
        raise ValueError("alignments must not be empty")
    for i, al in enumerate(alignments):
        if not isinstance(al, Alignment):
            raise TypeError(f"alignments[{i}] must be an Alignment, got {type(al).__name__}")
        if (al.dim_a, al.dim_b) != (A.shape[1], B.shape[1]):
            raise ValueError(f"alignments[{i}] maps {al.dim_a} to {al.dim_b} dims, but A has {A.shape[1]} "
                             f"and B {B.shape[1]}")
    ridge = check_fraction(ridge, "ridge", allow_none=False)
    allow_reflection = check_bool(allow_reflection, "allow_reflection")
    seed = check_seed(seed, allow_none=False, high=SKLEARN_MAX_SEED)
    kind = max((al.kind for al in alignments), key=lambda k: _GENERALITY.get(k, 2))
    kind = kind if kind in _GENERALITY else "affine"

    # each cloud judged in units of a power of two near its largest coordinate (exact, and the
    # judgement is invariant to scale: squared distances neither overflow nor underflow)
    ea, eb = _exponent(A), _exponent(B)
    ctx = AgreementContext.for_clouds(np.ldexp(A, -ea), np.ldexp(B, -eb), seed=seed)
    cal = calibrate(ctx, kind, allow_reflection, float(ridge), seed=seed)
    crit = _Criterion(ctx, cal)
    if cal.span < AGREEMENT_MIN_SPAN:
        return Judgement(best=None, trusts=(), near_best=(), criterion=crit.name, judged=False)
    w = np.full(ctx.A.shape[0], 1.0 / ctx.A.shape[0])
    rows = []
    for al in alignments:
        image = np.ldexp(al.transform(np.ldexp(ctx.A, ea)), -eb)
        if al.warp is None:
            M, t = np.ldexp(al.matrix, ea - eb), np.ldexp(al.offset, -eb)
        else:  # the affine restriction of the warped map to the subsample
            M, t = fit_map(ctx.A, image, w, "affine", True, 0.0)[:2]
        rows.append(_Row(float(ctx.pointwise_mapped(image)[0].mean()), "given", M, t, 1.0))
    values = crit.values(rows)
    trusts = tuple(trust(crit.calibration, values[i], _rival(ctx, rows, i, values), crit.name)
                   for i in range(len(rows)))
    # as align's own choice (_search._judge): near-ties to the earliest
    near = tuple(i for i, v in enumerate(values) if v >= max(values) - AGREEMENT_TIE * crit.calibration.span)
    return Judgement(best=near[0], trusts=trusts, near_best=near, criterion=crit.name, judged=True)


def _exponent(X):
    """The power of two of X's largest absolute coordinate (0 for an all-zero cloud)."""
    top = float(np.abs(X).max())
    return int(np.frexp(top)[1]) if top > 0 else 0
