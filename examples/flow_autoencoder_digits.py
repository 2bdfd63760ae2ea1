"""Flow autoencoders on scikit-learn's digits: density, codes, the model's own tree, alignment.

Split as in ``make demo``: the digits (dequantized: pixel + U[0, 1)) in two disjoint 40% halves A
and B and a 20% test part, standardized with the halves' statistics. Model A (seed 0) is fitted on
half A, model B (seed 1) on half B, each by a plain ``fit(model, X)`` (sigma calibrated by default).

Printed per latent dim d:
* NLL (nats per test example) of model A against probabilistic PCA and against the best
  scikit-learn GaussianMixture at the same latent size (a mixture on the top-d PCA coordinates,
  its size 1..15 chosen by BIC on half A, times PPCA's isotropic noise on the remaining dims:
  the same structure as the flow with a linear encoder), all fitted on half A;
* 1-NN accuracy (codes of half A labelled, test codes classified) of the flow against PCA and a
  plain MLP autoencoder of about the same size (defined below, trained by MSE);
* the model tree (the prior's own level-set tree from 10,000 prior samples): leaves, purity of
  the test codes' leaves, number of digits that are the majority of some leaf;
* label transfer of A's test codes mapped into B (1-NN on B's labelled codes of half B) with no
  pairs, from the model trees (``tt.align`` on the two priors' samples with the model trees
  passed as ``tree_a``/``tree_b``), from trees on the kNN density of the codes, from ``tt.align``
  of the codes, from ``align_models`` (the codes' and the model trees' maps, each also refined by
  the likelihood under model B, the most trusted on the codes kept), and the
  oracle (affine fit on all true pairs of the two halves).
With ``--priors``: prior families compared at one latent dim (held-out NLL, model-tree leaves,
purity, classes, 1-NN), and ``--structure warp`` for the non-linear encoder.

Run:  .venv/bin/python examples/flow_autoencoder_digits.py [--dims 4 8 16] [--structure warp] [--recon-weight 10000]
      [--pretrain-epochs 150] [--priors]

References: Dinh, Krueger & Bengio (2014), NICE; Tipping & Bishop (1999), probabilistic PCA.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import topotree as tt  # noqa: E402
from topotree.adapters import FlowAutoencoder, align_models, fit  # noqa: E402
from topotree.adapters.demo import _split, load_data  # noqa: E402
from topotree import baselines, metrics  # noqa: E402


def data(seed=0):
    X, y = load_data(seed=seed)
    ia, ib, it = _split(len(X), seed)
    mu, sd = X[np.r_[ia, ib]].mean(0), X[np.r_[ia, ib]].std(0)
    X = (X - mu) / np.where(sd > 0, sd, 1.0)
    return (X[ia], y[ia]), (X[ib], y[ib]), (X[it], y[it])


def knn(Ztr, ytr, Zte, yte):
    return KNeighborsClassifier(1).fit(Ztr, ytr).score(Zte, yte)


def pca_gmm_nll(Xtr, Xte, d, seed=0):
    """Best GaussianMixture (by BIC) on the top-d PCA coordinates, PPCA's isotropic noise on the rest."""
    pca = PCA(d).fit(Xtr)
    Ztr, Zte = pca.transform(Xtr), pca.transform(Xte)
    with threadpool_limits(1):
        gms = [GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-3).fit(Ztr) for k in range(1, 16)]
    gm = min(gms, key=lambda g: g.bic(Ztr))
    R = (Xte - pca.mean_) - Zte @ pca.components_
    D = Xte.shape[1]
    s2 = pca.noise_variance_
    noise = -0.5 * ((D - d) * np.log(2 * np.pi * s2) + np.sum(R**2, 1) / s2)
    return float(-(gm.score_samples(Zte) + noise).mean()), gm.n_components


class MLPAutoencoder(torch.nn.Module):
    """A plain MLP autoencoder (two hidden layers of 128 each way), the 1-NN baseline."""

    def __init__(self, dim, latent_dim, hidden=128):
        super().__init__()
        act = torch.nn.SiLU
        self.enc = torch.nn.Sequential(torch.nn.Linear(dim, hidden), act(), torch.nn.Linear(hidden, hidden), act(),
                                       torch.nn.Linear(hidden, latent_dim))
        self.dec = torch.nn.Sequential(torch.nn.Linear(latent_dim, hidden), act(), torch.nn.Linear(hidden, hidden), act(),
                                       torch.nn.Linear(hidden, dim))

    def forward(self, x):
        return self.dec(self.enc(x))


