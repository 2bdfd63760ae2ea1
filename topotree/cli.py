"""The ``topotree`` command line: build a cluster tree from a file of points, summarise it, plot it.

Each subcommand is one entry of ``COMMANDS`` (name -> (help, add_arguments, run)); adding one is
writing those two functions and one line. Errors in the input (missing file, wrong shape, NaN, a key
not in an .npz) end the program with exit code 2 and one line ``topotree: error: ...`` on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "load_points", "COMMANDS"]


class CLIError(Exception):
    """An input error reported as one line with exit code 2."""


# ------------------------------------------------------------------------------------------ loading
def _load_array(path, key=None, what="points"):
    path = Path(path)
    if not path.exists():
        raise CLIError(f"{what} file not found: {str(path)!r}")
    if path.is_dir():
        raise CLIError(f"{what} path is a directory, not a file: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.files)
                if key is None:
                    if len(keys) != 1:
                        raise CLIError(f"{str(path)!r} holds arrays {keys}: choose one with --key")
                    key = keys[0]
                if key not in keys:
                    raise CLIError(f"{str(path)!r} has no array {key!r} (it has {keys})")
                arr = z[key]
        elif suffix in (".csv", ".txt", ".tsv", ".dat"):
            arr = _read_text_table(path, "," if suffix == ".csv" else ("\t" if suffix == ".tsv" else None))
        else:
            raise CLIError(f"{what} file must be .npy, .npz, .csv or .txt, got {str(path)!r}")
    except CLIError:
        raise
    except ValueError as exc:
        raise CLIError(f"could not read {what} from {str(path)!r}: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise CLIError(f"could not read {str(path)!r}: {exc}") from None
    if key is not None and suffix != ".npz":
        raise CLIError(f"--key only applies to .npz files, not {str(path)!r}")
    return arr


def _read_text_table(path, delim):
    """A delimited text table. The first line is a header only if one of its fields is not a
    number, and then it must name as many columns as the rows have; every row must have the same
    number of values (a ragged or wider first row is an error, not a header)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if b"\0" in head:
        raise ValueError("it is binary, not a text table")
    first = next((line for line in head.decode("utf-8", "replace").splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    fields = [x.strip() for x in (first.split(delim) if delim else first.split())]

    def is_number(x):
        try:
            float(x)
            return True
        except ValueError:
            return False

    header = bool(fields) and not all(is_number(x) for x in fields)
    arr = np.loadtxt(path, delimiter=delim, ndmin=2, skiprows=1 if header else 0, encoding="utf-8")
    if header and arr.size and len(fields) != arr.shape[1]:
        raise ValueError(f"the header line has {len(fields)} fields but the rows have {arr.shape[1]} values")
    return arr


def load_points(path, key=None) -> np.ndarray:
    """Read an (n, d) float array from .npy, .npz (``key``), .csv or .txt, checked for shape and NaN."""
    from ._validation import check_points

    arr = _load_array(path, key, "points")
    if arr.ndim != 2:
        raise CLIError(f"points in {str(path)!r} must be a 2-D array (n_points, n_dims), got shape {arr.shape}")
    try:
        return check_points(arr, f"points in {str(path)!r}", min_points=2)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _load_log_density(path, n):
    from ._validation import check_vector

    arr = _load_array(path, None, "log-density")
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    try:
        return check_vector(arr, n, f"log-density in {str(path)!r}")
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _simplify_arg(value):
    v = value.strip().lower()
    if v in ("auto", "none"):
        return v
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be auto, none or a number >= 0, got {value!r}") from None
    if not np.isfinite(x) or x < 0:
        raise argparse.ArgumentTypeError(f"must be auto, none or a number >= 0, got {value!r}")
    return x


def _load_tree(path):
    from .tree import load_tree

    p = Path(path)
    if not p.exists():
        raise CLIError(f"tree file not found: {str(p)!r}")
    try:
        return load_tree(p)
    except (ValueError, KeyError, TypeError) as exc:
        raise CLIError(f"could not read a tree from {str(p)!r}: {exc}") from None


def _check_out(path, suffixes, what):
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise CLIError(f"{what} must end in {' or '.join(suffixes)}, got {str(p)!r}")
    if not p.parent.exists():
        raise CLIError(f"directory of {what} does not exist: {str(p.parent)!r}")
    if p.is_dir():
        raise CLIError(f"{what} is a directory: {str(p)!r}")
    return p


_FIGURES = (".png", ".svg", ".pdf")


def _save_figure(tree, path, kind="dendrogram", y="log_density", dpi=100):
    from matplotlib.figure import Figure

    from .plot import plot_dendrogram, plot_persistence

    if kind == "both":
        fig = Figure(figsize=(12, 4.8))
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1.6, 1]))
        plot_dendrogram(tree, ax=ax1, y=y)
        plot_persistence(tree, ax=ax2)
    else:
        fig = Figure(figsize=(8, 5) if kind == "dendrogram" else (5.5, 5.5))
        ax = fig.subplots()
        if kind == "dendrogram":
            plot_dendrogram(tree, ax=ax, y=y)
        elif kind == "barcode":
            plot_persistence(tree, ax=ax, barcode=True)
        else:
            plot_persistence(tree, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


# ------------------------------------------------------------------------------------------ tree
def _tree_args(p):
    p.add_argument("points", help="points: .npy, .npz (with --key), .csv or .txt, shape (n_points, n_dims)")
    p.add_argument("--key", help="array name inside an .npz file")
    p.add_argument("--log-density", metavar="FILE",
                   help="log-density at every point (.npy/.csv/.txt, n values); default: kNN estimate")
    p.add_argument("--k", type=int, default=None, help="neighbours per point (default: 1%% of n in [15, 50])")
    p.add_argument("--simplify", type=_simplify_arg, default="auto", metavar="auto|none|VALUE",
                   help="auto: thresholds chosen from the data (default); none: the raw tree; "
                        "VALUE: min_persistence in log-density units")
    p.add_argument("--out", required=True, metavar="TREE", help="where to write the tree (.json or .npz)")
    p.add_argument("--plot", metavar="FIG", help="also draw the dendrogram to this file (.png, .svg or .pdf)")
    p.add_argument("--labels", metavar="FILE.npy",
                   help="also write each point's cluster (.npy, int64): its leaf's position in the tree's "
                        "leaves, the numbers the dendrogram shows (tree.labels())")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: shown for large inputs and a terminal)")


