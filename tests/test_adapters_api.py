"""FlowAutoencoder API: validation, persistence, determinism, latent_cloud, select_prior."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from topotree.adapters import FitHistory, FlowAutoencoder, fit, latent_cloud, select_prior  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(240, 5)) @ np.diag([3.0, 2.0, 1.0, 0.3, 0.2])


@pytest.fixture(scope="module")
def trained(data):
    model = FlowAutoencoder(5, 2, n_components=3, depth=2, hidden=16, seed=0)
    fit(model, data, epochs=4, progress=False)
    return model


def test_history_is_frozen_and_consistent(data):
    model = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=0)
    h = fit(model, data, epochs=4, progress=False, patience=2)
    assert isinstance(h, FitHistory) and h.epochs_run == len(h.train_nll) == len(h.val_nll)
    assert h.best_val_nll == min(h.val_nll) and 0 <= h.best_epoch < h.epochs_run
    with pytest.raises(Exception):
        h.epochs_run = 3


def test_training_is_deterministic(data):
    outs = []
    for _ in range(2):
        model = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=3)
        h = fit(model, data, epochs=3, progress=False)
        outs.append((h.train_nll, model.encode(data)))
    assert outs[0][0] == outs[1][0]
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    other = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=4)
    fit(other, data, epochs=3, progress=False)
    assert not np.array_equal(other.encode(data), outs[0][1])


def test_training_improves_nll_and_early_stopping_keeps_best(data):
    model = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=0)
    # the validation NLLs are those of the training sigma: compare before the default calibration
    h = fit(model, data, epochs=30, progress=False, lr=3e-3, patience=3, calibrate_sigma=False)
    assert h.val_nll[h.best_epoch] == h.best_val_nll
    assert h.train_nll[-1] < h.train_nll[0]
    held = data[np.sort(np.random.default_rng(0).permutation(len(data))[: int(round(0.2 * len(data)))])]
    assert abs(-model.log_density(held).mean() - h.best_val_nll) < 1e-3


def test_anneal_calibrate_learned_sigma_and_adversarial(data):
    m = FlowAutoencoder(5, 2, n_components=2, depth=1, hidden=8, sigma=0.1)
    h = fit(m, data, epochs=4, anneal_sigma=1.0, anneal_epochs=2, progress=False, calibrate_sigma=False)
    assert abs(h.sigma - 0.1) < 1e-6
    h = fit(m, data, epochs=1, calibrate_sigma=True, progress=False)
    _, R = m.encode(data, return_noise=True)
    assert h.sigma > 0.1
    m2 = FlowAutoencoder(5, 2, n_components=2, depth=1, hidden=8, learn_sigma=True)
    fit(m2, data, epochs=3, progress=False)
    assert m2.sigma != 0.1
    m3 = FlowAutoencoder(5, 2, n_components=2, depth=1, hidden=8, adversarial=True)
    h3 = fit(m3, data, epochs=3, progress=False)
    assert np.isfinite(h3.train_nll).all() and m3.discriminator is not None


def test_save_load_round_trip(tmp_path, trained, data):
    path = tmp_path / "model.pt"
    trained.save(path)
    loaded = FlowAutoencoder.load(path)
    np.testing.assert_array_equal(loaded.encode(data), trained.encode(data))
    np.testing.assert_array_equal(loaded.log_density(data), trained.log_density(data))
    np.testing.assert_array_equal(loaded.sample(7, seed=1), trained.sample(7, seed=1))
    assert loaded.config == trained.config
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a FlowAutoencoder"):
        FlowAutoencoder.load(tmp_path / "other.pt")


def test_numpy_and_torch_inputs(trained, data):
    Z = trained.encode(data)
    assert isinstance(Z, np.ndarray) and Z.shape == (240, 2)
    Zt = trained.encode(torch.as_tensor(data, dtype=torch.float32), numpy=False)
    assert isinstance(Zt, torch.Tensor)
    np.testing.assert_allclose(Zt.numpy(), Z, atol=1e-6)
    assert trained.decode(Z).shape == (240, 5) and trained.decode(Z, noise="sample", seed=0).shape == (240, 5)
    assert trained.latent_log_density(Z).shape == (240,) and trained.sample(11).shape == (11, 5)


def test_pure_flow_is_legal(data):
    model = FlowAutoencoder(5, 5, n_components=2, depth=2, hidden=8)
    fit(model, data, epochs=2, progress=False)
    Z = model.encode(data)
    assert Z.shape == (240, 5)
    np.testing.assert_allclose(model.log_density(data), model.latent_log_density(Z), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.decode(Z), data, atol=1e-4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(dim=4, latent_dim=5), "latent_dim"),
    (dict(dim=4, latent_dim=0), "latent_dim"),
    (dict(dim=0, latent_dim=1), "dim"),
    (dict(dim=4, latent_dim=2, prior="cauchy"), "prior"),
    (dict(dim=4, latent_dim=2, sigma=-1.0), "sigma"),
    (dict(dim=4, latent_dim=2, structure="weird"), "structure"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowAutoencoder(**kwargs)
    with pytest.raises(TypeError, match="latent_dim"):
        FlowAutoencoder(4, 2.5)


def test_bad_inputs(trained, data):
    with pytest.raises(ValueError, match="X must have 5 columns"):
        trained.encode(data[:, :4])
    bad = data.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        trained.log_density(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit(trained, bad, epochs=1, progress=False)
    with pytest.raises(ValueError, match="2-D"):
        trained.encode(data[0])
    with pytest.raises(ValueError, match="Z must have 2 columns"):
        trained.decode(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="noise"):
        trained.decode(np.zeros((3, 2)), noise="loud")
    with pytest.raises(ValueError, match="noise must have 3 columns"):
        trained.decode(np.zeros((3, 2)), noise=np.zeros((3, 2)))
    with pytest.raises(TypeError, match="X must"):
        trained.encode([["a", "b", "c", "d", "e"]])
    with pytest.raises(ValueError, match="val_fraction"):
        fit(trained, data, val_fraction=1.5, progress=False)
    with pytest.raises(ValueError, match="m must be >= 1"):
        trained.sample(0)


def test_latent_cloud_any_model(trained, data):
    from sklearn.decomposition import PCA

    Z, logp = latent_cloud(trained, data, batch_size=50)  # batched == unbatched
    np.testing.assert_allclose(Z, trained.encode(data), atol=1e-6)
    np.testing.assert_allclose(logp, trained.latent_log_density(Z), rtol=1e-5, atol=1e-5)

    pca = PCA(3).fit(data)
    Z, logp = latent_cloud(pca, data, batch_size=64)
    assert logp is None
    np.testing.assert_allclose(Z, pca.transform(data))

    net = torch.nn.Sequential(torch.nn.Linear(5, 3)).double()
    Z, logp = latent_cloud(net, data, batch_size=33)
    assert logp is None and Z.shape == (240, 3) and net.training
    with torch.no_grad():
        np.testing.assert_allclose(Z, net(torch.as_tensor(data)).numpy())

    Z, logp = latent_cloud(lambda x: x[:, :2] * 2, data)
    np.testing.assert_allclose(Z, data[:, :2] * 2)
    with pytest.raises(TypeError, match="model must be"):
        latent_cloud(42, data)
    with pytest.raises(ValueError, match="columns"):
        latent_cloud(trained, data[:, :3])


def test_select_prior_ranks_by_heldout_likelihood():
    rng = np.random.default_rng(1)
    # two well separated blobs: a mixture must beat one Gaussian on held-out data
    X = np.concatenate([rng.normal(size=(150, 2)) * 0.3 - 3, rng.normal(size=(150, 2)) * 0.3 + 3])
    ranking = select_prior(X, ["gaussian", ("gmm-2", {"prior": "gmm", "n_components": 2}), "flow"],
                           latent_dim=2, model_kwargs=dict(depth=1, hidden=8),
                           fit_kwargs=dict(epochs=3, progress=False))
    assert [c.heldout_nll for c in ranking] == sorted(c.heldout_nll for c in ranking)
    names = [c.name for c in ranking]
    assert names.index("gmm-2") < names.index("gaussian")


def test_default_latent_spans_the_pca_subspace(data):
    """structure="decoder": z is the PCA projection of x up to a rotation, so neighbourhoods are PCA's."""
    from scipy.spatial.distance import pdist
    from sklearn.decomposition import PCA

    model = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=0)
    fit(model, data, epochs=5, lr=3e-3, progress=False)
    P = PCA(2).fit(data).transform(data)
    np.testing.assert_allclose(pdist(model.encode(data)), pdist(P), rtol=1e-4, atol=1e-4)
    learned = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=0, learn_subspace=True)
    fit(learned, data, epochs=5, lr=3e-3, progress=False)
    assert not np.allclose(pdist(learned.encode(data)), pdist(P), rtol=1e-3, atol=1e-3)


