"""The model's own tree (the prior's level-set tree from prior samples), the non-linear encoder and
the calibrated density of a plain fit."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from topotree.adapters import FlowAutoencoder, GMMPrior, fit, model_tree  # noqa: E402
from topotree.adapters.autoencoder import _STRUCTURES  # noqa: E402

WEIGHTS = np.array([0.5, 0.3, 0.2])


def _three_component_prior():
    prior = GMMPrior(2, n_components=3)
    with torch.no_grad():
        prior.loc.copy_(torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]]))
        prior.logits.copy_(torch.log(torch.as_tensor(WEIGHTS, dtype=torch.float32)))
        prior.log_diag.copy_(torch.log(torch.tensor([[1.0, 0.6], [0.8, 1.2], [1.0, 1.0]])))
        prior.off.zero_()
        prior.off[1, 1, 0] = 0.3
    return prior


def test_known_three_component_model_has_three_leaves_with_the_right_masses():
    mt = model_tree(_three_component_prior(), 20000, seed=0)
    assert len(mt.leaves) == 3
    np.testing.assert_allclose(np.sort(mt.leaf_masses), np.sort(WEIGHTS), atol=0.02)
    # the modes are the component means
    means = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
    d = np.linalg.norm(mt.modes[:, None] - means[None], axis=2)
    assert np.all(d.min(1) < 0.5)


def test_two_sample_sets_of_one_prior_give_the_same_tree():
    prior = _three_component_prior()
    a, b = model_tree(prior, 20000, seed=1), model_tree(prior, 20000, seed=2)
    assert len(a.leaves) == len(b.leaves) == 3
    # same leaves: pair them by their modes, then compare masses
    d = np.linalg.norm(a.modes[:, None] - b.modes[None], axis=2)
    order = d.argmin(1)
    assert sorted(order.tolist()) == [0, 1, 2]
    np.testing.assert_allclose(a.leaf_masses, b.leaf_masses[order], atol=0.02)


def test_data_attach_to_the_model_tree():
    mt = model_tree(_three_component_prior(), 5000, seed=0)
    Z = np.array([[-6.0, 0.1], [6.2, 0.0], [0.0, 7.5], [-5.5, -0.5]])
    lab = mt.assign(Z)
    assert lab[0] == lab[3] and len(set(lab[:3].tolist())) == 3
    members = mt.node_members(Z)
    root = [n.id for n in mt.tree.nodes if n.parent == -1][0]
    assert sorted(members[root].tolist()) == [0, 1, 2, 3]
    assert mt.purity(Z, np.array([0, 1, 2, 0])) == (1.0, 3)
    with pytest.raises(ValueError, match="labels"):
        mt.purity(Z, np.zeros(3))


def test_model_tree_bad_input():
    with pytest.raises(TypeError, match="model"):
        model_tree(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_samples"):
        model_tree(_three_component_prior(), 1)


def test_model_tree_method_on_a_flow_autoencoder():
    model = FlowAutoencoder(4, 2, n_components=2, depth=2, hidden=8)
    fit(model, np.random.default_rng(0).normal(size=(200, 4)), epochs=2, progress=False)
    mt = model.tree(2000)
    assert mt.samples.shape == (2000, 2) and np.isclose(mt.leaf_masses.sum(), 1.0)
    np.testing.assert_allclose(mt.log_density, model.latent_log_density(mt.samples.copy()), atol=1e-4)


def test_warp_encoder_is_nonlinear_yet_volume_preserving():
    model = FlowAutoencoder(6, 3, depth=4, hidden=16, structure="warp", seed=1).double()
    X = np.random.default_rng(0).normal(size=(400, 6))
    model.initialize(torch.as_tensor(X))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # move the couplings off their identity start
        for c in model.flow.couplings:
            for p in c.parameters():
                p.add_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    Z = model.encode(X)
    X1 = np.c_[X, np.ones(len(X))]
    W, *_ = np.linalg.lstsq(X1, Z, rcond=None)
    assert np.mean((X1 @ W - Z) ** 2) / Z.var(0).sum() > 0.01  # a clear affine residual
    for x in torch.as_tensor(X[:5]):
        J = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], x)
        assert abs(abs(torch.linalg.det(J).item()) - 1.0) < 1e-5


@pytest.mark.parametrize("structure", _STRUCTURES)
def test_every_structure_keeps_the_contract(structure):
    """Each variant: exact inverse, the density of the pure noise-free code path, saving."""
    model = FlowAutoencoder(5, 2, depth=3, hidden=8, structure=structure, seed=3).double()
    X = np.random.default_rng(1).normal(size=(50, 5))
    Z, R = model.encode(X, return_noise=True)
    np.testing.assert_allclose(model.decode(Z, noise=R), X, atol=1e-8)
    assert np.all(np.isfinite(model.log_density(X)))


def test_plain_fit_gives_a_calibrated_density_below_ppca():
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    d = load_digits()
    rng = np.random.default_rng(0)
    X = d.data + rng.uniform(size=d.data.shape)
    perm = rng.permutation(len(X))
    tr, te = perm[:600], perm[600:900]
    X = (X - X[tr].mean(0)) / X[tr].std(0)
    model = FlowAutoencoder(64, 4, depth=2, hidden=32, seed=0)
    fit(model, X[tr], epochs=15, progress=False)   # a plain fit: calibrated by default
    ppca = -PCA(4).fit(X[tr]).score(X[te])
    assert -model.log_density(X[te]).mean() < ppca
