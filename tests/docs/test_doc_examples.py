"""Every documented example runs as documented: the ```python blocks of README.md and docs/*.md
in a scratch directory, and every `tradetrail ...` command of their shell blocks and of the
commands' --help ("Example:", "Examples:", "Quick start:") in order against one demo trail.
Nothing they record may carry a schema_error; synopsis lines (placeholders in CAPITALS, [...])
and inline `tradetrail ...` spans must name real commands and options.

docs/INTEGRATIONS.md is left out here: its examples have their own test."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
import orjson
import pytest
from click.testing import CliRunner

import tradetrail
from conftest import copy_demo_trail
from helpers import ROOT
from tradetrail.cli import main
from tradetrail.cli.snapshot import SnapshotGroup

DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "INTEGRATIONS.md"),
]
TODAY = datetime(2024, 3, 6, tzinfo=UTC)  # the demo: sealed days 2024-03-04 and 2024-03-05
DAY1, DAY2 = "2024-03-04", "2024-03-05"

# Placeholders of the examples -> what they stand for against the demo trail. Values that are
# callables are looked up when the example runs (they name what earlier examples made). Dates
# of March 2024 are the demo's own and need no entry.
SUBSTITUTIONS: dict[str, str | Callable[[Path], str]] = {
    "2026-11-17": DAY1,  # `search --since ... --until ...`
    "2026-11-18": DAY2,
    "--since 7d": f"--since {DAY1}",  # ages count back from now; the demo's days are in 2024
    "~/.keys": "keys",  # the officer's key folder: a scratch folder
    "~/keys": "keys",
    "/secure/keys": "secure-keys",  # the production key folder: a scratch folder
    "/evidence/": "evidence/",
    "--attester cco.vkey": "--attester keys/cco.jane.roe.vkey",  # made by `keygen` above
    "/etc/bot/": "config/",  # a configuration folder (made below)
    "--path /etc/bot": "--path config",
    "3f2a": lambda home: _snapshot_ids(home)[0],  # snapshot ids: the oldest and the newest
    "9c1e": lambda home: _snapshot_ids(home)[-1],
    "0123456789ab": lambda home: _a_token(home),  # a token id: one made for the example
    "2024-03-01T09:00:00Z": lambda home: _now(),  # snapshot times: the ones taken above
    "2024-03-02T09:00:00Z": lambda home: _now(),
}
# Examples that exit with another code than 0 on purpose, as their text says.
EXPECTED_EXIT = {
    "tradetrail attestations --from 2024-03-01 --to 2024-03-31": 1,  # a day is unattested
    "tradetrail snapshot diff 3f2a 9c1e": 1,  # the oldest and newest snapshots differ
    "tradetrail attestations --from 2024-03-04 --json || page-compliance": 1,
}
# Help examples that cannot run here; they still must name real commands and options.
NOT_RUN = {
    "tradetrail keygen --rotate --home ./trail --new-key /secure/keys/desk-1-2027.key": (
        "rotating the shared demo trail's key would change what later examples verify; "
        "tests/store/test_key_rotation.py runs keygen --rotate on trails of its own"
    ),
    "tradetrail db migrate --owner-url postgresql://tt_owner@db/audit --app-role tt_app": (
        "needs a PostgreSQL server"
    ),
    **dict.fromkeys(
        [
            "tradetrail archive push --archive s3://records/desk-1 --endpoint-url "
            "http://127.0.0.1:8333",
            "tradetrail archive list --archive s3://records/desk-1 --json",
            "tradetrail archive verify --archive s3://records/desk-1 --offline --vkey trail.vkey",
            "tradetrail archive restore --archive s3://records/desk-1 --date 2024-03-04 --to "
            "restored",
            "tradetrail archive restore-drill --archive s3://records/desk-1 --sample 5",
            "tradetrail archive lifecycle --archive s3://records/desk-1 --check",
        ],
        "needs an S3 server with Object Lock; tests/compliance/test_archive.py runs the archive "
        "commands against one (weed mini)",
    ),
    "tradetrail tail --url https://trail.example.com:8750 -f --type order.*": (
        "needs a running service; tests/service/test_live.py follows a real one"
    ),
    "tradetrail top --url https://trail.example.com:8750": (
        "needs a running service; tests/service/test_live.py runs top --url --once on a real one"
    ),
}
# Files the examples take as given (their contents are the test's own).
GIVEN_FILES = {
    "examples/alerts.yaml": (ROOT / "examples" / "alerts.yaml").read_text(encoding="utf-8"),
    "examples/jobs.toml": (ROOT / "examples" / "jobs.toml").read_text(encoding="utf-8"),
    "config/risk.toml": 'max_order_qty = "5"\n',
    "deploy/risk-limits.toml": 'max_notional = "250000"\n',
    "events.jsonl": (
        '{"type": "order.submitted", "order_id": "O-7", "symbol": "BTC-USD",'
        ' "data": {"side": "buy", "qty": "0.25", "order_type": "market"}}\n'
        '{"type": "order.accepted", "order_id": "O-7", "data": {"status": "new"}}\n'
    ),
}
DEMO_EVENTS = 1000  # a `tradetrail demo` example runs with at most this many events
SHELL_LANGS = {"", "sh", "shell", "bash", "console", "text"}
PYTHON_LANGS = {"python", "py"}
NOT_RUN_NOTE = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->")
IN_TRAIL_NOTE = "<!-- runs in a trail's home directory -->"
HELP_HEADER = re.compile(r"^(Examples?|Quick start)\b[^:]*:$")
PLACEHOLDER = re.compile(r"^(YYYY-MM-DD|[A-Z][A-Z0-9_]*(=[A-Z][A-Z0-9_]*)?(\.\.\.|\.[a-z]+)?)$")
ERRORS_IN_OUTPUT = ("Traceback", "No such option", "No such command", "Usage:")


def _a_token(home: Path) -> str:
    """The id of a live token of the demo trail (made here when no example made one yet)."""
    from tradetrail.compliance.tokens import create_token
    from tradetrail.store.tokens import TokenStore

    live = [t for t in TokenStore(home).list() if t.revoked is None]
    return live[0].id if live else create_token(home, "example", ["read"])[1].id


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _snapshot_ids(home: Path) -> list[str]:
    result = CliRunner().invoke(main, ["snapshot", "list", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    return [snap["id"] for snap in orjson.loads(result.stdout)]


# ------------------------------------------------------------------------ reading the examples


@dataclass(frozen=True)
class Block:
    where: str  # "README.md:25"
    lang: str
    text: str
    note: str  # the HTML comment on the line before the fence, if any


def fenced_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.match(r"^\s*```(\S*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        note = lines[before].strip() if before >= 0 else ""
        body = "\n".join(lines[i + 1 : end]) + "\n"
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{i + 1}"
        found.append(Block(where, opening[1], body, note if note.startswith("<!--") else ""))
        i = end + 1
    return found


def strip_comment(line: str) -> str:
    """The command without a trailing description: text after '#' or after a run of two or
    more spaces, outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        comment = ch == "#" and (i == 0 or line[i - 1].isspace())
        gap = line.startswith("  ", i) and bool(line[:i].strip())
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif comment or gap:
            return line[:i].rstrip()
    return line.rstrip()


