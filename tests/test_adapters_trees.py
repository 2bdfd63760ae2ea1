"""Trees built from the exact latent density recover the data's number of clusters (short training)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
tt = pytest.importorskip("topotree")

from topotree.adapters import FlowAutoencoder, fit, latent_cloud  # noqa: E402


def _tree(X, latent_dim, n_components, seed, **fit_kwargs):
    model = FlowAutoencoder(X.shape[1], latent_dim, n_components=n_components, depth=3, hidden=32, seed=seed,
                            sigma=0.3)
    fit(model, X, progress=False, **fit_kwargs)
    Z, log_density = latent_cloud(model, X)
    return tt.build_tree(Z, log_density=log_density, k=15).simplify()  # the default thresholds


def test_two_moons_tree_has_two_clusters():
    from sklearn.datasets import make_moons

    X, moon = make_moons(600, noise=0.08, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    # A 2-component prior pushed through the flow. The EM start (identity flow) is a saddle: each
    # Gaussian's mean sits in the empty bend of its moon, next to the other moon's tip, so an
    # untrained model gives that tip a high density cut off from its moon (a third leaf). A larger
    # step and no early stopping in the plateau let the flow pull the moons apart.
    tree = _tree(X, 2, 2, seed=0, epochs=150, lr=1e-2, patience=150)
    assert len(tree.leaves) == 2
    labels = tree.labels()
    purity = max(np.mean(labels == moon), np.mean(labels != moon))
    assert purity > 0.9


def test_hierarchical_mixture_3d_tree_has_true_number_of_clusters():
    from topotree.datasets import hierarchical_mixture

    mix = hierarchical_mixture(600, dim=3, n_leaves=4, seed=0)
    X = (mix.X - mix.X.mean(0)) / mix.X.std(0)
    tree = _tree(X, 3, 6, seed=0, epochs=20, lr=3e-3)
    assert len(tree.leaves) == len(np.unique(mix.labels))
