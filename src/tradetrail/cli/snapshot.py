"""`tradetrail snapshot`: configuration snapshots (take, check, list, diff, show), listed in
the command table of cli/main.py. Exit codes: 0 ok, 1 drift (take, check) or differences (diff),
2 an error (one line on stderr, nothing recorded)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.markup import escape

from ..compliance.snapshots import (
    Snapshot,
    SnapshotError,
    SnapshotRecord,
    collect_files,
    diff_documents,
    event_document,
    list_snapshots,
    load_document,
    resolve_snapshot,
    snapshot_paths,
)
from ..errors import TrailLockedError
from .common import HOME_OPTION, JSON_OPTION, emit_json, err, fail, out, require_trail

if TYPE_CHECKING:
    from ..writer.trail import Trail

from ..writer.admin_events import QueuedRecorder

PATH_OPTION = click.option(
    "--path",
    "cover",
    default=None,
    help="Only snapshots covering this path (file or directory), and for diff only its files.",
)


def _fail(message: str) -> NoReturn:
    fail(escape(message))


def _echo(text: str) -> None:
    out.print(text, markup=False, highlight=False)


class SnapshotGroup(click.Group):
    """`tradetrail snapshot PATH...` is `tradetrail snapshot take PATH...`: a first argument
    that is not a subcommand (nor -h/--help) is a path."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["take", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SnapshotGroup, invoke_without_command=True)
@click.pass_context
def snapshot(ctx: click.Context) -> None:
    """Configuration snapshots: hashes, redacted contents, git state and drift alerts.

    \b
    tradetrail snapshot PATH...        snapshot files and directories (= snapshot take)
    tradetrail snapshot check PATH...  drift check: exit 1 when files changed with no
                                       config.changed event since the last snapshot
    tradetrail snapshot list           snapshots taken: time, id, hash, git commit, paths
    tradetrail snapshot diff A B       unified diff; A/B an id (prefix) or a time
    tradetrail snapshot show ID        one snapshot (--file PATH: its redacted content)

    Snapshots live in <home>/snapshots/<id>.json (the id is the first 16 hex digits of the
    file's SHA-256); each one taken is a config.snapshot event in the journal. While a running
    application holds the trail, the events are queued in its spill directory and its writer
    journals them within seconds (as for export and attest). TRADETRAIL_CONFIG_PATHS (paths
    separated by ':') snapshots at every open.
    """
    if ctx.invoked_subcommand is None:
        _fail("give PATH... to snapshot, or a subcommand: take, check, list, diff, show")


def _open_for_writing(home: Path) -> Trail | QueuedRecorder:
    """The trail, or while a running application holds it, a queue into its spill directory
    (the application's writer journals the snapshot's events within seconds)."""
    from ..writer.trail import open as open_trail

    try:
        return open_trail(home, create=False)
    except TrailLockedError:
        return QueuedRecorder(home)


def _snapshot_json(snap: Snapshot) -> dict[str, Any]:
    return {
        "id": snap.id,
        "hash": snap.hash,
        "seq": snap.seq,
        "recorded": snap.recorded,
        "paths": snap.paths,
        "files": [
            {k: f[k] for k in ("path", "sha256", "size", "repo", "git", "redacted") if k in f}
            for f in snap.files
        ],
        "repos": [r.to_dict() for r in snap.document.repos],
        "baseline": {"id": snap.baseline, "seq": snap.baseline_seq} if snap.baseline else None,
        "changes": [
            {
                "path": c.path,
                "change": c.change,
                "old_sha256": c.old_sha256,
                "new_sha256": c.new_sha256,
                "covered_by": c.covered_by,
            }
            for c in snap.changes
        ],
        "drift": bool(snap.drift),
        "alert_seq": snap.alert_seq,
    }


def _report(snap: Snapshot) -> None:
    if snap.recorded:
        seq = (
            f"seq {snap.seq}"
            if snap.seq is not None
            else "queued: another process holds the trail; its writer journals it within seconds"
        )
        _echo(f"snapshot {snap.id}: {len(snap.files)} file(s), hash {snap.hash}, recorded ({seq})")
    else:
        _echo(f"unchanged since snapshot {snap.baseline} (seq {snap.baseline_seq})")
    if snap.baseline is None and snap.recorded:
        _echo("no earlier snapshot of these paths: this one is the baseline")
    elif snap.changes:
        _echo(f"changed since snapshot {snap.baseline} (seq {snap.baseline_seq}):")
        for c in snap.changes:
            how = f"config.changed seq {c.covered_by}" if c.covered else "DRIFT: no config.changed"
            _echo(f"  {c.change:<8} {c.path}  ({how})")


