"""Configuration snapshots: which configuration a trading system ran with, and when it changed.

A snapshot covers the files under one or more paths (files and directories). For each file it
keeps the SHA-256 and size of the bytes on disk, the content of text files (up to 1 MiB) with
every secret replaced by ``[REDACTED]`` so that later diffs stay readable, and, when the file
sits in a git repository, the repository root, its commit and whether the file differs from it.

Storage. ``<home>/snapshots/<id>.json`` holds exactly the canonical JSON document (sorted keys,
no spaces, UTF-8). Its SHA-256 is the snapshot's ``hash`` and the first 16 hex digits its ``id``,
so ``sha256sum snapshots/<id>.json`` checks a snapshot with standard tools. Snapshots are
content-addressed: taking the same configuration again gives the same id and the file is never
rewritten. The time of a snapshot is not in the document; each taking is recorded in the
journal as a ``config.snapshot`` event (``hash``: the document hash; ``content``: the
``snapshot_id``, the paths, every file's ``path``/``sha256``/``size`` and the repositories;
``path``: the path when there is one; ``version``: the commit when all files sit in one
repository, with ``+dirty`` when they differ from it), and that event's ``ts`` is the time.

Redaction of content (the file's ``redacted`` entry lists the changed lines and secret keys):

* values under secret keys (the key rule of `tradetrail.model.redact`, any segment of a dotted key)
  on the key's line and in the block it opens: a ``[section]`` of INI/TOML, the indented block
  of YAML, a bracketed ``{...}``/``[...]`` or a multi-line string;
* the lines inside PEM private key blocks;
* every line through the redactor's text rules (value patterns and ``label: value``);
* for JSON, TOML, YAML (when PyYAML is importable) and INI, the file is also parsed and every
  value the redactor finds secret in the parsed structure (under a secret key, or a secret
  pattern inside a string) is removed wherever it still appears in the text.

Drift. Before a new snapshot is recorded, the current files are compared with the newest
recorded snapshot covering the same paths. A changed, added or removed file is *covered* when a
``config.changed`` event recorded since that snapshot names it (its ``path``: the same
absolute path, a relative path it ends with, or a directory holding it) or carries its new
``sha256`` as ``new_hash``. Uncovered changes are drift: an ``alert.sent`` event (rule
``config_drift``, severity ``warning``) names the files.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import stat
import subprocess
import tomllib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from difflib import unified_diff
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson

from ..core import layout
from ..core.documents import (
    DocumentError,
    SnapshotDocument,
    SnapshotFile,
    SnapshotRedacted,
    SnapshotRepo,
    decode_snapshot,
    encode_snapshot,
)
from ..core.timefmt import format_ns
from ..errors import ConfigError, SnapshotError
from ..model.redact import DEFAULT_REDACTOR, MARKER, Redactor
from ..store.journal import iter_lines, journal_files, lines_from_seq

if TYPE_CHECKING:
    from ..writer.trail import Trail

__all__ = [
    "CONFIG_PATHS_ENV",
    "SNAPSHOTS_DIR",
    "FileChange",
    "FileDiff",
    "Snapshot",
    "SnapshotError",
    "SnapshotRecord",
    "build_document",
    "canonical_bytes",
    "diff_documents",
    "list_snapshots",
    "load_document",
    "resolve_snapshot",
    "snapshot_configured",
    "snapshot_paths",
]

logger = logging.getLogger("tradetrail")

SNAPSHOTS_DIR: Final = layout.SNAPSHOTS_DIR
CONFIG_PATHS_ENV: Final = "TRADETRAIL_CONFIG_PATHS"
FORMAT: Final = "tradetrail.snapshot/1"
ID_LENGTH: Final = 16
MAX_CONTENT_BYTES: Final = 1 << 20
ALERT_RULE: Final = "config_drift"
ALERT_CHANNEL: Final = "tradetrail"
SKIP_DIRS: Final = frozenset({".git", ".hg", ".svn", "__pycache__"})
REDACTION_NOTE: Final = (
    "sha256 and size are of the bytes on disk; content is kept for UTF-8 text files up to "
    # "tradetrail.redact" (the module's name before 0.2's move to tradetrail.model.redact) is
    # part of the snapshot document format: the words stay.
    f"{MAX_CONTENT_BYTES} bytes, with secrets replaced by {MARKER} (tradetrail.redact): values "
    "under secret keys and in the blocks they open, PEM private key blocks, the text rules "
    "line by line, and every value the redactor finds secret in the parsed JSON, TOML, YAML "
    "or INI structure; 'redacted' lists each file's changed lines (1-based) and secret keys"
)
_FORMATS: Final = {
    ".json": "json",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".ini": "ini",
    ".cfg": "ini",
    ".conf": "ini",
    ".env": "ini",
}
_SNAPSHOT_LINE: Final = b'"type":"config.snapshot"'
_CHANGED_LINE: Final = b'"type":"config.changed"'
_ID: Final = re.compile(r"[0-9a-f]{16}")
_HEX_PREFIX: Final = re.compile(r"[0-9a-f]{4,64}")


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FileChange:
    """One file that differs from the baseline snapshot; `covered_by` is the seq of the
    config.changed event that accounts for it (None: drift)."""

    path: str
    change: str  # "modified", "added" or "removed"
    old_sha256: str | None
    new_sha256: str | None
    covered_by: int | None = None

    @property
    def covered(self) -> bool:
        return self.covered_by is not None


@dataclass(frozen=True)
class Snapshot:
    """A snapshot taken by `snapshot_paths`: its id and hash, the document, the seq of its
    config.snapshot event (None when not recorded or not journaled in time), the baseline it
    was compared with, the changes found and the seq of the drift alert, if one was raised."""

    id: str
    hash: str
    document: SnapshotDocument
    seq: int | None = None
    recorded: bool = True
    baseline: str | None = None
    baseline_seq: int | None = None
    changes: tuple[FileChange, ...] = ()
    alert_seq: int | None = None
    alerted: bool = False

    @property
    def paths(self) -> list[str]:
        return list(self.document.paths)

    @property
    def files(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.document.files]

    @property
    def drift(self) -> list[FileChange]:
        """The changes no config.changed event accounts for."""
        return [c for c in self.changes if not c.covered]


@dataclass(frozen=True)
class SnapshotRecord:
    """One snapshot as the trail knows it: a config.snapshot event (seq, ts, actor) or, for a
    snapshot file no event refers to, the file alone (`recorded` False, `ts` its mtime)."""

    id: str
    hash: str
    paths: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (path, sha256)
    repos: tuple[dict[str, Any], ...] = ()
    seq: int | None = None
    ts: str | None = None
    actor: str | None = None
    recorded: bool = True
    content: dict[str, Any] | None = None
    """The configuration itself, for a snapshot an application recorded in its event (no
    snapshot file: the event is the document)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "files" if self.content is None else "event",
            "time": self.ts,
            "seq": self.seq,
            "recorded": self.recorded,
            "paths": list(self.paths),
            "hash": self.hash,
            "files": len(self.files),
            "repos": list(self.repos),
            "commit": _version(list(self.repos)),
            "actor": self.actor,
        }


