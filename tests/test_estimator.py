"""DensityTree: scikit-learn's estimator checks, hdbscan's defaults on moons, excess of mass and
GLOSH against their definitions, approximate_predict against fit_predict and held-out truth."""
import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score, roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import topotree as tt
from topotree.datasets import hierarchical_mixture
from topotree.estimator import DensityTree, cluster_stability, select_clusters


# every check scikit-learn has for a clusterer, none skipped (scikit-learn itself skips the
# array-API check unless SCIPY_ARRAY_API is set)
@parametrize_with_checks([DensityTree(), DensityTree(noise=True), DensityTree(cluster_selection="leaf")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_moons_give_two_clusters_like_hdbscan(seed):
    X, y = make_moons(1000, noise=0.05, random_state=seed)
    est = tt.DensityTree().fit(X)
    assert est.n_clusters_ == 2
    assert adjusted_rand_score(y, est.labels_) == 1.0
    assert np.array_equal(est.fit_predict(X), est.labels_)
    noisy = tt.DensityTree(noise=True).fit(X)
    assert (noisy.labels_ < 0).mean() < 0.01
    keep = noisy.labels_ >= 0
    assert adjusted_rand_score(y[keep], noisy.labels_[keep]) == 1.0
    # the raw simplification keeps density bumps along each arc (the documented difference)
    assert len(tt.build_tree(X).simplify().leaves) >= 2


def _in_subtree(tree):
    """(nodes, nodes) bool: column c marks c's subtree (networkx descendants: an independent path)."""
    import networkx as nx

    g = tree.to_networkx()
    M = np.zeros((tree.n_nodes, tree.n_nodes), dtype=bool)
    for c in range(tree.n_nodes):
        M[list(nx.descendants(g, c) | {c}), c] = True
    return M


def test_stability_and_eom_match_their_definitions():
    mix = hierarchical_mixture(1500, dim=2, n_leaves=6, seed=3)
    tree = tt.build_tree(mix.X).simplify(0.0, 5 / 1500)
    f = np.asarray(tree.log_density)
    lam = np.exp((f - f.max()) / 2)
    sub = _in_subtree(tree)
    S = np.zeros(tree.n_nodes)
    for c in range(tree.n_nodes):  # point by point: p is in c when the node holding it lies below c
        inside = sub[tree.owner, c]
        top = lam[inside] if tree.is_leaf[c] else np.minimum(lam[inside], np.exp((tree.end[c] - f.max()) / 2))
        S[c] = np.sum(top - np.exp((tree.start[c] - f.max()) / 2))
    assert np.allclose(cluster_stability(tree, 2), S, rtol=1e-10, atol=1e-12)

    def best(c):  # the recursion of Campello et al. (2015), root excluded
        kids = tree.children(c)
        if not kids:
            return S[c], [c]
        below = [best(x) for x in kids]
        total = sum(b[0] for b in below)
        if c != 0 and S[c] >= total:
            return S[c], [c]
        return total, [n for b in below for n in b[1]]

    chosen = select_clusters(tree, 2)
    assert sorted(chosen.tolist()) == sorted(best(0)[1])
    # one selected node on every leaf's path
    assert np.all(sub[np.asarray(tree.leaves)][:, chosen].sum(axis=1) == 1)


def test_probabilities_and_outlier_scores():
    X, _ = make_blobs(1500, centers=[[0, 0], [8, 0], [0, 8]], random_state=0)
    out = np.random.default_rng(0).uniform(-12, 20, size=(30, 2))
    Xo = np.r_[X, out]
    est = tt.DensityTree(noise=True).fit(Xo)
    p, g = est.probabilities_, est.outlier_scores_
    assert p.min() >= 0 and p.max() <= 1 and g.min() >= 0 and g.max() < 1
    assert np.all(p[est.labels_ < 0] == 0)
    for j, c in enumerate(est.cluster_nodes_):  # the densest point of each cluster has strength 1
        assert p[est.tree_.peak[c]] == 1.0
    truth = np.r_[np.zeros(len(X)), np.ones(len(out))]
    assert roc_auc_score(truth, g) > 0.9  # some uniform points fall inside the blobs
    hdbscan = pytest.importorskip("hdbscan")
    from scipy.stats import spearmanr
    h = hdbscan.HDBSCAN(min_samples=est.tree_.k).fit(Xo)  # GLOSH on hdbscan's density, same k
    assert spearmanr(g, h.outlier_scores_).statistic > 0.95  # 0.989 when written
    assert roc_auc_score(truth, g) >= roc_auc_score(truth, h.outlier_scores_) - 0.01


@pytest.mark.parametrize("noise", [False, True])
def test_approximate_predict_agrees_with_fit_predict(noise):
    mix = hierarchical_mixture(2000, dim=3, n_leaves=5, seed=7)
    est = tt.DensityTree(noise=noise).fit(mix.X)
    pred = est.approximate_predict(mix.X)
    assert np.mean(pred.labels == est.labels_) >= 0.99
    assert np.all((pred.probabilities >= 0) & (pred.probabilities <= 1))
    assert np.array_equal(est.predict(mix.X), pred.labels)


def test_approximate_predict_on_held_out_blobs():
    centers = [[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]]
    X, y = make_blobs(4000, centers=centers, random_state=1)
    est = tt.DensityTree().fit(X[:3000])
    assert est.n_clusters_ == 4
    pred = est.approximate_predict(X[3000:])
    assert adjusted_rand_score(y[3000:], pred.labels) >= 0.99
    refit = tt.DensityTree().fit(X).labels_[3000:]
    assert adjusted_rand_score(refit, pred.labels) >= 0.99


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_n_clusters(m):
    mix = hierarchical_mixture(2000, dim=2, n_leaves=5, seed=11)
    est = tt.DensityTree(n_clusters=m).fit(mix.X)
    assert est.n_clusters_ == m and set(est.labels_.tolist()) == set(range(m))
    assert list(est.cluster_nodes_) == list(est.tree_.leaves)


def test_exact_log_density_and_labels_index_tree_nodes():
    mix = hierarchical_mixture(1200, dim=2, n_leaves=3, seed=5)
    est = tt.DensityTree(log_density=mix.log_density).fit(mix.X)
    assert est.tree_.density == "given"
    pred = est.approximate_predict(mix.X)
    assert np.mean(pred.labels == est.labels_) >= 0.99
    # label j is node cluster_nodes_[j]: every labelled point's basin lies in that node's subtree
    sub = _in_subtree(est.tree_)
    lab = est.labels_
    assert np.all(sub[np.asarray(est.tree_.basin), est.cluster_nodes_[lab]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(min_cluster_size=0), "min_cluster_size"), (dict(n_clusters=0), "n_clusters"),
    (dict(cluster_selection="excess"), "cluster_selection"), (dict(min_persistence=-1.0), "min_persistence"),
    (dict(noise="yes"), "noise"), (dict(log_density=np.zeros(3)), "log_density"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tt.DensityTree(**kwargs).fit(np.random.default_rng(0).normal(size=(50, 2)))


def test_estimator_is_imported_on_first_use():
    import subprocess
    import sys

    code = ("import sys, topotree; a = 'topotree.estimator' in sys.modules; "
            "topotree.DensityTree; print(a, 'topotree.estimator' in sys.modules, 'DensityTree' in dir(topotree))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
