"""The Gaussian-mixture density of topotree._gmm."""

import topotree as tt
from topotree.datasets import hierarchical_mixture


def test_discriminant_coordinates_rotation_invariant_distances():
    from topotree._gmm import discriminant_coordinates, fit_gmm

    mix = hierarchical_mixture(1500, dim=10, n_leaves=4, seed=16)
    g = fit_gmm(mix.X, seed=0)
    assert g.n_components >= 4
    P = discriminant_coordinates(mix.X, g)
    assert P.shape == (1500, g.n_components - 1)
    # leaves of the tree built in these coordinates are the mixture's components
    tree = tt.build_tree(P, log_density=g.score_samples(mix.X)).simplify()
    assert len(tree.leaves) == 4
