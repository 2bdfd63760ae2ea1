"""Alignment with a model's exact density: likelihood_refine recovers a known affine map, align_models
runs on two flow autoencoders, bad input is refused."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import topotree as tt  # noqa: E402
from topotree import metrics  # noqa: E402
from topotree.datasets import hierarchical_mixture  # noqa: E402
from topotree.adapters import FlowAutoencoder, GMMPrior, LikelihoodRefinement, align_models, fit, likelihood_refine  # noqa: E402


def _prior():
    prior = GMMPrior(2, n_components=3)
    with torch.no_grad():
        prior.loc.copy_(torch.tensor([[-5.0, 0.0], [5.0, 1.0], [0.0, 7.0]]))
        prior.logits.copy_(torch.log(torch.tensor([0.5, 0.3, 0.2])))
        prior.log_diag.copy_(torch.log(torch.tensor([[1.0, 0.5], [0.7, 1.3], [1.2, 0.8]])))
        prior.off.zero_()
    return prior


M_TRUE = np.array([[0.8, -0.9], [1.1, 0.4]])
T_TRUE = np.array([1.5, -2.0])


def _codes_a(prior, n=6000, seed=0):
    """A's codes: draws from B's prior pulled back by the true map z -> z M + t."""
    with torch.no_grad():
        S = prior.sample(n, generator=torch.Generator().manual_seed(seed)).double().numpy()
    return (S - T_TRUE) @ np.linalg.inv(M_TRUE)


def _start(M, t):
    return tt.Alignment(kind="affine", matrix=np.asarray(M, float), offset=np.asarray(t, float), scale=1.0)


def test_refinement_recovers_the_true_affine_map_from_a_rough_start():
    prior = _prior()
    Z = _codes_a(prior)
    rng = np.random.default_rng(1)
    start = _start(M_TRUE + 0.15 * rng.normal(size=(2, 2)), T_TRUE + 0.5 * rng.normal(size=2))
    refined = likelihood_refine(start, prior, Z)
    lik = refined.info["likelihood"]
    assert isinstance(lik, LikelihoodRefinement) and lik.after > lik.before
    assert refined.kind == "affine" and refined.warp is None
    np.testing.assert_allclose(refined.matrix, M_TRUE, atol=0.05)
    np.testing.assert_allclose(refined.offset, T_TRUE, atol=0.1)
    # the refined map's likelihood is at least the true map's (it is the sample's maximum)
    at_truth = likelihood_refine(_start(M_TRUE, T_TRUE), prior, Z, max_iter=1).info["likelihood"].before
    assert lik.after >= at_truth - 1e-6


def test_the_volume_term_keeps_the_map_from_collapsing():
    """Without log|det M| the likelihood would grow by shrinking A onto B's densest mode."""
    prior = _prior()
    Z = _codes_a(prior, 3000)
    refined = likelihood_refine(_start(M_TRUE * 0.3, T_TRUE), prior, Z)
    ratio = abs(np.linalg.det(refined.matrix)) / abs(np.linalg.det(M_TRUE))
    assert 0.8 < ratio < 1.25


def test_bad_input_is_refused_with_clear_errors():
    prior = _prior()
    Z = _codes_a(prior, 200)
    start = _start(M_TRUE, T_TRUE)
    with pytest.raises(TypeError, match="alignment"):
        likelihood_refine("map", prior, Z)
    with pytest.raises(TypeError, match="model_b"):
        likelihood_refine(start, "prior", Z)
    with pytest.raises(ValueError, match="Z_a"):
        likelihood_refine(start, prior, Z[:, :1])
    bad = Z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Z_a"):
        likelihood_refine(start, prior, bad)
    with pytest.raises(ValueError, match="d_a <= d_b"):
        likelihood_refine(_start(np.ones((3, 2)), T_TRUE), prior, np.ones((10, 3)))
    with pytest.raises(ValueError, match="max_iter"):
        likelihood_refine(start, prior, Z, max_iter=0)