def test_frozen_and_refitted_prior(data):
    from sklearn.mixture import GaussianMixture

    model = FlowAutoencoder(5, 2, n_components=2, depth=2, hidden=16, seed=0, reg_covar=0.05)
    model.initialize(torch.as_tensor(data, dtype=torch.float32))
    start = {k: v.clone() for k, v in model.prior.state_dict().items()}
    fit(model, data, epochs=3, lr=3e-3, train_prior=False, initialize=False, progress=False)
    for k, v in model.prior.state_dict().items():
        assert torch.equal(v, start[k])
    fit(model, data, epochs=2, lr=3e-3, refit_prior=True, initialize=False, progress=False)
    Z = model.encode(data)  # the refit is EM on the latents of all the data given
    gm = GaussianMixture(2, covariance_type="full", random_state=0, reg_covar=0.05 * np.mean(np.var(Z, 0))).fit(Z)
    np.testing.assert_allclose(model.latent_log_density(Z), gm.score_samples(Z), rtol=1e-3, atol=1e-3)


def test_fit_restores_thread_settings(data):
    before = torch.get_num_threads()
    model = FlowAutoencoder(5, 2, n_components=2, depth=1, hidden=8)
    fit(model, data, epochs=1, progress=False)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        fit(model, data, epochs=1, num_threads=0, progress=False)
    with pytest.raises(ValueError, match="reg_covar"):
        FlowAutoencoder(5, 2, reg_covar=-1.0)
