"""The main job: translate between two flow autoencoders' latent spaces, end to end.

Two :class:`FlowAutoencoder` models with different seeds are trained on disjoint halves of a data
set (scikit-learn's 8x8 digits by default); each half is encoded by its own model; each latent
cloud's cluster tree is built on the model's **exact** latent density, simplified and matched to
the other; the matched trees give a correspondence-free map from A's latent space to B's. A
held-out part, encoded by both models, scores that map against the oracle (true pairs) and every
baseline of :mod:`topotree.baselines`, in the same run.

Run ``topotree demo`` (or ``make demo``); ``run_demo`` is the same as a function.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import topotree as tt
from topotree import baselines, metrics

from ._validation import check_int
from .alignment import MODEL_TREE_SAMPLES, align_models
from .autoencoder import FlowAutoencoder
from .training import fit

__all__ = ["run_demo", "DemoResult", "load_data"]


@dataclass(frozen=True)
class DemoResult:
    """What ``run_demo`` measured: the table rows, node names, and the files it wrote."""

    rows: tuple
    table: str
    models: dict = field(repr=False)
    names_a: dict = field(repr=False)
    names_b: dict = field(repr=False)
    files: tuple = ()
    seconds: float = 0.0


def load_data(data=None, labels=None, seed=0):
    """The digits (dequantized: pixel + U[0, 1)), or a user's arrays; labels may be None."""
    if data is None:
        from sklearn.datasets import load_digits

        d = load_digits()
        X, y = d.data.astype(np.float64), d.target
        X = X + np.random.default_rng(seed).uniform(size=X.shape)
        return X, y
    X = tt._validation.check_points(np.load(data) if isinstance(data, (str, Path)) else data, "data")
    y = None
    if labels is not None:
        y = np.load(labels) if isinstance(labels, (str, Path)) else np.asarray(labels)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"labels must have one entry per row of data ({X.shape[0]}), got shape {y.shape}")
    return X, y


def _split(n, seed):
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(0.4 * n), int(0.8 * n)
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])


def _names(tree, y):
    """Human names for nodes: majority label and its share among the node's members."""
    names = {}
    for node in tree.nodes:
        if y is None or node.members.size == 0:
            names[node.id] = f"node {node.id}"
            continue
        counts = np.bincount(y[node.members].astype(np.int64))
        lab = int(counts.argmax())
        names[node.id] = f"{lab} ({counts[lab] / counts.sum():.2f})"
    return names


def _score(name, TA, seconds, kind, *, ZA_T, ZB_T, ZB, yB, yT, decode_b, XT):
    """One table row: T(encode_A(x)) against encode_B(x) on the held-out part."""
    row = dict(method=name, needs=kind, seconds=round(seconds, 2))
    row["retrieval@1"] = metrics.retrieval_at_k(TA, ZB_T, k=1)
    row["mrr"] = metrics.mrr(TA, ZB_T)
    row["foscttm"] = metrics.foscttm(TA, ZB_T)
    row["label transfer"] = metrics.label_transfer_accuracy(TA, yT, ZB, yB) if yT is not None else float("nan")
    row["relative error"] = metrics.relative_error(TA, ZB_T)
    row["stitched recon"] = float(np.mean((decode_b(TA) - XT) ** 2))
    return row


