"""`tradetrail alerts`: try alert rules on past days (test) and run them on the live trail
(run). Listed in the command table of cli/main.py. Exit codes: 0 ok, 2 a rules file or usage
error (named), 130 interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from ..alerts.engine import Alert
from ..alerts.rules import RuleSet, load_rules
from ..core.timefmt import format_ns
from .common import DAY, HOME_OPTION, JSON_OPTION, day_range, emit_json, err, out, require_trail

RULES_ARGUMENT = click.argument("rules", type=click.Path(dir_okay=False, path_type=Path))


@click.group()
def alerts() -> None:
    """Alert rules and notifications (docs/ALERTS.md).

    \b
    tradetrail alerts test RULES [--from D] [--to D]   what the rules would have sent
    tradetrail alerts run RULES                        follow the trail and send
    """


def _load(path: Path) -> RuleSet:
    return load_rules(path)  # RulesError is a ConfigError: one line, exit 2


def _alert_json(alert: Alert) -> dict[str, object]:
    return {
        "at": format_ns(alert.at_ns),
        "rule": alert.rule,
        "severity": alert.severity,
        "action": alert.action,
        "alert_id": alert.key,
        "message": alert.message,
        "seqs": list(alert.seqs),
        "routes": list(alert.routes),
        "escalation": alert.escalation,
        "muted": alert.muted,
    }


@alerts.command("test")
@RULES_ARGUMENT
@HOME_OPTION
@click.option("--from", "first", type=DAY, default=None, help="First day (UTC), included.")
@click.option("--to", "last", type=DAY, default=None, help="Last day (UTC), included.")
@JSON_OPTION
def test_command(
    rules: Path, home: Path, first: str | None, last: str | None, as_json: bool
) -> None:
    """Replay past records through RULES and show what would have fired; nothing is sent.

    Time runs on the records' own timestamps, so rates, absences and summaries fire as they
    would have live. Muted alerts (quiet hours) are shown as such.

    \b
    Example:
      tradetrail alerts test examples/alerts.yaml --from 2024-03-04 --to 2024-03-05
    """
    require_trail(home)
    ruleset = _load(rules)
    first, last = day_range(first, last)
    from ..alerts.runner import replay

    fired = replay(home, ruleset, first, last)
    if as_json:
        emit_json([_alert_json(a) for a in fired])
        return
    for a in fired:
        seqs = ",".join(map(str, a.seqs[:8])) + ("…" if len(a.seqs) > 8 else "")
        note = " (muted: quiet hours)" if a.muted else ""
        out.print(
            f"{format_ns(a.at_ns)}  {a.severity:<8}  {a.action:<7}  {a.rule}  "
            f"seq {seqs or '-'}  -> {', '.join(a.routes)}{note}\n    {a.message}",
            markup=False,
            highlight=False,
        )
    by_rule: dict[str, int] = {}
    for a in fired:
        by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
    summary = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())) or "none"
    err.print(f"{len(fired)} alerts would have been sent ({summary}); nothing was sent")


@alerts.command("run")
@RULES_ARGUMENT
@HOME_OPTION
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the runner keeps its position (default: ~/.local/state/tradetrail/).",
)
@click.option("--poll", type=float, default=0.5, show_default=True, help="Seconds between reads.")
def run_command(rules: Path, home: Path, state: Path | None, poll: float) -> None:
    """Follow the trail, evaluate RULES and send notifications until stopped (Ctrl-C, SIGTERM).

    Each notification is journaled as alert.sent (or alert.failed) with the seqs that made it
    fire. The first run starts at the end of the journal; later runs resume where the last
    one stopped (--state). Channel secrets come from the environment (${NAME} in RULES).
    """
    require_trail(home)
    ruleset = _load(rules)
    from ..alerts.runner import Runner, default_state_path
    from ..writer.trail import open as open_trail

    stop = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    trail = open_trail(home, create=False, service="tradetrail-alerts")
    try:
        runner = Runner(
            home, ruleset, state or default_state_path(home), trail, poll_s=poll,
            origin=trail.origin,
        )  # fmt: skip
        err.print(
            f"tradetrail alerts: {len(ruleset.rules)} rules on {home} from seq {runner.next_seq}"
        )
        runner.run(stop)
    finally:
        trail.close()
        signal.signal(signal.SIGTERM, previous)