def is_command(line: str) -> bool:
    return bool(re.search(r"(^|[|&;]\s*)(\$ )?(python3? -m )?tradetrail\s", line + " "))


def logical_lines(text: str) -> list[str]:
    """Lines of a shell block, with `\\` continuations and indented synopsis continuations
    joined, prompts and descriptions removed; only those that run `tradetrail`."""
    joined: list[str] = []
    continued = False
    for raw in text.splitlines():
        line = raw.rstrip()
        if continued or (joined and line[:1].isspace() and line.strip() and is_command(joined[-1])):
            joined[-1] = joined[-1] + " " + line.strip()
        else:
            joined.append(line.removeprefix("$ "))
        continued = joined[-1].endswith("\\")
        if continued:
            joined[-1] = joined[-1][:-1].rstrip()
    commands = [strip_comment(line) for line in joined if is_command(line.strip())]
    return [c.strip() for c in commands]


def words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    return list(lexer)


def command_names() -> set[str]:
    names: set[str] = set()
    for _, cmd in walk(main, ("tradetrail",)):
        if isinstance(cmd, click.Group):
            names.update(cmd.commands)
    return names


PIP_EXTRAS = re.compile(r"[.\w-]+\[[\w,]+\]")
"""A package with extras (`'.[reports]'`), as pip takes it: no synopsis."""


