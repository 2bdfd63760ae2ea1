"""Alignment with a model's exact density: refine a map by the likelihood it gives under model B.

A flow autoencoder knows its latent density in closed form. Once ``tt.align`` has found a map T
from A's latent space to B's (no correspondences), the model of B can judge and improve it: under
the model "a point of A is T^-1 of a draw from B's prior", the log-likelihood of A's codes is

    L(T) = mean_i log p_B(T(z_i)) + log |det M|        (T(z) = z M + t),

the exact density of T(Z_A) under B's prior plus the change of volume. Maximising it over the
affine T from a good start is a local, correspondence-free refinement that uses the whole density
(every mode, its shape and mass), not only the tree's anchors; the volume term stops the map from
shrinking A's cloud onto B's densest mode. ``align_models`` takes the codes' own ``tt.align`` and the
alignment of the two models' own trees as starts, refines each by the likelihood, and keeps the one
that ``tt.judge_alignments`` trusts most on the codes, near-ties broken by the likelihood: the
likelihood's maximum is not the least-squares map (on digits it lies at 0.70-0.95x the oracle's
label transfer) and maps of different basins can reach the same likelihood, so the likelihood
supplies candidates and breaks ties, and the codes' neighbourhoods judge.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import topotree as tt
from topotree.align._params import TRUST_WARN  # align_models warns below the trust at which align does

from ._validation import ArrayIn, as_matrix, check_int, check_prior, check_seed
from .model_tree import model_tree

if TYPE_CHECKING:
    from .autoencoder import FlowAutoencoder

__all__ = ["LikelihoodRefinement", "likelihood_refine", "align_models"]

#: L-BFGS iterations of the likelihood refinement (each one full pass over A's codes)
REFINE_ITERATIONS = 200
#: prior samples the model tree of each model is built on in ``align_models``
MODEL_TREE_SAMPLES = 10000


@dataclass(frozen=True)
class LikelihoodRefinement:
    """What ``likelihood_refine`` did: mean log-likelihood of A's codes under B's model (nats per
    point, volume term included) before and after, and the L-BFGS iterations run."""

    before: float
    after: float
    iterations: int


def _objective(prior, Z: torch.Tensor, M: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean log p_B(Z M + t) + log-volume of M (|det M|; sqrt det(M^T M) if M is tall)."""
    if M.shape[0] == M.shape[1]:
        logvol = torch.linalg.slogdet(M)[1]
    else:
        logvol = 0.5 * torch.linalg.slogdet(M.T @ M)[1]
    return prior.log_prob(Z @ M + t).mean() + logvol