def fit_mlp(X, latent_dim, epochs=150, seed=0):
    torch.manual_seed(seed)
    model = MLPAutoencoder(X.shape[1], latent_dim)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-4)
    Xt = torch.tensor(X, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=g).split(128):
            loss = ((model(Xt[idx]) - Xt[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return lambda Z: model.enc(torch.tensor(Z, dtype=torch.float32)).detach().numpy().astype(np.float64)


def transfer(al, ZA_T, yT, ZB, yB):
    return metrics.label_transfer_accuracy(al.transform(ZA_T), yT, ZB, yB)


def row(d, structure, n_tree=10000, seed=0, recon_weight=0.0, pretrain_epochs=0):
    (XA, yA), (XB, yB), (XT, yT) = data(seed)
    t0 = time.perf_counter()
    A = FlowAutoencoder(64, d, structure=structure, seed=seed)
    fit(A, XA, progress=False, recon_weight=recon_weight, pretrain_epochs=pretrain_epochs)
    B = FlowAutoencoder(64, d, structure=structure, seed=seed + 1)
    fit(B, XB, progress=False, recon_weight=recon_weight, pretrain_epochs=pretrain_epochs)
    t_fit = (time.perf_counter() - t0) / 2
    out = dict(d=d, nll=float(-A.log_density(XT).mean()), ppca=float(-PCA(d).fit(XA).score(XT)))
    out["gmm"], out["gmm_k"] = pca_gmm_nll(XA, XT, d, seed)
    pca = PCA(d).fit(XA)
    mlp = fit_mlp(XA, d, seed=seed)
    ZA, ZB, ZA_T, ZB_T = A.encode(XA), B.encode(XB), A.encode(XT), B.encode(XT)
    out["knn_flow"] = knn(ZA, yA, ZA_T, yT)
    out["knn_pca"] = knn(pca.transform(XA), yA, pca.transform(XT), yT)
    out["knn_mlp"] = knn(mlp(XA), yA, mlp(XT), yT)
    X1 = np.c_[XA, np.ones(len(XA))]
    W, *_ = np.linalg.lstsq(X1, ZA, rcond=None)
    out["nonlin"] = float(np.mean((X1 @ W - ZA) ** 2) / ZA.var(0).sum() * d)
    mtA, mtB = A.tree(n_tree, seed=seed), B.tree(n_tree, seed=seed + 1)
    out["leaves"], (out["purity"], out["classes"]) = len(mtA.leaves), mtA.purity(ZA_T, yT)
    out["leaves_b"] = len(mtB.leaves)
    al_model = tt.align(mtA.samples, mtB.samples, "affine", tree_a=mtA.tree, tree_b=mtB.tree, seed=seed)
    out["al_model"] = transfer(al_model, ZA_T, yT, ZB, yB)
    out["al_knn"] = transfer(tt.align(ZA, ZB, "affine", density="knn", search="trees", seed=seed), ZA_T, yT, ZB, yB)
    t1 = time.perf_counter()
    al_codes = tt.align(ZA, ZB, "affine", seed=seed)
    out["al_codes"] = transfer(al_codes, ZA_T, yT, ZB, yB)
    al_lik = align_models(A, B, XA, XB, seed=seed)
    out["al_lik"], out["al_lik_start"] = transfer(al_lik, ZA_T, yT, ZB, yB), al_lik.info["start"]
    out["al_seconds"] = time.perf_counter() - t1
    PA, PB = np.r_[ZA, A.encode(XB)], np.r_[B.encode(XA), ZB]
    oracle = baselines.oracle_procrustes(PA, PB, "affine", pairs=np.arange(len(PA)))
    out["al_oracle"] = transfer(oracle, ZA_T, yT, ZB, yB)
    out["seconds"] = t_fit
    return out


def priors(d, structure, seed=0):
    (XA, yA), _, (XT, yT) = data(seed)
    fams = [("gaussian", dict(prior="gaussian")), ("gmm-10", dict(prior="gmm", n_components=10)),
            ("gmm-20", dict(prior="gmm", n_components=20)), ("flow (RealNVP)", dict(prior="flow"))]
    print(f"\nprior families, latent dim {d}, structure {structure!r} (model A, half A; test part):")
    print(f"{'prior':>15} | {'test NLL':>8} | {'leaves':>6} {'purity':>6} {'digits':>6} | {'1-NN':>5}")
    for name, kw in fams:
        m = FlowAutoencoder(64, d, structure=structure, seed=seed, **kw)
        fit(m, XA, progress=False)
        mt = m.tree(10000, seed=seed)
        pur, ncls = mt.purity(m.encode(XT), yT)
        print(f"{name:>15} | {-m.log_density(XT).mean():8.1f} | {len(mt.leaves):6d} {pur:6.3f} {ncls:6d} | "
              f"{knn(m.encode(XA), yA, m.encode(XT), yT):5.3f}", flush=True)


def main(dims=(4, 8, 16), structure="decoder", compare_priors=False, recon_weight=0.0, seed=0, pretrain_epochs=0):
    torch.set_num_threads(1)
    print(f"digits, halves of 718 points, test 360; structure {structure!r}, recon_weight {recon_weight:g}, "
          f"pretrain_epochs {pretrain_epochs}; "
          f"NLL in nats per test example\n")
    hdr = (f"{'d':>3} | {'NLL flow':>8} {'PPCA':>6} {'GMM':>6} | {'1NN flow':>8} {'PCA':>5} {'MLP AE':>6} {'nonlin':>6} | "
           f"{'leaves A/B':>10} {'purity':>6} {'digits':>6} | {'al model':>8} {'al kNN':>6} {'al codes':>8} {'al+lik':>6} "
           f"{'oracle':>6} {'lik/or':>6} | {'s/model':>7} {'s align':>7}")
    print(hdr)
    print("-" * len(hdr))
    for d in dims:
        r = row(d, structure, seed=seed, recon_weight=recon_weight, pretrain_epochs=pretrain_epochs)
        print(f"{d:>3} | {r['nll']:8.1f} {r['ppca']:6.1f} {r['gmm']:6.1f} | {r['knn_flow']:8.3f} {r['knn_pca']:5.3f} "
              f"{r['knn_mlp']:6.3f} {r['nonlin']:6.3f} | {r['leaves']:>4d} / {r['leaves_b']:<3d} {r['purity']:6.3f} "
              f"{r['classes']:6d} | {r['al_model']:8.3f} {r['al_knn']:6.3f} {r['al_codes']:8.3f} {r['al_lik']:6.3f} "
              f"{r['al_oracle']:6.3f} {r['al_lik'] / r['al_oracle']:6.2f} | {r['seconds']:7.1f} {r['al_seconds']:7.1f}", flush=True)
    print("\nGMM: best GaussianMixture (BIC, 1-15 components) on the top-d PCA coordinates x PPCA noise on the rest.")
    print("nonlin: share of the code's variance an affine map of x leaves unexplained (0 = linear encoder).")
    print("al model: tt.align on the two priors' samples with the model trees; al kNN: the tree pipeline on")
    print("the kNN density of the codes (search='trees'); al codes: tt.align of the codes (defaults); al+lik:")
    print("align_models (the codes' and the model trees' maps, each also refined by the likelihood of A's codes")
    print("under model B, the most trusted on the codes kept); oracle: affine fit on all true pairs. All: label")
    print("transfer on the test part.")
    if compare_priors:
        priors(8, structure)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--structure", default="decoder", choices=["decoder", "warp", "split", "free"])
    ap.add_argument("--recon-weight", type=float, default=0.0, help="fit(recon_weight=...) for every flow")
    ap.add_argument("--pretrain-epochs", type=int, default=0,
                    help="fit(pretrain_epochs=...) for every flow: first train its encoder as a plain autoencoder's")
    ap.add_argument("--priors", action="store_true", help="also compare prior families at latent dim 8")
    ap.add_argument("--seed", type=int, default=0, help="the split's seed and model A's (model B: seed + 1)")
    a = ap.parse_args()
    main(tuple(a.dims), a.structure, a.priors, a.recon_weight, a.seed, a.pretrain_epochs)
