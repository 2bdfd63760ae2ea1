"""The flow autoencoder: a volume-preserving flow whose output splits into latent and noise."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from topotree._atomic import atomic_write

from ._validation import (
    ArrayIn,
    ArrayOut,
    as_matrix,
    check_int,
    check_latent_dim,
    check_real,
    check_sample_size,
    check_seed,
    to_output,
    to_tensor,
)
from .flows import VolumePreservingFlow
from .priors import PRIORS, make_prior

if TYPE_CHECKING:  # imported where used (they import this module)
    from .model_tree import ModelTree
    from .training import FitHistory

__all__ = ["FlowAutoencoder"]

_LOG_2PI = math.log(2 * math.pi)
_STRUCTURES = ("decoder", "warp", "split", "free")
_FORMAT = "topotree.adapters.FlowAutoencoder/1"


class _BadModelFile(Exception):
    """A model file that loaded as data but is not a valid FlowAutoencoder."""


class FlowAutoencoder(nn.Module):
    r"""Volume-preserving flow autoencoder with an exact density.

    A flow ``f: R^D -> R^D`` with ``|det J_f| = 1`` (additive couplings between orthogonal mixings)
    maps ``x`` to ``y = f(x) = (z, r)``: ``z = y[:latent_dim]`` is the latent, ``r`` the rest,
    modelled as isotropic noise ``N(0, sigma^2 I)``. The latent has a prior with a closed-form
    density, so, exactly,

    .. math:: \log p(x) = \log p_{prior}(z) + \log N(r; 0, \sigma^2 I).

    ``decode(z)`` is ``f^{-1}(z, 0)`` (or ``f^{-1}(z, r)`` with sampled or given noise).
    ``latent_dim == dim`` is the pure flow (no noise part).

    Parameters
    ----------
    dim : int
        Data dimension ``D``.
    latent_dim : int
        Latent dimension, ``1 <= latent_dim <= dim``.
    prior : {"gmm", "gaussian", "flow"}
        Latent prior: a full-covariance Gaussian mixture (initialised by EM), one Gaussian, or a
        learned RealNVP flow prior.
    n_components : int
        Components of the ``"gmm"`` prior.
    reg_covar : float
        Covariance regularisation of the ``"gmm"`` prior's EM start, relative to the latents' mean
        variance (see :class:`~topotree.adapters.GMMPrior`).
    depth, hidden : int
        Number of additive couplings and width of their networks.
    sigma : float
        Scale of the noise part. A small fixed sigma (the default, 0.1) acts as a reconstruction
        penalty and keeps the data in the latent; a learned sigma tends to empty the latent.
    learn_sigma : bool
        Learn ``sigma`` by maximum likelihood (see also ``fit(anneal_sigma=...)`` and
        ``fit(calibrate_sigma=True)``).
    adversarial : bool
        Add a discriminator that pushes the aggregate latent toward the prior (used by :func:`fit`).
    flow_prior_depth, flow_prior_hidden : int
        Size of the ``"flow"`` prior.
    structure : {"decoder", "split", "free"}
        ``"decoder"`` (default): the latent is an affine function of ``x`` (the first orthogonal
        mixing) and every coupling shifts the noise part by a function of the latent, a
        non-linear decoder with an exact density. ``"split"``: couplings alternate between decoder
        and encoder steps (a non-linear encoder). ``"free"``: couplings split at ``dim // 2`` with
        full mixings between them (no latent/noise boundary inside the flow).
    learn_subspace : bool
        With ``structure="decoder"``: also learn which directions of ``x`` form the latent. By
        default the first mixing stays at the PCA rotation set by :meth:`initialize`, so the latent
        spans the top principal subspace (rotated within itself by the later mixings) and keeps
        PCA's neighbourhoods; a learned subspace favours reconstruction over class structure.
    seed : int
        Seed of the initial weights (a local RNG: the global torch RNG is left untouched).

    Examples
    --------
    >>> import numpy as np
    >>> from topotree.adapters import FlowAutoencoder, fit
    >>> X = np.random.default_rng(0).normal(size=(300, 4))
    >>> model = FlowAutoencoder(4, latent_dim=2, n_components=2, depth=2, hidden=16)
    >>> history = fit(model, X, epochs=3, progress=False)
    >>> model.encode(X).shape, model.log_density(X).shape
    ((300, 2), (300,))

    References
    ----------
    Dinh, Krueger & Bengio (2014). NICE: Non-linear Independent Components Estimation. arXiv:1410.8516.
    Makhzani, Shlens, Jaitly, Goodfellow & Frey (2015). Adversarial Autoencoders. arXiv:1511.05644.
    Tomczak & Welling (2016). Improving Variational Auto-Encoders using Householder Flow. arXiv:1611.09630.
    Tipping & Bishop (1999). Probabilistic principal component analysis. JRSS B.
    """

    def __init__(
        self,
        dim: int,
        latent_dim: int,
        prior: str = "gmm",
        n_components: int = 10,
        reg_covar: float = 1e-3,
        depth: int = 4,
        hidden: int = 64,
        sigma: float = 0.1,
        learn_sigma: bool = False,
        adversarial: bool = False,
        flow_prior_depth: int = 4,
        flow_prior_hidden: int = 64,
        structure: str = "decoder",
        learn_subspace: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        dim, latent_dim = check_latent_dim(dim, latent_dim)
        if not isinstance(prior, str) or prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        n_components = check_int(n_components, "n_components", low=1)
        reg_covar = check_real(reg_covar, "reg_covar", low=0)
        depth = check_int(depth, "depth", low=0)
        hidden = check_int(hidden, "hidden", low=1)
        flow_prior_depth = check_int(flow_prior_depth, "flow_prior_depth", low=0)
        flow_prior_hidden = check_int(flow_prior_hidden, "flow_prior_hidden", low=1)
        seed = check_seed(seed, allow_none=False)
        if structure not in _STRUCTURES:
            raise ValueError(f"structure must be one of {_STRUCTURES}, got {structure!r}")
        sigma = check_real(sigma, "sigma", low=0, low_open=True)
        self.config = dict(
            dim=dim, latent_dim=latent_dim, prior=prior, n_components=n_components, reg_covar=float(reg_covar), depth=depth, hidden=hidden,
            sigma=float(sigma), learn_sigma=bool(learn_sigma), adversarial=bool(adversarial),
            flow_prior_depth=flow_prior_depth, flow_prior_hidden=flow_prior_hidden, structure=structure,
            learn_subspace=bool(learn_subspace), seed=seed,
        )
        self.dim, self.latent_dim, self.seed = dim, latent_dim, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.flow = VolumePreservingFlow(dim, depth=depth, hidden=hidden, split=None if structure == "free" else latent_dim,
                                             decoder_only=structure == "decoder", latent_warp=structure == "warp")
            self.prior = make_prior(prior, latent_dim, n_components=n_components, reg_covar=float(reg_covar),
                                    flow_depth=flow_prior_depth, flow_hidden=flow_prior_hidden)
            self.discriminator = (
                nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                              nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
                if adversarial else None
            )
        if structure in ("decoder", "warp") and latent_dim < dim and not learn_subspace:
            # the latent subspace stays the PCA one set by ``initialize``: z is affine in x, so
            # learning which directions go to the latent only trades class structure for
            # reconstruction (1-NN in the latent fell below PCA's at 16 dims on digits)
            self.flow.mixings[0].requires_grad_(False)
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self.register_buffer("initialized", torch.tensor(False))

    # ------------------------------------------------------------------ the math (tensors in, tensors out)
    @property
    def sigma(self) -> float:
        """Current scale of the noise part."""
        return float(self.log_sigma.detach().exp())

    @property
    def noise_dim(self) -> int:
        return self.dim - self.latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y = f(x)``, shape (n, dim); ``y[:, :latent_dim]`` is the latent."""
        return self.flow(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``x = f^{-1}(y)``."""
        return self.flow.inverse(y)

    def noise_log_prob(self, r: torch.Tensor) -> torch.Tensor:
        """``log N(r; 0, sigma^2 I)`` per row (0 for the pure flow)."""
        k = r.shape[1]
        if k == 0:
            return r.new_zeros(r.shape[0])
        return -0.5 * (k * (_LOG_2PI + 2 * self.log_sigma) + r.square().sum(1) * torch.exp(-2 * self.log_sigma))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x) = log p_prior(z) + log N(r; 0, sigma^2 I)`` (det J_f = 1), per row."""
        y = self.flow(x)
        z, r = y[:, : self.latent_dim], y[:, self.latent_dim:]
        return self.prior.log_prob(z) + self.noise_log_prob(r)

    @torch.no_grad()
    def initialize(self, X: torch.Tensor, seed: int | None = None, X_prior: torch.Tensor | None = None) -> None:
        """PCA start, then the prior fitted (by EM for ``"gmm"``) to the initial latents.

        The first orthogonal layer is set to the PCA rotation of ``X`` (centred by its mean), so the
        latent starts as the top ``latent_dim`` principal components and the noise part as the rest.
        The prior is fitted to the latents of ``X_prior`` (default: ``X``); :func:`~topotree.adapters.fit`
        passes its training part, keeping the validation part unseen by EM.
        """
        seed = self.seed if seed is None else seed
        Xd = X.detach().cpu().double()
        mean = Xd.mean(0)
        Xc = (Xd - mean).numpy()
        _, _, Vt = np.linalg.svd(Xc, full_matrices=True)  # rows: principal directions, descending
        Vt = Vt[: self.dim]
        self.flow.mixings[0].set_rotation(torch.as_tensor(Vt), shift=mean)
        X_prior = X if X_prior is None else X_prior
        z = self.flow(X_prior.to(self.log_sigma))[:, : self.latent_dim]
        self.prior.initialize(z, seed=seed)
        self.initialized.fill_(True)

    # ------------------------------------------------------------------ numpy-friendly API
    def _param(self) -> torch.Tensor:
        return self.log_sigma

    def _check(self, X, name: str, width: int) -> torch.Tensor:
        ref = self._param()
        return to_tensor(as_matrix(X, name, width=width), dtype=ref.dtype, device=ref.device)

    @torch.no_grad()
    def encode(self, X: ArrayIn, *, return_noise: bool = False,
               numpy: bool = True) -> ArrayOut | tuple[ArrayOut, ArrayOut]:
        """Latent codes ``z`` (n, latent_dim); with ``return_noise`` also the noise part ``r``."""
        y = self.flow(self._check(X, "X", self.dim))
        z, r = y[:, : self.latent_dim], y[:, self.latent_dim:]
        return (to_output(z, numpy), to_output(r, numpy)) if return_noise else to_output(z, numpy)

    @torch.no_grad()
    def decode(self, Z: ArrayIn, noise: str | ArrayIn = "zero", *, seed: int | None = None,
               numpy: bool = True) -> ArrayOut:
        """``x = f^{-1}(z, r)`` with ``r = 0`` (``noise="zero"``), ``r ~ N(0, sigma^2 I)``
        (``noise="sample"``, seeded by ``seed``) or ``r`` given as an (n, dim - latent_dim) array."""
        z = self._check(Z, "Z", self.latent_dim)
        if isinstance(noise, str):
            if noise == "zero":
                r = z.new_zeros(z.shape[0], self.noise_dim)
            elif noise == "sample":
                g = torch.Generator().manual_seed(self.seed if seed is None else check_seed(seed))
                r = torch.randn(z.shape[0], self.noise_dim, generator=g, dtype=z.dtype).to(z.device) * self.sigma
            else:
                raise ValueError(f"noise must be 'zero', 'sample' or an array, got {noise!r}")
        else:
            r = self._check(noise, "noise", self.noise_dim)
            if r.shape[0] != z.shape[0]:
                raise ValueError(f"noise must have as many rows as Z ({z.shape[0]}), got {r.shape[0]}")
        return to_output(self.flow.inverse(torch.cat([z, r], 1)), numpy)

    @torch.no_grad()
    def latent_log_density(self, Z: ArrayIn, *, numpy: bool = True) -> ArrayOut:
        """Exact log-density of the latent prior at ``Z`` (n, latent_dim) -> (n,)."""
        return to_output(self.prior.log_prob(self._check(Z, "Z", self.latent_dim)), numpy)

    @torch.no_grad()
    def log_density(self, X: ArrayIn, *, numpy: bool = True) -> ArrayOut:
        """Exact log-density of the model at data points ``X`` (n, dim) -> (n,)."""
        return to_output(self.log_prob(self._check(X, "X", self.dim)), numpy)

    @torch.no_grad()
    def sample(self, m: int, *, seed: int | None = None, numpy: bool = True) -> ArrayOut:
        """Draw ``m`` data points: ``z ~ prior``, ``r ~ N(0, sigma^2 I)``, ``x = f^{-1}(z, r)``."""
        m = check_sample_size(m, self.dim, "m")
        g = torch.Generator().manual_seed(self.seed if seed is None else check_seed(seed))
        z = self.prior.sample(m, generator=g)
        ref = self._param()
        r = torch.randn(m, self.noise_dim, generator=g, dtype=ref.dtype).to(ref.device) * self.sigma
        return to_output(self.flow.inverse(torch.cat([z.to(ref), r], 1)), numpy)

    @torch.no_grad()
    def calibrate_sigma(self, X: ArrayIn) -> float:
        """Set ``sigma`` to its maximum-likelihood value ``sqrt(mean r^2)`` on ``X``; return it.

        Only the noise density changes: codes, decoding and the latent prior are untouched.
        """
        _, r = self.encode(X, return_noise=True, numpy=False)
        if r.shape[1] == 0:
            return self.sigma
        self.log_sigma.fill_(0.5 * float(torch.log(r.square().mean())))
        return self.sigma

    def tree(self, n_samples: int = 10000, *, seed: int = 0, k: int | None = None,
             simplify: bool = True) -> ModelTree:
        """The level-set tree of the latent prior itself, from prior samples with exact log-densities
        (:func:`topotree.adapters.model_tree`); ``.assign(encode(X))`` says which data each leaf holds."""
        from .model_tree import model_tree

        return model_tree(self, n_samples, seed=seed, k=k, simplify=simplify)

    def fit(self, X: ArrayIn, **kwargs: Any) -> FitHistory:
        """Train by maximum likelihood: ``topotree.adapters.fit(self, X, **kwargs)``; returns the FitHistory."""
        from .training import fit

        return fit(self, X, **kwargs)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Save the weights (a state dict of tensors) and the plain config; no pickled objects.

        Atomic: written to a temporary file in the same folder, fsynced, then renamed, so a failed
        or interrupted save leaves any previous file at ``path`` intact.
        """
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        blob = {"format": _FORMAT, "config": dict(self.config), "state_dict": state}
        atomic_write(path, lambda fh: torch.save(blob, fh), "model file")

    @classmethod
    def load(cls, path: str | os.PathLike, map_location="cpu") -> "FlowAutoencoder":
        """Load a model written by :meth:`save`.

        Never runs code (``torch.load(weights_only=True)``); the file must hold exactly the format
        tag, a config that the constructor accepts (sizes bounded by the weights actually stored,
        checked before the model is built) and a state dict with every tensor's name, shape and
        dtype as the model expects, all finite. Anything else raises one ``ValueError`` naming the file.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        name = os.fspath(path)
        if not os.path.exists(name):
            raise FileNotFoundError(f"no such model file: {name!r}")
        if os.path.isdir(name):
            raise ValueError(f"{name!r} is a directory, not a model file")
        try:
            blob = torch.load(name, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle.UnpicklingError, RuntimeError (zip), EOFError, ...
            msg = str(exc).splitlines()[0][:160] if str(exc) else ""
            raise ValueError(f"{name!r} is not a FlowAutoencoder file: {type(exc).__name__}: {msg}") from None
        try:
            model = cls._from_blob(blob)
        except _BadModelFile as exc:
            raise ValueError(f"{name!r} is not a FlowAutoencoder file (or a damaged one): {exc}") from None
        return model.to(map_location).eval() if map_location is not None else model.eval()

    @classmethod
    def _from_blob(cls, blob):
        import inspect

        if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
            raise _BadModelFile("no FlowAutoencoder format tag")
        if set(blob) != {"format", "config", "state_dict"}:
            raise _BadModelFile(f"unexpected keys {sorted(map(str, blob))}")
        config, state = blob["config"], blob["state_dict"]
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        if not isinstance(config, dict) or set(config) != params:
            raise _BadModelFile(f"config must have exactly the keys {sorted(params)}")
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                  for k, v in state.items()):
            raise _BadModelFile("state_dict must map names to tensors")
        sizes = ("dim", "latent_dim", "depth", "hidden", "n_components", "flow_prior_depth", "flow_prior_hidden")
        if not all(type(config[k]) is int and 0 <= config[k] <= 2**31 for k in sizes):
            raise _BadModelFile(f"config sizes {sizes} must be non-negative integers")
        c = config  # a generous bound on the parameters the config implies, before building anything
        implied = ((c["depth"] + 1) * (3 * c["dim"] * c["hidden"] + c["hidden"] ** 2 + c["dim"] ** 2)
                   + c["n_components"] * (c["latent_dim"] + 1) ** 2
                   + (c["flow_prior_depth"] + 1) * (3 * c["latent_dim"] * c["flow_prior_hidden"] + c["flow_prior_hidden"] ** 2))
        stored = sum(int(v.numel()) for v in state.values())
        if implied > 16 * stored + 10**6:
            raise _BadModelFile(f"the config implies about {implied} parameters but the file stores {stored}")
        try:
            model = cls(**config)
        except (TypeError, ValueError) as exc:
            raise _BadModelFile(f"invalid config: {exc}") from None
        expected = model.state_dict()
        if set(state) != set(expected):
            missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
            raise _BadModelFile(f"state_dict keys differ (missing {missing[:5]}, unexpected {extra[:5]})")
        for k, v in expected.items():
            t = state[k]
            if t.shape != v.shape or t.dtype != v.dtype:
                raise _BadModelFile(f"tensor {k!r} has shape {tuple(t.shape)} and dtype {t.dtype}, "
                                    f"expected {tuple(v.shape)} and {v.dtype}")
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise _BadModelFile(f"tensor {k!r} holds NaN or inf")
        model.load_state_dict(state)
        return model

    def extra_repr(self) -> str:
        c = self.config
        return (f"dim={c['dim']}, latent_dim={c['latent_dim']}, prior={c['prior']!r}, "
                f"sigma={self.sigma:.3g}{' (learned)' if c['learn_sigma'] else ''}")
