"""Latent priors with closed-form log-densities (log-space throughout).

* :class:`GaussianPrior` -- one full-covariance Gaussian.
* :class:`GMMPrior` -- a mixture of full-covariance Gaussians, initialised by EM.
* :class:`FlowPrior` -- a learned prior: a small affine-coupling flow (RealNVP) on a standard
  Gaussian, exact by the change of variables.

Each prior is an ``nn.Module`` with ``log_prob(z)``, ``sample(n, generator)`` and
``initialize(z, seed)`` (a data-driven start before gradient training).

References
----------
Dinh, Sohl-Dickstein & Bengio (2017). Density estimation using Real NVP. ICLR.
Dempster, Laird & Rubin (1977). Maximum likelihood from incomplete data via the EM algorithm.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["Prior", "GaussianPrior", "GMMPrior", "FlowPrior", "make_prior", "PRIORS"]

_LOG_2PI = math.log(2 * math.pi)


def _gaussian_log_prob(z: torch.Tensor, loc: torch.Tensor, log_diag: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
    """log N(z; loc_k, L_k L_k^T) for every component k: (n, d) -> (n, K).

    ``loc`` (K, d); the Cholesky factor ``L_k = tril(off_k, -1) + diag(exp(log_diag_k))``.
    """
    K, d = loc.shape
    L = torch.tril(off, diagonal=-1) + torch.diag_embed(log_diag.exp())
    diff = (z[None, :, :] - loc[:, None, :]).transpose(1, 2)  # (K, d, n)
    white = torch.linalg.solve_triangular(L, diff, upper=False)  # (K, d, n)
    maha = white.square().sum(dim=1)  # (K, n)
    logdet = log_diag.sum(dim=1, keepdim=True)  # (K, 1) = log sqrt det Sigma
    return (-0.5 * (d * _LOG_2PI + maha) - logdet).T


def _cholesky_params(cov: np.ndarray):
    L = np.linalg.cholesky(cov)
    return np.log(np.diagonal(L, axis1=-2, axis2=-1)), np.tril(L, -1)


class Prior(nn.Module):
    """Base class: a density on R^d with an exact ``log_prob``."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def initialize(self, z: torch.Tensor, seed: int = 0) -> None:
        """Data-driven starting point (default: nothing)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.log_prob(z)


class GMMPrior(Prior):
    """Mixture of ``n_components`` full-covariance Gaussians.

    ``log p(z) = logsumexp_k [log w_k + log N(z; mu_k, L_k L_k^T)]`` with ``w = softmax(logits)``
    and Cholesky factors ``L_k`` with a positive (log-parametrised) diagonal.
    ``reg_covar`` (relative to the mean variance of the points) is added to every covariance's
    diagonal in the EM start (:meth:`initialize`); larger values regularise small samples.

    Examples
    --------
    >>> prior = GMMPrior(2, n_components=3)
    >>> prior.log_prob(torch.zeros(4, 2)).shape
    torch.Size([4])
    """

    def __init__(self, dim: int, n_components: int = 10, reg_covar: float = 1e-3):
        super().__init__(dim)
        self.n_components = n_components
        self.reg_covar = float(reg_covar)
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.loc = nn.Parameter(0.5 * torch.randn(n_components, dim))
        self.log_diag = nn.Parameter(torch.zeros(n_components, dim))
        self.off = nn.Parameter(torch.zeros(n_components, dim, dim))

    @property
    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    @property
    def scale_tril(self) -> torch.Tensor:
        return torch.tril(self.off, -1) + torch.diag_embed(self.log_diag.exp())

    @property
    def covariance(self) -> torch.Tensor:
        L = self.scale_tril
        return L @ L.transpose(-1, -2)

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n, K) matrix of ``log w_k + log N(z; mu_k, Sigma_k)``."""
        return _gaussian_log_prob(z, self.loc, self.log_diag, self.off) + torch.log_softmax(self.logits, 0)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.component_log_prob(z), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.loc.dtype).to(self.loc.device)
        return self.loc[k] + (self.scale_tril[k] @ eps[:, :, None])[:, :, 0]

    @torch.no_grad()
    def initialize(self, z: torch.Tensor, seed: int = 0) -> None:
        """Fit the mixture by EM (scikit-learn's ``GaussianMixture``) on the points ``z``."""
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        Z = z.detach().cpu().double().numpy()
        if Z.shape[0] < self.n_components:
            raise ValueError(
                f"cannot initialise a {self.n_components}-component mixture from {Z.shape[0]} points; "
                "lower n_components or pass more data"
            )
        scale = float(np.mean(np.var(Z, axis=0))) + 1e-12
        # one BLAS/OpenMP thread: on a few hundred points the k-means start of EM is ~50x slower with
        # oversubscribed thread pools (seconds instead of a tenth of a second on a busy 2-core machine)
        with threadpool_limits(limits=1):
            gm = GaussianMixture(self.n_components, covariance_type="full", reg_covar=self.reg_covar * scale,
                                 random_state=seed, max_iter=200).fit(Z)
        log_diag, off = _cholesky_params(gm.covariances_)
        ref = self.loc
        self.logits.copy_(torch.as_tensor(np.log(gm.weights_)).to(ref))
        self.loc.copy_(torch.as_tensor(gm.means_).to(ref))
        self.log_diag.copy_(torch.as_tensor(log_diag).to(ref))
        self.off.copy_(torch.as_tensor(off).to(ref))


