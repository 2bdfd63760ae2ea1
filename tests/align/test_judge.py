"""judge_alignments: maps from anywhere judged on the scale align judges its own candidates on."""
import numpy as np
import pytest

import topotree as tt


def _pair():
    """Two samples of a noisy conical spiral (reproducible neighbourhoods, no symmetry), B rotated,
    scaled by 2 and shifted."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 3 * np.pi, 1000)
    X = np.c_[(1 + 0.3 * t) * np.cos(t), (1 + 0.3 * t) * np.sin(t), 0.1 * t**2] + rng.normal(size=(1000, 3)) * 0.05
    Q = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    return X[:500], X[500:] @ Q * 2.0 + 1.0, Q


def test_the_true_map_is_picked_whatever_the_order_and_the_wrong_one_is_not_trusted():
    A, B, Q = _pair()
    right = tt.Alignment(kind="similarity", matrix=2.0 * Q, offset=np.ones(3), scale=2.0)
    wrong = tt.Alignment(kind="similarity", matrix=-2.0 * Q, offset=np.ones(3), scale=2.0)
    shifted = tt.Alignment(kind="similarity", matrix=2.0 * Q[:, [1, 0, 2]], offset=np.ones(3), scale=2.0)
    for order in ([right, wrong, shifted], [wrong, shifted, right], [shifted, right, wrong]):
        j = tt.judge_alignments(A, B, order)
        assert j.judged and j.criterion == "agreement" and order[j.best] is right and j.near_best == (j.best,)
        tr = {id(al): t for al, t in zip(order, j.trusts)}
        assert tr[id(right)].structure > 0.6 and tr[id(right)].score > 0.4
        assert tr[id(wrong)].score < 0.4 and tr[id(shifted)].score < 0.4


def test_the_scale_is_aligns_own():
    # the same clouds and seed give align's calibration exactly (null and ceiling)
    A, B, _ = _pair()
    al = tt.align(A, B, "similarity")
    t = tt.judge_alignments(A, B, [al]).trusts[0]
    assert (t.null, t.ceiling) == (al.info["trust"].null, al.info["trust"].ceiling)
    assert t.structure > 0.6 and t.uniqueness == 1.0  # no other map: nothing to rival it


def test_warped_maps_and_maps_into_more_dims_are_judged():
    A, B, Q = _pair()
    B5 = np.c_[B, np.random.default_rng(2).normal(size=(B.shape[0], 2)) * 0.01]
    M = np.c_[2.0 * Q, np.zeros((3, 2))]
    right = tt.Alignment(kind="affine", matrix=M, offset=np.r_[np.ones(3), 0, 0], scale=2.0)
    wrong = tt.Alignment(kind="affine", matrix=-M, offset=np.r_[np.ones(3), 0, 0], scale=2.0)
    j = tt.judge_alignments(A, B5, [wrong, right])
    assert j.best == 1
    warped = tt.warp_alignment(tt.procrustes(A[:40], A[:40] @ (2.0 * Q) + 1.0, "affine"), A, B)
    j = tt.judge_alignments(A, B, [warped])
    assert j.judged and j.trusts[0].structure > 0.5


def test_clouds_that_cannot_be_judged_say_so():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(600, 12)), rng.normal(size=(600, 12))
    j = tt.judge_alignments(A, B, [tt.procrustes(A[:30], B[:30], "affine")])
    assert not j.judged and j.best is None and j.trusts == () and j.near_best == ()


def test_near_best_holds_every_map_the_criterion_cannot_tell_apart():
    A, B, Q = _pair()
    right = tt.Alignment(kind="similarity", matrix=2.0 * Q, offset=np.ones(3), scale=2.0)
    nudged = tt.Alignment(kind="similarity", matrix=2.0 * Q, offset=np.ones(3) + 1e-9, scale=2.0)
    wrong = tt.Alignment(kind="similarity", matrix=-2.0 * Q, offset=np.ones(3), scale=2.0)
    j = tt.judge_alignments(A, B, [wrong, nudged, right])
    assert j.best == 1 and j.near_best == (1, 2)  # the earlier of two equal maps is best


def test_bad_input():
    A, B, Q = _pair()
    al = tt.procrustes(A[:20], A[:20] @ Q)
    with pytest.raises(ValueError, match="alignments must not be empty"):
        tt.judge_alignments(A, B, [])
    with pytest.raises(TypeError, match="alignments"):
        tt.judge_alignments(A, B, al)
    with pytest.raises(TypeError, match=r"alignments\[1\] must be an Alignment"):
        tt.judge_alignments(A, B, [al, "map"])
    with pytest.raises(ValueError, match=r"alignments\[0\] maps 3 to 3 dims, but A has 3 and B 2"):
        tt.judge_alignments(A, B[:, :2], [al])
    with pytest.raises(ValueError, match="B has 3 points; at least 4"):
        tt.judge_alignments(A, B[:3], [al])
    with pytest.raises(ValueError, match="NaN"):
        tt.judge_alignments(np.full((50, 3), np.nan), B, [al])


@pytest.mark.parametrize("sa, sb", [(2.0**600, 2.0**-300), (2.0**-500, 1.0), (3.0, 2.0**40)])
def test_the_judgement_does_not_depend_on_the_units(sa, sb):
    # each cloud rescaled (to the edge of float64 and back): the same trusts as in the original units
    A, B, Q = _pair()
    maps = [(2.0 * Q, np.ones(3)), (-2.0 * Q, np.ones(3))]
    plain = tt.judge_alignments(A, B, [tt.Alignment(kind="similarity", matrix=M, offset=t, scale=2.0) for M, t in maps])
    scaled = tt.judge_alignments(A * sa, B * sb, [tt.Alignment(kind="similarity", matrix=M * sb / sa, offset=t * sb,
                                                               scale=2.0 * sb / sa) for M, t in maps])
    assert scaled.best == plain.best == 0
    assert [t.structure for t in scaled.trusts] == pytest.approx([t.structure for t in plain.trusts], abs=1e-12)
