"""The export use case: the daily pack, with verify-pack checking an older pack of the day
before it is kept in place of a new one (export sits beside verify, so it cannot call it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from ..core.note import Verifier
from ..export import daily
from ..verify.pack import verify_pack


def older_pack_faults(path: Path, vkeys: Sequence[Verifier]) -> list[str]:
    """verify-pack's faults of the pack at `path` (the first few), none when it verifies."""
    report = verify_pack(path, vkeys, max_faults=3)
    if report.ok:
        return []
    return [str(f) for f in report.faults] or ["verify-pack reports it not ok"]


def export_daily(
    home: Path | str,
    day: str,
    *,
    out: Path | str | None = None,
    partial: bool = False,
    signing_key: str | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
    before_trail: bool = False,
) -> daily.PackResult:
    """`tradetrail.export.daily.export_daily`, keeping a verified pack of the day in an older
    format where it is rather than calling it something else."""
    return daily.export_daily(
        home,
        day,
        out=out,
        partial=partial,
        signing_key=signing_key,
        today=today,
        progress=progress,
        before_trail=before_trail,
        check_pack=older_pack_faults,
    )
