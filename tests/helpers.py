"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tradetrail.cli import main

TESTS = Path(__file__).resolve().parent
"""tests/: the test modules sit one package folder below it (tests/writer/, ...)."""
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
VECTORS = TESTS / "vectors"


def run(*args: Any) -> Result:
    """`tradetrail ARGS...` in this process (arguments may be paths or numbers)."""
    return CliRunner().invoke(main, [str(a) for a in args])
