"""The funclib catalog: one TOML file per family of functions (package data).

Read through :mod:`funclib.registry`; see ``docs/catalog-format.md`` for the entry format.
"""