def _tree_run(args):
    from .build import build_tree

    if args.k is not None and args.k < 1:
        raise CLIError(f"--k must be >= 1, got {args.k}")
    out = _check_out(args.out, (".json", ".npz"), "--out")
    fig = _check_out(args.plot, _FIGURES, "--plot") if args.plot else None
    labels_out = _check_out(args.labels, (".npy",), "--labels") if args.labels else None
    X = load_points(args.points, args.key)
    f = _load_log_density(args.log_density, X.shape[0]) if args.log_density else None
    raw = build_tree(X, log_density=f, k=args.k, progress=args.progress)
    if args.simplify == "auto":
        tree = raw.simplify()
    elif args.simplify == "none":
        tree = raw
    else:
        tree = raw.simplify(min_persistence=args.simplify)
    tree.save(out)
    msg = f"{tree.n_points} points, k={tree.k}: {len(raw.leaves)} raw leaves"
    if tree is not raw:
        msg += f" -> {len(tree.leaves)} leaves after simplification"
    print(f"{msg}; tree written to {out}")
    if labels_out is not None:
        from ._atomic import atomic_write

        labels = tree.labels()
        atomic_write(labels_out, lambda fh: np.save(fh, labels), "--labels")
        print(f"labels of {labels.shape[0]} points (leaf positions 0..{len(tree.leaves) - 1}) written to {labels_out}")
    if fig is not None:
        _save_figure(tree, fig)
        print(f"dendrogram written to {fig}")
    return 0


# ------------------------------------------------------------------------------------------ show
def _show_args(p):
    p.add_argument("tree", help="a tree written by `topotree tree` (.json or .npz)")
    p.add_argument("--max-leaves", type=int, default=30, help="list at most this many leaves (largest first)")


def _show_run(args):
    t = _load_tree(args.tree)
    leaves = np.asarray(t.leaves, dtype=np.int64)
    lines = [f"{args.tree}: {t!r}"]
    if t.simplification is None:
        lines.append("simplification: none (raw tree)")
    else:
        s = t.simplification
        lines.append(f"simplification: min_persistence={s.min_persistence:.4g}, min_mass={s.min_mass:.4g} ({s.rule})")
    f = t.log_density
    lines.append(f"log-density: min {f.min():.4g}, median {np.median(f):.4g}, max {f.max():.4g}")
    pers = np.sort(np.abs(t.diagram[:, 0] - t.diagram[:, 1]))[::-1] if len(t.diagram) else np.zeros(0)
    top = ", ".join(f"{p:.3g}" for p in pers[:8])
    lines.append(f"persistence: {len(t.diagram)} finite pairs, {len(t.essential)} essential"
                 + (f"; largest: {top}" if len(pers) else ""))
    lines.append(f"leaves: {len(leaves)}")
    order = np.argsort(-t.mass[leaves], kind="stable")[: max(0, args.max_leaves)]
    lines.append(f"{'leaf':>6} {'node':>6} {'mass':>8} {'basin':>8} {'persist.':>9} {'start':>9} {'peak':>9}")
    for j in sorted(order.tolist()):
        i = leaves[j]
        lines.append(f"{j:>6} {i:>6} {t.mass[i]:>8.4f} {t.basin_mass[i]:>8.4f} {t.persistence[i]:>9.3f} "
                     f"{t.start[i]:>9.3f} {t.end[i]:>9.3f}")
    if len(leaves) > len(order):
        lines.append(f"... and {len(leaves) - len(order)} smaller leaves")
    print("\n".join(lines))
    return 0


