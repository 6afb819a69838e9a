"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from tradetrail.cli import main


def run(*args: Any) -> Result:
    """`tradetrail ARGS...` in this process (arguments may be paths or numbers)."""
    return CliRunner().invoke(main, [str(a) for a in args])
