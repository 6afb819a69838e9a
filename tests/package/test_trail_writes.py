"""Only store/ and writer/ change the trail's own files (journal, tiles, checkpoints, keys,
pruned.json, the closed mark): every other module that writes, renames or removes a file is
listed here with what it writes, so a new one is a decision, not an accident."""

from __future__ import annotations

import ast
from pathlib import Path

import tradetrail

SRC = Path(tradetrail.__file__).parent
OWNERS = ("store", "writer")
WRITING_CALLS = frozenset({"unlink", "rmtree", "write_atomic", "write_bytes", "write_text"})
OS_CALLS = frozenset({"replace", "rename", "remove", "unlink", "rmdir"})  # os.<name>()

OUTPUTS = {
    "alerts/runner.py": "the alerts runner's position (--state, outside the trail)",
    "cli/report.py": "the HTML/PDF report a user asked for (--out)",
    "cli/trail.py": "keygen's key pair, into --out (not the trail)",
    "compliance/attest.py": "an officer's signature beside a daily pack (exports/)",
    "compliance/jobs.py": "retention plan reports (exports/retention/) and the jobs' state "
    "(outside the trail, like the alerts runner's)",
    "compliance/exam.py": "the exam package being built (a temporary file, then --out)",
    "compliance/snapshots.py": "configuration snapshot documents (snapshots/)",
    "compliance/verify_exam.py": "a scratch copy of the packaged trail, to verify it",
    "core/packtables.py": "the config snapshot inside a pack being built",
    "demo/__init__.py": "its own marker (.tradetrail-demo)",
    "export/daily.py": "daily packs (exports/daily/)",
    "index/rebuild.py": "the SQLite index (index.sqlite), rebuilt beside the old one",
}


def writers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.split("/")[0] in OWNERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            on_os = isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "os"
            if name in WRITING_CALLS or (on_os and name in OS_CALLS):
                found.setdefault(rel, []).append(f"{name}() at line {node.lineno}")
    return found


def test_only_listed_modules_outside_store_and_writer_write_files() -> None:
    found = writers()
    unlisted = {m: calls for m, calls in found.items() if m not in OUTPUTS}
    assert not unlisted, (
        "these modules write files outside store/ and writer/; the trail's own files go "
        f"through store/ (e.g. store.journal.remove_day_file), outputs are listed above: {unlisted}"
    )
    assert set(OUTPUTS) <= set(found), f"listed but no longer writing: {set(OUTPUTS) - set(found)}"


def test_the_check_sees_a_write() -> None:
    """The scan would catch retention unlinking a day file itself again."""
    tree = ast.parse("def f(home):\n    (home / 'journal' / 'x').unlink()\n")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert any(isinstance(c.func, ast.Attribute) and c.func.attr in WRITING_CALLS for c in calls)