def run_demo(data=None, labels=None, *, latent_dim=8, out="demo-output", seed=0, epochs=300, max_points=None,
             n_pairs=50, tree_samples=MODEL_TREE_SAMPLES, progress=True, plots=True, **model_kwargs) -> DemoResult:
    """Train two flow autoencoders, match their latent cluster trees, align, score, report.

    Parameters
    ----------
    data, labels : arrays or .npy paths (default: scikit-learn's digits and their labels).
    latent_dim : latent dimensions of both models.
    out : folder for the table (Markdown, CSV), pictures and ``report.md``.
    seed : model A uses ``seed``, model B ``seed + 1``; the split uses ``seed``.
    epochs : maximum training epochs (training stops early on the validation NLL).
    **model_kwargs : passed to ``FlowAutoencoder`` (n_components, depth, hidden, sigma, ...).
    max_points : use at most this many rows of the data (for quick runs).
    n_pairs : known pairs given to the pair-based baselines (anchor Procrustes, relative
        representations, permutation matching), to show what topology buys.
    tree_samples : prior samples per model tree in ``align_models`` (0 skips the model-tree start;
        fewer: quicker, rougher trees).

    References
    ----------
    Dinh, L., Krueger, D. and Bengio, Y. (2014). NICE: non-linear independent components
    estimation. arXiv:1410.8516. Chazal et al. (2013), ToMATo (for the trees).
    """
    t_start = time.perf_counter()
    tree_samples = check_int(tree_samples, "tree_samples", low=0)
    X, y = load_data(data, labels, seed)
    if max_points is not None and X.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_points, replace=False))
        X, y = X[keep], (None if y is None else y[keep])
    ia, ib, it = _split(X.shape[0], seed)
    mu, sd = X[np.r_[ia, ib]].mean(0), X[np.r_[ia, ib]].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    X = (X - mu) / sd
    to_pixels = lambda Xs: np.asarray(Xs) * sd + mu  # noqa: E731 (pictures in the data's own units)
    XA, XB, XT = X[ia], X[ib], X[it]
    yA, yB, yT = (None, None, None) if y is None else (y[ia], y[ib], y[it])
    dim = X.shape[1]
    if not 1 <= latent_dim <= dim:
        raise ValueError(f"latent_dim must be between 1 and the data's {dim} columns, got {latent_dim}")

    say = print if progress else (lambda *a, **k: None)
    models, info = {}, {}
    for name, Xfit, s in (("A", XA, seed), ("B", XB, seed + 1)):
        t0 = time.perf_counter()
        model = FlowAutoencoder(dim, latent_dim, seed=s, **model_kwargs)
        fit(model, Xfit, epochs=epochs, progress=progress, calibrate_sigma=True)
        models[name] = model
        info[name] = dict(seconds=time.perf_counter() - t0, nll=float(-model.log_density(XT).mean()),
                          recon=float(np.mean((model.decode(model.encode(XT)) - XT) ** 2)))
        say(f"model {name}: trained on {len(Xfit)} points in {info[name]['seconds']:.1f} s; "
            f"test NLL {info[name]['nll']:.1f} nats/example, reconstruction MSE {info[name]['recon']:.3f}")
    A, B = models["A"], models["B"]
    ZA, ZB = A.encode(XA), B.encode(XB)
    t0 = time.perf_counter()
    tree_a = tt.build_tree(ZA, log_density=A.latent_log_density).simplify()
    tree_b = tt.build_tree(ZB, log_density=B.latent_log_density).simplify()
    matching = tt.match_trees(tree_a, tree_b, X_a=ZA, X_b=ZB)
    alignment = tt.align(ZA, ZB, transform="affine", tree_a=tree_a, tree_b=tree_b, seed=seed)
    t_topo = time.perf_counter() - t0
    say(f"trees on the exact latent densities: A {len(tree_a.leaves)} leaves, B {len(tree_b.leaves)} leaves; "
        f"matching cost {matching.cost:.3f}; alignment in {t_topo:.1f} s")

    ZA_T, ZB_T = A.encode(XT), B.encode(XT)
    ctx = dict(ZA_T=ZA_T, ZB_T=ZB_T, ZB=ZB, yB=yB, yT=yT, decode_b=B.decode, XT=XT)
    rows = [_score("topotree (trees on exact density)", alignment.transform(ZA_T), t_topo, "no pairs", **ctx)]
    # the same pipeline with trees on the kNN estimate of each latent cloud's density: the learned
    # mixture prior's modes need not follow the data's clusters, the kNN density of the codes does
    t0 = time.perf_counter()
    knn_alignment = tt.align(ZA, ZB, transform="affine", density="knn")
    rows.append(_score("topotree (trees on kNN density of the codes)", knn_alignment.transform(ZA_T),
                       time.perf_counter() - t0, "no pairs", **ctx))
    # the models' own densities: the codes' map (the one above) and the model trees' map, each also
    # refined by the likelihood of A's codes under model B, the most trusted on the codes kept
    # (align_models); first in the table, the path the demo recommends
    t0 = time.perf_counter()
    model_alignment = align_models(A, B, XA, XB, n_tree_samples=tree_samples, codes_alignment=alignment,
                                   seed=seed)
    t_model = time.perf_counter() - t0
    rows.insert(0, _score("topotree + model likelihood (align_models)", model_alignment.transform(ZA_T), t_model,
                          "no pairs", **ctx))
    say(f"align_models (kept: {model_alignment.info['start']}, trust {model_alignment.trust:.2f}) in {t_model:.1f} s")
    # true pairs: the fitting halves encoded by both models (only the oracle and pair baselines see them)
    PA, PB = np.r_[ZA, A.encode(XB)], np.r_[B.encode(XA), ZB]
    idx = np.arange(PA.shape[0])
    k = min(n_pairs, PA.shape[0])
    runs = [("oracle Procrustes (all true pairs)", "all pairs",
             lambda: baselines.oracle_procrustes(PA, PB, "affine", pairs=idx)),
            ("moment matching", "no pairs", lambda: baselines.moment_align(ZA, ZB, "affine"))]
    try:
        import ot  # noqa: F401

        runs.append(("Gromov-Wasserstein (1000-pt subsample)", "no pairs",
                     lambda: baselines.gromov_wasserstein_align(ZA, ZB, "affine", n_sub=1000, seed=seed)))
    except ImportError:
        say("POT is not installed: Gromov-Wasserstein baseline skipped (pip install 'topotree[pot]')")
    runs += [("k-means + QAP", "no pairs", lambda: baselines.kmeans_qap_align(ZA, ZB, "affine", seed=seed)),
             ("random orthogonal", "no pairs", lambda: baselines.random_orthogonal(ZA, ZB, seed=seed)),
             (f"anchor Procrustes ({k} pairs)", f"{k} pairs",
              lambda: baselines.anchor_procrustes(PA, PB, idx, k, "affine", seed=seed)),
             (f"permutation (Git Re-Basin, {k} pairs)", f"{k} pairs",
              lambda: baselines.permutation_align(PA, PB, idx, k, seed=seed))]
    for name, kind, fn in runs:
        t0 = time.perf_counter()
        al = fn()
        rows.append(_score(name, al.transform(ZA_T), time.perf_counter() - t0, kind, **ctx))
    # brackets for the stitched reconstruction
    best = float(np.mean((B.decode(ZB_T) - XT) ** 2))
    none = float(np.mean((B.decode(ZA_T) - XT) ** 2))
    # the pictures show the topotree alignment the table ranks first (label transfer; without labels,
    # align_models, which uses the models' exact densities)
    ours = [model_alignment, alignment, knn_alignment]
    shown = ours[int(np.argmax([r["label transfer"] for r in rows[:3]]))] if yT is not None else model_alignment
    names_a, names_b = _names(tree_a, yA), _names(tree_b, yB)
    files = ()
    if out is not None:
        files = _write(Path(out), rows, best, none, info, tree_a, tree_b, matching, shown, names_a, names_b,
                       ZA, ZB, yA, yB, XT, ZA_T, ZB_T, A, B, latent_dim, plots, to_pixels)
    return DemoResult(rows=tuple(rows), table=_markdown(rows, best, none), models=models, names_a=names_a,
                      names_b=names_b, files=files, seconds=time.perf_counter() - t_start)


