"""``python -m funclib.properties``: regenerate (or prune) the committed property cache."""

from __future__ import annotations

import json

from .cache import build_cache, prune_cache, write_cache

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m funclib.properties --write [IDS]``: regenerate the committed property cache."""
    import argparse
    import sys

    from ..registry import entries

    parser = argparse.ArgumentParser(prog="python -m funclib.properties", description=main.__doc__)
    parser.add_argument("--write", action="store_true", help="write the catalog's *.properties.json sidecars")
    parser.add_argument("--prune", action="store_true", help="drop cached entries that no longer exist")
    parser.add_argument("ids", nargs="*", help="only these entries (default: all)")
    args = parser.parse_args(argv)
    everything = entries()
    if args.prune:
        dropped = prune_cache({e.id for e in everything})
        print(f"dropped {len(dropped)} stale slot(s): {', '.join(dropped) or '-'}")
        if not args.write:
            return 0
    known = {e.id for e in everything}
    missing = [i for i in args.ids if i not in known]
    if missing:
        print(f"unknown entry id(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    chosen = [e for e in everything if not args.ids or e.id in args.ids]
    data = build_cache(chosen, progress=lambda i: print(f"proving {i} ...", file=sys.stderr, flush=True))
    if args.write:
        for path in write_cache(data, {e.id: e.source for e in chosen}):
            print(f"wrote {path}")
    else:
        print(json.dumps(data, indent=1))
    return 0
