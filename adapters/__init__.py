"""topotree.adapters: latent point clouds with exact densities from neural networks (torch).

This is the only part of topotree that imports torch; the core ``topotree`` package works without it
and never imports this one. The repository keeps it in its own top-level folder, ``adapters/``;
installed, it is ``topotree.adapters`` (no top-level ``adapters`` module, which would shadow the
unrelated ``adapters`` library on PyPI).

>>> import numpy as np
>>> from topotree.adapters import FlowAutoencoder, fit, latent_cloud
>>> X = np.random.default_rng(0).normal(size=(200, 3))
>>> model = FlowAutoencoder(3, latent_dim=2, n_components=2, depth=2, hidden=16)
>>> _ = fit(model, X, epochs=2, progress=False)
>>> Z, log_density = latent_cloud(model, X)   # then tt.build_tree(Z, log_density=log_density)
"""

from .alignment import LikelihoodRefinement, align_models, likelihood_refine
from .autoencoder import FlowAutoencoder
from .encoders import latent_cloud
from .flows import AdditiveCoupling, LatentCoupling, OrthogonalMixing, VolumePreservingFlow
from .mlp import AutoencoderHistory, MLPAutoencoder, fit_autoencoder
from .model_tree import ModelTree, model_tree
from .priors import FlowPrior, GaussianPrior, GMMPrior
from .selection import PriorCandidate, select_prior
from .training import FitHistory, fit

__all__ = [
    "FlowAutoencoder", "fit", "MLPAutoencoder", "fit_autoencoder", "AutoencoderHistory", "select_prior",
    "latent_cloud", "FitHistory", "PriorCandidate", "model_tree", "ModelTree", "LatentCoupling",
    "VolumePreservingFlow", "AdditiveCoupling", "OrthogonalMixing",
    "GMMPrior", "GaussianPrior", "FlowPrior", "align_models", "likelihood_refine", "LikelihoodRefinement",
]
