"""The README states the catalog's size and coverage: keep the numbers true."""

from __future__ import annotations

import re
from pathlib import Path

from funclib import catalog_index, coverage

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_counts_match_the_catalog():
    text = " ".join(README.read_text(encoding="utf-8").split())
    entries = re.search(r"holds \*\*(\d+) functions\*\*", text)
    covered = re.search(r"covers \*\*(\d+) of the (\d+) candidate functions\*\*", text)
    assert entries and covered, "README lost its catalog counts"
    records = catalog_index.catalog_index().records
    summary = coverage.summary()
    assert int(entries.group(1)) == len(records)
    assert (int(covered.group(1)), int(covered.group(2))) == (summary["covered"], summary["total"])
