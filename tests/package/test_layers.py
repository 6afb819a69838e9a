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


# Exceptions that never leave their module (control flow), and the demo venue's own exceptions
# (what a real exchange client would raise, caught by the demo's trading loop): not ours to show.
_PRIVATE_EXCEPTIONS = {
    "tradetrail.writer.sequencer._WriteFailed",
    "tradetrail.compliance.verify_exam._DamagedZip",
    "tradetrail.demo.Throttled",
    "tradetrail.demo.ApiFailure",
    "tradetrail.demo.Refused",
    "tradetrail.service.problems.Problem",  # a route's HTTP answer, turned into a response
}


def test_every_exception_lives_in_errors() -> None:
    """One place to look and one base to catch (issue 13): an exception class defined in any
    other module, or one in errors.py that is not a TradetrailError, fails here."""
    import importlib
    import inspect

    from tradetrail import errors

    outside, not_ours = [], []
    for name in _modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if not (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            where = f"{name}.{obj.__qualname__}"
            if obj.__module__ == name != "tradetrail.errors" and where not in _PRIVATE_EXCEPTIONS:
                outside.append(where)
    for obj in vars(errors).values():
        mine = inspect.isclass(obj) and obj.__module__ == "tradetrail.errors"
        if mine and not issubclass(obj, errors.TradetrailError):
            not_ours.append(obj.__name__)
    assert outside == []
    assert not_ours == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("tradetrail.compliance.attest", "AttestError"),
        ("tradetrail.compliance.attest", "AttestKeyError"),
        ("tradetrail.compliance.exam", "ExamError"),
        ("tradetrail.compliance.retention", "PolicyError"),
        ("tradetrail.compliance.retention", "RetentionError"),
        ("tradetrail.compliance.snapshots", "SnapshotError"),
        ("tradetrail.demo", "DemoHomeError"),
        ("tradetrail.reports.model", "ReportError"),
        ("tradetrail.verify.pack", "PackUsageError"),
        ("tradetrail.index.query", "QueryError"),
        ("tradetrail.index", "QueryError"),
        ("tradetrail.core.exactjson", "ExactJSONError"),
    ],
)
def test_moved_exception_keeps_its_old_import_path(module: str, name: str) -> None:
    import importlib

    from tradetrail import errors

    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_query_and_json_errors_are_tradetrail_errors_and_still_value_errors() -> None:
    from tradetrail.errors import ExactJSONError, QueryError, TradetrailError

    for cls in (QueryError, ExactJSONError):
        assert issubclass(cls, TradetrailError)
        assert issubclass(cls, ValueError)  # callers that catch ValueError still do
