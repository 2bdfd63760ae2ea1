"""``latent_cloud``: latent point clouds (with exact log-densities when the model has one)."""

from __future__ import annotations

import numpy as np
import torch

from ._validation import ArrayIn, as_matrix, check_device, check_int

__all__ = ["latent_cloud"]


def _module_ref(module: torch.nn.Module):
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _to_numpy(out, name: str) -> np.ndarray:
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out = out[0]  # e.g. (z, extra) from a module's forward
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    Z = np.asarray(out, dtype=np.float64)
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.ndim != 2:
        raise ValueError(f"{name} returned an array of shape {Z.shape}; expected (n_points, latent_dim)")
    return Z


def latent_cloud(model: torch.nn.Module, X: ArrayIn, *, batch_size: int = 1024,
                 device: str | torch.device | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Encode ``X`` with any model: ``(Z, log_density)`` ready for ``tt.build_tree``.

    Parameters
    ----------
    model : FlowAutoencoder, torch.nn.Module, object with ``encode``/``transform``, or callable
        A :class:`~topotree.adapters.FlowAutoencoder` gives exact latent log-densities (its prior); any other
        encoder gives ``log_density=None`` (topotree then uses its kNN estimate). An
        ``nn.Module`` is run in eval mode under ``torch.no_grad()`` on its own device and dtype.
    X : array-like, shape (n, d)
        Inputs (numpy or torch), processed in batches of ``batch_size``.
    batch_size : int
    device : torch device, optional
        Override the device for an ``nn.Module``.

    Returns
    -------
    Z : ndarray, shape (n, latent_dim)
    log_density : ndarray, shape (n,), or None

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> Z, logp = latent_cloud(PCA(2).fit(X), X)
    >>> Z.shape, logp is None
    ((100, 2), True)

    References
    ----------
    Dinh, Krueger & Bengio (2014). NICE: Non-linear Independent Components Estimation.
    """
    from .autoencoder import FlowAutoencoder

    batch_size = check_int(batch_size, "batch_size", low=1)
    device = check_device(device)
    X = as_matrix(X, "X")
    n = X.shape[0]
    batches = [X[i:i + batch_size] for i in range(0, n, batch_size)]

    if isinstance(model, FlowAutoencoder):
        if X.shape[1] != model.dim:
            raise ValueError(f"X must have {model.dim} columns for this model, got {X.shape[1]}")
        Z = np.concatenate([model.encode(b) for b in batches]).astype(np.float64)
        logp = np.concatenate([model.latent_log_density(z) for z in np.array_split(Z, len(batches))])
        return Z, logp.astype(np.float64)

    if isinstance(model, torch.nn.Module):
        dev, dtype = _module_ref(model)
        dev = device if device is not None else dev
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                outs = []
                for b in batches:
                    tb = b.to(device=dev, dtype=dtype) if isinstance(b, torch.Tensor) else torch.as_tensor(
                        np.ascontiguousarray(b), dtype=dtype, device=dev)
                    outs.append(_to_numpy(model(tb), "model"))
        finally:
            model.train(was_training)
        return np.concatenate(outs), None

    for attr in ("encode", "transform"):
        fn = getattr(model, attr, None)
        if callable(fn):
            name = f"model.{attr}"
            break
    else:
        if not callable(model):
            raise TypeError(
                "model must be a FlowAutoencoder, a torch.nn.Module, an object with encode/transform, "
                f"or a callable X -> Z; got {type(model).__name__}"
            )
        fn, name = model, "model"
    with torch.no_grad():
        Z = np.concatenate([_to_numpy(fn(b), name) for b in batches])
    if Z.shape[0] != n:
        raise ValueError(f"{name} returned {Z.shape[0]} rows for {n} inputs")
    return Z, None