@dataclass
class FileDiff:
    """How one file differs between two snapshots; `lines` is its unified diff (or a note
    when the content was not kept or differs only in redacted parts)."""

    path: str
    change: str  # "modified", "added" or "removed"
    old_sha256: str | None
    new_sha256: str | None
    lines: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- collecting


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[str]]:
    """(the given paths, absolute and normalised, sorted, without those inside another; the
    regular files they hold, sorted and unique). Raises SnapshotError naming every path that
    cannot be used."""
    roots: set[str] = set()
    problems: list[str] = []
    given = list(paths)
    if not given:
        raise SnapshotError("no path given to snapshot")
    for raw in given:
        text = os.fspath(raw)
        if not text:
            problems.append("'': empty path")
            continue
        absolute = os.path.abspath(text)
        try:
            mode = os.stat(absolute).st_mode
        except OSError as exc:
            problems.append(f"{text}: {exc.strerror or exc}")
            continue
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            problems.append(f"{text}: not a regular file or a directory")
            continue
        roots.add(absolute)
    roots = {r for r in roots if not any(o != r and _under(r, o) for o in roots)}
    files: set[str] = set()
    for root in sorted(roots):
        if not os.path.isdir(root):
            files.add(root)
            continue

        def walk_error(exc: OSError) -> None:
            problems.append(f"{exc.filename}: {exc.strerror or exc}")

        for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in filenames:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):  # a dangling link or a vanished file
                    if stat.S_ISREG(os.stat(path).st_mode):
                        files.add(path)
    if problems:
        raise SnapshotError("cannot snapshot " + "; ".join(problems))
    return sorted(roots), sorted(files)


# ----------------------------------------------------------------------------- git


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


def _git(args: Sequence[str], cwd: str) -> str | None:
    """stdout of a git command, None when git is missing or the command fails."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=_git_env(), capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace")


def git_state(
    roots: Sequence[str], files: Sequence[str]
) -> tuple[dict[str, tuple[str, str]], list[SnapshotRepo]]:
    """For each file in a git work tree: (repository root, state), the state one of clean,
    modified (staged or not), untracked or ignored; and per repository its root, commit (when
    it has one) and `dirty`: some snapshotted file is not exactly as committed. Remotes are
    never read (their URLs can carry credentials)."""
    toplevel: dict[str, str | None] = {}
    by_repo: dict[str, list[str]] = {}
    for path in files:
        directory = os.path.dirname(path)
        if directory not in toplevel:
            out = _git(["rev-parse", "--show-toplevel"], directory)
            toplevel[directory] = out.strip() if out and out.strip() else None
        root = toplevel[directory]
        if root is not None:
            by_repo.setdefault(root, []).append(path)
    states: dict[str, tuple[str, str]] = {}
    repos: list[SnapshotRepo] = []
    for root, members in sorted(by_repo.items()):
        commit = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root)
        specs = set()
        for given in roots:
            real = os.path.realpath(given)
            if _under(real, root):
                specs.add(":(literal)" + os.path.relpath(real, root))
            elif _under(root, real):
                specs.add(":(literal).")
        listing = _git(
            [
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--ignored=traditional",
                "--",
                *sorted(specs),
            ],
            root,
        )
        changed: dict[str, str] = {}
        if listing is not None:
            entries = iter(listing.split("\0"))
            for entry in entries:
                if len(entry) < 4:
                    continue
                code, rel = entry[:2], entry[3:]
                if "R" in code or "C" in code:
                    next(entries, None)  # the path it was renamed or copied from
                kind = {"??": "untracked", "!!": "ignored"}.get(code, "modified")
                changed[os.path.normpath(os.path.join(root, rel))] = kind
        dirty = False
        for path in members:
            real = os.path.realpath(path)
            state = changed.get(real, "clean")
            if state == "clean":  # an untracked or ignored directory is listed as dir/
                for other, kind in changed.items():
                    if kind != "modified" and _under(real, other):
                        state = kind
                        break
            if listing is None:
                state = "unknown"
            states[path] = (root, state)
            dirty = dirty or state != "clean"
        head = commit.strip() if commit and commit.strip() else None
        repos.append(SnapshotRepo(root=root, dirty=dirty, commit=head))
    return states, repos


def _version(repos: Sequence[SnapshotRepo | dict[str, Any]]) -> str | None:
    """The commit (+dirty) when every file sits in one repository that has a commit (the
    repos of a document, or as a config.snapshot event lists them)."""
    if len(repos) != 1:
        return None
    repo = repos[0].to_dict() if isinstance(repos[0], SnapshotRepo) else repos[0]
    if "commit" not in repo:
        return None
    commit = str(repo["commit"])
    return commit + "+dirty" if repo.get("dirty") else commit


# ----------------------------------------------------------------------------- redaction

_KEY_LINE: Final = re.compile(
    r"""^(?P<indent>[ \t]*)(?P<dash>-[ \t]+)?"""
    r"""(?P<key>"(?:[^"\\]|\\.)*"|'[^'\n]*'|[A-Za-z0-9_$@][A-Za-z0-9_.$@ -]*?)"""
    r"""[ \t]*(?P<sep>[:=])(?P<rest>.*)$"""
)
_SECTION: Final = re.compile(
    r"^[ \t]*\[\[?[ \t]*(?P<name>[^\[\]\n]+?)[ \t]*\]\]?[ \t]*(?:[#;].*)?$"
)
_BLOCK_SCALAR: Final = re.compile(r"^[|>][-+0-9]*[ \t]*(?:#.*)?$")
_PEM_BEGIN: Final = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END: Final = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_MARKER_TEXT: Final = re.compile(r"\[REDACTED(?::hmac:[0-9a-f]{16})?\]")
_MAX_PIECES: Final = 32
_HIDES_NOTHING: Final = frozenset({"true", "false", "null", "none", "~", '""', "''"})


