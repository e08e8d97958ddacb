"""The package works as a built wheel, not only as the editable install the tests run from."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (path,) = out.glob("funclib-*.whl")
    return path


def test_wheel_contains_the_three_packages_and_the_catalog(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "funclib/__init__.py" in names
    assert "funclib/catalog/__init__.py" in names
    assert "funclib/verify/__init__.py" in names
    sidecars = {n for n in names if n.startswith("funclib/catalog/") and n.endswith(".properties.json")}
    assert {n.removeprefix("funclib/catalog/") for n in sidecars} == {
        str(p.relative_to(ROOT / "catalog")) for p in (ROOT / "catalog").rglob("*.properties.json")}
    assert sidecars  # the committed proofs ship with the package
    tomls = {n for n in names if n.startswith("funclib/catalog/") and n.endswith(".toml")}
    sources = {str(p.relative_to(ROOT / "catalog")) for p in (ROOT / "catalog").rglob("*.toml")}
    assert {n.removeprefix("funclib/catalog/") for n in tomls} == sources
    assert not any(n.startswith(("tests/", "catalog/", "verify/")) for n in names)
    entry_points = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points[0]).decode()
    assert "funclib = funclib.cli:main" in text


def test_wheel_installs_and_loads_its_catalog(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True, timeout=600,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import funclib, funclib.verify; e = funclib.get('gelu'); "
        "assert funclib.__file__.startswith(%r), funclib.__file__; "
        "p = e.properties(); print(len(funclib.entries()), p['slope_bounds'].method)" % str(target)
    )
    # Run outside the source tree so that the checkout cannot shadow the installed wheel.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    count, method = proc.stdout.split()
    assert int(count) >= 30 and method == "interval"
