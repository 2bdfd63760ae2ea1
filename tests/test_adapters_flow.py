"""The flow's math: det J = 1, exact inverses, normalised densities, the prior against scipy."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy.special import logsumexp  # noqa: E402
from scipy.stats import multivariate_normal  # noqa: E402

from topotree.adapters import FlowAutoencoder  # noqa: E402
from topotree.adapters.autoencoder import _STRUCTURES as STRUCTURES  # noqa: E402
from topotree.adapters.flows import VolumePreservingFlow  # noqa: E402
from topotree.adapters.priors import FlowPrior, GMMPrior  # noqa: E402


def _scramble(module, seed=0, scale=0.3):
    """Move every parameter away from its (identity) start so the tests see a non-trivial map."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("dim,latent_dim", [(2, 1), (5, 2), (6, 6)])
def test_jacobian_determinant_is_one(structure, dim, latent_dim):
    model = _scramble(FlowAutoencoder(dim, latent_dim, depth=3, hidden=16, structure=structure, seed=1)).double()
    x = torch.randn(6, dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for xi in x:
        J = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], xi)
        assert abs(abs(torch.linalg.det(J).item()) - 1.0) < 1e-5
        assert not torch.allclose(J, torch.eye(dim, dtype=J.dtype))  # really non-trivial


def test_flow_starts_at_identity_and_inverts():
    flow = VolumePreservingFlow(7, depth=4, hidden=16)
    x = torch.randn(20, 7)
    assert torch.equal(flow(x), x)
    _scramble(flow, seed=3)
    assert torch.allclose(flow.inverse(flow(x)), x, atol=1e-5)


@pytest.mark.parametrize("dim,latent_dim", [(4, 2), (3, 3)])
def test_encode_decode_with_true_noise_inverts(dim, latent_dim):
    model = _scramble(FlowAutoencoder(dim, latent_dim, depth=3, hidden=16, seed=4))
    X = np.random.default_rng(0).normal(size=(50, dim))
    Z, R = model.encode(X, return_noise=True)
    assert Z.shape == (50, latent_dim) and R.shape == (50, dim - latent_dim)
    np.testing.assert_allclose(model.decode(Z, noise=R), X, atol=1e-5)
    if latent_dim == dim:
        np.testing.assert_allclose(model.decode(Z), X, atol=1e-5)


@pytest.mark.parametrize("latent_dim", [1, 2])
@pytest.mark.parametrize("prior", ["gmm", "flow"])
def test_exact_2d_density_integrates_to_one(latent_dim, prior):
    model = FlowAutoencoder(2, latent_dim, prior=prior, n_components=3, depth=3, hidden=16, sigma=0.7, seed=5)
    X = np.random.default_rng(1).normal(size=(200, 2)) * [2.0, 0.7]
    model.initialize(torch.as_tensor(X, dtype=torch.float32))
    _scramble(model, seed=6, scale=0.1)
    model.double()
    lim, n = 14.0, 561
    g = np.linspace(-lim, lim, n)
    G = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    total = np.exp(model.log_density(G)).sum() * (g[1] - g[0]) ** 2
    assert abs(total - 1.0) < 0.01


def test_gmm_prior_matches_scipy():
    prior = _scramble(GMMPrior(3, n_components=4), seed=7, scale=0.5).double()
    Z = np.random.default_rng(2).normal(size=(40, 3)) * 2
    ours = prior.log_prob(torch.as_tensor(Z)).detach().numpy()
    w = prior.weights.detach().numpy()
    mu = prior.loc.detach().numpy()
    cov = prior.covariance.detach().numpy()
    ref = logsumexp([np.log(w[k]) + multivariate_normal(mu[k], cov[k]).logpdf(Z) for k in range(4)], axis=0)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