def _unquote(key: str) -> str:
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key


def _secret_name(redactor: Redactor, name: str) -> bool:
    """A key, or any segment of a dotted key or section name, is secret."""
    name = _unquote(name)
    if redactor.is_secret_key(name):
        return True
    return any(redactor.is_secret_key(_unquote(part)) for part in name.split(".") if part)


def _depth(text: str) -> int:
    """Brackets opened minus closed outside quotes, up to a comment."""
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "#":
            break
    return depth


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _mask_line(line: str, marker: str) -> str:
    """The line with its value replaced by the marker, the key (if any) kept."""
    eol = "\r" if line.endswith("\r") else ""
    body = line[: len(line) - len(eol)]
    stripped = body.strip()
    if not stripped or stripped[0] in "#;" or not stripped.strip("{}[](),"):
        return line
    if _MARKER_TEXT.fullmatch(stripped.rstrip(",").strip("\"'")):
        return line
    m = _KEY_LINE.match(body)
    if m is not None:
        rest = m.group("rest")
        value = rest.strip()
        if not value or value.rstrip(",") in ("{", "[") or _BLOCK_SCALAR.match(value):
            return line  # the key opens a block: its lines are masked one by one
        if value.rstrip(",").strip().lower() in _HIDES_NOTHING:
            return line
        comma = "," if value.endswith(",") else ""
        new = f'"{marker}"' if value[0] == '"' else marker
        lead = rest[: len(rest) - len(rest.lstrip())]
        return body[: m.start("rest")] + lead + new + comma + eol
    dash = "- " if stripped.startswith("- ") else ""
    comma = "," if stripped.endswith(",") else ""
    return body[: _indent_of(body)] + dash + marker + comma + eol


def _block_end(lines: list[str], i: int, m: re.Match[str], fmt: str | None) -> int | None:
    """The end (exclusive) of the block a secret key on line i opens; None when the value
    is on the key's line alone."""
    rest = m.group("rest").strip()
    n = len(lines)
    if not rest or rest.startswith("#") or _BLOCK_SCALAR.match(rest):
        if fmt == "json":
            return None
        key_col = len(m.group("indent")) + len(m.group("dash") or "")
        j = i + 1
        end = i + 1
        while j < n:
            line = lines[j]
            if line.strip():
                col = _indent_of(line)
                sequence_item = (
                    col == key_col and line.lstrip().startswith("- ") and not m.group("dash")
                )
                if col <= key_col and not sequence_item:
                    break
                end = j + 1
            j += 1
        return end
    for quote in ('"""', "'''"):
        if rest.startswith(quote) and rest.count(quote) == 1:
            j = i + 1
            while j < n and quote not in lines[j]:
                j += 1
            return min(j + 1, n)
    depth = _depth(rest)
    if depth > 0:
        j = i + 1
        while j < n and depth > 0:
            depth += _depth(lines[j])
            j += 1
        return j
    return None


def _structure_blocks(
    lines: list[str], fmt: str | None, redactor: Redactor
) -> tuple[set[int], dict[int, int], list[str]]:
    """Lines to mask (secret sections, secret keys' values and the blocks they open); the
    lines where a secret key opens a bracket, with where the text after the bracket starts
    (the text rules would take the bracket for the value); and the secret key names found."""
    masked: set[int] = set()
    openers: dict[int, int] = {}
    names: list[str] = []
    in_secret_section = False
    sections = fmt not in ("json", "yaml")
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if sections:
            section = _SECTION.match(line)
            if section is not None:
                in_secret_section = _secret_name(redactor, section.group("name"))
                if in_secret_section:
                    names.append(_unquote(section.group("name")))
                i += 1
                continue
            if in_secret_section:
                masked.add(i)
                i += 1
                continue
        m = _KEY_LINE.match(line)
        if m is not None and _secret_name(redactor, m.group("key")):
            names.append(_unquote(m.group("key")))
            masked.add(i)
            end = _block_end(lines, i, m, fmt)
            if end is not None:
                bracket = re.search(r"[\[{]", m.group("rest"))
                if bracket is not None and _depth(m.group("rest")) > 0:
                    openers[i] = m.start("rest") + bracket.end()
                masked.update(range(i + 1, end))
                i = end
                continue
        i += 1
    return masked, openers, names


