"""Volume-preserving normalizing flows: additive couplings and orthogonal mixing.

Every layer here has ``|det J| = 1`` exactly, so a composition of them carries densities
without any log-determinant term:  ``log p_X(x) = log p_Y(f(x))``.

References
----------
Dinh, Krueger & Bengio (2014). NICE: Non-linear Independent Components Estimation. arXiv:1410.8516.
Tomczak & Welling (2016). Improving Variational Auto-Encoders using Householder Flow. arXiv:1611.09630.
Lezcano-Casado & Martinez-Rubio (2019). Cheap Orthogonal Constraints in Neural Networks. ICML.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

__all__ = ["AdditiveCoupling", "LatentCoupling", "OrthogonalMixing", "VolumePreservingFlow"]


def _mlp(d_in: int, hidden: int, d_out: int, *, zero_last: bool = True) -> nn.Sequential:
    net = nn.Sequential(
        nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, d_out)
    )
    if zero_last:  # start the layer at the identity map
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
    return net


class AdditiveCoupling(nn.Module):
    """NICE additive coupling: one block of coordinates is shifted by a function of the other.

    With ``k = split`` (default ``dim // 2``): ``y_b = x_b + t(x_a)``, ``y_a = x_a``, where ``a`` is the first ``k``
    coordinates and ``b`` the rest (or the reverse when ``swap``). The Jacobian is unit-triangular,
    so ``det J = 1``. The last layer of ``t`` starts at zero: the coupling starts as the identity.

    Examples
    --------
    >>> layer = AdditiveCoupling(4, hidden=16)
    >>> x = torch.randn(3, 4)
    >>> torch.allclose(layer.inverse(layer(x)), x)
    True
    """

    def __init__(self, dim: int, hidden: int = 128, swap: bool = False, split: int | None = None):
        super().__init__()
        if dim < 2:
            raise ValueError(f"an additive coupling needs dim >= 2, got dim = {dim}")
        k = dim // 2 if split is None else int(split)
        if not 1 <= k < dim:
            raise ValueError(f"split must be in [1, dim), got {k} for dim = {dim}")
        self.dim, self.swap = dim, bool(swap)
        self.n_cond = dim - k if swap else k
        self.net = _mlp(self.n_cond, hidden, dim - self.n_cond)

    def _split(self, x):
        if self.swap:  # condition on the last block, shift the first
            return x[:, self.dim - self.n_cond:], x[:, : self.dim - self.n_cond]
        return x[:, : self.n_cond], x[:, self.n_cond:]

    def _join(self, a, b):
        return torch.cat([b, a], dim=1) if self.swap else torch.cat([a, b], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self._split(x)
        return self._join(a, b + self.net(a))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        a, b = self._split(y)
        return self._join(a, b - self.net(a))


class LatentCoupling(nn.Module):
    """A NICE additive coupling inside the first ``split`` coordinates; the rest passes through.

    The latent block is warped by a volume-preserving map of itself (``det J = 1``), so an encoder
    built from these steps is non-linear in ``x`` while the density values it carries are unchanged.

    Examples
    --------
    >>> layer = LatentCoupling(5, split=3, hidden=8)
    >>> x = torch.randn(4, 5)
    >>> torch.allclose(layer.inverse(layer(x)), x)
    True
    """

    def __init__(self, dim: int, split: int, hidden: int = 128, swap: bool = False):
        super().__init__()
        if not 2 <= split <= dim:
            raise ValueError(f"a latent coupling needs 2 <= split <= dim, got split = {split} for dim = {dim}")
        self.dim, self.split = dim, int(split)
        self.inner = AdditiveCoupling(self.split, hidden, swap=swap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner(x[:, : self.split]), x[:, self.split:]], dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner.inverse(y[:, : self.split]), y[:, self.split:]], dim=1)


class OrthogonalMixing(nn.Module):
    """A learnable orthogonal map ``y = x Q^T`` (``|det Q| = 1``), with a learnable shift applied first.

    With ``blocks``, ``Q`` is block-diagonal: each block of coordinates rotates on its own.

    ``Q`` is kept exactly orthogonal by ``torch.nn.utils.parametrizations.orthogonal`` (the matrix
    exponential of a skew-symmetric matrix times a base rotation); :meth:`set_rotation` moves the
    base, e.g. to the PCA rotation. The shift is a translation: ``y = (x - shift) Q^T``.

    Examples
    --------
    >>> mix = OrthogonalMixing(3)
    >>> x = torch.randn(5, 3)
    >>> torch.allclose(mix.inverse(mix(x)), x, atol=1e-6)
    True
    """

    def __init__(self, dim: int, blocks: tuple[int, ...] | None = None):
        super().__init__()
        blocks = (dim,) if blocks is None else tuple(int(b) for b in blocks if b > 0)
        if sum(blocks) != dim:
            raise ValueError(f"blocks must sum to dim = {dim}, got {blocks}")
        self.dim, self.blocks = dim, blocks
        self.linears = nn.ModuleList(orthogonal(nn.Linear(b, b, bias=False)) for b in blocks)
        with torch.no_grad():
            for lin, b in zip(self.linears, blocks):
                lin.weight = torch.eye(b)
        self.shift = nn.Parameter(torch.zeros(dim))

    @property
    def rotation(self) -> torch.Tensor:
        if len(self.linears) == 1:
            return self.linears[0].weight
        return torch.block_diag(*(lin.weight for lin in self.linears))

    @torch.no_grad()
    def set_rotation(self, Q: torch.Tensor, shift: torch.Tensor | None = None) -> None:
        """Set the rotation to the orthogonal matrix ``Q`` (rows are the output directions)."""
        if len(self.linears) != 1:
            raise ValueError("set_rotation needs a full (single-block) mixing")
        self.linears[0].weight = Q.to(self.shift)
        if shift is not None:
            self.shift.copy_(shift.to(self.shift))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) @ self.rotation.T

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.rotation + self.shift


class VolumePreservingFlow(nn.Module):
    """``f = Q_depth o C_depth o ... o Q_1 o C_1 o Q_0``: additive couplings between orthogonal mixings.

    ``|det J_f(x)| = 1`` for every ``x``; the flow starts as the identity map.

    Parameters
    ----------
    dim : int
        Number of coordinates.
    depth : int
        Number of additive coupling layers (none when ``dim == 1``).
    hidden : int
        Width of the two hidden layers of each coupling network.
    split : int, optional
        Respect a latent/noise boundary: the couplings alternate between shifting the last
        ``dim - split`` coordinates by a function of the first ``split`` (a decoder step) and the
        reverse (an encoder step), and every mixing after the first rotates the two blocks
        separately. Default: couplings split at ``dim // 2`` with full mixings.
    decoder_only : bool
        With ``split``: only decoder steps, so the first ``split`` outputs are an affine function
        (the first mixing) of the input and the rest is that minus a non-linear prediction from them.
    latent_warp : bool
        With ``split >= 2``: couplings alternate between warping the latent block by itself
        (:class:`LatentCoupling`, starting with one) and decoder steps, so the first ``split``
        outputs are a non-linear, volume-preserving function of the first mixing's latent block.

    Examples
    --------
    >>> flow = VolumePreservingFlow(4, depth=2, hidden=16)
    >>> x = torch.randn(8, 4)
    >>> torch.allclose(flow(x), x)    # identity at initialisation
    True

    References
    ----------
    Dinh, Krueger & Bengio (2014). NICE: Non-linear Independent Components Estimation.
    Tomczak & Welling (2016). Improving Variational Auto-Encoders using Householder Flow.
    """

    def __init__(self, dim: int, depth: int = 6, hidden: int = 128, split: int | None = None,
                 decoder_only: bool = False, latent_warp: bool = False):
        super().__init__()
        self.dim = dim
        n_coupling = depth if dim >= 2 else 0
        if split is not None and not 1 <= split < dim:
            split = None  # the pure flow: no latent/noise boundary to respect
        blocks = None if split is None else (split, dim - split)
        self.split = split
        self.mixings = nn.ModuleList(
            OrthogonalMixing(dim, blocks=None if i == 0 else blocks) for i in range(n_coupling + 1)
        )
        warp = bool(latent_warp) and split is not None and split >= 2
        self.couplings = nn.ModuleList(
            (LatentCoupling(dim, split, hidden, swap=bool((i // 2) % 2)) if warp and i % 2 == 0 else
             AdditiveCoupling(dim, hidden, swap=bool(i % 2) and not ((decoder_only or warp) and split is not None),
                              split=split))
            for i in range(n_coupling)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mixings[0](x)
        for coupling, mixing in zip(self.couplings, self.mixings[1:]):
            x = mixing(coupling(x))
        return x

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for coupling, mixing in zip(reversed(self.couplings), reversed(self.mixings[1:])):
            y = coupling.inverse(mixing.inverse(y))
        return self.mixings[0].inverse(y)
