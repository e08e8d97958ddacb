"""Which catalog entries the slow step checks in full (kernel accuracy, special values in both
dtypes, re-proofs).

At hundreds of entries, compiling four kernels per entry and re-proving every entry takes hours
on CI's two cores, so the slow step checks a seeded random sample of ``SLOW_SAMPLE_SIZE``
entries (whose strict expected failures must keep failing) plus the framework activations (the
ones most users run). All slow tests draw the
same entries, so each kernel is compiled once per run.

* ``FUNCLIB_SAMPLE_SEED``: the seed (default: today's date as YYYYMMDD, so successive CI runs
  cover different entries; the seed is printed in the pytest header to reproduce a run);
* ``FUNCLIB_FULL_CATALOG=1``: every entry (what ``funclib prove --all`` / ``funclib accuracy
  --all`` run outside the tests).
"""

from __future__ import annotations

import datetime
import os
import random

import funclib

SLOW_SAMPLE_SIZE = 40
#: The framework activations: always checked.
FRAMEWORK_TAGS = ("pytorch", "jax", "keras")


def sample_seed() -> int:
    value = os.environ.get("FUNCLIB_SAMPLE_SEED")
    if value:
        return int(value)
    return int(datetime.date.today().strftime("%Y%m%d"))


def full_catalog() -> bool:
    return os.environ.get("FUNCLIB_FULL_CATALOG", "") not in ("", "0")


def _always(entry) -> bool:
    # The framework activations (the ones most users run) are always checked. Entries with
    # expected-failure rows are drawn like the others: at ~90 of them, always checking them would
    # make the slow step grow with the number of known failures.
    return any(t in FRAMEWORK_TAGS for t in entry.tags)


def slow_entries(entries) -> list:
    """The entries (of ``entries``) that the slow step checks: a sample, or all of them."""
    entries = sorted(entries, key=lambda e: e.id)
    if full_catalog():
        return entries
    always = [e for e in entries if _always(e)]
    rest = [e for e in entries if not _always(e)]
    chosen = random.Random(sample_seed()).sample(rest, min(SLOW_SAMPLE_SIZE, len(rest)))
    return sorted(always + chosen, key=lambda e: e.id)


def describe() -> str:
    if full_catalog():
        return "funclib slow step: full catalog (FUNCLIB_FULL_CATALOG=1)"
    return (f"funclib slow step: seeded sample of {SLOW_SAMPLE_SIZE} entries + the framework activations "
            f"(FUNCLIB_SAMPLE_SEED={sample_seed()})")