def _pem_blocks(lines: list[str]) -> tuple[set[int], set[int]]:
    """The lines inside PEM private key blocks that span lines, and their BEGIN lines."""
    inside: set[int] = set()
    begins: set[int] = set()
    i = 0
    while i < len(lines):
        begin = _PEM_BEGIN.search(lines[i])
        if begin is not None and _PEM_END.search(lines[i], begin.end()) is None:
            begins.add(i)
            j = i + 1
            while j < len(lines) and _PEM_END.search(lines[j]) is None:
                inside.add(j)
                j += 1
            i = j
        i += 1
    return inside, begins


# --- parsed structures: every secret value, so none survives in the text


def _parse(text: str, fmt: str) -> Any:
    if fmt == "json":
        return json.loads(text)
    if fmt == "toml":
        return tomllib.loads(text)
    if fmt == "yaml":
        yaml: Any = importlib.import_module("yaml")  # ImportError: no parser
        return yaml.safe_load(text)
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError:
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string("[DEFAULT]\n" + text)
    parsed: dict[str, Any] = dict(parser.defaults())
    parsed.update({s: dict(parser.items(s, raw=True)) for s in parser.sections()})
    return parsed


def _removed_parts(original: str, redacted: str) -> list[str]:
    """The parts of `original` that the redactor replaced by markers in `redacted`."""
    pieces = _MARKER_TEXT.split(redacted)
    if len(pieces) > _MAX_PIECES or _MARKER_TEXT.search(original):
        return [original]
    pattern = re.escape(pieces[0]) + "".join("(.+?)" + re.escape(p) for p in pieces[1:])
    m = re.fullmatch(pattern, original, re.DOTALL)
    return [g for g in m.groups() if g] if m is not None else [original]


def _parsed_secrets(
    value: Any, redactor: Redactor
) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    """(secret strings with the keys above them, secret key paths) of a parsed structure."""
    found: list[tuple[str, tuple[str, ...]]] = []
    paths: list[str] = []

    def add(item: Any, keys: tuple[str, ...]) -> None:
        if isinstance(item, bool) or item is None:
            return
        if isinstance(item, datetime | date | dtime):
            found.append((item.isoformat(), keys))
            found.append((str(item), keys))
        elif isinstance(item, int | float | str):
            found.append((str(item), keys))
            if isinstance(item, float):
                found.append((repr(item), keys))

    def walk(item: Any, path: str, keys: tuple[str, ...], secret: bool, depth: int) -> None:
        if depth > 64:
            return
        if isinstance(item, dict):
            for key, sub in item.items():
                name = str(key)
                sub_path = f"{path}.{name}" if path else name
                is_secret = (
                    not secret
                    and redactor.is_secret_key(name)
                    and sub not in (None, True, False, "")
                )
                if is_secret:
                    paths.append(sub_path)
                walk(sub, sub_path, (*keys, name), secret or is_secret, depth + 1)
        elif isinstance(item, list | tuple):
            for index, sub in enumerate(item):
                walk(sub, f"{path}[{index}]", keys, secret, depth + 1)
        elif secret:
            add(item, keys)
        elif isinstance(item, str):
            redacted = redactor.redact_text(item)
            if redacted != item:
                found.extend((part, keys) for part in _removed_parts(item, redacted))

    walk(value, "", (), False, 0)
    return found, paths


def _forms(secret: str) -> set[str]:
    """How a secret value can be written on one line of a file (never a part of a marker)."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.update(re.split(r"\r\n|\r|\n", secret))
    stripped = {f.strip() for f in forms}
    return {f for f in stripped if f and "\n" not in f and "\r" not in f and f not in MARKER}


class _Replace:
    """A re.sub replacement taken literally (a marker never holds backslashes, but still)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, _match: re.Match[str]) -> str:
        return self.text


def _scrub(lines: list[str], secret: str, keys: tuple[str, ...], redactor: Redactor) -> None:
    """Replace every remaining occurrence of `secret` (as a whole token) by a marker; a
    secret shorter than 4 characters only on lines that name one of its keys."""
    for form in sorted(_forms(secret), key=len, reverse=True):
        pattern = re.compile(
            ("(?<![A-Za-z0-9])" if form[0].isalnum() else "")
            + re.escape(form)
            + ("(?![A-Za-z0-9])" if form[-1].isalnum() else "")
        )
        for index, line in enumerate(lines):
            if form not in line:
                continue
            if len(form) < 4 and not any(k in line for k in keys):
                continue
            lines[index] = pattern.sub(_Replace(redactor.marker(form)), line)


