"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
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


PROMTOOL = shutil.which("promtool")  # scripts/test installs Debian prometheus when missing


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert PROMTOOL is not None, (
        "promtool is missing: run scripts/test (apt-get install prometheus)"
    )
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, timeout=60)


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, number = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if metric == name and all(got.get(k) == v for k, v in labels.items()):
            return float(number)
    return None


FUZZ = ROOT / "fuzz"


def fuzz_harness(target: str) -> tuple[ModuleType, list[Path]]:
    """fuzz/fuzz_<target>.py loaded as a module (it is no package), and its seed corpus."""
    spec = importlib.util.spec_from_file_location(f"fuzz_{target}", FUZZ / f"fuzz_{target}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, sorted((FUZZ / "corpus" / target).iterdir())
