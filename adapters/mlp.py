"""A plain MLP autoencoder (no density): the ordinary network whose latents ``tt.align`` must handle."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._validation import ArrayIn, ArrayOut, as_matrix, check_int, check_latent_dim, to_tensor

__all__ = ["MLPAutoencoder", "fit_autoencoder", "AutoencoderHistory"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU, "silu": nn.SiLU}


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """A plain deterministic autoencoder: an MLP encoder ``dim -> hidden... -> latent_dim`` and its
    mirror decoder, both with a linear last layer.

    Parameters
    ----------
    dim : int
        Data dimension.
    latent_dim : int
        Latent dimension, ``1 <= latent_dim <= dim``.
    hidden : sequence of int
        Widths of the encoder's hidden layers, outermost first (the decoder mirrors them);
        ``(256, 128)`` gives ``dim-256-128-latent_dim``. Empty: a linear autoencoder.
    activation : {"relu", "tanh", "gelu", "elu", "silu"}
    seed : int
        Seed of the initial weights (a local generator: the global torch RNG is left untouched).

    Examples
    --------
    >>> import numpy as np
    >>> from topotree.adapters import MLPAutoencoder, fit_autoencoder
    >>> X = np.random.default_rng(0).normal(size=(200, 6))
    >>> model = MLPAutoencoder(6, 2, hidden=(16,), activation="tanh", seed=0)
    >>> history = fit_autoencoder(model, X, epochs=2)
    >>> model.encode(X).shape, model.decode(model.encode(X)).shape
    ((200, 2), (200, 6))
    """

    def __init__(self, dim: int, latent_dim: int, hidden=(256, 128), activation: str = "relu", seed: int = 0):
        super().__init__()
        dim, latent_dim = check_latent_dim(dim, latent_dim)
        if isinstance(hidden, (int, np.integer)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden must be a sequence of layer widths, got {hidden!r}")
        hidden = tuple(check_int(h, "hidden width", low=1) for h in hidden)
        if not isinstance(activation, str) or activation.lower() not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        seed = check_int(seed, "seed", low=0)
        self.dim, self.latent_dim, self.hidden, self.activation = dim, latent_dim, hidden, activation.lower()
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            self.encoder = _mlp([dim, *hidden, latent_dim], self.activation)
            self.decoder = _mlp([latent_dim, *hidden[::-1], dim], self.activation)
        finally:
            torch.random.set_rng_state(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``decode(encode(x))`` (tensors in, tensor out)."""
        return self.decoder(self.encoder(x))

    def _run(self, net: nn.Module, X, width: int, name: str, numpy: bool):
        X = as_matrix(X, name, width=width)
        ref = next(self.parameters())
        with torch.no_grad():
            out = net(to_tensor(X, dtype=ref.dtype, device=ref.device))
        return out.cpu().numpy().astype(np.float64) if numpy else out

    def encode(self, X: ArrayIn, *, numpy: bool = True) -> ArrayOut:
        """Latent codes of the rows of ``X`` (n, dim) -> (n, latent_dim), without gradients."""
        return self._run(self.encoder, X, self.dim, "X", numpy)

    def decode(self, Z: ArrayIn, *, numpy: bool = True) -> ArrayOut:
        """Reconstructions of latent codes ``Z`` (n, latent_dim) -> (n, dim), without gradients."""
        return self._run(self.decoder, Z, self.latent_dim, "Z", numpy)


@dataclass(frozen=True)
class AutoencoderHistory:
    """What :func:`fit_autoencoder` did: mean training MSE per epoch and wall-clock seconds."""

    train_mse: tuple
    seconds: float


def fit_autoencoder(model: MLPAutoencoder, X: ArrayIn, *, epochs: int = 50, batch_size: int = 64, lr: float = 1e-3,
                    weight_decay: float = 0.0, seed: int | None = None) -> AutoencoderHistory:
    """Train ``model`` by Adam on the mean squared reconstruction error (minibatches, shuffled).

    Parameters
    ----------
    model : MLPAutoencoder (or any ``nn.Module`` mapping (n, d) -> (n, d))
    X : array-like, shape (n, dim)
    epochs, batch_size : int
    lr, weight_decay : float, Adam's settings.
    seed : int, optional
        Seed of the minibatch order (default: ``model``'s seed if it has one, else 0).

    Returns
    -------
    AutoencoderHistory
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    for name, v, low in (("lr", lr, 0.0), ("weight_decay", weight_decay, -1e-300)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or not v > low:
            raise ValueError(f"{name} must be a finite number > {max(low, 0)}, got {v!r}")
    width = getattr(model, "dim", None)
    X = as_matrix(X, "X", width=width, min_rows=2)
    ref = next(model.parameters())
    Xt = to_tensor(X, dtype=ref.dtype, device=ref.device)
    g = torch.Generator().manual_seed(int(seed if seed is not None else 0))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    t0, losses = time.perf_counter(), []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(Xt.shape[0], generator=g).to(Xt.device)
        total = 0.0
        for i in range(0, Xt.shape[0], batch_size):
            xb = Xt[perm[i:i + batch_size]]
            loss = torch.mean((model(xb) - xb) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
        losses.append(total / Xt.shape[0])
    model.eval()
    return AutoencoderHistory(train_mse=tuple(losses), seconds=time.perf_counter() - t0)