_COLS = ("method", "needs", "label transfer", "retrieval@1", "mrr", "foscttm", "relative error",
         "stitched recon", "seconds")


def _markdown(rows, best, none):
    lines = ["| " + " | ".join(_COLS) + " |", "|" + "---|" * len(_COLS)]
    for r in rows:
        lines.append("| " + " | ".join(r[c] if isinstance(r[c], str) else f"{r[c]:.3f}" for c in _COLS) + " |")
    lines.append("")
    lines.append(f"Stitched reconstruction MSE brackets: decode_B(encode_B(x)) = {best:.3f} (best), "
                 f"decode_B(encode_A(x)) = {none:.3f} (no alignment).")
    return "\n".join(lines)


def _write(out, rows, best, none, info, tree_a, tree_b, matching, alignment, names_a, names_b, ZA, ZB, yA, yB,
           XT, ZA_T, ZB_T, A, B, latent_dim, plots, to_pixels=None):
    out.mkdir(parents=True, exist_ok=True)
    files = []
    table = _markdown(rows, best, none)
    (out / "table.md").write_text(table + "\n")
    with open(out / "table.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(_COLS))
        w.writeheader()
        for r in rows:
            w.writerow({c: r[c] for c in _COLS})
    files += [out / "table.md", out / "table.csv"]
    if plots:
        files += _pictures(out, tree_a, tree_b, matching, names_a, names_b, ZA, ZB, yA, yB, alignment, XT,
                           ZA_T, A, B, to_pixels or (lambda v: v))
    shared = [(a, b) for a, b in matching.pairs]
    lines = [
        "# topotree demo report", "",
        f"Two flow autoencoders (latent_dim {latent_dim}) trained on disjoint halves; "
        f"A: {info['A']['seconds']:.1f} s, test NLL {info['A']['nll']:.1f}, recon MSE {info['A']['recon']:.3f}; "
        f"B: {info['B']['seconds']:.1f} s, test NLL {info['B']['nll']:.1f}, recon MSE {info['B']['recon']:.3f}.", "",
        "## Scores on the held-out part (both encodings known)", "", table, "",
        "## The two trees, in human terms (majority label and its share)", "",
        f"Tree A: {len(tree_a.leaves)} leaves; tree B: {len(tree_b.leaves)} leaves; matching cost {matching.cost:.3f}.",
        "", "| node A | A holds | node B | B holds | confidence |", "|---|---|---|---|---|",
    ]
    conf = getattr(matching, "confidence", [float("nan")] * len(shared))
    for (a, b), c in zip(shared, conf):
        lines.append(f"| {a} | {names_a[a]} | {b} | {names_b[b]} | {float(c):.2f} |")
    if plots:
        lines += ["", "## Pictures", ""] + [f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    files.append(out / "report.md")
    return tuple(files)


def _modes(out, tree_a, tree_b, matching, names_a, names_b, ZA, ZB, A, B, to_pixels, side):
    """Each matched pair of nodes as the images its peak decodes to in model A and in model B (pixel
    units), titled with the node ids of ``report.md`` and the node's majority label and purity."""
    import matplotlib.pyplot as plt

    pairs = [(a, b) for a, b in matching.pairs][:16]
    if not pairs:
        return []
    fig, axes = plt.subplots(2, len(pairs), figsize=(max(2.0, 1.25 * len(pairs)), 3.0), squeeze=False)
    for j, (a, b) in enumerate(pairs):
        img_a = to_pixels(A.decode(ZA[[tree_a.nodes[a].peak]]))
        img_b = to_pixels(B.decode(ZB[[tree_b.nodes[b].peak]]))
        for r, (img, node, name) in enumerate(((img_a, a, names_a[a]), (img_b, b, names_b[b]))):
            axes[r, j].imshow(img.reshape(side, side), cmap="gray_r")
            axes[r, j].set_title(f"{'AB'[r]}{node}: {name}", fontsize=7)
            axes[r, j].axis("off")
    fig.suptitle("matched nodes: each node's mode decoded by its own model (row A, row B)", fontsize=9)
    fig.savefig(out / "modes.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return [out / "modes.png"]


def _pictures(out, tree_a, tree_b, matching, names_a, names_b, ZA, ZB, yA, yB, alignment, XT, ZA_T, A, B, to_pixels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(11, 5))
    tt.plot_matching(tree_a, tree_b, matching, ax=ax)
    ax.set_title("cluster trees of A (left) and B (right), matched nodes joined")
    fig.savefig(out / "trees.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    tt.plot_persistence(tree_a, ax=axes[0])
    axes[0].set_title("persistence, model A")
    tt.plot_persistence(tree_b, ax=axes[1])
    axes[1].set_title("persistence, model B")
    fig.savefig(out / "persistence.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    # latents: PCA of B's space, used for all three panels so T(A) and B are comparable
    from sklearn.decomposition import PCA

    pca = PCA(2).fit(ZB)
    pa = PCA(2).fit(ZA)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    for ax, P, lab, title in ((axes[0], pa.transform(ZA), yA, "A's latent (its own PCA)"),
                              (axes[1], pca.transform(ZB), yB, "B's latent"),
                              (axes[2], pca.transform(alignment.transform(ZA)), yA, "A translated into B")):
        sc = ax.scatter(P[:, 0], P[:, 1], c=lab if lab is not None else "k", cmap="tab10", s=5,
                        vmin=0, vmax=9)
        ax.set_title(title)
    if yA is not None:
        axes[2].legend(*sc.legend_elements(), title="label", fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.savefig(out / "latents.png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    side = int(round(np.sqrt(XT.shape[1])))
    if side * side == XT.shape[1]:
        m = min(12, XT.shape[0])
        stitched = to_pixels(B.decode(alignment.transform(ZA_T[:m])))
        fig, axes = plt.subplots(2, m, figsize=(m * 0.9, 2.2))
        for j in range(m):
            axes[0, j].imshow(to_pixels(XT[j:j + 1]).reshape(side, side), cmap="gray_r")
            axes[1, j].imshow(stitched[j].reshape(side, side), cmap="gray_r")
            axes[0, j].axis("off")
            axes[1, j].axis("off")
        axes[0, 0].set_title("x", loc="left", fontsize=8)
        axes[1, 0].set_title("decode_B(T(encode_A(x)))", loc="left", fontsize=8)
        fig.savefig(out / "stitched.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        files.append(out / "stitched.png")
        files += _modes(out, tree_a, tree_b, matching, names_a, names_b, ZA, ZB, A, B, to_pixels, side)
    return [out / "trees.png", out / "persistence.png", out / "latents.png"] + files
