"""The `tradetrail` group: a lazy command table (each command's module is imported when the
command runs or help lists it), and the one place where a fault becomes an exit code."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from typing import Any, Final

import click

from .._version import __version__
from ..errors import TradetrailError
from .common import _silence_stdout, err, fail

EX_SOFTWARE: Final = 70
"""The exit code of an internal error (sysexits.h): a bug, distinct from 1 (a fault found) and 2
(a usage error)."""

# name -> (module under tradetrail.cli, attribute): the whole command line in one table. A
# module is imported only when its command runs or help lists it, so a command module never
# imports this one (no cycle), and `tradetrail --help` always lists every command.
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "alerts": ("alerts", "alerts"),
    "archive": ("archive", "archive"),
    "attest": ("attest", "attest_command"),
    "attestations": ("attest", "attestations_command"),
    "checkpoint": ("trail", "checkpoint"),
    "db": ("search", "db"),
    "demo": ("trail", "demo"),
    "export": ("export", "export"),
    "index": ("search", "index"),
    "info": ("trail", "info"),
    "init": ("trail", "init"),
    "jobs": ("jobs", "jobs"),
    "keygen": ("trail", "keygen"),
    "lineage": ("search", "lineage_command"),
    "proof": ("trail", "proof"),
    "record": ("trail", "record"),
    "report": ("report", "report_command"),
    "retention": ("retention", "retention"),
    "schema": ("trail", "schema"),
    "search": ("search", "search"),
    "serve": ("serve", "serve"),
    "snapshot": ("snapshot", "snapshot"),
    "tail": ("trail", "tail"),
    "token": ("token", "token"),
    "top": ("top", "top"),
    "verify": ("trail", "verify"),
    "verify-pack": ("export", "verify_pack_command"),
}


class LazyCommands(MutableMapping[str, click.Command]):
    """`main.commands`: every command of COMMANDS, its module imported on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module_name, attribute = COMMANDS[name]
            module = importlib.import_module(f"{__package__}.{module_name}")
            command = getattr(module, attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"COMMANDS[{name!r}]: {module_name}.{attribute} is not a command")
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(COMMANDS.keys() | self._loaded.keys()))

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._loaded.keys())


class Main(click.Group):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TradetrailError as exc:
            fail(str(exc))
        except BrokenPipeError:  # `tradetrail search ... | head`: the reader has what it wanted
            _silence_stdout()
            sys.exit(0)
        except KeyboardInterrupt:
            err.print("\ntradetrail: interrupted", soft_wrap=True)
            sys.exit(130)
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: it prints them and picks the exit code
        except Exception:
            # Not a TradetrailError, not I/O: a bug (a ValueError from the user's input is caught,
            # and named, by the command that read it). Shown whole, never as a usage error.
            traceback.print_exc(file=sys.stderr)
            err.print(
                f"tradetrail: internal error (a bug in tradetrail {__version__}, not in your "
                f"input): please report it with the traceback above",
                soft_wrap=True,
            )
            sys.exit(EX_SOFTWARE)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tradetrail")
def main() -> None:
    """tradetrail: a tamper-evident audit trail for trading systems.

    \b
    Quick start:
      tradetrail demo                 simulate two trading days and verify them
      tradetrail verify               check the whole trail
      tradetrail tail -n 5            last records
      tradetrail proof inclusion --seq 42
    """