def _warn_drift(snap: Snapshot) -> None:
    if snap.drift:
        alert = f"seq {snap.alert_seq}" if snap.alert_seq is not None else "queued"
        err.print(
            f"drift: {len(snap.drift)} file(s) changed with no config.changed event since "
            f"snapshot {snap.baseline}; alert.sent (rule config_drift) recorded ({alert})",
            markup=False,
            highlight=False,
        )


def _take(
    home: Path, paths: tuple[str, ...], actor: str | None, as_json: bool, only_if_changed: bool
) -> None:
    try:
        collect_files(paths)  # a bad path fails here: nothing opened, nothing recorded
    except SnapshotError as exc:
        _fail(str(exc))
    trail = _open_for_writing(home)
    try:
        snap = snapshot_paths(trail, paths, actor=actor, only_if_changed=only_if_changed)
    except SnapshotError as exc:
        _fail(str(exc))
    finally:
        if isinstance(trail, QueuedRecorder):
            trail.flush()
        else:
            trail.close()
    if as_json:
        emit_json(_snapshot_json(snap))
    else:
        _report(snap)
    _warn_drift(snap)
    if snap.drift:
        sys.exit(1)


@snapshot.command("take")
@HOME_OPTION
@click.argument("paths", nargs=-1, required=True)
@click.option("--actor", default=None, help="Who takes it (the events' actor).")
@JSON_OPTION
def take(home: Path, paths: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Take a snapshot of files and directories (= `tradetrail snapshot PATH...`).

    Stores the snapshot in <home>/snapshots/, records a config.snapshot event and checks for
    drift against the newest snapshot of those paths. Exit 0 recorded, 1 recorded with drift
    (files changed with no config.changed event since; an alert.sent event is recorded too),
    2 an error (nothing recorded).

    \b
    Example:
      tradetrail snapshot config/ deploy/risk-limits.toml --actor ops
    """
    _take(home, paths, actor, as_json, only_if_changed=False)


@snapshot.command("check")
@HOME_OPTION
@click.argument("paths", nargs=-1, required=True)
@click.option("--actor", default=None, help="Who runs the check (the events' actor).")
@JSON_OPTION
def check(home: Path, paths: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Drift check: compare PATH... with the newest snapshot of them.

    Unchanged: nothing is recorded (exit 0). Changed: a new snapshot is recorded; when a
    change is not covered by a config.changed event recorded since that snapshot (naming the
    file, or carrying its new sha256 as new_hash), an alert.sent event (rule config_drift,
    severity warning) names the files and the exit code is 1. No earlier snapshot: the first
    one is recorded (exit 0). Errors exit 2.

    \b
    Example (cron):
      tradetrail snapshot check /etc/bot/ || page-oncall "config drift"
    """
    _take(home, paths, actor, as_json, only_if_changed=True)


def _git_column(snap: SnapshotRecord) -> str:
    if snap.content is not None:
        return "in the event"
    if not snap.repos:
        return "-"
    if len(snap.repos) > 1:
        return f"{len(snap.repos)} repos"
    repo = snap.repos[0]
    commit = str(repo.get("commit", "no-commit"))[:12]
    return commit + ("+dirty" if repo.get("dirty") else "")


@snapshot.command("list")
@HOME_OPTION
@PATH_OPTION
@JSON_OPTION
def list_command(home: Path, cover: str | None, as_json: bool) -> None:
    """List the snapshots taken, oldest first: time, id, seq, git commit, hash, paths.

    Every config.snapshot event counts: those of `tradetrail snapshot` (files kept in
    snapshots/) and those an application recorded with its configuration in the event ("in
    the event"), as the config report counts them. A snapshot file that no event refers to is
    listed with its file time and "not journaled".
    """
    require_trail(home)
    snaps = list_snapshots(home, cover)
    if as_json:
        emit_json([s.to_json() for s in snaps])
        return
    if not snaps:
        _echo("no snapshots" + (f" covering {cover}" if cover else ""))
        return
    for s in snaps:
        seq = f"seq {s.seq}" if s.seq is not None else "not journaled"
        _echo(
            f"{s.ts}  {s.id}  {seq:<10} {_git_column(s):<19} {len(s.files):>4} file(s)  "
            f"hash {s.hash}  {', '.join(s.paths)}"
        )


def _load(home: Path, snap: SnapshotRecord) -> dict[str, Any]:
    if snap.content is not None:
        return event_document(snap).to_dict()
    expected = snap.hash if snap.recorded and snap.hash else None
    return load_document(home, snap.id, expected).to_dict()


@snapshot.command("diff")
@HOME_OPTION
@click.argument("a")
@click.argument("b")
@PATH_OPTION
@JSON_OPTION
def diff(home: Path, a: str, b: str, cover: str | None, as_json: bool) -> None:
    """Unified diff of the redacted contents of two snapshots, file by file.

    A and B are snapshot ids (or unique prefixes of 4+ hex digits) or times (RFC 3339, a date
    or an age such as 2h): the snapshot in force then, i.e. the newest taken at or before it
    (covering --path when given; --path also limits the diff to the files under it). Added
    and removed files diff against /dev/null. Exit 0 no differences, 1 differences, 2 an
    error.

    \b
    Examples:
      tradetrail snapshot diff 3f2a 9c1e
      tradetrail snapshot diff 2024-03-01T09:00:00Z 2024-03-02T09:00:00Z --path /etc/bot
    """
    require_trail(home)
    try:
        snaps = list_snapshots(home, cover)
        first = resolve_snapshot(home, a, cover, snaps)
        second = resolve_snapshot(home, b, cover, snaps)
        diffs = diff_documents(
            _load(home, first),
            _load(home, second),
            f"snapshot {first.id} {first.ts}",
            f"snapshot {second.id} {second.ts}",
            cover,
        )
    except SnapshotError as exc:
        _fail(str(exc))
    if as_json:
        emit_json(
            {
                "a": first.to_json(),
                "b": second.to_json(),
                "differ": bool(diffs),
                "files": [
                    {
                        "path": d.path,
                        "change": d.change,
                        "old_sha256": d.old_sha256,
                        "new_sha256": d.new_sha256,
                        "diff": "\n".join(d.lines),
                    }
                    for d in diffs
                ],
            }
        )
    else:
        for d in diffs:
            sys.stdout.write("\n".join(d.lines) + "\n")
    if diffs:
        sys.exit(1)


@snapshot.command("show")
@HOME_OPTION
@click.argument("spec")
@click.option("--file", "file_path", default=None, help="Print this file's redacted content.")
@PATH_OPTION
@JSON_OPTION
def show(home: Path, spec: str, file_path: str | None, cover: str | None, as_json: bool) -> None:
    """Show one snapshot (an id, a unique prefix or a time): its files, hashes and git state;
    with --file, that file's redacted content; with --json, the whole document."""
    import os

    require_trail(home)
    try:
        found = resolve_snapshot(home, spec, cover)
        document = _load(home, found)
    except SnapshotError as exc:
        _fail(str(exc))
    if file_path is not None:
        wanted = os.path.abspath(file_path)
        entry = next((f for f in document["files"] if f["path"] == wanted), None)
        if entry is None:
            _fail(f"snapshot {found.id} has no file {wanted}")
        if "content" not in entry:
            _fail(f"{wanted}: content not kept ({entry.get('content_omitted')})")
        sys.stdout.write(entry["content"])
        return
    if as_json:
        emit_json({**document, "id": found.id, "hash": found.hash, "time": found.ts})
        return
    seq = f"seq {found.seq}" if found.seq is not None else "not journaled"
    _echo(f"snapshot {found.id}  {found.ts}  {seq}\nhash {found.hash}")
    for repo in document["repos"]:
        state = "dirty" if repo.get("dirty") else "clean"
        _echo(f"repo {repo['root']}  {repo.get('commit', 'no commit')}  {state}")
    for f in document["files"]:
        notes = []
        if "git" in f:
            notes.append(f"git {f['git']}")
        if "redacted" in f:
            notes.append(f"redacted lines {','.join(map(str, f['redacted'].get('lines', [])))}")
        if "content_omitted" in f:
            notes.append(f"content not kept: {f['content_omitted']}")
        extra = f"  ({'; '.join(notes)})" if notes else ""
        _echo(f"  {f['sha256']}  {f['size']:>8}  {f['path']}{extra}")
