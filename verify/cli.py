"""``funclib lipschitz`` and ``funclib certify``; the tour's verify section.

``lipschitz``: certified Lipschitz bound of a network file. ``certify``: certified ℓ2 or ℓ∞ robustness
radii of a classifier on the inputs of a data file (``.npz`` with ``X`` and ``y``, read without
pickles). Exit status: 0 on a certified result, 1 when it could not be certified (for
``lipschitz`` the fallback is printed), 2 on bad input (unreadable file, unknown activation, bad
option).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_commands", "cmd_lipschitz", "cmd_certify", "load_data", "tour", "tour_network"]


def _progress_printer(stream):
    def show(entry: dict) -> None:
        if "message" in entry:
            print(f"  {entry['message']}", file=stream, flush=True)
            return
        gap = entry.get("gap")
        gap_text = "-" if gap is None else f"{gap:.2e}"
        print(f"  iter {entry['iteration']:3d}  rho {entry['rho']:.8g}  gap {gap_text}  "
              f"{entry['seconds']:7.2f} s", file=stream, flush=True)

    return show


def cmd_lipschitz(args: argparse.Namespace) -> int:
    from funclib.cli import parse_params

    from .api import lipschitz
    from .certify import VerificationError
    from .loaders import load

    params = parse_params(args.params) if args.params else None
    net = load(args.net_file, args.activation, params)
    progress = None if args.quiet else _progress_printer(sys.stderr)
    if progress is not None:
        print(f"verifying {net} ({net.n_hidden} hidden neurons), LipSDP-{args.method}", file=sys.stderr, flush=True)
    try:
        res = lipschitz(net, method=args.method, solver=args.solver, split=args.split,
                        time_limit=args.time_limit, allow_estimated=args.allow_estimated,
                        lower=not args.no_lower, progress=progress)
        code = 0 if res.certified else 1
    except VerificationError as exc:
        res = exc.result
        print(f"funclib: verification failed: {exc}", file=sys.stderr)
        if res is None:
            return 1
        code = 1
    if args.json:
        print(json.dumps(res.as_dict(), indent=1))
    else:
        print(res)
    return code


def load_data(path: str):
    """``X`` and ``y`` from a ``.npz`` data file (no pickles), with a clear error otherwise."""
    import zipfile

    import numpy as np

    from .loaders import check_npz_sizes
    from .network import NetworkError

    check_npz_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("X", "y") if k not in data.files]
            if missing:
                raise NetworkError(f"{path}: data file needs arrays X and y, missing {', '.join(missing)} "
                                   f"(has: {', '.join(data.files) or 'none'})")
            return data["X"], data["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, NetworkError):
            raise
        raise NetworkError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None


def cmd_certify(args: argparse.Namespace) -> int:
    from .certify import VerificationError
    from .loaders import load
    from .robustness import robustness

    net = load(args.model)
    X, y = load_data(args.data)
    eps = args.eps or [0.1]
    if any(not (e >= 0) for e in eps):
        raise ValueError(f"--eps values must be non-negative, got {eps}")
    try:
        res = robustness(net, X, y, norm=args.norm, method=args.method, solver=args.solver, time_limit=args.time_limit,
                         workers=args.workers, scheduler=args.scheduler)
    except VerificationError as exc:
        print(f"funclib: certification failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res.as_dict(eps), indent=1))
        return 0
    print(res)
    for e in eps:
        print(f"  eps {e:<8g} certified accuracy {res.certified_accuracy(e):.4f}")
    return 0


def add_commands(add) -> None:
    """Register ``lipschitz`` and ``certify`` with the main CLI (``add(name, func, help)`` returns a parser)."""
    p = add("lipschitz", cmd_lipschitz,
            "certified l2 Lipschitz bound of a network file (.npz or .mat) by LipSDP, with lower bound")
    p.add_argument("net_file", metavar="NET_FILE")
    p.add_argument("--activation", help="catalog name for every hidden layer (overrides the file)")
    p.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE",
                   help="activation parameter (with --activation)")
    p.add_argument("--method", choices=("neuron", "layer"), default="neuron")
    p.add_argument("--solver", default="auto",
                   help="auto (default), structured, or a cvxpy solver: SDPA, CVXOPT, MOSEK, CLARABEL, SCS")
    p.add_argument("--split", type=int, help="split into sub-networks of this many layers")
    p.add_argument("--time-limit", type=float, help="seconds per solver call")
    p.add_argument("--allow-estimated", action="store_true",
                   help="accept estimated slope bounds (the result is then not certified)")
    p.add_argument("--no-lower", action="store_true", help="skip the lower bound")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    p = add("certify", cmd_certify, "certified l2 or linf robustness radii of a classifier network (.npz or .mat) "
            "on the inputs of a data file")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--data", required=True, metavar="X.npz", help=".npz with arrays X (inputs) and y (int labels)")
    p.add_argument("--eps", type=float, action="append", metavar="E",
                   help="radius at which to report certified accuracy (repeatable; default 0.1)")
    p.add_argument("--method", choices=("global", "pairwise", "local", "crown"), default="global")
    p.add_argument("--norm", choices=("l2", "linf"), default="l2", help="norm of the perturbation (default l2)")
    p.add_argument("--solver", default="auto", help="as for lipschitz")
    p.add_argument("--time-limit", type=float, help="seconds per solver call")
    p.add_argument("--workers", type=int, help="local: run batches of inputs on a local Dask cluster of N processes")
    p.add_argument("--scheduler", help="local: run batches on the Dask scheduler at this address")


def tour_network():
    """The tour's small built-in network: 4-16-16-2, ReLU, fixed seed."""
    from .network import Network

    import numpy as np

    rng = np.random.default_rng(2024)
    dims = (4, 16, 16, 2)
    weights = [rng.standard_normal((dims[k + 1], dims[k])) / np.sqrt(dims[k]) for k in range(3)]
    biases = [0.1 * rng.standard_normal(dims[k + 1]) for k in range(3)]
    return Network(weights, "relu", biases)


def tour() -> None:
    """Print the certified bound of the built-in network (a few seconds)."""
    from .api import lipschitz

    net = tour_network()
    res = lipschitz(net, solver="structured", lower_samples=128, lower_starts=3, lower_time=1.0)
    print(">>> funclib.verify.lipschitz(net)   # " + repr(net))
    print(f"certified l2 Lipschitz bound {res.value:.6f} (LipSDP-neuron, {res.solver} solver, {res.status}); "
          f"lower bound {res.lower:.6f}; naive product of norms {res.naive:.6f}")
