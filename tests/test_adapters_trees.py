"""Trees built from the exact latent density recover the data's number of clusters (short training)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
tt = pytest.importorskip("topotree")

from adapters import FlowAutoencoder, fit, latent_cloud  # noqa: E402


def _n_clusters(X, latent_dim, n_components, seed, epochs, **simplify):
    model = FlowAutoencoder(X.shape[1], latent_dim, n_components=n_components, depth=3, hidden=32, seed=seed,
                            sigma=0.3)
    fit(model, X, epochs=epochs, lr=3e-3, progress=False)
    Z, log_density = latent_cloud(model, X)
    tree = tt.build_tree(Z, log_density=log_density, k=15)
    return len(tree.simplify(**simplify).leaves)


@pytest.mark.parametrize("seed", [0, 1])
def test_two_moons_tree_has_two_clusters(seed):
    from sklearn.datasets import make_moons

    X, _ = make_moons(600, noise=0.08, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    # the exact density of a 2-component prior pushed through the flow; a 10% mass floor drops a
    # small spurious basin (about 7% of the points) that the default thresholds keep
    assert _n_clusters(X, 2, 2, seed, epochs=80, min_mass=0.1) == 2


@pytest.mark.parametrize("seed", [0, 1])
def test_hierarchical_mixture_3d_tree_has_true_number_of_clusters(seed):
    from topotree.datasets import hierarchical_mixture

    mix = hierarchical_mixture(900, dim=3, n_leaves=4, seed=0)
    X = (mix.X - mix.X.mean(0)) / mix.X.std(0)
    assert _n_clusters(X, 3, 6, seed, epochs=30) == len(np.unique(mix.labels))