class GaussianPrior(GMMPrior):
    """One full-covariance Gaussian ``N(mu, L L^T)`` (a one-component :class:`GMMPrior`).

    Examples
    --------
    >>> GaussianPrior(3).log_prob(torch.zeros(1, 3))  # standard normal at the origin
    tensor([-2.7568], grad_fn=<LogsumexpBackward0>)
    """

    def __init__(self, dim: int):
        super().__init__(dim, n_components=1)
        with torch.no_grad():
            self.loc.zero_()

    @torch.no_grad()
    def initialize(self, z: torch.Tensor, seed: int = 0) -> None:
        """Moment match: the maximum-likelihood Gaussian of ``z``."""
        Z = z.detach().cpu().double().numpy()
        cov = np.atleast_2d(np.cov(Z, rowvar=False, bias=True))
        cov = cov + 1e-6 * (np.trace(cov) / self.dim + 1e-12) * np.eye(self.dim)
        log_diag, off = _cholesky_params(cov[None])
        ref = self.loc
        self.loc.copy_(torch.as_tensor(Z.mean(0)[None]).to(ref))
        self.log_diag.copy_(torch.as_tensor(log_diag).to(ref))
        self.off.copy_(torch.as_tensor(off).to(ref))


class _AffineCoupling(nn.Module):
    """RealNVP coupling ``y_b = x_b * exp(s(x_a)) + t(x_a)`` with a bounded log-scale."""

    def __init__(self, dim: int, hidden: int, swap: bool):
        super().__init__()
        k = dim // 2
        self.dim, self.swap = dim, swap
        self.n_cond = dim - k if swap else k
        n_out = dim - self.n_cond
        self.net = nn.Sequential(nn.Linear(self.n_cond, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2 * n_out))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _split(self, x):
        c = self.dim - self.n_cond
        return (x[:, c:], x[:, :c]) if self.swap else (x[:, : self.n_cond], x[:, self.n_cond:])

    def _join(self, a, b):
        return torch.cat([b, a], 1) if self.swap else torch.cat([a, b], 1)

    def _st(self, a):
        s, t = self.net(a).chunk(2, dim=1)
        return 2.0 * torch.tanh(s / 2.0), t

    def forward(self, x):  # x -> (y, log|det J|)
        a, b = self._split(x)
        s, t = self._st(a)
        return self._join(a, b * s.exp() + t), s.sum(1)

    def inverse(self, y):
        a, b = self._split(y)
        s, t = self._st(a)
        return self._join(a, (b - t) * (-s).exp())


class FlowPrior(Prior):
    """A learned prior: ``u = g(z)`` with ``u ~ N(0, I)``; ``log p(z) = log N(g(z)) + log|det J_g(z)|``.

    ``g`` is an elementwise affine standardisation followed by ``depth`` RealNVP affine couplings
    (none when ``dim == 1``, where the prior is Gaussian).

    Examples
    --------
    >>> prior = FlowPrior(2, depth=2, hidden=16)
    >>> prior.sample(5).shape
    torch.Size([5, 2])

    References
    ----------
    Dinh, Sohl-Dickstein & Bengio (2017). Density estimation using Real NVP. ICLR.
    """

    def __init__(self, dim: int, depth: int = 4, hidden: int = 64):
        super().__init__(dim)
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        n = depth if dim >= 2 else 0
        self.layers = nn.ModuleList(_AffineCoupling(dim, hidden, swap=bool(i % 2)) for i in range(n))

    def _to_base(self, z):
        u = (z - self.loc) * torch.exp(-self.log_scale)
        logdet = -self.log_scale.sum().expand(z.shape[0])
        for layer in self.layers:
            u, ld = layer(u)
            logdet = logdet + ld
        return u, logdet

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        u, logdet = self._to_base(z)
        return -0.5 * (self.dim * _LOG_2PI + u.square().sum(1)) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.randn(n, self.dim, generator=generator, dtype=self.loc.dtype).to(self.loc.device)
        for layer in reversed(self.layers):
            u = layer.inverse(u)
        return u * self.log_scale.exp() + self.loc

    @torch.no_grad()
    def initialize(self, z: torch.Tensor, seed: int = 0) -> None:
        """Standardise: start at the diagonal Gaussian fitted to ``z``."""
        self.loc.copy_(z.mean(0).to(self.loc))
        self.log_scale.copy_(torch.log(z.std(0) + 1e-6).to(self.loc))


PRIORS = ("gmm", "gaussian", "flow")


def make_prior(name: str, dim: int, *, n_components: int = 10, flow_depth: int = 4, flow_hidden: int = 64,
               reg_covar: float = 1e-3) -> Prior:
    """Build a prior by name: ``"gmm"``, ``"gaussian"`` or ``"flow"`` (learned)."""
    if name == "gmm":
        return GMMPrior(dim, n_components, reg_covar=reg_covar)
    if name == "gaussian":
        return GaussianPrior(dim)
    if name == "flow":
        return FlowPrior(dim, depth=flow_depth, hidden=flow_hidden)
    raise ValueError(f"prior must be one of {PRIORS}, got {name!r}")
