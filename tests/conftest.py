"""pytest configuration shared by the test files."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # the tests' shared helper modules


def pytest_report_header(config):
    from catalog_sample import describe

    return describe()
