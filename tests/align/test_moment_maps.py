"""The maps from the moments alone (topotree.align._moment_maps), against known relations."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import rot
from topotree import baselines
from topotree.align._moment_maps import ica_maps, moment_map


def _sources(n, d, seed):
    # independent, non-Gaussian and differently scaled components
    rng = np.random.default_rng(seed)
    cols = [rng.laplace(size=n), rng.uniform(-2, 2, n), rng.exponential(size=n) - 1.0, rng.standard_t(5, n)]
    return np.column_stack([cols[i % 4] * (d - i) for i in range(d)])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(-100, 100))
def test_ica_maps_recover_a_rotation_and_translation_of_independent_sources(seed, shift):
    S = _sources(3000, 4, seed)
    R = rot(4, seed + 1)
    maps = ica_maps(S, S @ R + shift, seed=0)
    assert maps and all(m.origin == "ica" for m in maps)
    # the same points: the best map carries A onto B to a small fraction of B's spread
    err = min(np.sqrt(np.mean(np.sum((S @ m.M + m.t - (S @ R + shift)) ** 2, axis=1))) for m in maps)
    assert err < 0.05 * np.sqrt(np.mean(np.sum((S - S.mean(0)) ** 2, axis=1)))


def test_ica_maps_between_spaces_of_different_dims_use_the_leading_components():
    S = _sources(3000, 3, 7)
    B = np.c_[S @ rot(3, 8), np.random.default_rng(9).normal(scale=1e-3, size=(3000, 2))]  # 5 dims, 2 empty
    maps = ica_maps(S, B, seed=0)
    assert maps and maps[0].M.shape == (3, 5)
    assert min(np.abs(S @ m.M + m.t - B).max() for m in maps) < 0.5
    assert ica_maps(S[:, :1], B) == []  # one component: nothing to match


def test_moment_map_is_the_moment_baseline():
    S = _sources(500, 3, 3)
    B = S @ rot(3, 4) * 2.0 + 1.0
    M, t = moment_map(S, B)
    al = baselines.moment_align(S, B)
    assert np.array_equal(M, al.matrix) and np.array_equal(t, al.offset)
