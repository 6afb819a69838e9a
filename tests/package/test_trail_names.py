"""Only core/layout.py spells the names under a trail directory (`journal`, `tiles`,
`checkpoints`, `trail.vkey`, ...): every other module builds a path under `<home>` from its
constants, so a name changes in one place and a grep for the constant finds every user."""

from __future__ import annotations

import ast
from pathlib import Path

import tradetrail
from tradetrail.core import layout

PACKAGE = Path(tradetrail.__file__).resolve().parent
LAYOUT = "core/layout.py"
NAMES = frozenset(
    value
    for name, value in vars(layout).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("_")
)
# A constant of another format that happens to share a trail name (the pack's own
# `checkpoint` file), by module and constant name.
OTHER_FORMATS = {("core/pack.py", "CHECKPOINT_FILE")}
PATH_CALLS = {"Path", "PurePath", "PurePosixPath", "joinpath", "join", "with_name"}


def _names_path(text: str) -> bool:
    """A trail name, or a relative path that starts with one (`journal/...`)."""
    return text in NAMES or any(text.startswith(f"{name}/") for name in NAMES)


def _whole_path(node: ast.AST) -> bool:
    """Whether a string or f-string is a path alone (no space: not a message about one)."""
    texts = [node] if isinstance(node, ast.Constant) else getattr(node, "values", [])
    return not any(
        isinstance(t, ast.Constant) and isinstance(t.value, str) and " " in t.value for t in texts
    )


def _literal(node: ast.AST) -> str | None:
    """The text a string literal or an f-string starts with."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def offences(source: str, rel: str) -> list[str]:
    """Where `source` spells a trail name to build a path: an operand of `/`, an argument of
    Path()/joinpath()/os.path.join(), a relative path (`tiles/...`, a string or f-string that
    is nothing else), or a module constant bound to a trail name."""
    found = []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = _literal(node.value) if isinstance(node.value, ast.Constant) else None
            if value in NAMES and not any((rel, n) in OTHER_FORMATS for n in names):
                found.append(f"{rel}:{node.lineno}: {names} = {value!r} copies a layout name")
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        parts: list[ast.AST] = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts = [node.left, node.right]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in PATH_CALLS:
                parts = list(node.args)
        for part in parts:
            text = _literal(part)
            if text is not None and _names_path(text.split("{")[0]):
                found.append(f"{rel}:{part.lineno}: {text!r} builds a path")
        whole = isinstance(node, ast.Constant | ast.JoinedStr) and id(node) not in inner
        text = _literal(node) if whole else None
        if (
            text is not None
            and any(text.startswith(f"{name}/") for name in NAMES)
            and _whole_path(node)
        ):
            found.append(f"{rel}:{node.lineno}: {text!r} spells a path under the trail")
    return sorted(set(found))


def test_only_layout_spells_the_trail_names() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel != LAYOUT:
            found += offences(path.read_text(encoding="utf-8"), rel)
    assert not found, "use tradetrail.core.layout:\n" + "\n".join(found)


def test_the_check_fails_on_each_way_of_spelling_a_name() -> None:
    bad = {
        "home / 'journal'": 1,
        "home / 'trail.vkey'": 1,
        "Path(home, 'tiles')": 1,
        "os.path.join(home, 'index.sqlite')": 1,
        "home.joinpath('spill', 'x')": 1,
        "rel = f'checkpoints/{size}'": 1,
        "rel = 'exports/daily/x'": 1,
        "SNAPSHOTS = 'snapshots'": 1,
        "fault('missing', 'checkpoints/0')": 1,
    }
    for source, count in bad.items():
        assert len(offences(source, "x.py")) == count, source
    fine = [
        "home / layout.JOURNAL_DIR",
        "doc['checkpoint']",
        "{'checkpoints': 0}",
        "f'{layout.CHECKPOINTS_DIR}/{size}'",
        "print('the journal is sealed')",
        "pack / 'manifest.json'",
        "def f():\n    name = 'checkpoint'",
        "fault(f'checkpoints/{n} is missing', n)",
    ]
    for source in fine:
        assert not offences(source, "x.py"), source
    assert not offences("CHECKPOINT_FILE = 'checkpoint'", "core/pack.py")