def redact_content(
    text: str, name: str, redactor: Redactor = DEFAULT_REDACTOR
) -> tuple[str, dict[str, Any]]:
    """The text with its secrets replaced by markers, line structure kept, and the file
    entry's `format`/`parsed`/`redacted` fields."""
    fmt = _FORMATS.get(Path(name).suffix.lower()) or ("ini" if name.endswith(".env") else None)
    original = text.split("\n")
    lines = list(original)
    info: dict[str, Any] = {}
    masked, openers, names = _structure_blocks(lines, fmt, redactor)
    pem, pem_begins = _pem_blocks(lines)
    for index in sorted(masked | pem):
        lines[index] = _mask_line(lines[index], MARKER)
    for index, line in enumerate(lines):
        start = openers.get(index, 0)
        lines[index] = line[:start] + redactor.redact_text(line[start:])
    if fmt is not None:
        info["format"] = fmt
        try:
            parsed = _parse(text, fmt)
        except Exception:  # not parseable (or no YAML parser): the text rules only
            info["parsed"] = False
        else:
            info["parsed"] = True
            secrets, names = _parsed_secrets(parsed, redactor)
            for secret, keys in secrets:
                _scrub(lines, secret, keys, redactor)
    redacted: dict[str, Any] = {}
    result = "\n".join(lines)
    # A secret written across lines: the whole text through the text rules (the PEM blocks
    # masked above left out, they would match again).
    check = ["" if i in pem_begins else line for i, line in enumerate(lines)]
    whole = redactor.redact_text("\n".join(check))
    if whole != "\n".join(redactor.redact_text(line) for line in check):
        result = redactor.redact_text(result)
        redacted["whole_text"] = True
    if len(lines) == len(original) and "whole_text" not in redacted:
        changed = [i + 1 for i, (a, b) in enumerate(zip(original, lines, strict=True)) if a != b]
    else:
        changed = [i + 1 for i, line in enumerate(result.split("\n")) if _MARKER_TEXT.search(line)]
    if changed:
        redacted["lines"] = changed
    if names and changed:
        redacted["keys"] = sorted(set(names))
    if redacted:
        info["redacted"] = redacted
    return result, info


# ----------------------------------------------------------------------------- documents


def canonical_bytes(document: SnapshotDocument | dict[str, Any]) -> bytes:
    """The stored form of a snapshot document: sorted keys, no spaces, UTF-8 (a dict is
    checked against the format first)."""
    try:
        if isinstance(document, dict):
            document = decode_snapshot(document)
        return encode_snapshot(document)
    except (DocumentError, TypeError, orjson.JSONEncodeError) as exc:
        raise SnapshotError(f"snapshot document cannot be encoded: {exc}") from None


def build_document(
    paths: Iterable[str | os.PathLike[str]], redactor: Redactor | None = None
) -> SnapshotDocument:
    """The snapshot document of `paths` (files and directories). Reads everything before
    returning; raises SnapshotError naming a path that cannot be read."""
    redactor = redactor or DEFAULT_REDACTOR
    roots, files = collect_files(paths)
    states, repos = git_state(roots, files)
    entries: list[SnapshotFile] = []
    for path in files:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise SnapshotError(f"cannot snapshot {path}: {exc.strerror or exc}") from None
        text: str | None = None
        omitted: str | None = None
        if len(raw) > MAX_CONTENT_BYTES:
            omitted = f"larger than {MAX_CONTENT_BYTES} bytes"
        elif b"\0" in raw:
            omitted = "binary"
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                omitted = "binary"
        content: str | None = None
        info: dict[str, Any] = {}
        if text is not None:
            content, info = redact_content(text, path, redactor)
        repo, git = states.get(path, (None, None))
        redacted = info.get("redacted")
        entries.append(
            SnapshotFile(
                path=path,
                sha256=hashlib.sha256(raw).hexdigest(),
                size=len(raw),
                content=content,
                content_omitted=omitted,
                format=info.get("format"),
                parsed=info.get("parsed"),
                redacted=SnapshotRedacted(**redacted) if redacted is not None else None,
                repo=repo,
                git=git,
            )
        )
    return SnapshotDocument(
        format=FORMAT, paths=roots, files=entries, repos=repos, redaction=REDACTION_NOTE
    )


def snapshot_dir(home: str | os.PathLike[str]) -> Path:
    return Path(home) / SNAPSHOTS_DIR


