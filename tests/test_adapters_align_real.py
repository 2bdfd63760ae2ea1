"""align on the latents of two real (non-linear) networks: two small MLP autoencoders trained on
disjoint halves of scikit-learn's digits, with different seeds, scored on a held-out part that
both encode. topotree must beat Gromov-Wasserstein (the project's baseline) and trust its map."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import topotree as tt  # noqa: E402
from topotree.adapters import MLPAutoencoder, fit_autoencoder  # noqa: E402
from topotree import baselines, metrics  # noqa: E402


@pytest.fixture(scope="module")
def real_pair():
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    d = load_digits()
    X = (d.data - d.data.mean(0)) / np.maximum(d.data.std(0), 1e-9)
    perm = np.random.default_rng(0).permutation(len(X))
    ia, ib, it = perm[:720], perm[720:1440], perm[1440:]
    codes = []
    for seed, rows in ((0, ia), (1, ib)):
        m = MLPAutoencoder(64, 8, hidden=(128,), seed=seed)
        fit_autoencoder(m, X[rows], epochs=20, seed=seed)
        codes.append((m.encode(X[rows]), m.encode(X[it])))
    (ZA, TA), (ZB, TB) = codes
    return ZA, ZB, TA, TB, d.target[ib], d.target[it]


@pytest.fixture(scope="module")
def aligned(real_pair):
    """``tt.align`` on the pair, with the AlignmentWarnings it emitted."""
    ZA, ZB = real_pair[:2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tt.AlignmentWarning)
        al = tt.align(ZA, ZB)
    return al, [w for w in caught if issubclass(w.category, tt.AlignmentWarning)]


@pytest.mark.heavy
def test_align_beats_gromov_wasserstein_on_a_small_real_pair(real_pair, aligned):
    ZA, ZB, TA, TB, yB, yT = real_pair
    al, warned = aligned
    assert not warned
    acc = metrics.label_transfer_accuracy(al.transform(TA), yT, ZB, yB)
    gw = baselines.gromov_wasserstein_align(ZA, ZB)
    acc_gw = metrics.label_transfer_accuracy(gw.transform(TA), yT, ZB, yB)
    # the affine map fitted on the true test pairs (in-sample: an upper bound)
    W = np.linalg.lstsq(np.c_[TA, np.ones(len(TA))], TB, rcond=None)[0]
    acc_oracle = metrics.label_transfer_accuracy(np.c_[TA, np.ones(len(TA))] @ W, yT, ZB, yB)
    assert acc > acc_gw + 0.2
    assert acc >= 0.85 * acc_oracle
    assert al.trust >= 0.4


@pytest.mark.heavy  # beside the test above, so both usually run on one worker and its fixtures train once
def test_warp_raises_label_transfer_on_a_small_real_pair(real_pair, aligned):
    """The non-linear refinement (non-rigid CPD after the affine map) on two real networks' codes:
    closer to B's codes (retrieval of the true partner) and better at label transfer (measured:
    0.72 -> 0.83 and 0.42 -> 0.54)."""
    ZA, ZB, TA, TB, yB, yT = real_pair
    al = aligned[0]
    wal = tt.warp_alignment(al, ZA, ZB)
    acc, acc_w = (metrics.label_transfer_accuracy(a.transform(TA), yT, ZB, yB) for a in (al, wal))
    r1, r1_w = (metrics.retrieval_at_k(a.transform(TA), TB, 1) for a in (al, wal))
    assert acc_w >= acc + 0.03
    assert r1_w >= r1 + 0.03
