"""One-off helper of the restructure into layers (issue 13): maps the old flat module paths
to the new ones and rewrites imports, dotted names and file paths across the repository.
Kept so that branches made before the move can be rebased: run it on their files."""

from __future__ import annotations

import re
import sys
from pathlib import Path

MOVES = {
    "canonical": "core.canonical",
    "merkle": "core.merkle",
    "tiles": "core.tiles",
    "note": "core.note",
    "checkpoint": "core.checkpoint",
    "timefmt": "core.timefmt",
    "closemark": "core.closemark",
    "exactjson": "core.exactjson",
    "events": "model.events",
    "redact": "model.redact",
    "context": "model.context",
    "journal": "store.journal",
    "tilestore": "store.tilestore",
    "storage": "store.storage",
    "keys": "store.keys",
    "keyhistory": "store.keyhistory",
    "proofs": "store.proofs",
    "trail": "writer.trail",
    "spill": "writer.spill",
    "admin_events": "writer.admin_events",
    "config": "writer.config",
    "verify": "verify.trail",
    "verify_pack": "verify.pack",
    "verify_exam": "verify.exam",
    "retention": "compliance.retention",
    "attest": "compliance.attest",
    "snapshots": "compliance.snapshots",
    "auditor": "integrations.auditor",
    "integrations": "integrations.common",
    "logging_handler": "integrations.logging_handler",
    "structlog_processor": "integrations.structlog_processor",
    "testing": "integrations.testing",
    "cli_attest": "cli.attest",
    "cli_export": "cli.export",
    "cli_report": "cli.report",
    "cli_retention": "cli.retention",
    "cli_search": "cli.search",
    "cli_snapshot": "cli.snapshot",
}
OLD = {f"tradetrail.{k}": f"tradetrail.{v}" for k, v in MOVES.items()}
PACKAGES = {"tradetrail", "tradetrail.index", "tradetrail.export", "tradetrail.reports"}
PACKAGES |= {"tradetrail." + v.split(".")[0] for v in MOVES.values()}
PACKAGES |= {"tradetrail.cli", "tradetrail.demo"}


def module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def relative(target: str, pkg: str) -> str:
    """`target` spelled relative to package `pkg` (both absolute, dotted)."""
    t, p = target.split("."), pkg.split(".")
    n = 0
    while n < min(len(t), len(p)) and t[n] == p[n]:
        n += 1
    dots = "." * (len(p) - n + 1)
    return dots + ".".join(t[n:])


FROM = re.compile(r"^(\s*)from (\.+)([\w.]*) import (.*)$")


def rewrite_src(path: Path, was_flat: bool, new_name: str) -> str:
    new_pkg = package_of(new_name, path)
    old_pkg = "tradetrail" if was_flat else new_pkg
    out = []
    for line in path.read_text().splitlines(keepends=True):
        m = FROM.match(line.rstrip("\n"))
        if not m:
            out.append(rewrite_text(line))
            continue
        indent, dots, mod, rest = m.groups()
        base = old_pkg.split(".")
        base = base[: len(base) - (len(dots) - 1)]
        target = ".".join(base + ([mod] if mod else []))
        names = rest.split("#")[0].strip()
        first = names.strip("( ").split(",")[0].split(" as ")[0].strip()
        if target in OLD:
            target = OLD[target]
        elif f"{target}.{first}" in OLD and "," not in names:
            new_sub = OLD[f"{target}.{first}"]
            target, _, leaf = new_sub.rpartition(".")
            rest = rest.replace(first, leaf, 1)
        out.append(f"{indent}from {relative(target, new_pkg)} import {rest}\n")
    return "".join(out)


DOTTED = re.compile(r"\btradetrail\.(" + "|".join(sorted(MOVES, key=len, reverse=True)) + r")\b")
PATHS = re.compile(r"tradetrail/(" + "|".join(MOVES) + r")\.py\b")


def rewrite_text(text: str) -> str:
    def dotted(m: re.Match[str]) -> str:
        old = m.group(1)
        if old == "verify":
            end = m.end()
            rest = m.string[end : end + 1]
            line_start = m.string.rfind("\n", 0, m.start()) + 1
            head = m.string[line_start : m.start()]
            if rest == "(" or not (rest == "." or re.search(r"(from|import)\s+$", head)):
                return m.group(0)
        return f"tradetrail.{MOVES[old]}"

    text = DOTTED.sub(dotted, text)
    return PATHS.sub(lambda m: "tradetrail/" + MOVES[m.group(1)].replace(".", "/") + ".py", text)


def main() -> None:
    root = Path(sys.argv[1])
    src = root / "src"
    moved = {f"tradetrail.{v}": f"tradetrail.{k}" for k, v in MOVES.items()}
    for path in sorted((src / "tradetrail").rglob("*.py")):
        new_name = module_name(path, src)
        was_flat = new_name in moved or new_name in {"tradetrail.cli", "tradetrail.demo"}
        path.write_text(rewrite_src(path, was_flat, new_name))
    for pattern in (
        "tests/**/*.py",
        "bench/**/*.py",
        "examples/**/*",
        "docs/**/*.md",
        "*.md",
        "bench/*.md",
        "scripts/*.py",
    ):
        for path in root.glob(pattern):
            if path.is_file() and path.name != "restructure.py" and path.suffix in {".py", ".md"}:
                path.write_text(rewrite_text(path.read_text()))


if __name__ == "__main__":
    main()