def _store(home: Path, body: bytes, sid: str) -> None:
    """Write snapshots/<id>.json once: atomically, never replacing an existing file."""
    directory = snapshot_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{sid}.json"
    pid = os.getpid()
    for stale in directory.glob(".*.tmp"):  # the writer lock is ours: others' are stale
        if f".{pid}." not in stale.name:
            with contextlib.suppress(OSError):
                stale.unlink()
    if target.exists():
        if target.read_bytes() != body:
            logger.error(
                "%s exists with other content (altered?); not replacing it: the journal "
                "holds the snapshot's hash",
                target,
            )
        return
    tmp = directory / f".{sid}.json.{pid}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, target)  # fails if it exists: an existing snapshot is never replaced
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links: rename unless it appeared meanwhile
        if not target.exists():
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_document(
    home: str | os.PathLike[str], sid: str, expected_hash: str | None = None
) -> SnapshotDocument:
    """The document of snapshot `sid`, checked against its id (and the journaled hash) and
    the format (SnapshotError naming the field at fault)."""
    path = snapshot_dir(home) / f"{sid}.json"
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(
            f"snapshot {sid}: {path} is missing (the journal records it, the document is gone)"
        ) from None
    except OSError as exc:
        raise SnapshotError(f"snapshot {sid}: {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(body).hexdigest()
    if not digest.startswith(sid) or (expected_hash is not None and digest != expected_hash):
        raise SnapshotError(
            f"snapshot {sid}: {path} does not match its "
            f"{'journaled hash' if expected_hash else 'id'} (sha256 {digest}): altered"
        )
    try:
        document = decode_snapshot(body)
    except DocumentError as exc:
        raise SnapshotError(f"snapshot {sid}: {path} is not a {FORMAT} document: {exc}") from None
    if document.format != FORMAT:
        raise SnapshotError(f"snapshot {sid}: {path} is not a {FORMAT} document")
    return document


# ----------------------------------------------------------------------------- the journal


def _application_record(record: dict[str, Any], data: dict[str, Any]) -> SnapshotRecord | None:
    """A config.snapshot event an application recorded with its configuration inline (the
    demo's desk does): a snapshot too, so `snapshot list` and the config report agree. Its id
    is the first 16 hex digits of the recorded hash."""
    digest = data.get("hash")
    seq = record.get("seq")
    if not isinstance(digest, str) or not isinstance(seq, int):
        return None
    hex_digest = digest.removeprefix("sha256:").lower()
    if not _HEX_PREFIX.fullmatch(hex_digest) or len(hex_digest) < ID_LENGTH:
        return None
    path = data.get("path")
    name = path if isinstance(path, str) and path else "configuration"
    content = data.get("content")
    actor = record.get("actor")
    return SnapshotRecord(
        id=hex_digest[:ID_LENGTH],
        hash=hex_digest,
        paths=(name,),
        files=((name, hex_digest),),
        seq=seq,
        ts=str(record.get("ts")),
        actor=actor if isinstance(actor, str) else None,
        content=content if isinstance(content, dict) else {},
    )


def event_document(snap: SnapshotRecord) -> SnapshotDocument:
    """The document of a snapshot recorded in its event: one file whose content is the
    recorded configuration as sorted JSON lines, so `snapshot diff` shows what changed."""
    text = orjson.dumps(snap.content or {}, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    name = snap.paths[0]
    entry = SnapshotFile(path=name, sha256=snap.hash, size=len(text), content=text.decode())
    return SnapshotDocument(format=FORMAT, paths=[name], files=[entry], repos=[])


def _record_of(record: dict[str, Any]) -> SnapshotRecord | None:
    """A config.snapshot event as a SnapshotRecord: one written by this module (files kept in
    snapshots/), or one an application recorded with its configuration inline."""
    if record.get("type") != "config.snapshot":
        return None
    data = record.get("data")
    if not isinstance(data, dict):
        return None
    content = data.get("content")
    if not isinstance(content, dict) or "snapshot_id" not in content:
        return _application_record(record, data)
    sid = content.get("snapshot_id")
    paths = content.get("paths")
    files = content.get("files")
    if not (isinstance(sid, str) and _ID.fullmatch(sid) and isinstance(paths, list)):
        return None
    if not isinstance(files, list):
        return None
    pairs = tuple(
        (f["path"], f["sha256"])
        for f in files
        if isinstance(f, dict)
        and isinstance(f.get("path"), str)
        and isinstance(f.get("sha256"), str)
    )
    repos = content.get("repos")
    seq = record.get("seq")
    actor = record.get("actor")
    digest = data.get("hash") if isinstance(data, dict) else None
    return SnapshotRecord(
        id=sid,
        hash=digest if isinstance(digest, str) else "",
        paths=tuple(str(p) for p in paths),
        files=pairs,
        repos=tuple(r for r in repos if isinstance(r, dict)) if isinstance(repos, list) else (),
        seq=seq if isinstance(seq, int) else None,
        ts=str(record.get("ts")),
        actor=actor if isinstance(actor, str) else None,
    )


def _matching(path: Path, marker: bytes) -> Iterator[dict[str, Any]]:
    for _, line, complete in iter_lines(path):
        if complete and marker in line:
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                if isinstance(record, dict):
                    yield record


def recorded_snapshots(home: str | os.PathLike[str]) -> list[SnapshotRecord]:
    """Every config.snapshot event of this module in the journal, in journal order."""
    found = []
    for path in journal_files(Path(home)):
        for record in _matching(path, _SNAPSHOT_LINE):
            snap = _record_of(record)
            if snap is not None:
                found.append(snap)
    return found


def _covers(roots: Sequence[str], paths: Sequence[str]) -> bool:
    return all(any(_under(p, root) for root in roots) for p in paths)


def find_baseline(home: str | os.PathLike[str], paths: Sequence[str]) -> SnapshotRecord | None:
    """The newest recorded snapshot covering every one of `paths` (newest day file first)."""
    for path in reversed(journal_files(Path(home))):
        found = [s for r in _matching(path, _SNAPSHOT_LINE) if (s := _record_of(r)) is not None]
        for snap in reversed(found):
            if _covers(snap.paths, paths):
                return snap
    return None


def config_changes_since(home: str | os.PathLike[str], seq: int) -> list[dict[str, Any]]:
    """The config.changed records journaled after record `seq`."""
    found = []
    for _, line in lines_from_seq(Path(home), seq + 1):
        if _CHANGED_LINE in line:
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                if isinstance(record, dict) and record.get("type") == "config.changed":
                    found.append(record)
    return found


def _names_file(changed_path: str, file: str) -> bool:
    """Whether a config.changed `path` names `file`: the same path, a directory holding it,
    or a relative path it ends with (the event's working directory is unknown)."""
    text = changed_path.strip()
    if not text:
        return False
    if os.path.isabs(text):
        target = os.path.normpath(text)
        return _under(file, target) or _under(os.path.realpath(file), target)
    rel = os.path.normpath(text)
    if rel.startswith(".."):
        rel = rel.lstrip("./")
    return bool(rel) and rel != "." and (os.sep + rel + os.sep in file + os.sep)


def _hash_of(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text.split(":", 1)[1] if text.startswith("sha256:") else text


def compare(
    baseline: SnapshotRecord,
    document: SnapshotDocument,
    changes: Sequence[dict[str, Any]] = (),
) -> tuple[FileChange, ...]:
    """The files of `document` that differ from `baseline` (restricted to the document's
    paths), each marked with the config.changed record that covers it, if any."""
    roots = list(document.paths)
    old = {p: h for p, h in baseline.files if any(_under(p, r) for r in roots)}
    new = {f.path: f.sha256 for f in document.files}
    found: list[FileChange] = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        kind = "added" if before is None else "removed" if after is None else "modified"
        covered_by = None
        for record in changes:
            data = record.get("data")
            if not isinstance(data, dict):
                continue
            by_hash = after is not None and _hash_of(data.get("new_hash")) == after
            named = isinstance(data.get("path"), str) and _names_file(data["path"], path)
            if by_hash or named:
                seq = record.get("seq")
                covered_by = seq if isinstance(seq, int) else -1
                break
        found.append(FileChange(path, kind, before, after, covered_by))
    return tuple(found)


# ----------------------------------------------------------------------------- taking


def _event_data(document: SnapshotDocument, digest: str, sid: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "snapshot_id": sid,
        "paths": list(document.paths),
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in document.files],
    }
    if document.repos:
        content["repos"] = [r.to_dict() for r in document.repos]
    data: dict[str, Any] = {"hash": digest, "content": content}
    if len(document.paths) == 1:
        data["path"] = document.paths[0]
    version = _version(document.repos)
    if version is not None:
        data["version"] = version
    return data


def _alert_message(drift: Sequence[FileChange], baseline: SnapshotRecord, sid: str) -> str:
    names = ", ".join(f"{c.path} ({c.change})" for c in drift[:20])
    more = f" and {len(drift) - 20} more" if len(drift) > 20 else ""
    return (
        f"configuration changed without a config.changed event: {names}{more}; "
        f"since snapshot {baseline.id} (seq {baseline.seq}), now snapshot {sid}"
    )


class _Receipt(Protocol):
    def wait(self, timeout: float | None = ...) -> int | None: ...


class SnapshotRecorder(Protocol):
    """What a snapshot needs to record itself: an open Trail, or, while another process holds
    the trail, tradetrail.writer.admin_events.QueuedRecorder (the events go through its spill)."""

    home: Path
    redactor: Redactor | None

    def flush(self, timeout: float | None = ...) -> bool: ...

    def record(self, event_type: str, data: Any = ..., **fields: Any) -> _Receipt: ...


def snapshot_paths(
    trail: SnapshotRecorder,
    paths: Iterable[str | os.PathLike[str]],
    *,
    actor: str | None = None,
    only_if_changed: bool = False,
    timeout: float | None = 30.0,
) -> Snapshot:
    """Snapshot `paths` (files and directories) into the open `trail`.

    Reads and redacts every file first (a path that cannot be read raises SnapshotError and
    nothing is written), compares them with the newest recorded snapshot covering the same
    paths, stores the document in `<home>/snapshots/`, records a `config.snapshot` event and,
    when files changed with no `config.changed` event since that snapshot naming them, an
    `alert.sent` event (rule `config_drift`). With `only_if_changed` nothing is stored or
    recorded when a baseline exists and no file changed (`Snapshot.recorded` is False).
    Waits up to `timeout` seconds for the events to be journaled (their seqs are then set)."""
    redactor = trail.redactor if trail.redactor is not None else DEFAULT_REDACTOR
    document = build_document(paths, redactor)
    body = canonical_bytes(document)
    digest = hashlib.sha256(body).hexdigest()
    sid = digest[:ID_LENGTH]
    trail.flush(timeout)  # what this trail recorded so far is in the journal we read
    baseline = find_baseline(trail.home, document.paths)
    changes: tuple[FileChange, ...] = ()
    if baseline is not None and baseline.seq is not None:
        changes = compare(baseline, document)
        if changes:
            changes = compare(baseline, document, config_changes_since(trail.home, baseline.seq))
    base_id = baseline.id if baseline else None
    base_seq = baseline.seq if baseline else None
    if only_if_changed and baseline is not None and not changes:
        return Snapshot(
            sid, digest, document, baseline_seq=base_seq, baseline=base_id, recorded=False
        )
    envelope = {"actor": actor} if actor is not None else {}
    data = _event_data(document, digest, sid)
    _store(trail.home, body, sid)
    receipt = trail.record("config.snapshot", data, **envelope)
    drift = [c for c in changes if not c.covered]
    alert = None
    if drift and baseline is not None:
        message = _alert_message(drift, baseline, sid)
        alert = trail.record(
            "alert.sent",
            {
                "channel": ALERT_CHANNEL,
                "rule": ALERT_RULE,
                "severity": "warning",
                "message": message,
                "alert_id": f"{ALERT_RULE}-{sid}",
            },
            **envelope,
        )
    seq = alert_seq = None
    try:
        seq = receipt.wait(timeout)
        alert_seq = alert.wait(timeout) if alert is not None else None
    except TimeoutError as exc:
        logger.warning("snapshot %s: %s", sid, exc)
    return Snapshot(
        sid,
        digest,
        document,
        seq=seq,
        baseline=base_id,
        baseline_seq=base_seq,
        changes=changes,
        alert_seq=alert_seq,
        alerted=alert is not None,
    )


def configured_paths(environ: dict[str, str] | None = None) -> list[str]:
    """The paths of TRADETRAIL_CONFIG_PATHS (os.pathsep-separated), empty when unset."""
    raw = (os.environ if environ is None else environ).get(CONFIG_PATHS_ENV, "")
    return [p.strip() for p in raw.split(os.pathsep) if p.strip()]


def snapshot_configured(trail: Trail) -> Snapshot | None:
    """The at-open hook: snapshot the paths of TRADETRAIL_CONFIG_PATHS (with drift detection)
    into the freshly opened `trail`; None when the variable is unset or empty. On failure the
    trail is closed (its lock released) before raising; a path that cannot be read raises
    ConfigError naming the variable."""
    paths = configured_paths()
    if not paths:
        return None
    try:
        snap = snapshot_paths(trail, paths)
    except SnapshotError as exc:
        trail.close()
        raise ConfigError(f"{CONFIG_PATHS_ENV}: {exc}") from None
    except BaseException:
        trail.close()
        raise
    if snap.drift:
        logger.warning(
            "config drift: %s changed with no config.changed event since snapshot %s; "
            "alert.sent (rule %s) recorded",
            ", ".join(c.path for c in snap.drift),
            snap.baseline,
            ALERT_RULE,
        )
    return snap


# ----------------------------------------------------------------------------- reading


def list_snapshots(
    home: str | os.PathLike[str], path: str | os.PathLike[str] | None = None
) -> list[SnapshotRecord]:
    """Every snapshot taking in the journal, plus snapshot files no event refers to (their
    `recorded` False, their time the file's mtime), oldest first; with `path`, only the
    snapshots covering it."""
    found = recorded_snapshots(home)
    known = {s.id for s in found}
    directory = snapshot_dir(home)
    orphans = []
    if directory.is_dir():
        for file in sorted(directory.glob("*.json")):
            sid = file.stem
            if not _ID.fullmatch(sid) or sid in known:
                continue
            try:
                body = file.read_bytes()
                document = orjson.loads(body)
                mtime = file.stat().st_mtime_ns
            except (OSError, orjson.JSONDecodeError):
                continue
            if not isinstance(document, dict):
                continue
            orphans.append(
                SnapshotRecord(
                    id=sid,
                    hash=hashlib.sha256(body).hexdigest(),
                    paths=tuple(document.get("paths", [])),
                    files=tuple((f["path"], f["sha256"]) for f in document.get("files", [])),
                    repos=tuple(document.get("repos", [])),
                    ts=format_ns(mtime),
                    recorded=False,
                )
            )
    every = found + orphans
    if path is not None:
        wanted = os.path.abspath(os.fspath(path))
        every = [s for s in every if _covers(s.paths, [wanted])]
    return sorted(every, key=lambda s: (s.ts or "", s.seq if s.seq is not None else -1))


def resolve_snapshot(
    home: str | os.PathLike[str],
    spec: str,
    path: str | os.PathLike[str] | None = None,
    snapshots: list[SnapshotRecord] | None = None,
) -> SnapshotRecord:
    """A snapshot by id, unique id prefix (4+ hex digits) or time: the newest recorded
    snapshot taken at or before it (RFC 3339, a date, or an age such as 2h), covering `path`
    when given."""
    every = snapshots if snapshots is not None else list_snapshots(home, path)
    text = spec.strip().lower()
    if _HEX_PREFIX.fullmatch(text):
        ids = sorted({s.id for s in every if s.id.startswith(text[:ID_LENGTH])})
        ids = [i for i in ids if text.startswith(i) or i.startswith(text)]
        if len(ids) > 1:
            raise SnapshotError(f"snapshot {spec!r} is ambiguous: {', '.join(ids)}")
        if ids:
            return [s for s in every if s.id == ids[0]][-1]
        raise SnapshotError(f"no snapshot {spec!r} (see tradetrail snapshot list)")
    from ..index.query import parse_when

    try:
        when = parse_when(spec, "snapshot")
    except ValueError:
        raise SnapshotError(
            f"{spec!r} is neither a snapshot id nor a time (RFC 3339 such as "
            "2024-03-01T14:00:00Z, a date, or an age such as 2h)"
        ) from None
    before = [s for s in every if s.recorded and s.ts is not None and s.ts <= when]
    if not before:
        where = f" covering {path}" if path is not None else ""
        raise SnapshotError(f"no snapshot{where} was taken at or before {when}")
    return before[-1]


def _content_lines(entry: dict[str, Any] | None) -> list[str] | None:
    if entry is None:
        return []
    content = entry.get("content")
    return content.split("\n") if isinstance(content, str) else None


def diff_documents(
    a: dict[str, Any],
    b: dict[str, Any],
    a_label: str = "a",
    b_label: str = "b",
    path: str | os.PathLike[str] | None = None,
) -> list[FileDiff]:
    """The files that differ between two snapshot documents (under `path` when given), with
    unified diffs of their redacted contents (added and removed files diff against nothing)."""
    root = os.path.abspath(os.fspath(path)) if path is not None else None
    old = {f["path"]: f for f in a.get("files", []) if root is None or _under(f["path"], root)}
    new = {f["path"]: f for f in b.get("files", []) if root is None or _under(f["path"], root)}
    diffs: list[FileDiff] = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is not None and after is not None and before["sha256"] == after["sha256"]:
            continue
        kind = "added" if before is None else "removed" if after is None else "modified"
        item = FileDiff(
            name,
            kind,
            before["sha256"] if before else None,
            after["sha256"] if after else None,
        )
        old_lines, new_lines = _content_lines(before), _content_lines(after)
        relative = name.lstrip("/")
        from_name = "/dev/null" if before is None else f"a/{relative}"
        to_name = "/dev/null" if after is None else f"b/{relative}"
        if old_lines is None or new_lines is None:
            why = (before or {}).get("content_omitted") or (after or {}).get("content_omitted")
            item.lines = [
                f"--- {from_name}\t({a_label})",
                f"+++ {to_name}\t({b_label})",
                f"content not kept ({why}): sha256 {item.old_sha256} -> {item.new_sha256}",
            ]
        elif old_lines == new_lines:
            item.lines = [
                f"--- {from_name}\t({a_label})",
                f"+++ {to_name}\t({b_label})",
                "only redacted parts differ (a secret changed): "
                f"sha256 {item.old_sha256} -> {item.new_sha256}",
            ]
        else:
            item.lines = list(
                unified_diff(
                    old_lines if before is not None else [],
                    new_lines if after is not None else [],
                    fromfile=from_name,
                    tofile=to_name,
                    fromfiledate=a_label,
                    tofiledate=b_label,
                    lineterm="",
                )
            )
        diffs.append(item)
    return diffs
