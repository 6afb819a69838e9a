"""What every command module shares: the consoles, the common options and the helpers that
turn a fault into one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ..core import layout
from ..core.note import Verifier
from ..errors import ConfigError, NoteError
from ..writer.config import DEFAULT_HOME

if TYPE_CHECKING:
    pass


class CliConsole(Console):
    def on_broken_pipe(self) -> None:
        """`tradetrail tail | head`: the reader has what it wanted; not an error (rich exits 1)."""
        _silence_stdout()
        raise SystemExit(0)


err = CliConsole(stderr=True, highlight=False, soft_wrap=True)
out = CliConsole(highlight=False, soft_wrap=True)

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TRADETRAIL_HOME",
    default=DEFAULT_HOME,
    show_default=True,
    help="Trail directory (env TRADETRAIL_HOME).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


class DayType(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.4
    """A UTC day: YYYY-MM-DD, `today` or `yesterday` (what an officer types at 8 a.m.)."""

    name = "DAY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        today = datetime.now(UTC).date()
        if text == "today":
            return today.isoformat()
        if text == "yesterday":
            return (today - timedelta(days=1)).isoformat()
        if len(text) != 10:
            self._bad(value)
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as exc:
            self._bad(value, f"{exc}; ")

    @staticmethod
    def _bad(value: Any, why: str = "") -> NoReturn:
        raise click.BadParameter(
            f"{value!r} is not a day ({why}expected YYYY-MM-DD, today or yesterday)"
        )


DAY = DayType()


def day_range(
    start: str | None, end: str | None, *, names: tuple[str, str] = ("--from", "--to")
) -> tuple[str | None, str | None]:
    """Refuse an inverted range (exit 2); a range reaching into the future ends today, with a
    note (a month's attestations listed mid-month)."""
    if start is not None and end is not None and start > end:
        fail(f"{names[0]} {start} is after {names[1]} {end}")
    today = datetime.now(UTC).date().isoformat()
    if end is not None and end > today:
        err.print(f"note: {names[1]} {end} is in the future; the range ends today ({today} UTC)")
        end = today
    if start is not None and start > today:
        fail(f"{names[0]} {start} is in the future (today is {today} UTC)")
    return start, end


DEMO_HOME: Final = "./tradetrail-demo"


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]tradetrail: error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def emit_json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def require_trail(home: Path) -> None:
    if not (home / layout.JOURNAL_DIR).is_dir():
        fail(f"{home} is not a trail (no journal/ directory); set --home or TRADETRAIL_HOME")


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    if not err.is_terminal:
        yield lambda _done: None
        return
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def load_verifiers(vkeys: tuple[str, ...]) -> list[Verifier] | None:
    """--vkey values are verifier-key text, files holding it, or a key history (trail.vkeys:
    every key whose rotation verifies, so a pack or checkpoint of before a rotation checks)."""
    from ..store.keyhistory import KeyHistory, parse_key_spec, trusted_spans

    if not vkeys:
        return None
    found: list[Verifier] = []
    try:
        for spec in vkeys:
            key = parse_key_spec(spec, "--vkey")
            if isinstance(key, KeyHistory):
                spans = trusted_spans([], key, f"--vkey {spec}") or []
                found.extend(span.verifier for span in spans)
            else:
                found.append(key)
    except (ConfigError, NoteError) as exc:
        fail(str(exc))
    return list(dict.fromkeys(found))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot raise on a closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