def is_synopsis(line: str) -> bool:
    """A line of syntax, not an example: `[...]`, `...`, a placeholder in CAPITALS, or
    alternatives (`index update | rebuild`)."""
    tokens = [t for t in words(line) if not PIP_EXTRAS.fullmatch(t)]
    if any(t.startswith("[") or t.endswith("]") or "..." in t for t in tokens):
        return True
    if any(PLACEHOLDER.match(t) for t in tokens):
        return True
    names = command_names()
    return any(a == "|" and b in names for a, b in itertools.pairwise(tokens))


def walk(
    cmd: click.Command, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from walk(cmd.commands[name], (*path, name))


def help_examples(text: str) -> list[str]:
    lines = text.splitlines()
    found: list[str] = []
    i = 0
    while i < len(lines):
        if not HELP_HEADER.match(lines[i].strip()):
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        end = i + 1
        while end < len(lines) and lines[end].strip():
            if len(lines[end]) - len(lines[end].lstrip()) <= indent:
                break
            end += 1
        found.extend(logical_lines(textwrap.dedent("\n".join(lines[i + 1 : end]))))
        i = end
    return found


@dataclass(frozen=True)
class Example:
    where: str
    line: str
    synopsis: bool


def doc_examples() -> list[Example]:
    found = []
    for doc in DOCS:
        for block in fenced_blocks(doc):
            if block.lang in SHELL_LANGS:
                for line in logical_lines(block.text):
                    found.append(Example(block.where, line, is_synopsis(line)))
    return found


def help_command_examples() -> list[Example]:
    found = []
    for path, cmd in walk(main, ("tradetrail",)):
        for line in help_examples(cmd.help or ""):
            found.append(Example(" ".join(path) + " --help", line, False))
    return found


def inline_spans() -> list[Example]:
    """Inline `tradetrail ...` code spans of the prose (synopsis only: not run)."""
    found = []
    for doc in DOCS:
        text = re.sub(r"^\s*```.*?^\s*```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
        for span in re.findall(r"`(tradetrail\s[^`]+)`", text):
            found.append(Example(str(doc.relative_to(ROOT)), re.sub(r"\s+", " ", span), True))
    return found


# ------------------------------------------------------------------------ checking names


def resolve(tokens: list[str], start: click.Command) -> tuple[click.Command, list[str]]:
    """The (sub)command the leading words name, and the words after it."""
    cmd, rest = start, list(tokens)
    while isinstance(cmd, click.Group) and rest:
        choices = rest[0].split("|")  # `retention plan|apply`
        if all(choice in cmd.commands for choice in choices):
            cmd = cmd.commands[choices[0]]
            rest.pop(0)
        elif isinstance(cmd, SnapshotGroup) and not rest[0].startswith("-"):
            cmd = cmd.commands["take"]  # `tradetrail snapshot PATH...`
        else:
            break
    return cmd, rest


def option_names(cmd: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in cmd.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def name_faults(line: str) -> list[str]:
    """What in `line` names no command or option of `tradetrail`. Alternatives separated by
    ' | ' (outside brackets) are read against the command before them or its group."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    if tokens[:3] in (["python3", "-m", "tradetrail"], ["python", "-m", "tradetrail"]):
        tokens = tokens[2:]
    if tokens[:1] != ["tradetrail"]:
        return [f"does not start with tradetrail: {line!r}"]
    alternatives: list[list[str]] = [[]]
    depth = 0
    for token in tokens[1:]:
        bare = token.strip("[]")
        if bare == "|" and depth == 0:
            alternatives.append([])
        elif bare:
            alternatives[-1].append(bare)
        depth += token.count("[") - token.count("]")
    parents = {
        id(sub): group
        for _, group in walk(main, ("tradetrail",))
        if isinstance(group, click.Group)
        for sub in group.commands.values()
    }
    faults: list[str] = []
    cmd: click.Command = main
    for alternative in alternatives:
        if not alternative or alternative[0].startswith("-"):
            rest = alternative  # more options of the command before
        elif alternative[0] in main.commands:
            cmd, rest = resolve(alternative, main)
        else:  # another subcommand of the group before: `index update | rebuild`
            cmd, rest = resolve(alternative, parents.get(id(cmd), main))
        known = option_names(cmd)
        for word in rest:
            if word.startswith("-") and word != "-" and word.split("=")[0] not in known:
                faults.append(f"{cmd.name}: no option {word}")
        placeholder = rest and (rest[0] == "..." or PLACEHOLDER.match(rest[0]))
        if (
            isinstance(cmd, click.Group)
            and rest
            and not rest[0].startswith("-")
            and not placeholder
        ):
            faults.append(f"{cmd.name}: no command {rest[0]}")
    return faults


# ------------------------------------------------------------------------ running commands


def schema_errors(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("journal/*.jsonl")):
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            record = orjson.loads(line)
            if "schema_error" in record:
                where = path.relative_to(root)
                found.append(f"{where}:{n}: {record['type']}: {record['schema_error']}")
    return found


def substitute(line: str, home: Path) -> str:
    for placeholder, value in SUBSTITUTIONS.items():
        if placeholder in line:
            line = line.replace(placeholder, value(home) if callable(value) else value)
    return line


@dataclass
class Step:
    argv: list[str]  # after `tradetrail`
    stdin_from: str | None  # `cat FILE | tradetrail ...`
    stdout_to: str | None  # `tradetrail ... > FILE`
    then: list[str]  # the command the output is piped to, if any


def steps(line: str) -> list[Step]:
    """The `tradetrail` commands of a shell line, with `cat FILE |` as stdin, `> FILE` as
    output and the next command of a pipe; what follows `||` is not run."""
    found: list[Step] = []
    sequence: list[list[str]] = [[]]
    for token in words(line):
        if token == "||":
            break
        if token in ("&&", ";"):
            sequence.append([])
        else:
            sequence[-1].append(token)
    for command in sequence:
        pipeline: list[list[str]] = [[]]
        for token in command:
            if token == "|":
                pipeline.append([])
            else:
                pipeline[-1].append(token)
        stdin = None
        for i, argv in enumerate(pipeline):
            if argv[:3] in (["python3", "-m", "tradetrail"], ["python", "-m", "tradetrail"]):
                argv = argv[2:]
            if argv[:1] == ["cat"] and len(argv) == 2:
                stdin = argv[1]
            if argv[:1] != ["tradetrail"]:
                continue
            out = None
            if ">" in argv:
                at = argv.index(">")
                argv, out = argv[:at], argv[at + 1]
            then = pipeline[i + 1] if i + 1 < len(pipeline) else []
            found.append(Step(argv[1:], stdin, out, then))
    return found


def run_step(step: Step, home: Path, scratch: Path) -> tuple[int, list[str], str]:
    """Exit code, faults and output of one command: in the trail's home directory with
    TRADETRAIL_HOME set; a demo in a scratch directory of its own (a demo clears its home)."""
    argv = list(step.argv)
    env: dict[str, str | None] = {"TRADETRAIL_HOME": str(home), "XDG_STATE_HOME": _state(home)}
    cwd = home
    if argv[:1] == ["demo"]:
        env = {"TRADETRAIL_HOME": None}
        cwd = scratch / f"demo-{len(list(scratch.iterdir()))}"
        cwd.mkdir()
        if "--events" in argv:
            at = argv.index("--events") + 1
            argv[at] = str(min(int(argv[at]), DEMO_EVENTS))
        else:
            argv += ["--events", str(DEMO_EVENTS)]
    if argv[:1] == ["tail"] and ("-f" in argv or "--follow" in argv):
        return follow(argv, home)
    if argv[:1] == ["serve"]:
        return serve_briefly(argv, home)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        stdin = (cwd / step.stdin_from).read_bytes() if step.stdin_from else None
        result = CliRunner().invoke(main, argv, input=stdin, env=env)
    output = result.stdout + result.stderr
    faults = [f"{word!r} in the output" for word in ERRORS_IN_OUTPUT if word in output]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        faults.append(f"raised {result.exception!r}")
    if step.stdout_to:
        (cwd / step.stdout_to).write_bytes(result.stdout_bytes)
    if step.then[:1] == ["jq"] and result.exit_code == 0:
        try:
            orjson.loads(result.stdout_bytes)
        except orjson.JSONDecodeError:
            faults.append("piped to jq but prints no JSON")
    return result.exit_code, faults, output


def follow(argv: list[str], home: Path) -> tuple[int, list[str], str]:
    """`tail -f` runs until interrupted: read what it prints for a moment, then Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["TRADETRAIL_HOME"] = str(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradetrail", *argv],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(60, proc.kill)  # a tail that never prints must not hang the test
    watchdog.start()
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the last records come at once; then it follows
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    watchdog.cancel()
    faults = [] if first else ["printed nothing"]
    return proc.returncode, faults, (first + out + err).decode()


def _state(home: Path) -> str:
    """Where the examples keep the state of jobs and alerts (not the user's ~/.local/state)."""
    return str(home.parent / "state")


def serve_briefly(argv: list[str], home: Path) -> tuple[int, list[str], str]:
    """`serve` runs until stopped: wait until its writer answers, record through it, SIGTERM."""
    from tradetrail.writer.client import probe

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["TRADETRAIL_HOME"] = str(home)
    env["XDG_STATE_HOME"] = _state(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradetrail", *argv],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    faults = []
    deadline = time.monotonic() + 30
    # its own writer: a writer an earlier command started may still linger a moment
    while (probe(home) or {}).get("pid") != proc.pid:
        if proc.poll() is not None or time.monotonic() > deadline:
            faults.append("its writer never answered")
            break
        time.sleep(0.05)
    if "--listen" in argv and not faults:  # and its HTTP API answers
        url = "http://" + argv[argv.index("--listen") + 1] + "/healthz"
        while True:
            try:
                if httpx.get(url).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                faults.append(f"{url} never answered")
                break
            time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    watchdog.cancel()
    return proc.returncode, faults, (out + err).decode()


# ------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def demo_trail(
    tmp_path_factory: pytest.TempPathFactory, demo_trail_template: Path
) -> tuple[Path, Path]:
    """A copy of the session's demo trail (sealed days 2024-03-04 and 2024-03-05) to run the
    commands against, and the untouched template (only ever copied from)."""
    home = copy_demo_trail(demo_trail_template, tmp_path_factory.mktemp("doc-examples") / "trail")
    return home, demo_trail_template


# ------------------------------------------------------------------------ the tests

PYTHON_BLOCKS = [b for doc in DOCS for b in fenced_blocks(doc) if b.lang in PYTHON_LANGS]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.where)
def test_python_example_runs_and_records_no_schema_error(
    block: Block, tmp_path: Path, demo_trail: tuple[Path, Path]
) -> None:
    reason = NOT_RUN_NOTE.match(block.note)
    if reason:
        pytest.skip(f"{block.where}: not run: {reason[1]}")
    cwd = tmp_path / "work"
    if block.note == IN_TRAIL_NOTE:
        shutil.copytree(demo_trail[1], cwd)
    else:
        cwd.mkdir()
    script = tmp_path / (re.sub(r"\W", "_", block.where) + ".py")
    script.write_text(block.text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"{block.where} failed:\n{proc.stdout}{proc.stderr}"
    assert schema_errors(tmp_path) == [], block.where


def test_the_examples_are_found() -> None:
    """The readers find what the documents hold (a reader that finds nothing passes all)."""
    assert len(PYTHON_BLOCKS) >= 4
    docs = doc_examples()
    assert sum(not e.synopsis for e in docs) >= 10
    assert sum(e.synopsis for e in docs) >= 20
    helps = help_command_examples()
    commands = {e.where for e in helps}
    assert len(helps) >= 30 and len(commands) >= 20
    assert "tradetrail record --help" in commands
    lines = [e.line for e in [*docs, *helps]]
    for table in (SUBSTITUTIONS, EXPECTED_EXIT, NOT_RUN):  # no entry outlives its example
        for key in table:
            assert any(key in line for line in lines), f"{key!r} is in no example"


def test_the_checks_catch_bad_examples(tmp_path: Path) -> None:
    """The readers and checks on made-up input: a wrong option or command, placeholders, help
    sections, shell lines and a schema_error in a journal are all seen."""
    assert name_faults("tradetrail search --symbol BTC-USD --nope 1") == [
        "search: no option --nope"
    ]
    assert name_faults("tradetrail index update | rebiuld") == ["index: no command rebiuld"]
    assert name_faults("tradetrail retention plan | apply [--yes] [--as-of D]") == []
    assert name_faults("tradetrail report KIND --date D | --from D1 --bogus") == [
        "report: no option --bogus"
    ]
    assert name_faults("tradetrail snapshot PATH... --actor ops") == []
    assert name_faults("tradetrail snapshot PATH... --nope") == ["take: no option --nope"]
    assert is_synopsis("tradetrail lineage ORDER_ID [--json]")
    assert is_synopsis("tradetrail index update | rebuild")
    assert not is_synopsis("tradetrail search --symbol BTC-USD --order-id O-42 --json | jq .")
    help_text = (
        "Does a thing.\n\n\b\nExamples:\n  tradetrail a --b 1 \\\n      --c 'x  y'\n"
        "  cat f.jsonl | tradetrail e -   # stdin\nEach line ...\n  tradetrail not-an-example\n"
    )
    assert help_examples(help_text) == [
        "tradetrail a --b 1 --c 'x  y'",
        "cat f.jsonl | tradetrail e -",
    ]
    found = steps("cat f.jsonl | tradetrail record - && tradetrail schema > s.json || page x")
    assert found == [
        Step(["record", "-"], "f.jsonl", None, []),
        Step(["schema"], None, "s.json", []),
    ]
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- not run: needs a venue -->\n```python\nconnect()\n```\n")
    assert [(b.lang, b.text, b.note) for b in fenced_blocks(doc)] == [
        ("python", "connect()\n", "<!-- not run: needs a venue -->")
    ]
    with tradetrail.open(tmp_path / "trail", origin="test.example/doc") as trail:
        trail.record("order.accepted", {"qty": "1"}).wait()
    assert [e.split(": ")[1] for e in schema_errors(tmp_path)] == ["order.accepted"]


@pytest.mark.parametrize(
    "example",
    [*doc_examples(), *help_command_examples(), *inline_spans()],
    ids=lambda e: f"{e.where}: {e.line[:60]}",
)
def test_every_example_names_real_commands_and_options(example: Example) -> None:
    if example.synopsis:
        faults = name_faults(example.line)
    else:
        faults = [
            f
            for step in steps(example.line)
            for f in name_faults(shlex.join(["tradetrail", *step.argv]))
        ]
        assert steps(example.line), "no tradetrail command found"
    assert faults == [], f"{example.where}: {example.line}"


def test_help_examples_are_no_synopsis() -> None:
    """A help example with a placeholder would not run: examples there must be concrete."""
    bad = [e for e in help_command_examples() if is_synopsis(e.line) and e.line not in NOT_RUN]
    assert bad == []


def test_command_examples_run_as_documented(demo_trail: tuple[Path, Path], tmp_path: Path) -> None:
    home = demo_trail[0]
    for name, content in GIVEN_FILES.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(content, encoding="utf-8")
    retention_toml = [b for b in fenced_blocks(ROOT / "docs/RETENTION.md") if b.lang == "toml"]
    (home / "retention.toml").write_text(retention_toml[0].text, encoding="utf-8")
    auditor = home / "auditor"
    auditor.mkdir()
    shutil.copy(home / "checkpoint", auditor / "checkpoint-2026-11-20")
    shutil.copy(home / "trail.vkey", auditor / "trail.vkey")
    shutil.copy(home / "trail.vkey", auditor / "original.vkey")  # the key before any rotation
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    failures: list[str] = []
    ran = 0
    done: set[str] = set()
    for example in [*doc_examples(), *help_command_examples()]:
        if example.synopsis or example.line in NOT_RUN or example.line in done:
            continue  # the same line twice runs once: a second `export exam` would refuse
        done.add(example.line)
        line = substitute(example.line, home)
        for step in steps(line):
            code, faults, output = run_step(step, home, scratch)
            ran += 1
            expected = EXPECTED_EXIT.get(example.line, 0)
            if code != expected:
                faults.append(f"exit {code}, expected {expected}")
            if faults:
                failures.append(
                    f"{example.where}: {example.line}\n  ran: tradetrail {shlex.join(step.argv)}"
                    f"\n  {'; '.join(faults)}\n" + textwrap.indent(output.strip()[-1500:], "  | ")
                )
    assert failures == [], "\n".join(failures)
    assert ran >= 30
    assert schema_errors(home.parent) == []
    assert schema_errors(scratch) == []
