"""The plain MLP autoencoder of adapters/: shapes, determinism, learning, argument checks."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from topotree.adapters import MLPAutoencoder, fit_autoencoder  # noqa: E402


def _data(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    return np.tanh(Z @ rng.normal(size=(2, d))) + 0.05 * rng.normal(size=(n, d))


@pytest.mark.parametrize("hidden,act", [((16,), "relu"), ((32, 16), "tanh"), ((), "gelu"), ((8, 8, 8), "elu")])
def test_shapes_and_architecture(hidden, act):
    m = MLPAutoencoder(6, 2, hidden=hidden, activation=act)
    X = _data()
    assert m.encode(X).shape == (300, 2)
    assert m.decode(m.encode(X)).shape == (300, 6)
    n_linear = sum(isinstance(layer, torch.nn.Linear) for layer in m.encoder)
    assert n_linear == len(hidden) + 1


def test_seed_determines_weights_and_leaves_global_rng():
    before = torch.random.get_rng_state()
    a, b, c = MLPAutoencoder(6, 2, seed=3), MLPAutoencoder(6, 2, seed=3), MLPAutoencoder(6, 2, seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    X = _data()
    assert np.array_equal(a.encode(X), b.encode(X))
    assert not np.allclose(a.encode(X), c.encode(X))


def test_training_lowers_the_reconstruction_error_deterministically():
    X = _data()
    runs = []
    for _ in range(2):
        m = MLPAutoencoder(6, 2, hidden=(32,), seed=0)
        h = fit_autoencoder(m, X, epochs=15, seed=0)
        runs.append(m.encode(X))
    assert h.train_mse[-1] < 0.5 * h.train_mse[0]
    assert len(h.train_mse) == 15 and h.seconds > 0
    assert np.array_equal(runs[0], runs[1])
    mse = np.mean((m.decode(m.encode(X)) - X) ** 2)
    assert mse < np.mean((X - X.mean(0)) ** 2)


def test_argument_checks():
    with pytest.raises(ValueError, match="latent_dim"):
        MLPAutoencoder(4, 5)
    with pytest.raises(ValueError, match="activation"):
        MLPAutoencoder(4, 2, activation="sigmoidish")
    with pytest.raises(TypeError, match="hidden"):
        MLPAutoencoder(4, 2, hidden=16)
    with pytest.raises(ValueError, match="hidden width"):
        MLPAutoencoder(4, 2, hidden=(0,))
    m = MLPAutoencoder(4, 2, hidden=(8,))
    with pytest.raises(ValueError, match="4 columns"):
        m.encode(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        fit_autoencoder(m, np.full((5, 4), np.nan))
    with pytest.raises(ValueError, match="epochs"):
        fit_autoencoder(m, np.zeros((5, 4)), epochs=0)
    with pytest.raises(ValueError, match="lr"):
        fit_autoencoder(m, np.zeros((5, 4)), lr=-1.0)
    with pytest.raises(TypeError, match="nn.Module"):
        fit_autoencoder("model", np.zeros((5, 4)))