# ------------------------------------------------------------------------------------------ plot
def _plot_args(p):
    p.add_argument("tree", help="a tree written by `topotree tree` (.json or .npz)")
    p.add_argument("--out", required=True, metavar="FIG", help="figure file (.png, .svg or .pdf)")
    p.add_argument("--kind", choices=["dendrogram", "persistence", "barcode", "both"], default="dendrogram",
                   help="what to draw (default: dendrogram; both: dendrogram and persistence diagram)")
    p.add_argument("--y", choices=["log_density", "mass"], default="log_density",
                   help="dendrogram vertical axis: log-density level or mass above it")
    p.add_argument("--dpi", type=int, default=100, help="resolution of raster output")


def _plot_run(args):
    if not 10 <= args.dpi <= 2400:
        raise CLIError(f"--dpi must be between 10 and 2400, got {args.dpi}")
    out = _check_out(args.out, _FIGURES, "--out")
    t = _load_tree(args.tree)
    _save_figure(t, out, kind=args.kind, y=args.y, dpi=args.dpi)
    print(f"{args.kind} written to {out}")
    return 0


# name -> (help, add_arguments(parser), run(args) -> exit code)
# ------------------------------------------------------------------------------------------ demo
def _demo_args(p):
    p.add_argument("--data", help="(n, d) .npy/.npz/.csv/.txt data (default: scikit-learn's 8x8 digits)")
    p.add_argument("--labels", help="(n,) labels for --data, used to name tree nodes and score label transfer")
    p.add_argument("--latent-dim", type=int, default=8, help="latent dimensions of both models (default 8)")
    p.add_argument("--out", default="demo-output", help="folder for the table, pictures and report.md")
    p.add_argument("--seed", type=int, default=0, help="model A uses SEED, model B SEED + 1 (default 0)")
    p.add_argument("--epochs", type=int, default=300, help="maximum training epochs (early stopping)")
    p.add_argument("--max-points", type=int, default=None, help="use at most this many rows (quick runs)")
    p.add_argument("--tree-samples", type=int, default=None,
                   help="prior samples per model tree in align_models (default 10000; 0 skips that start)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def _demo_run(args):
    data = None if args.data is None else load_points(args.data)
    labels = None
    if args.labels is not None:
        if data is None:
            raise CLIError("--labels needs --data")
        labels = _load_array(args.labels, what="labels")
        labels = labels.ravel() if labels.ndim == 2 and 1 in labels.shape else labels
        if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
            raise CLIError(f"labels must have one entry per row of data ({data.shape[0]}), got shape {labels.shape}")
    if args.latent_dim < 1:
        raise CLIError(f"--latent-dim must be >= 1, got {args.latent_dim}")
    if args.tree_samples is not None and args.tree_samples < 0:
        raise CLIError(f"--tree-samples must be >= 0, got {args.tree_samples}")
    try:
        from topotree.adapters.demo import run_demo
    except ImportError as exc:
        raise CLIError(f"the demo needs torch and topotree.adapters ({exc}); install with "
                       f"pip install 'topotree[torch]' (or run make demo)") from None
    result = run_demo(data, labels, latent_dim=args.latent_dim, out=args.out, seed=args.seed, epochs=args.epochs,
                      max_points=args.max_points, progress=args.progress,
                      **({} if args.tree_samples is None else {"tree_samples": args.tree_samples}))
    print("\n" + result.table)
    print(f"\nwrote {args.out}/ (table.md, table.csv, trees.png, persistence.png, latents.png, stitched.png, report.md)")
    return 0


COMMANDS = {
    "tree": ("build a cluster tree from a file of points", _tree_args, _tree_run),
    "show": ("summarise a saved tree: leaves, masses, persistence", _show_args, _show_run),
    "plot": ("draw a saved tree to an image file", _plot_args, _plot_run),
    "demo": ("train two flow autoencoders, match their latent trees, align and score (needs torch)",
             _demo_args, _demo_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="topotree", description="Density cluster trees of point clouds: build, summarise, plot.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"topotree {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, add, _) in COMMANDS.items():
        add(sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + "."))
    return parser


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, message already printed)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    run = COMMANDS[args.command][2]
    try:
        return int(run(args) or 0)
    except CLIError as exc:
        msg = str(exc)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except OSError as exc:
        msg = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    except (MemoryError, RecursionError, OverflowError, ArithmeticError, RuntimeError) as exc:
        # no traceback even for what slipped through: one line, exit status 2
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"
    print(f"topotree: error: {msg}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
