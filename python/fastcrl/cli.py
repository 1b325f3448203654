"""The ``fastcrl`` command line: ``info``, ``simulate``, ``demo``, ``discover``.

``fastcrl demo`` is the README's main job: it simulates a linear-Gaussian dataset, runs every
discovery method available, prints a table of SHD/TPR/FDR/time and writes the learned graphs as JSON
and DOT.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import NumericalError

# Discovery methods the demo runs (and, later, `fastcrl discover --method`): name -> factory taking
# the random seed.  Each later estimator registers itself here.
DEMO_METHODS: dict[str, Callable[[int], Any]] = {}


def _register_builtin_methods() -> None:
    from .baselines import SortNRegress

    DEMO_METHODS.setdefault("sortnregress", lambda seed: SortNRegress(sort="var"))
    DEMO_METHODS.setdefault("r2-sortnregress", lambda seed: SortNRegress(sort="r2"))
    from .continuous import DAGMA, NOTEARS

    DEMO_METHODS.setdefault("notears", lambda seed: NOTEARS(random_state=seed))
    DEMO_METHODS.setdefault("dagma", lambda seed: DAGMA(random_state=seed))
    from .ges import GES
    from .hillclimb import HillClimb

    DEMO_METHODS.setdefault("ges", lambda seed: GES())
    DEMO_METHODS.setdefault("hc", lambda seed: HillClimb(random_state=seed))


# `fastcrl discover --method`: the continuous optimisers (notears, dagma) take --lambda1 and
# --w-threshold; score-based searches take --score, --max-parents, --memory-limit and discrete data.
CONTINUOUS_METHODS = ("dagma", "notears", "sortnregress")
SEARCH_METHODS = ("ges", "hc", "exact")
SCORE_NAMES = ("auto", "bic", "bge", "bdeu", "discrete-bic")


def _search_estimator(args: argparse.Namespace, knowledge: Any, discrete: bool) -> Any:
    from .exact import ExactSearch
    from .ges import GES
    from .hillclimb import HillClimb

    cls = {"ges": GES, "hc": HillClimb, "exact": ExactSearch}[args.method]
    kwargs: dict[str, Any] = {
        "score": args.score,
        "discrete": discrete,  # decided here on the host (the data may go to a GPU)
        "knowledge": knowledge,
        "max_parents": args.max_parents,
        "verbose": args.verbose,
    }
    if args.penalty_discount is not None:
        kwargs["score_params"] = {"penalty_discount": args.penalty_discount}
    if args.memory_limit is not None:
        kwargs["memory_limit"] = None if args.memory_limit == "none" else args.memory_limit
    if args.method == "hc":
        kwargs["random_state"] = args.seed
    return cls(**kwargs)


def _looks_like_codes(X: np.ndarray, max_levels: int = 32) -> bool:
    """Whole numbers >= 0 with few levels per column: integer-coded categories."""
    if not (np.isfinite(X).all() and (X == np.round(X)).all() and (X >= 0).all()):
        return False
    return all(np.unique(X[:, j]).size <= max_levels for j in range(X.shape[1]))


def _memory_limit_arg(value: str) -> str:
    """``--memory-limit``: an amount such as ``16GB`` (checked here), or ``none`` for no check."""
    from ._validation import parse_memory

    if value.strip().lower() == "none":
        return "none"
    try:
        parse_memory(value, "--memory-limit")
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{exc}; 'none' turns the check off") from None
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, header: bool = True) -> tuple[np.ndarray, list[str]]:
    """A numeric CSV with a header row (or none, ``header=False``: names X0, X1, ...)."""
    import csv
    import warnings

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            first = next(csv.reader(fh), [])
            has_rows = any(line.strip() for line in fh)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position "
            f"{exc.start}); save the CSV as UTF-8"
        ) from None
    first = [c.strip() for c in first]
    if not any(first):
        raise ValueError(f"{path}: empty file; expected a header row with the column names")
    if header:
        names = first
        # a row of data, not names: numbers that are not all distinct non-negative integers
        # (integer names such as years or gene ids stay names)
        if all(_is_number(c) for c in names) and (
            not all(c.isdigit() for c in names) or len(set(names)) < len(names)
        ):
            raise ValueError(
                f"{path}: the first row ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
                " is numbers, not column names; add a header row or pass --no-header"
            )
        empty = [i for i, c in enumerate(names) if not c]
        if empty:
            raise ValueError(f"{path}: header columns {empty[:10]} have no name")
        duplicated = sorted({c for c in names if names.count(c) > 1})
        if duplicated:
            raise ValueError(f"{path}: duplicate column names in the header: {duplicated[:10]}")
        if not has_rows:
            raise ValueError(f"{path}: no data rows after the header row")
    else:
        names = [f"X{i}" for i in range(len(first))]
    try:
        with warnings.catch_warnings():
            # "input contained no data" (only comment lines, "#..."): reported below
            warnings.simplefilter("ignore", UserWarning)
            X = np.loadtxt(
                path, delimiter=",", skiprows=1 if header else 0, ndmin=2, encoding="utf-8-sig"
            )
    except ValueError as exc:
        where = "after the header row" if header else "in the file"
        raise ValueError(f"{path}: could not read numeric data {where} ({exc})") from None
    if X.shape[0] == 0:
        raise ValueError(f"{path}: no data rows after the header row")
    if X.shape[1] != len(names):
        raise ValueError(
            f"{path}: the header names {len(names)} columns but the rows have {X.shape[1]}"
        )
    return X, names


def cmd_discover(args: argparse.Namespace) -> int:
    import warnings

    from .baselines import SortNRegress
    from .continuous import DAGMA, NOTEARS
    from .graph import Graph
    from .knowledge import Knowledge

    out = Path(args.out)
    if args.bootstrap is not None and args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be >= 1; got {args.bootstrap}")
    if out.is_dir():
        raise ValueError(f"--out {args.out}: is a directory; give a file name for the graph JSON")
    if not out.parent.is_dir():
        raise ValueError(f"--out {args.out}: the folder {out.parent} does not exist")
    X, names = _read_csv(Path(args.data), header=not args.no_header)
    knowledge = Knowledge.from_json(args.knowledge) if args.knowledge else None
    search_only = {
        "--score": args.score != "auto",
        "--discrete": args.discrete,
        "--max-parents": args.max_parents is not None,
        "--penalty-discount": args.penalty_discount is not None,
        "--memory-limit": args.memory_limit is not None,
    }
    if args.method in SEARCH_METHODS:
        if args.lambda1 is not None or args.w_threshold is not None:
            raise ValueError("--lambda1/--w-threshold apply to notears and dagma only")
        if args.discrete and args.score in ("bic", "bge"):
            raise ValueError(
                f"--discrete needs a discrete score (--score bdeu or discrete-bic, or auto); "
                f"--score {args.score} is for continuous data"
            )
        discrete = args.discrete or (
            args.score in ("bdeu", "discrete-bic")
            or (args.score == "auto" and _looks_like_codes(X))
        )
        if discrete:
            if not _looks_like_codes(X, max_levels=2**31):
                raise ValueError(
                    f"{args.data}: discrete data must hold category codes 0, 1, 2, ... in every "
                    "column"
                )
            X = X.astype(np.int64)
        est = _search_estimator(args, knowledge, discrete)
    elif any(search_only.values()):
        given = [k for k, v in search_only.items() if v]
        raise ValueError(
            f"{'/'.join(given)} {'applies' if len(given) == 1 else 'apply'} to the score-based "
            "methods (ges, hc, exact) only"
        )
    elif args.method == "sortnregress":
        if args.lambda1 is not None or args.w_threshold is not None:
            raise ValueError("--lambda1/--w-threshold apply to notears and dagma only")
        est = SortNRegress(knowledge=knowledge)
    else:
        cls = NOTEARS if args.method == "notears" else DAGMA
        kwargs: dict[str, Any] = {"knowledge": knowledge, "verbose": args.verbose}
        if args.lambda1 is not None:
            kwargs["lambda1"] = args.lambda1
        if args.w_threshold is not None:
            kwargs["w_threshold"] = args.w_threshold
        est = cls(**kwargs)
    if args.device == "cuda":
        X = _to_device(X, args.method)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, names=names)
    for w in caught:
        print(f"fastcrl discover: warning: {w.message}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    graph = getattr(est, "graph_", None)
    if not isinstance(graph, Graph):
        weights = est.weights_
        graph = Graph.from_adjacency(weights.get() if hasattr(weights, "get") else weights, names)
    out.write_text(graph.to_json())
    print(
        f"{args.method}: {graph.n_edges} edges among {len(names)} variables in {elapsed:.2f} s; "
        f"wrote {args.out}"
    )
    if args.bootstrap is not None:
        _write_bootstrap(args, est, X, names, out)
    return 0


def _write_bootstrap(args: argparse.Namespace, est: Any, X: Any, names: list, out: Path) -> None:
    """Refit on --bootstrap resamples; write every edge's frequency next to the graph JSON."""
    from .bootstrap import bootstrap_edges

    path = out.with_name(out.stem + ".bootstrap.csv")
    start = time.perf_counter()
    freq = bootstrap_edges(
        est, X, n_bootstrap=args.bootstrap, random_state=args.seed, names=names,
        verbose=int(sys.stderr.isatty()),
    )  # fmt: skip
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source", "target", "kind", "frequency"])
        for src, dst, kind, f in freq.edges(0.0):
            writer.writerow([src, dst, kind, f"{f:.4g}"])
    stable = len(freq.edges(0.5))
    elapsed = time.perf_counter() - start
    print(
        f"bootstrap: {args.bootstrap} refits in {elapsed:.2f} s, {stable} edges in at least half "
        f"of them; wrote {path}"
    )


