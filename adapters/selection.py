"""``select_prior``: a search over latent distribution families by held-out likelihood."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import ArrayIn, as_matrix
from .training import FitHistory, fit, split_indices

__all__ = ["PriorCandidate", "select_prior"]


@dataclass(frozen=True)
class PriorCandidate:
    """One fitted candidate of :func:`select_prior`.

    Attributes
    ----------
    name : str
        Label of the candidate (its prior, or the label given).
    kwargs : dict
        The ``FlowAutoencoder`` keyword arguments used.
    heldout_nll : float
        Mean negative log-likelihood (nats per example) on the held-out part.
    model : FlowAutoencoder
    history : FitHistory
    """

    name: str
    kwargs: dict
    heldout_nll: float
    model: object
    history: FitHistory


def select_prior(X: ArrayIn, candidates: Sequence[str] = ("gaussian", "gmm", "flow"), *, latent_dim: int, heldout_fraction: float = 0.2,
                 seed: int = 0, model_kwargs: dict | None = None,
                 fit_kwargs: dict | None = None) -> list[PriorCandidate]:
    """Fit one :class:`~topotree.adapters.FlowAutoencoder` per candidate prior and rank them by held-out NLL.

    Parameters
    ----------
    X : array-like, shape (n, dim)
    candidates : sequence
        Prior names (``"gaussian"``, ``"gmm"``, ``"flow"``) or ``(label, kwargs)`` pairs of extra
        ``FlowAutoencoder`` keyword arguments, e.g. ``("gmm-3", {"prior": "gmm", "n_components": 3})``.
    latent_dim : int
    heldout_fraction : float
        Fraction of ``X`` never seen by any fit, on which the candidates are ranked.
    seed : int
    model_kwargs, fit_kwargs : dict, optional
        Shared keyword arguments for ``FlowAutoencoder`` and :func:`fit`.

    Returns
    -------
    list of PriorCandidate, best (lowest held-out NLL) first.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> ranking = select_prior(X, ["gaussian", ("gmm-2", {"prior": "gmm", "n_components": 2})], latent_dim=3,
    ...                        model_kwargs=dict(depth=1, hidden=8), fit_kwargs=dict(epochs=2, progress=False))
    >>> [c.name for c in ranking]  # doctest: +SKIP
    ['gaussian', 'gmm-2']

    References
    ----------
    Makhzani et al. (2015). Adversarial Autoencoders (priors of several families on the latent).
    """
    from .autoencoder import FlowAutoencoder

    X = np.asarray(as_matrix(X, "X", min_rows=4), dtype=np.float64) if not hasattr(X, "detach") else \
        as_matrix(X, "X", min_rows=4).detach().cpu().double().numpy()
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction!r}")
    if len(candidates) == 0:
        raise ValueError("candidates must not be empty")
    itr, ihe = split_indices(len(X), heldout_fraction, seed + 7919)
    results = []
    for cand in candidates:
        if isinstance(cand, str):
            label, kw = cand, {"prior": cand}
        else:
            try:
                label, kw = cand
            except (TypeError, ValueError):
                raise TypeError(f"each candidate must be a prior name or a (label, kwargs) pair, got {cand!r}") from None
            kw = dict(kw)
        kwargs = {**(model_kwargs or {}), **kw, "seed": seed}
        model = FlowAutoencoder(X.shape[1], latent_dim, **kwargs)
        hist = fit(model, X[itr], **{"seed": seed, **(fit_kwargs or {})})
        nll = float(-model.log_density(X[ihe]).mean())
        results.append(PriorCandidate(str(label), kwargs, nll, model, hist))
    return sorted(results, key=lambda c: c.heldout_nll)
