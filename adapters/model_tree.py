"""The model's own topology: the level-set tree of the latent prior density itself.

The tree is built on samples drawn from the prior, each carrying its exact log-density under the
model, so it is known from the model and not from whichever data happen to be encoded. Node
masses are prior masses, estimated from the samples (Monte Carlo; the standard error of a mass
``p`` from ``m`` samples is ``sqrt(p (1 - p) / m)``). Data are attached afterwards: each encoded
point lies in the basin of the sample nearest to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import ArrayLike

import topotree as tt

from ._validation import ArrayIn, as_matrix, check_int, check_prior, check_seed

if TYPE_CHECKING:
    from .autoencoder import FlowAutoencoder
    from .priors import Prior

__all__ = ["ModelTree", "model_tree"]


@dataclass(frozen=True, eq=False)
class ModelTree:
    """The level-set tree of a model's latent prior, built from prior samples.

    Attributes
    ----------
    tree : topotree.ClusterTree, simplified, on ``samples`` (``tree.nodes[i].members`` index them).
    samples : (m, latent_dim) draws from the prior.
    log_density : (m,) their exact log-densities under the prior.

    ``leaf_masses`` are the prior masses of the leaves' basins (the share of the prior whose
    steepest ascent reaches that leaf); ``tree.nodes[i].mass`` is the mass of node i's component
    just above the level where it appears.
    """

    tree: object
    samples: np.ndarray = field(repr=False)
    log_density: np.ndarray = field(repr=False)

    @property
    def leaves(self) -> tuple:
        return self.tree.leaves

    @property
    def leaf_masses(self) -> np.ndarray:
        """Prior mass of each leaf's basin, in the order of ``leaves``."""
        return np.asarray(self.tree.basin_mass)[list(self.tree.leaves)]

    @property
    def modes(self) -> np.ndarray:
        """(n_leaves, latent_dim): the densest sample of each leaf (its peak)."""
        return self.samples[[self.tree.nodes[i].peak for i in self.tree.leaves]]

    def _nearest(self, Z) -> np.ndarray:
        from sklearn.neighbors import NearestNeighbors

        Z = np.asarray(as_matrix(Z, "Z", width=self.samples.shape[1]), dtype=np.float64)
        nn = NearestNeighbors(n_neighbors=1).fit(self.samples)
        return nn.kneighbors(Z, return_distance=False)[:, 0]

    def assign(self, Z: ArrayIn) -> np.ndarray:
        """(n,) position in ``leaves`` of the basin each latent point ``Z`` lies in (nearest sample's)."""
        return self.tree.labels()[self._nearest(Z)]

    def node_members(self, Z: ArrayIn) -> dict:
        """``{node id: indices of the rows of Z}`` whose nearest prior sample belongs to that node."""
        near = self._nearest(Z)
        out = {}
        for node in self.tree.nodes:
            inside = np.zeros(self.samples.shape[0], dtype=bool)
            inside[node.members] = True
            out[node.id] = np.flatnonzero(inside[near])
        return out

    def purity(self, Z: ArrayIn, labels: ArrayLike) -> tuple:
        """``(purity, n_classes)``: the share of points whose leaf's majority class is their own,
        and how many distinct classes are the majority of some leaf."""
        labels = np.asarray(labels)
        lab = self.assign(Z)
        if labels.shape != lab.shape:
            raise ValueError(f"labels must have one entry per row of Z ({lab.shape[0]}), got shape {labels.shape}")
        hits, majors = 0, set()
        for leaf in np.unique(lab):
            vals, counts = np.unique(labels[lab == leaf], return_counts=True)
            hits += int(counts.max())
            majors.add(vals[counts.argmax()].item())
        return hits / len(labels), len(majors)


def model_tree(model: FlowAutoencoder | Prior, n_samples: int = 10000, *, seed: int = 0, k: int | None = None, simplify: bool = True) -> ModelTree:
    """The level-set tree of ``model``'s latent prior density, from ``n_samples`` prior samples.

    Parameters
    ----------
    model : FlowAutoencoder, or a prior (an ``nn.Module`` with ``log_prob(z)`` and
        ``sample(n, generator=...)``, e.g. :class:`~topotree.adapters.GMMPrior`).
    n_samples : int, prior samples the tree is built on (the masses' precision grows as sqrt of it).
    seed : int, seed of the samples.
    k : neighbours of the kNN graph (default :func:`topotree.default_k`).
    simplify : bool, simplify the tree with its default, data-chosen thresholds.

    Returns
    -------
    ModelTree

    References
    ----------
    Stuetzle, W. (2003). Estimating the cluster tree of a density by analyzing the minimal spanning
    tree of a sample. J. Classification 20. Kent, B. P., Rinaldo, A. and Verstynen, T. (2013).
    DeBaCl: a Python package for interactive density-based clustering. arXiv:1307.8136.

    Examples
    --------
    >>> import torch
    >>> from topotree.adapters import GMMPrior, model_tree
    >>> prior = GMMPrior(2, n_components=2)
    >>> with torch.no_grad():
    ...     _ = prior.loc.copy_(torch.tensor([[-4.0, 0.0], [4.0, 0.0]]))
    ...     _ = prior.logits.copy_(torch.log(torch.tensor([0.7, 0.3])))
    >>> mt = model_tree(prior, 4000)
    >>> len(mt.leaves), [round(float(m), 1) for m in sorted(mt.leaf_masses)]
    (2, [0.3, 0.7])
    """
    prior = check_prior(model, "model", ("log_prob", "sample"))
    n_samples = check_int(n_samples, "n_samples", low=2)
    seed = check_seed(seed, allow_none=False)
    ref = next((p for p in prior.parameters()), torch.zeros(()))
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        S = prior.sample(n_samples, generator=g).to(ref)
        logp = prior.log_prob(S)
    S = S.detach().cpu().double().numpy()
    logp = logp.detach().cpu().double().numpy()
    tree = tt.build_tree(S, log_density=logp, k=k)
    if simplify:
        tree = tree.simplify()
    S.setflags(write=False)
    logp.setflags(write=False)
    return ModelTree(tree=tree, samples=S, log_density=logp)
