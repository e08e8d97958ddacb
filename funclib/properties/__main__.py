"""``python -m funclib.properties``: regenerate the committed property cache (:func:`funclib.properties.cli.main`)."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