def _to_device(X: np.ndarray, method: str):
    """X as a CuPy array on the current GPU, or an error that says why that is not possible."""
    from . import _backend

    if method == "sortnregress":
        raise ValueError("--device cuda applies to dagma, notears, ges, hc and exact")
    if _backend._cuda is None:
        why = (
            f"the CUDA extension could not be loaded ({_backend._CUDA_IMPORT_ERROR})"
            if _backend._CUDA_IMPORT_ERROR
            else "this fastcrl was built without CUDA (see README: GPU)"
        )
        raise ValueError(f"--device cuda: {why}; use --device cpu")
    if not _backend.cuda_available():
        raise ValueError(
            "--device cuda: this machine has no usable CUDA device (fastcrl.cuda_available() is "
            "False); use --device cpu"
        )
    try:
        import cupy
    except ImportError as exc:
        raise ValueError("--device cuda needs CuPy: pip install fastcrl[cuda]") from exc
    return cupy.asarray(X)


def _progress(iterable, **kwargs):
    """A tqdm bar on a terminal, silent when stderr is piped."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None, file=sys.stderr, leave=False, **kwargs)


def cmd_info(args: argparse.Namespace) -> int:
    import fastcrl

    info = fastcrl.build_info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _write_table(path: Path, X: np.ndarray, names: Sequence[str]) -> None:
    header = ",".join(names)
    fmt = "%d" if np.issubdtype(X.dtype, np.integer) else "%.10g"
    np.savetxt(path, X, delimiter=",", header=header, comments="", fmt=fmt)


def cmd_simulate(args: argparse.Namespace) -> int:
    from . import simulate
    from .graph import Graph

    data = simulate.simulate_dataset(
        args.nodes,
        args.samples,
        graph_type=args.graph,
        edges_per_node=args.edges_per_node,
        sem=args.sem,
        noise=args.noise,
        standardized=args.standardize,
        random_state=args.seed,
    )
    names = [f"X{i}" for i in range(args.nodes)]
    out = Path(args.out)
    _write_table(out, data.X, names)
    graph_out = Path(args.graph_out) if args.graph_out else out.with_suffix(".graph.json")
    truth = Graph.from_adjacency(data.W if data.W is not None else data.B, names=names, kind="dag")
    graph_out.write_text(truth.to_json())
    print(f"wrote {out} ({args.samples} x {args.nodes}) and the true graph to {graph_out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import metrics, simulate
    from .graph import Graph

    _register_builtin_methods()
    methods = args.methods or list(DEMO_METHODS)
    unknown = [m for m in methods if m not in DEMO_METHODS]
    if unknown:
        print(f"unknown method(s) {unknown}; available: {list(DEMO_METHODS)}", file=sys.stderr)
        return 2
    data = simulate.simulate_dataset(
        args.nodes,
        args.samples,
        graph_type=args.graph,
        edges_per_node=args.edges_per_node,
        noise=args.noise,
        standardized=args.standardize,
        random_state=args.seed,
    )
    names = [f"X{i}" for i in range(args.nodes)]
    vs = simulate.varsortability(data.X, data.B)
    standardised = " (standardised)" if args.standardize else ""
    k = 2.0 if args.edges_per_node is None else args.edges_per_node
    print(
        f"fastcrl demo: linear SEM, {args.graph.upper()}-{k:g} DAG, "
        f"d={args.nodes}, n={args.samples}, {args.noise} noise{standardised}, "
        f"seed={args.seed}; {int(data.B.sum())} true edges; varsortability={vs:.2f}"
    )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    Path(out_dir / "truth.json").write_text(
        Graph.from_adjacency(data.W, names=names, kind="dag").to_json()
    )
    rows = []
    for name in _progress(methods, desc="methods"):
        est = DEMO_METHODS[name](args.seed)
        start = time.perf_counter()
        est.fit(data.X)
        elapsed = time.perf_counter() - start
        acc = metrics.count_accuracy(data.B, est.adjacency_)
        weights = getattr(est, "weights_", None)
        graph = Graph.from_adjacency(
            weights if weights is not None else est.adjacency_, names=names
        )
        (out_dir / f"{name}.json").write_text(graph.to_json())
        (out_dir / f"{name}.dot").write_text(graph.to_dot())
        rows.append((name, acc["shd"], acc["tpr"], acc["fdr"], int(acc["nnz"]), elapsed))
    print()
    print(f"{'method':<18} {'SHD':>5} {'TPR':>6} {'FDR':>6} {'edges':>6} {'time [s]':>9}")
    for name, shd, tpr, fdr, nnz, elapsed in rows:
        print(f"{name:<18} {shd:>5d} {tpr:>6.2f} {fdr:>6.2f} {nnz:>6d} {elapsed:>9.3f}")
    print(f"\nlearned graphs (JSON, DOT) and the true graph written to {out_dir}/")
    if vs > 0.9 and not args.standardize:
        print(
            "note: varsortability is high, so sorting by variance alone recovers much of the "
            "order; rerun with --standardize for a harder benchmark."
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastcrl", description="Fast causal discovery and causal representation learning."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="show what fastcrl was compiled with (BLAS, OpenMP, CUDA)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    def add_sim_args(p: argparse.ArgumentParser, nodes: int, samples: int) -> None:
        p.add_argument(
            "--nodes", "-d", type=int, default=nodes, help=f"number of variables (default {nodes})"
        )
        p.add_argument(
            "--samples",
            "-n",
            type=int,
            default=samples,
            help=f"number of samples (default {samples})",
        )
        p.add_argument(
            "--graph", choices=["er", "sf"], default="er", help="random graph model (default er)"
        )
        p.add_argument(
            "--edges-per-node",
            type=float,
            default=None,
            help="expected edges per node, k in ER-k (default 2, at most a complete DAG)",
        )
        p.add_argument(
            "--noise",
            default="gaussian",
            choices=["gaussian", "exponential", "gumbel", "uniform", "laplace"],
        )
        p.add_argument(
            "--standardize",
            action="store_true",
            help="standardise each column (removes varsortability)",
        )
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    p = sub.add_parser(
        "simulate", help="simulate a dataset and write it as CSV plus the true graph as JSON"
    )
    add_sim_args(p, 10, 1000)
    p.add_argument("--sem", choices=["linear", "nonlinear"], default="linear")
    p.add_argument("--out", "-o", default="data.csv", help="CSV file to write (default data.csv)")
    p.add_argument("--graph-out", help="JSON file for the true graph (default <out>.graph.json)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "demo", help="simulate data, run the discovery methods, print SHD/TPR/FDR/time"
    )
    add_sim_args(p, 20, 1000)
    p.add_argument("--methods", nargs="+", help="methods to run (default: all available)")
    p.add_argument(
        "--out-dir", default="fastcrl-demo", help="folder for the graphs (default fastcrl-demo)"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "discover",
        help="learn a DAG (or, with ges/exact, its CPDAG) from a CSV file (header row = names)",
    )
    p.add_argument(
        "data",
        help="CSV file with a header row; one column per variable (lines starting with # are "
        "comments)",
    )
    p.add_argument(
        "--no-header",
        action="store_true",
        help="the CSV has no header row: every row is data, the variables are named X0, X1, ...",
    )
    p.add_argument(
        "--method",
        choices=[*CONTINUOUS_METHODS, *SEARCH_METHODS],
        default="dagma",
        help="discovery method (default dagma); ges, hc and exact are score-based searches",
    )
    p.add_argument(
        "--score",
        choices=SCORE_NAMES,
        default="auto",
        help="score of ges/hc/exact: bic, bge (continuous), bdeu, discrete-bic (categorical); "
        "auto = bdeu for integer-coded data, bic otherwise",
    )
    p.add_argument(
        "--discrete",
        action="store_true",
        help="the CSV holds category codes 0..r-1 (detected when every column has few "
        "whole-number levels)",
    )
    p.add_argument("--max-parents", type=int, help="cap on the parents per node (ges/hc/exact)")
    p.add_argument(
        "--penalty-discount", type=float, help="BIC penalty multiplier (ges/hc/exact with bic)"
    )
    p.add_argument(
        "--memory-limit",
        type=_memory_limit_arg,
        metavar="SIZE",
        help="ges/hc/exact refuse to start when their memory estimate exceeds this, e.g. 16GB, "
        "512MiB, or 'none' for no check (default 8GB)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of hc's restarts (default 0)")
    p.add_argument("--lambda1", type=float, help="L1 penalty (notears default 0.1, dagma 0.02)")
    p.add_argument(
        "--w-threshold", type=float, help="drop edges with |weight| below this (default 0.3)"
    )
    p.add_argument("--knowledge", help="JSON file of prior knowledge (fastcrl.Knowledge schema)")
    p.add_argument(
        "--out",
        "-o",
        default="graph.json",
        help="where to write the graph JSON (default graph.json)",
    )
    p.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: run on the GPU (dagma/notears: the whole fit; ges/hc/exact: the local scores)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        metavar="N",
        help="also refit on N bootstrap resamples (seeded by --seed) and write each edge's "
        "frequency to <out stem>.bootstrap.csv",
    )
    p.add_argument("--verbose", action="store_true", help="progress bar over outer iterations")
    p.set_defaults(func=cmd_discover)
    return parser


def _error_message(exc: BaseException) -> str:
    """The one line ``main`` prints for an error: a file error names the file first, a memory
    check names the command-line option that raises it."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    message = str(exc)
    if isinstance(exc, MemoryError):
        if "memory_limit" in message:
            message += " (command line: --memory-limit, e.g. --memory-limit 200GB, or none)"
        else:  # a failed allocation (std::bad_alloc, NumPy's "Unable to allocate ...")
            message = f"out of memory ({message})" if message else "out of memory"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, OSError, NumericalError, MemoryError) as exc:
        print(f"fastcrl {args.command}: error: {_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastcrl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
