"""The house in layers (DESIGN.md): every module imports first in a fresh interpreter (no
import cycle hides behind the order a program happens to import in), and the import-linter
contracts of pyproject.toml hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tradetrail

PACKAGE = Path(tradetrail.__file__).resolve().parent


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("tradetrail", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def test_every_module_imports_first() -> None:
    """One interpreter per module, a few at a time: a cycle (core.pack <-> core.packscan was
    one while the pack format moved) fails only when its module is the first imported."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in _modules()
    }
    failed = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode:
            failed[name] = err.strip().splitlines()[-1]
    assert not failed


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_contracts_hold() -> None:
    """`lint-imports` (scripts/test runs it too): the layers and the integrations contract."""
    root = PACKAGE.parent.parent
    if not (root / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout (no pyproject.toml beside src/)")
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run(
        ["lint-imports"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:]