def likelihood_refine(alignment: tt.Alignment, model_b: FlowAutoencoder | torch.nn.Module, Z_a: ArrayIn, *,
                      max_iter: int = REFINE_ITERATIONS) -> tt.Alignment:
    """Refine an affine ``alignment`` (space A -> B) by the likelihood of ``Z_a`` under ``model_b``.

    Maximises ``mean_i log p_B(z_i M + t) + log|det M|`` over the affine map (M, t) by L-BFGS from
    the alignment's own map: the log-likelihood of A's codes under the model "A = T^-1(draws from
    B's prior)". No correspondences are used. The result is an affine :class:`topotree.Alignment`
    (``kind="affine"``, warp dropped) whose ``info["likelihood"]`` holds a
    :class:`LikelihoodRefinement`; ``trust`` and the other diagnostics are the start's.

    Parameters
    ----------
    alignment : topotree.Alignment from A's latent space (d_a dims) to B's (d_b >= d_a dims).
    model_b : FlowAutoencoder (its latent prior is used) or a prior module with ``log_prob``.
    Z_a : (n, d_a) A's codes.
    max_iter : int, L-BFGS iterations.

    References
    ----------
    Myronenko, A. and Song, X. (2010). Point set registration: coherent point drift. IEEE TPAMI 32
    (registration as maximum likelihood of one cloud under a density fitted to the other).
    Dinh, L., Krueger, D. and Bengio, Y. (2014). NICE: non-linear independent components estimation
    (the exact density of a volume-preserving flow).

    Examples
    --------
    >>> import numpy as np, torch, topotree as tt
    >>> from topotree.adapters import GMMPrior, likelihood_refine
    >>> prior = GMMPrior(2, n_components=2)
    >>> with torch.no_grad():
    ...     _ = prior.loc.copy_(torch.tensor([[-3.0, 0.0], [3.0, 0.0]]))
    >>> Z = prior.sample(500, generator=torch.Generator().manual_seed(0)).detach().numpy() @ [[0.0, 1.0], [-1.0, 0.0]]
    >>> start = tt.procrustes(Z[:3], Z[:3] @ [[0.1, -0.9], [1.1, 0.0]] + 0.2, "affine")  # a rough map
    >>> refined = likelihood_refine(start, prior, Z)
    >>> bool(refined.info["likelihood"].after > refined.info["likelihood"].before)
    True
    """
    if not isinstance(alignment, tt.Alignment):
        raise TypeError(f"alignment must be a topotree.Alignment, got {type(alignment).__name__}")
    prior = check_prior(model_b, "model_b")
    max_iter = check_int(max_iter, "max_iter", low=1)
    d_a, d_b = alignment.dim_a, alignment.dim_b
    if d_a > d_b:
        raise ValueError(f"likelihood_refine needs d_a <= d_b (a map into B that keeps A's volume), got {d_a} -> {d_b}")
    if getattr(prior, "dim", d_b) != d_b:
        raise ValueError(f"model_b's latent space has {prior.dim} dims but the alignment maps into {d_b}")
    Z = as_matrix(Z_a, "Z_a", width=d_a, min_rows=d_a + 2)
    ref = next((p for p in prior.parameters()), torch.zeros((), dtype=torch.float32))
    Zt = (Z.detach() if isinstance(Z, torch.Tensor) else torch.from_numpy(np.asarray(Z))).to(ref)
    M = torch.tensor(np.asarray(alignment.matrix), dtype=ref.dtype, requires_grad=True)
    t = torch.tensor(np.asarray(alignment.offset), dtype=ref.dtype, requires_grad=True)
    frozen = [p.requires_grad for p in prior.parameters()]
    for p in prior.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            before = float(_objective(prior, Zt, M, t))
        opt = torch.optim.LBFGS([M, t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")
        iterations = [0]

        def closure():
            opt.zero_grad()
            loss = -_objective(prior, Zt, M, t)
            loss.backward()
            iterations[0] += 1
            return loss

        opt.step(closure)
        with torch.no_grad():
            after = float(_objective(prior, Zt, M, t))
    finally:
        for p, g in zip(prior.parameters(), frozen):
            p.requires_grad_(g)
    if not np.isfinite(after) or after < before:  # a failed line search: keep the start
        M_new, t_new, after = np.array(alignment.matrix, dtype=float), np.array(alignment.offset, dtype=float), before
    else:
        M_new, t_new = M.detach().double().numpy(), t.detach().double().numpy()
    info = dict(alignment.info or {})
    info["likelihood"] = LikelihoodRefinement(before=before, after=after, iterations=iterations[0])
    scale = float(np.mean(np.linalg.svd(M_new, compute_uv=False)))
    return dataclasses.replace(alignment, kind="affine", matrix=M_new, offset=t_new, scale=scale, warp=None, info=info)


def align_models(model_a: FlowAutoencoder, model_b: FlowAutoencoder, X_a: ArrayIn, X_b: ArrayIn, *,
                 n_tree_samples: int = MODEL_TREE_SAMPLES, codes_alignment: tt.Alignment | None = None, seed: int = 0,
                 **align_kwargs: Any) -> tt.Alignment:
    """Align the latent spaces of two flow autoencoders with their exact densities, without pairs.

    Encodes ``X_a`` with ``model_a`` and ``X_b`` with ``model_b`` (the two data sets need not share
    a single point). Two starts: ``tt.align`` of the codes themselves ("codes"), and ``tt.align`` of
    the two models' own trees ("model trees": the priors' level-set trees on ``n_tree_samples``
    prior samples each, :func:`~topotree.adapters.model_tree`, aligned on those samples). Each is
    also refined by :func:`likelihood_refine` under model B ("... + likelihood"). The four maps are
    judged on the codes by :func:`topotree.judge_alignments`; of those within a near-tie of the
    best (``Judgement.near_best``), the one under which A's codes are most likely under model B is
    kept. Where the codes cannot be judged (neighbourhoods not reproducible), the refined map of
    the highest likelihood is kept. Warns (``tt.AlignmentWarning``) when the kept map's trust
    is below the level at which ``tt.align`` warns.

    ``info["start"]`` names the map kept, ``info["starts"]`` holds each start's likelihood before
    and after refinement, ``info["judgement"]`` the :class:`topotree.Judgement` of the four (in the
    order codes, model trees, codes + likelihood, model trees + likelihood); ``trust`` is the kept
    map's trust score from it.

    Parameters
    ----------
    model_a, model_b : FlowAutoencoder, of latent dims d_a <= d_b.
    X_a, X_b : data in each model's input space (any rows; they need not correspond).
    n_tree_samples : prior samples per model tree (0 skips the model-tree start).
    codes_alignment : an affine alignment of the codes ``encode_a(X_a)`` -> ``encode_b(X_b)`` already
        computed (e.g. ``tt.align`` with trees of your own), used as the "codes" start instead of
        running ``tt.align`` again; None runs it.
    seed : seed of ``tt.align``, of the prior samples and of the judgement.
    **align_kwargs : passed to ``tt.align`` of the codes (its ``transform`` is always "affine").

    Returns
    -------
    topotree.Alignment, affine, from A's latent space to B's.

    References
    ----------
    Myronenko, A. and Song, X. (2010). Point set registration: coherent point drift. IEEE TPAMI 32.
    Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
    Riemannian manifolds. J. ACM 60 (the trees the starts come from).

    Examples
    --------
    >>> import numpy as np
    >>> from topotree.adapters import FlowAutoencoder, fit, align_models
    >>> X = np.random.default_rng(0).normal(size=(300, 4)) * [3.0, 2.0, 0.3, 0.3]
    >>> A, B = FlowAutoencoder(4, 2, n_components=2, seed=0), FlowAutoencoder(4, 2, n_components=2, seed=1)
    >>> _ = fit(A, X[:150], epochs=3, progress=False); _ = fit(B, X[150:], epochs=3, progress=False)
    >>> al = align_models(A, B, X[:150], X[150:], n_tree_samples=500)
    >>> al.kind, al.matrix.shape
    ('affine', (2, 2))
    """
    for name, m in (("model_a", model_a), ("model_b", model_b)):
        if not (hasattr(m, "encode") and hasattr(m, "prior")):
            raise TypeError(f"{name} must be a FlowAutoencoder (encode and a latent prior), got {type(m).__name__}")
    n_tree_samples = check_int(n_tree_samples, "n_tree_samples", low=0)
    seed = check_seed(seed, allow_none=False)
    if "transform" in align_kwargs and align_kwargs.pop("transform") != "affine":
        raise ValueError("align_models fits affine maps; leave transform unset")
    Z_a = np.asarray(model_a.encode(X_a), dtype=np.float64)
    Z_b = np.asarray(model_b.encode(X_b), dtype=np.float64)
    if Z_a.shape[1] > Z_b.shape[1]:
        raise ValueError(f"model_a's latent space ({Z_a.shape[1]} dims) must not be larger than model_b's ({Z_b.shape[1]})")
    if codes_alignment is not None:
        if not isinstance(codes_alignment, tt.Alignment):
            raise TypeError("codes_alignment must be a topotree.Alignment or None, "
                            f"got {type(codes_alignment).__name__}")
        if (codes_alignment.dim_a, codes_alignment.dim_b) != (Z_a.shape[1], Z_b.shape[1]):
            raise ValueError(f"codes_alignment maps {codes_alignment.dim_a} to {codes_alignment.dim_b} dims, but the "
                             f"models' latent spaces have {Z_a.shape[1]} and {Z_b.shape[1]}")
    with warnings.catch_warnings():  # the judgement below warns, about the map kept
        warnings.simplefilter("ignore", tt.AlignmentWarning)
        starts = [("codes", codes_alignment if codes_alignment is not None
                   else tt.align(Z_a, Z_b, "affine", seed=seed, **align_kwargs))]
        if n_tree_samples:
            mt_a = model_tree(model_a, n_tree_samples, seed=seed)
            mt_b = model_tree(model_b, n_tree_samples, seed=seed + 1)
            starts.append(("model trees", tt.align(mt_a.samples, mt_b.samples, "affine", tree_a=mt_a.tree,
                                                   tree_b=mt_b.tree, seed=seed)))
    refined = [(name + " + likelihood", likelihood_refine(al, model_b, Z_a)) for name, al in starts]
    candidates = starts + refined
    # each candidate's log-likelihood of A's codes under model B (before / after the refinement)
    lik = [r.info["likelihood"].before for _, r in refined] + [r.info["likelihood"].after for _, r in refined]
    judgement = tt.judge_alignments(Z_a, Z_b, [al for _, al in candidates], seed=seed)
    if judgement.judged:  # the codes judge; among the maps they cannot tell apart, the likelihood
        pick = max(judgement.near_best, key=lambda i: (lik[i], -i))
        score = judgement.trusts[pick].score
    else:
        pick, score = max(range(len(starts), len(candidates)), key=lambda i: lik[i]), float("nan")
    name, best = candidates[pick]
    if not score >= TRUST_WARN:
        why = (f"trust {score:.2f}" if judgement.judged else
               "the codes' neighbourhoods are not reproducible, so the maps could not be judged; kept: the "
               "highest likelihood")
        warnings.warn(f"align_models found no reliable correspondence ({why}; map kept: {name})",
                      tt.AlignmentWarning, stacklevel=2)
    info = dict(best.info)
    info["start"] = name
    info["starts"] = {n: r.info["likelihood"] for (n, _), (_, r) in zip(starts, refined)}
    info["judgement"] = judgement
    return dataclasses.replace(best, trust=score, info=info)
