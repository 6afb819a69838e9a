"""The `tradetrail` command: demo, record (arguments and stdin), tail, verify, checkpoint,
keygen, info; exit codes (0 ok, 1 fault or bad input line, 2 usage error) and one-line errors
without tracebacks. Mostly through click's CliRunner, plus real runs of the console script."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import orjson
import pytest
from click.testing import CliRunner, Result

import tradetrail
from conftest import console_script
from tradetrail.cli import main
from tradetrail.core.chain import ACCELERATOR
from tradetrail.core.checkpoint import open_checkpoint
from tradetrail.core.note import Signer, Verifier
from tradetrail.store.journal import journal_files
from tradetrail.store.keys import read_vkey

ORIGIN = "trail.example.com/cli-desk"


def invoke(
    *args: Any, input: str | bytes | None = None, env: dict[str, str] | None = None
) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_one_line_error(result: Result, code: int = 2, words: str = "") -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tradetrail: error: "), lines[0]
    assert words in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def records(home: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(ln) for p in journal_files(home) for ln in p.read_bytes().split(b"\n")[:-1]
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A trail with three records, closed (so the CLI can take the writer lock)."""
    path = tmp_path / "trail"
    with tradetrail.open(path, origin=ORIGIN, durability="write", min_free_bytes=0) as trail:
        for i in range(3):
            trail.record("order.note", {"i": i}, order_id=f"O-{i}").wait(timeout=10)
    return path


# ------------------------------------------------------------------------------- demo


