"""``funclib export NAME_OR_FORMULA --to TARGET``: print a self-contained source module."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_commands", "cmd_export"]


def add_commands(add) -> None:
    """Register ``funclib export`` with the main parser (``add(name, func, help)``)."""
    p = add("export", cmd_export, "print a self-contained numpy/torch/jax/C/CUDA module of a function")
    p.add_argument("target", metavar="NAME_OR_FORMULA", help="catalog id/alias or a formula in x")
    # validated by funclib.export (one error line, exit 2), not by argparse choices
    p.add_argument("--to", dest="to", required=True, metavar="numpy|torch|jax|c|cuda")
    p.add_argument("--variant")
    p.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE")
    p.add_argument("--dtype", default="float64", metavar="float64|float32", help="C/CUDA: double or float")
    p.add_argument("--name", help="C/CUDA function prefix (default: the entry id)")


def cmd_export(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, parse_params
    from .export import export

    text = export(args.target, args.to, variant=args.variant, params=parse_params(args.params), dtype=args.dtype,
                  name=args.name)
    if args.json:
        print(json.dumps({"target": args.to, "source": text}))
    else:
        print(text, end="")
    return EXIT_OK
