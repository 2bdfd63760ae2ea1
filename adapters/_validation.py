"""Input checks shared by the adapters: clear errors that name the argument."""

from __future__ import annotations

from typing import Union

import numpy as np
import torch
from numpy.typing import ArrayLike

from topotree._validation import check_int, check_real, check_sample_size, check_seed

#: an input array: anything numpy.asarray takes, or a torch tensor
ArrayIn = Union[ArrayLike, torch.Tensor]
#: an output array: numpy (numpy=True, the default) or a torch tensor (numpy=False)
ArrayOut = Union[np.ndarray, torch.Tensor]

__all__ = ["ArrayIn", "ArrayOut", "as_matrix", "check_device", "check_prior", "check_int", "check_latent_dim", "check_real", "check_sample_size",
           "check_seed", "to_tensor", "to_output"]


def check_latent_dim(dim, latent_dim) -> tuple[int, int]:
    """Validate ``dim`` >= 1 and 1 <= ``latent_dim`` <= ``dim``."""
    dim = check_int(dim, "dim", low=1)
    latent_dim = check_int(latent_dim, "latent_dim")
    if not 1 <= latent_dim <= dim:
        raise ValueError(
            f"latent_dim must satisfy 1 <= latent_dim <= dim = {dim}, got latent_dim = {latent_dim}"
        )
    return dim, latent_dim


def as_matrix(X, name: str = "X", *, width: int | None = None, min_rows: int = 1) -> np.ndarray | torch.Tensor:
    """Check that ``X`` is a finite 2-D array (numpy, torch or nested lists).

    Returns a torch tensor if ``X`` was one (kept on its device), a float numpy array otherwise.
    """
    if isinstance(X, torch.Tensor):
        arr = X.detach()
        if not (arr.is_floating_point() or arr.dtype in (torch.int32, torch.int64, torch.int16, torch.uint8)):
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {arr.dtype}")
    else:
        try:
            arr = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a 2-D array of numbers: {exc}") from None
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise TypeError(f"{name} must be a 2-D array of real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2:
        hint = " (reshape a single point with X[None, :] or a 1-D sample with X[:, None])" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D with shape (n_points, n_features), got shape {tuple(arr.shape)}{hint}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s), got {arr.shape[0]}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} must have {width} columns, got {arr.shape[1]} (shape {tuple(arr.shape)})")
    finite = torch.isfinite(arr.float()).all().item() if isinstance(arr, torch.Tensor) else np.isfinite(arr).all()
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def to_tensor(X, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Checked array -> tensor with the model's dtype and device."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=dtype)
    return torch.as_tensor(np.ascontiguousarray(X), dtype=dtype, device=device)


def to_output(t: torch.Tensor, numpy: bool):
    """Return a detached tensor, or a numpy array when ``numpy`` is true."""
    t = t.detach()
    return t.cpu().numpy() if numpy else t


def check_device(device, name="device"):
    """``None`` or a torch device that exists on this machine, as a ``torch.device``."""
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a str or torch.device, got {type(device).__name__} {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{name} {device!r} is not a torch device: {str(exc).splitlines()[0]}") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"{name} {device!r} is not available on this machine")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"{name} {device!r} is not available on this machine")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{name} {device!r}: only cpu, cuda and mps devices are supported")
    return dev


def check_prior(model, name: str, methods: tuple = ("log_prob",)) -> torch.nn.Module:
    """The latent prior of ``model`` (a FlowAutoencoder's ``prior``, or ``model`` itself if it is a
    prior module), which must be an ``nn.Module`` with ``methods``."""
    prior = getattr(model, "prior", model)
    if not (isinstance(prior, torch.nn.Module) and all(hasattr(prior, m) for m in methods)):
        raise TypeError(f"{name} must be a FlowAutoencoder or a prior module with {' and '.join(methods)}, "
                        f"got {type(model).__name__}")
    return prior