def test_latent_log_density_matches_scipy_after_fit():
    from topotree.adapters import fit

    X = np.random.default_rng(3).normal(size=(300, 4)) @ np.diag([3, 2, 0.3, 0.2])
    model = FlowAutoencoder(4, 2, n_components=3, depth=2, hidden=16, seed=0)
    fit(model, X, epochs=3, progress=False)
    Z = model.encode(X)
    p = model.prior
    w, mu, cov = (t.detach().double().numpy() for t in (p.weights, p.loc, p.covariance))
    ref = logsumexp([np.log(w[k]) + multivariate_normal(mu[k], cov[k]).logpdf(Z) for k in range(3)], axis=0)
    np.testing.assert_allclose(model.latent_log_density(Z), ref, rtol=1e-4, atol=1e-4)
    # and log p(x) = log p_prior(z) + log N(r; 0, sigma^2 I) exactly
    _, R = model.encode(X, return_noise=True)
    noise = multivariate_normal(np.zeros(2), model.sigma**2 * np.eye(2)).logpdf(R)
    np.testing.assert_allclose(model.log_density(X), ref + noise, rtol=1e-4, atol=1e-3)


def test_flow_prior_sample_and_inverse_consistent():
    prior = _scramble(FlowPrior(3, depth=2, hidden=8), seed=8, scale=0.2).double()
    z = prior.sample(100, generator=torch.Generator().manual_seed(0))
    u, _ = prior._to_base(z)
    assert torch.isfinite(prior.log_prob(z)).all() and u.shape == (100, 3)


def test_recon_weight_keeps_the_data_in_a_non_linear_encoders_latent():
    """With a non-linear encoder the NLL alone lets information leak into the noise part; the
    reconstruction term of fit(recon_weight=...) lowers the zero-noise reconstruction error."""
    from topotree.adapters import fit

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(400, 2))
    X = np.c_[Z, np.sin(2 * Z[:, :1]) + 0.3 * Z[:, 1:], Z[:, :1] * Z[:, 1:], 0.05 * rng.normal(size=(400, 2))]
    errs = []
    for w in (0.0, 100.0):
        m = FlowAutoencoder(6, 2, structure="split", n_components=2, depth=2, hidden=16, seed=0)
        fit(m, X, epochs=30, progress=False, recon_weight=w)
        errs.append(float(np.mean((m.decode(m.encode(X)) - X) ** 2)))
    assert errs[1] < errs[0]
    with pytest.raises(ValueError, match="recon_weight"):
        fit(FlowAutoencoder(6, 2, n_components=2, depth=2, hidden=16), X, epochs=1, progress=False, recon_weight=-1.0)


def test_pretraining_a_non_linear_encoder_keeps_more_of_the_data_in_its_latent():
    """fit(pretrain_epochs=...) first trains the flow as a plain autoencoder's encoder: on an arc
    (which the PCA line folds), x is predicted better from the codes (5-NN regression,
    cross-validated R^2, two seeds), deterministically for a seed."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsRegressor

    from topotree.adapters import fit

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 1.6 * np.pi, 400)
    X = np.c_[np.cos(t), np.sin(t), 0.05 * rng.normal(size=(400, 2))]
    r2 = {}
    for pre in (0, 60):
        for seed in (0, 1):
            m = FlowAutoencoder(4, 1, structure="split", n_components=2, depth=4, hidden=32, seed=seed)
            fit(m, X, epochs=20, progress=False, recon_weight=100.0, pretrain_epochs=pre)
            z = m.encode(X)
            r2[pre, seed] = cross_val_score(KNeighborsRegressor(5), z, X[:, :2], cv=5).mean()
    assert r2[60, 0] + r2[60, 1] > r2[0, 0] + r2[0, 1] + 0.04
    again = FlowAutoencoder(4, 1, structure="split", n_components=2, depth=4, hidden=32, seed=1)
    fit(again, X, epochs=20, progress=False, recon_weight=100.0, pretrain_epochs=60)
    assert np.array_equal(again.encode(X), z)
    with pytest.raises(ValueError, match="pretrain_epochs"):
        fit(again, X, epochs=1, progress=False, pretrain_epochs=-1)