def test_demo(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    result = invoke("demo", "--events", 200, "--days", 2, "--home", demo)
    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout
    assert "events by type" in result.stdout
    assert len(journal_files(demo)) >= 2
    assert invoke("verify", "--home", demo).exit_code == 0
    # --fresh (the default) starts over from an empty trail
    again = invoke("demo", "--events", 50, "--days", 1, "--home", demo)
    assert again.exit_code == 0 and "intact" in again.stdout
    assert len(journal_files(demo)) == 2  # one simulated day + today's closing record


def test_demo_refuses_to_clear_a_directory_that_is_not_a_trail(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert_one_line_error(invoke("demo", "--events", 50, "--home", precious), 2, "refusing")
    assert (precious / "thesis.tex").read_text() == "years of work"


def journal_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in journal_files(home))


def test_demo_never_touches_a_trail_it_did_not_make(home: Path, tmp_path: Path) -> None:
    before = journal_bytes(home)
    key = (home / "signing.key").read_bytes()
    for args, env in (
        (("demo", "--events", 100), {"TRADETRAIL_HOME": str(home)}),
        (("demo", "--events", 100, "--home", home), None),
        (("demo", "--events", 100, "--keep", "--home", home), None),
    ):
        message = assert_one_line_error(invoke(*args, env=env), 2, "did not make")
        assert str(home) in message
    assert journal_bytes(home) == before
    assert (home / "signing.key").read_bytes() == key
    assert invoke("verify", "--home", home).exit_code == 0


def test_demo_never_clears_its_directory_once_something_else_wrote_to_it(tmp_path: Path) -> None:
    demo = tmp_path / "shared"
    assert invoke("demo", "--events", 60, "--days", 1, "--home", demo).exit_code == 0
    day = journal_files(demo)[0].name[6:14]
    # the hinted commands (export, attest, snapshot) add tradetrail's own records: still a demo
    day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    assert invoke("export", "daily", "--home", demo, "--date", day).exit_code == 0
    assert invoke("demo", "--events", 60, "--days", 1, "--home", demo).exit_code == 0
    # a real record (the app pointed at the same TRADETRAIL_HOME): never cleared again
    with tradetrail.open(demo) as trail:
        seq = trail.record("order.accepted", None, order_id="REAL-1").wait(timeout=10)
    message = assert_one_line_error(
        invoke("demo", "--events", 60, "--home", demo), 2, "written to it since"
    )
    assert f"seq {seq} order.accepted" in message
    assert any(r.get("order_id") == "REAL-1" for r in records(demo))


def test_demo_hints_can_be_pasted_with_an_odd_home(tmp_path: Path) -> None:
    import shlex

    demo = tmp_path / "my demo"
    result = invoke("demo", "--events", 60, "--days", 1, "--home", demo)
    assert result.exit_code == 0, result.output
    hint = next(ln for ln in result.stdout.splitlines() if "tradetrail tail --home" in ln)
    args = shlex.split(hint)
    assert args[args.index("--home") + 1] == str(demo)
    assert invoke(*args[1:]).exit_code == 0


def test_demo_refuses_its_own_trail_while_a_writer_holds_it(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert invoke("demo", "--events", 100, "--days", 1, "--home", demo).exit_code == 0
    assert (demo / ".tradetrail-demo").is_file()
    with tradetrail.open(demo) as trail:
        size = trail.size
        assert_one_line_error(
            invoke("demo", "--events", 100, "--home", demo), 2, "open for writing"
        )
        seq = trail.record("demo.note", {"after": "refused demo"}).wait(timeout=10)
    assert seq == size
    assert records(demo)[-1]["seq"] == seq
    assert invoke("verify", "--home", demo).exit_code == 0
    assert invoke("info", "--home", demo).exit_code == 0


def test_commands_refuse_a_directory_that_is_not_a_trail(tmp_path: Path) -> None:
    typo = tmp_path / "trial"
    for args in (
        ("record", "--home", typo, "--type", "order.note"),
        ("record", "--home", typo, "-"),
        ("checkpoint", "--home", typo),
        ("snapshot", "--home", typo, __file__),
        ("export", "daily", "--home", typo, "--date", "2026-01-02"),
    ):
        message = assert_one_line_error(invoke(*args, input=""), 2, "is not a trail")
        assert "tradetrail init" in message or "not a trail" in message
        assert not typo.exists(), args


def test_init_creates_a_trail_once(tmp_path: Path) -> None:
    home = tmp_path / "new"
    result = invoke("init", "--home", home, "--origin", ORIGIN, "--json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["created"] is True and made["origin"] == ORIGIN and made["records"] == 0
    assert made["vkey"] == (home / "trail.vkey").read_text().strip()
    again = json.loads(invoke("init", "--home", home, "--json").stdout)
    assert again["created"] is False and again["vkey"] == made["vkey"]
    assert_one_line_error(
        invoke("init", "--home", home, "--origin", "other.example/x"), 2, "origin"
    )
    assert invoke("record", "--home", home, "--type", "order.note").exit_code == 0
    assert invoke("verify", "--home", home).exit_code == 0


def test_open_create_false_refuses_a_missing_trail(tmp_path: Path) -> None:
    with pytest.raises(tradetrail.TrailNotFoundError, match="is not a trail"):
        tradetrail.open(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


def test_record_reads_json_numbers_exactly(home: Path) -> None:
    text = (
        '{"type": "x.note", "data": {"px": 12345678901234567.891, "big": 123456789012345678901234,'
        ' "n": 7, "neg": -0.5, "e": 1.5E+3}}\n'
    )
    assert invoke("record", "--home", home, "-", input=text).exit_code == 0
    arg = invoke(
        "record", "--home", home, "--type", "x.note", "--data", '{"px": 0.1000000000000000055}'
    )
    assert arg.exit_code == 0, arg.output
    got = records(home)[-2:]
    assert got[0]["data"] == {
        "px": "12345678901234567.891",
        "big": "123456789012345678901234",
        "n": 7,
        "neg": "-0.5",
        "e": "1500",
    }
    assert got[1]["data"] == {"px": "0.1000000000000000055"}
    assert "schema_error" not in got[0] and "schema_error" not in got[1]


def test_schema_errors_of_cli_input_speak_of_json(home: Path) -> None:
    data = '{"latency_us": 1.5, "status": 3}'
    assert (
        invoke("record", "--home", home, "--type", "order.accepted", "--data", data).exit_code == 0
    )
    error = records(home)[-1]["schema_error"]
    assert error.startswith("data.latency_us: expected an integer or null, got a number with")
    assert "decimal" not in error.lower() and "Decimal" not in error


def _console_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_record_stops_reading_a_line_at_the_limit(home: Path) -> None:
    """A huge stdin line is refused at the limit, not read whole: the pipe stays open."""
    env = {**_console_env(), "TRADETRAIL_MAX_EVENT_BYTES": "1000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradetrail", "record", "--home", str(home), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b'{"type": "x.note"}\n' + b" " * 5000)  # no newline; the pipe stays open
    proc.stdin.flush()
    try:
        assert proc.wait(timeout=60) == 1
    finally:
        proc.kill()
    message = proc.stderr.read().decode()
    assert "stdin line 2: longer than 2000 bytes" in message
    assert "1 event(s) before it were recorded" in message
    assert records(home)[-1]["type"] == "x.note"


def test_interrupted_record_says_what_was_recorded(home: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "tradetrail", "record", "--home", str(home), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=_console_env(),
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b'{"type": "x.note"}\n{"type": "x.note"}\n')
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while len(records(home)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    message = proc.stderr.read().decode()
    assert "interrupted" in message and "2 event(s) were recorded" in message
    assert "Traceback" not in message
    assert len(records(home)) == 5


@pytest.mark.embedded
def test_record_while_a_writer_holds_the_trail_is_queued_and_journaled(home: Path) -> None:
    trail = tradetrail.open(home, min_free_bytes=0)
    try:
        one = invoke("record", "--home", home, "--type", "x.note", "--data", '{"n": 1}', "--json")
        assert one.exit_code == 0, one.output
        assert json.loads(one.stdout)["seq"] is None and json.loads(one.stdout)["queued"]
        lines = "".join(json.dumps({"type": "x.note", "data": {"n": n}}) + "\n" for n in (2, 3))
        many = invoke("record", "--home", home, "-", input=lines + "{bad\n")
        message = assert_one_line_error(many, 1, "stdin line 3")
        assert "2 event(s) before it were queued" in message
        trail.record("x.note", {"n": 0}).wait()
    finally:
        trail.close()
    tradetrail.open(home, min_free_bytes=0).close()  # an open merges what the spill holds
    notes = [r for r in records(home) if r["type"] == "x.note"]
    assert sorted(r["data"]["n"] for r in notes) == [0, 1, 2, 3]
    assert sum("spill" in r for r in notes) == 3
    assert invoke("verify", "--home", home).exit_code == 0


def test_days_are_typed_as_officers_type_them(home: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    future = (today + timedelta(days=40)).isoformat()
    # today/yesterday are days; a range reaching into the future ends today, with a note
    listed = invoke("attestations", "--home", home, "--from", "yesterday", "--to", future, "--json")
    assert f"the range ends today ({today.isoformat()} UTC)" in listed.stderr
    assert json.loads(listed.stdout)["to"] == today.isoformat()
    assert json.loads(listed.stdout)["from"] == yesterday
    # an inverted range is a usage error everywhere
    for args in (
        ("attestations", "--from", today.isoformat(), "--to", yesterday),
        ("report", "daily", "--from", today.isoformat(), "--to", yesterday),
        ("export", "exam", "--from", today.isoformat(), "--to", yesterday, "--out", "x.zip"),
        ("search", "--since", today.isoformat(), "--until", yesterday),
    ):
        assert_one_line_error(invoke(*args, "--home", home), 2, "--")
    bad = invoke("report", "daily", "--home", home, "--date", "someday")
    assert (
        bad.exit_code == 2
        and "is not a day (expected YYYY-MM-DD, today or yesterday)" in bad.output
    )
    # attesting today says when a day can be attested, not to run a command that refuses
    keys = tmp_path / "keys"
    assert invoke("keygen", "--name", "cco.x", "--out", keys).exit_code == 0
    attest = invoke(
        "attest", "--home", home, "--date", "today", "--by", "cco.x", "--key", keys / "cco.x.key"
    )
    assert_one_line_error(attest, 2, "is still open: a day is attested once it is sealed")


def test_demo_help_shows_where_the_demo_writes() -> None:
    text = invoke("demo", "--help").stdout
    assert "./tradetrail-demo" in " ".join(text.split()).replace("- ", "-")


def test_ctrl_c_exits_130_not_the_fault_code(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["tradetrail.verify.trail"], "verify_trail", interrupted)
    result = invoke("verify", "--home", home)
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.output


def test_output_piped_to_head_is_not_an_error(home: Path) -> None:
    for args in (("tail", "-n", "3"), ("search",), ("search", "--json"), ("search", "--csv")):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradetrail", *args, "--home", str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head -0`: the reader is gone before the first line
        code = proc.wait(timeout=60)
        stderr = proc.stderr.read().decode()
        assert code == 0, (args, stderr)
        assert "Broken pipe" not in stderr and "Traceback" not in stderr, (args, stderr)


# ------------------------------------------------------------------------------- record, tail


def test_record_then_tail(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    assert invoke("init", "--home", home, "--origin", ORIGIN).exit_code == 0
    result = invoke(
        "record",
        "--home",
        home,
        "--type",
        "order.note",
        "--data",
        '{"qty": "1.5", "px": "64000.25", "side": "buy"}',
        "--field",
        "order_id=O-1",
        "--field",
        "symbol=BTC-USD",
        "--field",
        "priority=high",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"seq": 0}
    second = invoke("record", "--home", home, "--type", "risk.note", "--field", "actor=bot")
    assert second.exit_code == 0 and "recorded seq 1" in second.stdout

    tail = invoke("tail", "--home", home, "--json", "-n", 5)
    assert tail.exit_code == 0
    lines = tail.stdout.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["type"] == "order.note"
    assert first["data"] == {"qty": "1.5", "px": "64000.25", "side": "buy"}
    assert first["order_id"] == "O-1" and first["symbol"] == "BTC-USD"
    assert first["priority"] == "high" and first["seq"] == 0
    assert json.loads(lines[1])["actor"] == "bot"
    # --json prints the raw journal lines, byte for byte
    assert tail.stdout.encode() == b"".join(p.read_bytes() for p in journal_files(home))

    text = invoke("tail", "--home", home, "-n", 1)
    assert "risk.note" in text.stdout and "order.note" not in text.stdout
    assert invoke("tail", "--home", home, "-n", 1, env={"TRADETRAIL_HOME": str(home)}).stdout
    assert (
        json.loads(invoke("tail", "--json", "-n", 1, env={"TRADETRAIL_HOME": str(home)}).stdout)[
            "seq"
        ]
        == 1
    )
    assert invoke("verify", "--home", home).exit_code == 0


def test_record_from_stdin(home: Path) -> None:
    lines = [
        {"type": "order.submitted", "data": {"qty": "2"}, "order_id": "O-9"},
        {"type": "order.accepted", "order_id": "O-9", "venue": "XNAS"},
        {"type": "order.filled", "data": {"qty": "2", "px": "10.5"}, "order_id": "O-9"},
    ]
    text = "\n".join(json.dumps(obj) for obj in lines) + "\n\n"
    result = invoke("record", "--home", home, "-", "--json", input=text)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"recorded": 3, "size": 6, "all_journaled": True}
    got = records(home)[3:]
    assert [r["type"] for r in got] == [obj["type"] for obj in lines]
    assert got[1]["venue"] == "XNAS" and got[2]["data"] == {"qty": "2", "px": "10.5"}
    assert [r["seq"] for r in got] == [3, 4, 5]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("{not json", "stdin line 4"),
        ("[1, 2]", "expected a JSON object"),
        ('{"data": {}}', "missing 'type'"),
        ('{"type": "Order"}', "dotted lower-case"),
        ('{"type": "order.x", "colour": "red"}', "unknown envelope field"),
        ('{"type": "order.x", "seq": 5}', "set by tradetrail"),
        ('{"type": "order.x", "data": [1]}', "data: expected a mapping"),
        ('{"type": "order.x", "data": {"px": 1e999999999}}', "data.px"),
        ('{"type": "order.x", "data": {"px": NaN}}', "NaN"),
        ('{"type": "order.x", "data": {"px": 1, "px": 2}}', "duplicate key 'px'"),
        ('{"type": "order.x", "data": {"a": ' + "[" * 100000 + "]" * 100000 + "}}", "too deeply"),
    ],
)
def test_record_from_stdin_stops_at_a_bad_line(home: Path, bad: str, words: str) -> None:
    good = [json.dumps({"type": "order.accepted", "data": {"n": n}}) for n in range(3)]
    # line 1, a blank line 2, line 3, the bad line 4, then lines that must not be written
    text = "\n".join([good[0], "", good[1], bad, good[2], good[2]]) + "\n"
    result = invoke("record", "--home", home, "-", input=text)
    message = assert_one_line_error(result, 1, "stdin line 4")
    assert words in message
    assert "2 event(s) before it were recorded, nothing from line 4 on" in message
    got = records(home)
    assert len(got) == 5
    assert [r.get("data") for r in got[3:]] == [{"n": 0}, {"n": 1}]
    assert invoke("verify", "--home", home).exit_code == 0


# ------------------------------------------------------------------------------- usage errors


def test_usage_errors_are_one_line_exit_2(home: Path, tmp_path: Path) -> None:
    before = records(home)
    cases = [
        (("record", "--home", home, "--type", "order.x", "--data", "{bad"), "--data: not valid"),
        (("record", "--home", home, "--type", "order.x", "--field", "colour=red"), "colour"),
        (("record", "--home", home, "--type", "order.x", "--field", "novalue"), "NAME=VALUE"),
        (("record", "--home", home, "--type", "Order"), "dotted lower-case"),
        (("record", "--home", home, "--type", "order.x", "--data", "[1]"), "data"),
        (("record", "--home", home), "give --type"),
        (("record", "--home", home, "-", "--type", "order.x"), "do not combine"),
        (("verify", "--home", tmp_path / "nowhere"), "is not a trail"),
        (("verify", "--home", home, "--vkey", "bad+vkey+text"), "--vkey bad+vkey+text"),
        (("verify", "--home", home, "--vkey", tmp_path / "missing.vkey"), "cannot read"),
        (("tail", "--home", tmp_path / "nowhere"), "is not a trail"),
        (("info", "--home", tmp_path / "nowhere"), "is not a trail"),
        (("checkpoint", "--home", tmp_path / "nowhere"), "is not a trail"),
        (("keygen", "--name", "has space", "--out", tmp_path / "k"), "--name"),
    ]
    garbage = tmp_path / "garbage.vkey"
    garbage.write_text("this is not a key\n")
    cases.append((("verify", "--home", home, "--vkey", garbage), "--vkey"))
    for args, words in cases:
        assert_one_line_error(invoke(*args), 2, words)
    assert records(home) == before  # nothing was written by a refused command
    (home / "trail.vkey").unlink()
    assert_one_line_error(invoke("verify", "--home", home), 2, "no verifier key")


def test_a_refused_record_leaves_no_trail_behind(tmp_path: Path) -> None:
    home = tmp_path / "typo"
    result = invoke("record", "--home", home, "--type", "order.x", "--data", "{bad")
    assert result.exit_code == 2
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--type", "bad!type"), "type: 'bad!type' is not a dotted lower-case event type"),
        (("--type", "order.accepted", "--data", "[1]"), "data: expected a mapping"),
        (("--type", "order.accepted", "--field", "ts=now"), "ts: set by tradetrail"),
        (("--type", "order.accepted", "--field", "bogus=1"), "bogus: unknown envelope field"),
    ],
)
def test_record_refuses_a_bad_event_in_one_line(
    home: Path, args: tuple[str, ...], words: str
) -> None:
    """record names the field at fault (exit 2): its own catch, not a blanket ValueError one."""
    before = records(home)
    assert_one_line_error(invoke("record", "--home", home, *args), 2, words)
    assert records(home) == before


def test_an_unexpected_error_is_shown_as_a_bug_not_a_usage_error() -> None:
    """A ValueError no command expected is a bug: its traceback and exit 70 (EX_SOFTWARE), never
    a one-line usage error that would hide it (issue 13)."""

    @click.command()
    def broken() -> None:
        raise ValueError("not the user's fault")

    main.commands["broken"] = broken
    try:
        result = CliRunner().invoke(main, ["broken"])
    finally:
        del main.commands["broken"]
    assert result.exit_code == 70, result.output
    assert "Traceback" in result.stderr
    assert "ValueError: not the user's fault" in result.stderr
    assert "tradetrail: internal error (a bug in tradetrail" in result.stderr.splitlines()[-1]
    assert "tradetrail: error:" not in result.stderr


def test_click_usage_errors_exit_2(home: Path) -> None:
    for args in (
        ("proof", "inclusion", "--home", home),  # --seq missing
        ("verify", "--home", home, "--checkpoint", home / "no-such-file"),
        ("tail", "--home", home, "-n", "-3"),
        ("nonsense",),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.output


def test_help_and_version() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("demo", "record", "tail", "verify", "checkpoint", "proof", "keygen", "info"):
        assert command in result.stdout
        sub = invoke(command, "--help")
        assert sub.exit_code == 0 and "Usage:" in sub.stdout
    assert "Example" in invoke("verify", "--help").stdout
    assert tradetrail.__version__ in invoke("--version").stdout


# ------------------------------------------------------------------------------- keygen


def test_keygen(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = invoke("keygen", "--name", ORIGIN, "--out", out)
    assert result.exit_code == 0, result.output
    key = out / "trail.example.com_cli-desk.key"
    vkey = out / "trail.example.com_cli-desk.vkey"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    verifier = Verifier.from_vkey(vkey.read_text().strip())
    assert verifier.name == ORIGIN
    signer = Signer.from_skey(key.read_text().strip())
    assert signer.verifier().vkey() == verifier.vkey()
    assert verifier.vkey() in result.stdout

    key_before, vkey_before = key.read_bytes(), vkey.read_bytes()
    assert_one_line_error(invoke("keygen", "--name", ORIGIN, "--out", out), 2, "not overwriting")
    assert key.read_bytes() == key_before and vkey.read_bytes() == vkey_before
    vkey.unlink()  # either file existing is enough to refuse
    assert_one_line_error(invoke("keygen", "--name", ORIGIN, "--out", out), 2, "not overwriting")
    assert key.read_bytes() == key_before

    journal = tmp_path / "t" / "journal"
    journal.mkdir(parents=True)
    assert_one_line_error(invoke("keygen", "--name", ORIGIN, "--out", journal), 2, "journal")
    assert list(journal.iterdir()) == []


def test_keygen_key_signs_a_trail_an_auditor_verifies(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    assert invoke("keygen", "--name", ORIGIN, "--out", out).exit_code == 0
    key = out / "trail.example.com_cli-desk.key"
    vkey = out / "trail.example.com_cli-desk.vkey"
    home = tmp_path / "trail"
    env = {"TRADETRAIL_SIGNING_KEY": str(key), "TRADETRAIL_ORIGIN": ORIGIN}
    assert invoke("init", "--home", home, env=env).exit_code == 0
    result = invoke("record", "--home", home, "--type", "auth.login", "--field", "actor=a", env=env)
    assert result.exit_code == 0, result.output
    assert not (home / "signing.key").exists()
    assert (home / "trail.vkey").read_text() == vkey.read_text()
    assert invoke("verify", "--home", home, "--vkey", vkey).exit_code == 0
    other = tmp_path / "other"
    assert invoke("keygen", "--name", ORIGIN, "--out", other).exit_code == 0
    wrong = invoke("verify", "--home", home, "--vkey", other / "trail.example.com_cli-desk.vkey")
    assert wrong.exit_code == 1


# ------------------------------------------------------------------------------- info, checkpoint


@pytest.mark.embedded
def test_info_json(home: Path) -> None:
    result = invoke("info", "--home", home, "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["checkpoint"]["origin"] == ORIGIN
    assert info["checkpoint"]["size"] == 3
    assert info["vkey"] == (home / "trail.vkey").read_text().strip()
    assert len(info["days"]) == 1
    assert info["days"][0]["file"] == f"journal/{journal_files(home)[0].name}"
    assert info["days"][0]["sealed"] is False
    assert info["checkpoints"] >= 2
    assert info["spill_files"] == [] and info["quarantined"] is False
    assert info["signing_key_beside_trail"] is True
    assert info["writer_pid"] is None
    assert info["accelerator"] == ACCELERATOR
    text = invoke("info", "--home", home)
    assert ORIGIN in text.stdout and "signing key lives beside the trail" in text.stdout
    assert f"accelerator {ACCELERATOR}" in text.stdout


def test_checkpoint_json(home: Path) -> None:
    latest = open_checkpoint((home / "checkpoint").read_text(), [read_vkey(home / "trail.vkey")])
    result = invoke("checkpoint", "--home", home, "--json")
    assert result.exit_code == 0, result.output
    cp = json.loads(result.stdout)
    assert cp["origin"] == ORIGIN and cp["size"] == 3
    assert cp["root"] == latest.root.hex()
    assert (
        cp["note"] == (home / "checkpoints" / "3").read_text() == (home / "checkpoint").read_text()
    )
    assert cp["note"].startswith(f"{ORIGIN}\n3\n")
    shown = invoke("checkpoint", "--home", home, "--show")
    assert shown.exit_code == 0 and shown.stdout == cp["note"]
    invoke("record", "--home", home, "--type", "order.cancelled")
    after = json.loads(invoke("checkpoint", "--home", home, "--json").stdout)
    assert after["size"] == 4 and after["root"] != cp["root"]
    assert (home / "checkpoints" / "4").exists()


@pytest.mark.embedded
def test_checkpoint_needs_the_writer_lock(home: Path) -> None:
    with tradetrail.open(home, durability="write", min_free_bytes=0):
        result = invoke("checkpoint", "--home", home)
        line = assert_one_line_error(result, 2)
        assert str(os.getpid()) in line
        assert invoke("checkpoint", "--home", home, "--show").exit_code == 0


# ------------------------------------------------------------------------------- verify


def test_verify_exit_codes_and_json(home: Path) -> None:
    ok = invoke("verify", "--home", home, "--json")
    assert ok.exit_code == 0
    report = json.loads(ok.stdout)
    assert report["ok"] is True and report["size"] == 3 and report["faults"] == []
    path = journal_files(home)[0]
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], lines[2], b""]))  # line 2 (seq 1) deleted
    bad = invoke("verify", "--home", home, "--json")
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["fault_count"] >= 1
    fault = report["faults"][0]
    assert fault["file"] == f"journal/{path.name}" and fault["line"] == 2 and fault["seq"] == 2
    text = invoke("verify", "--home", home)
    assert text.exit_code == 1 and f"journal/{path.name}:2 (seq 2)" in text.stdout


# ------------------------------------------------------------------------------- console script


def test_console_script_is_found_beside_the_interpreter_or_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a path of one machine's venv: the interpreter's own bin, then PATH; never a skip."""
    bin_dir = tmp_path / "odd venv (x)" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(pytest.fail.Exception, match="console script is not installed"):
        console_script()
    on_path = tmp_path / "empty" / "tradetrail"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert console_script() == on_path
    (bin_dir / "tradetrail").write_text("#!/bin/sh\n")
    assert console_script() == bin_dir / "tradetrail"


def run_console(*args: Any, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [console_script(), *map(str, args)],
        input=input,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_console_script(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    events = b"".join(
        orjson.dumps({"type": "order.note", "data": {"n": n}, "symbol": "AAPL"}) + b"\n"
        for n in range(5)
    )
    assert run_console("init", "--home", home).returncode == 0
    recorded = run_console("record", "--home", home, "-", "--json", input=events)
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["recorded"] == 5
    verified = run_console("verify", "--home", home, "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["size"] == 5
    # the journal is the record: edit one and the installed command exits 1 with the place
    path = journal_files(home)[0]
    path.write_bytes(path.read_bytes().replace(b'"n":2', b'"n":7'))
    broken = run_console("verify", "--home", home, "--json")
    assert broken.returncode == 1
    faults = json.loads(broken.stdout)["faults"]
    # the edited record itself (line 3), not the next one whose prev no longer matches
    assert (faults[0]["line"], faults[0]["seq"]) == (3, 2)
    assert "altered" in faults[0]["message"]
    usage = run_console("verify", "--home", tmp_path / "nowhere")
    assert usage.returncode == 2
    assert usage.stderr.decode().startswith("tradetrail: error:")
    assert b"Traceback" not in usage.stderr
    module = subprocess.run(
        [sys.executable, "-m", "tradetrail", "--version"], capture_output=True, timeout=60
    )
    assert module.returncode == 0 and tradetrail.__version__.encode() in module.stdout


def test_console_demo(tmp_path: Path) -> None:
    demo = run_console("demo", "--events", 100, "--days", 1, "--home", tmp_path / "d")
    assert demo.returncode == 0, demo.stderr
    assert b"intact" in demo.stdout


def test_schema_command_prints_every_type_and_one_type() -> None:
    from tradetrail.model.events import DEFAULT_MODEL

    listed = invoke("schema", "--list")
    assert listed.exit_code == 0
    assert listed.output.split() == DEFAULT_MODEL.types()
    whole = invoke("schema")
    assert whole.exit_code == 0
    document = json.loads(whole.output)
    for name in DEFAULT_MODEL.types():
        assert name in document["events"]
    one = invoke("schema", "--type", "order.submitted")
    assert one.exit_code == 0
    assert json.loads(one.output)["type"] == "order.submitted"
    assert_one_line_error(invoke("schema", "--type", "no.such"), 2, "not a known event type")


@pytest.mark.parametrize(
    "module",
    ["cli", "cli.main", "cli.trail", "cli.export", "cli.search", "cli.snapshot", "cli.attest",
     "cli.report", "cli.retention"],
)  # fmt: skip
def test_every_command_module_can_be_imported_first(module: str) -> None:
    """No import cycle between the command modules, whichever a program imports first, and the
    table finds every command whatever was imported before."""
    import subprocess
    import sys

    code = (
        f"import tradetrail.{module}; from tradetrail.cli import main, COMMANDS; "
        "import click; ctx = click.Context(main); "
        "assert all(main.get_command(ctx, name) is not None for name in COMMANDS); "
        "assert {'daily', 'exam'} <= set(main.get_command(ctx, 'export').commands)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_help_lists_every_command_of_the_table() -> None:
    """`python -m tradetrail.cli --help` in a fresh process lists the whole command table (it
    listed 9 of 20 when the command modules registered themselves at the bottom of cli.py)."""
    import subprocess
    import sys

    from tradetrail.cli import COMMANDS

    done = subprocess.run(
        [sys.executable, "-m", "tradetrail.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("Commands:\n", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ")]
    assert names == sorted(COMMANDS)
    assert len(COMMANDS) == 27  # a new command goes into the table, and this number with it