STARTS = ("codes", "model trees", "codes + likelihood", "model trees + likelihood")  # align_models' four maps


def _two_flows(X_a, X_b):
    """Two small flow autoencoders (2 latent dims, seeds 0 and 1), each fitted on its own rows."""
    A = FlowAutoencoder(X_a.shape[1], 2, n_components=3, depth=2, hidden=16, seed=0)
    B = FlowAutoencoder(X_b.shape[1], 2, n_components=3, depth=2, hidden=16, seed=1)
    fit(A, X_a, epochs=20, progress=False)
    fit(B, X_b, epochs=20, progress=False)
    return A, B


@pytest.mark.filterwarnings("ignore::topotree.AlignmentWarning")
def test_align_models_on_two_small_flow_autoencoders():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 4
    perm = rng.permutation(450)
    X = (np.repeat(centres, 150, axis=0) + rng.normal(size=(450, 6)) * 0.5)[perm]
    y = np.repeat(np.arange(3), 150)[perm]
    A, B = _two_flows(X[:225], X[225:])
    al = align_models(A, B, X[:225], X[225:], n_tree_samples=1000)
    names = STARTS
    assert al.kind == "affine" and al.info["start"] in names
    assert set(al.info["starts"]) == {"codes", "model trees"}
    # three separated blobs: the codes cannot judge (as in tt.align), the most likely refined map is kept
    j = al.info["judgement"]
    assert not j.judged and np.isnan(al.trust)
    assert al.info["start"] == max(names[:2], key=lambda n: al.info["starts"][n].after) + " + likelihood"
    # A's codes of B's half land among B's codes of the same cluster
    acc = metrics.label_transfer_accuracy(al.transform(A.encode(X[225:])), y[225:], B.encode(X[225:]), y[225:])
    assert acc > 0.95
    with pytest.raises(ValueError, match="transform"):
        align_models(A, B, X[:225], X[225:], transform="orthogonal")
    with pytest.warns(tt.AlignmentWarning, match="could not be judged"):
        again = align_models(A, B, X[:225], X[225:], n_tree_samples=0, codes_alignment=al)
    assert set(again.info["starts"]) == {"codes"}
    with pytest.raises(TypeError, match="codes_alignment must be"):
        align_models(A, B, X[:225], X[225:], codes_alignment="map")
    with pytest.raises(ValueError, match="codes_alignment maps 3 to 2 dims"):
        align_models(A, B, X[:225], X[225:], codes_alignment=tt.procrustes(np.eye(3), np.eye(3)[:, :2]))
    with pytest.raises(TypeError, match="model_a"):
        align_models("A", B, X[:225], X[225:])


@pytest.mark.heavy
def test_align_models_keeps_of_the_maps_the_codes_cannot_tell_apart_the_most_likely():
    # a connected 2-d mixture, linearly embedded: the codes' neighbourhoods judge the four maps
    rng = np.random.default_rng(0)
    X = hierarchical_mixture(600, dim=2, n_leaves=4, seed=0).X @ rng.normal(size=(2, 6))
    X += rng.normal(size=(600, 6)) * 0.05
    A, B = _two_flows(X[:300], X[300:])
    al = align_models(A, B, X[:300], X[300:], n_tree_samples=500)
    names = STARTS
    j = al.info["judgement"]
    kept = names.index(al.info["start"])
    assert j.judged and len(j.trusts) == 4 and j.best in j.near_best and kept in j.near_best
    assert al.trust == j.trusts[kept].score > 0.4
    lik = [al.info["starts"][n].before for n in names[:2]] + [al.info["starts"][n].after for n in names[:2]]
    assert lik[kept] == max(lik[i] for i in j.near_best)
    # the same points through both encoders: the map carries A's codes onto B's
    assert metrics.relative_error(al.transform(A.encode(X[300:])), B.encode(X[300:])) < 0.1
