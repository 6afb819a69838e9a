"""Every exception tradetrail raises, each a TradetrailError that names the location of the fault
so a user can act on it. One place to look, and one base to catch: the CLI shows a
TradetrailError as a one-line usage error and anything else as a bug (README, exit codes). A
class moved here from the module that raises it is re-exported there, so its old import path
still works. Only private control flow (a module's own `_WriteFailed`) and the demo's simulated
venue exceptions stay where they are: no caller ever sees them."""

from __future__ import annotations

from typing import Any


class TradetrailError(Exception):
    """Base class of every error raised by tradetrail."""


class ProofError(TradetrailError, ValueError):
    """A Merkle inclusion or consistency proof does not verify, or is malformed."""


class NotYetSignedError(ProofError):
    """A proof was asked for a record (or tree size) that the journal holds but no signed
    checkpoint covers yet: a checkpoint must be signed first (the writer signs one every
    `checkpoint_every` records or `checkpoint_interval` seconds, `tradetrail checkpoint` or
    `Trail.checkpoint()` sign one now)."""

    def __init__(self, message: str, seq: int, checkpoint_size: int) -> None:
        super().__init__(message)
        self.seq = seq
        self.checkpoint_size = checkpoint_size


class DocumentError(TradetrailError, ValueError):
    """A JSON document of a format (pack manifest, proof) does not have its shape; the message
    names the field at fault."""


class NoteError(TradetrailError, ValueError):
    """A signed note, verifier key or signer key is malformed or does not verify."""


class CheckpointError(TradetrailError, ValueError):
    """A checkpoint body is malformed, or its origin/signature is not what was expected."""


class TileError(TradetrailError):
    """A hash tile is missing or malformed; carries the tile path."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class ConfigError(TradetrailError, ValueError):
    """A configuration value (argument or environment variable) is invalid; names the setting."""


class TrailLockedError(TradetrailError):
    """Another process holds the trail's writer lock."""

    def __init__(self, home: str, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"trail {home} is already open for writing by {who}")
        self.home = home
        self.pid = pid


class TrailNotFoundError(TradetrailError):
    """A command or `open(create=False)` was pointed at a directory that holds no trail: a
    mistyped path must not silently become a new trail with a new key."""

    def __init__(self, home: str) -> None:
        super().__init__(
            f"{home} is not a trail (no journal/ directory); create one with "
            f"`tradetrail init --home {home}`, or set --home / TRADETRAIL_HOME to an existing trail"
        )
        self.home = home


class PartsError(TradetrailError, ValueError):
    """Parts of an event, received on the writer's channel, that do not splice into a canonical
    record (a foreign or broken client); the message says what is wrong."""


class ChannelError(TradetrailError):
    """The writer's channel refused a client or spoke out of protocol: a peer of another user,
    a frame too large or malformed. `where` names the socket."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class WriterLostError(ChannelError):
    """The connection to the trail's writer process ended (it died or closed); what it did not
    acknowledge is handed to the next writer."""


class WriterStartError(TradetrailError):
    """No writer process could be started for a trail; the message carries the writer's own
    last words (its log: <home>/writer.log)."""


class TrailClosedError(TradetrailError):
    """The trail was closed (or belongs to the parent of a fork) and cannot take records."""


class TrailCorruptError(TradetrailError):
    """The trail on disk contradicts its own signed checkpoints; the writer will not extend it."""


class JournalFormatError(TradetrailError, ValueError):
    """A journal line cannot be parsed; carries file and line number."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        where = f"{file}:{line}: " if file is not None and line is not None else ""
        super().__init__(f"{where}{message}")
        self.file = file
        self.line = line


class IndexStoreError(TradetrailError):
    """The search index cannot be opened, read or written (names the database and the cause)."""


class IndexTamperError(IndexStoreError):
    """A record offered to the index differs from the row already stored for its seq: one of
    them is not what the journal said. Never overwritten; carries origin and seqs."""

    def __init__(self, origin: str, seqs: list[int]) -> None:
        shown = ", ".join(map(str, seqs[:10])) + (" ..." if len(seqs) > 10 else "")
        super().__init__(
            f"{origin}: {len(seqs)} record(s) differ from the rows already indexed "
            f"(seq {shown}); the index was not changed for them"
        )
        self.origin = origin
        self.seqs = seqs


class PackError(TradetrailError):
    """A pack cannot be made as asked (an open day without --partial, a different pack in the
    way, a day in the future); nothing was written."""


class MissingExtraError(TradetrailError):
    """A feature needs an optional dependency that is not installed: the message names the
    extra to install (`pip install 'tradetrail[reports]'`)."""


# --------------------------------------------------------- tradetrail.compliance.attest


class AttestError(TradetrailError):
    """An attestation cannot be made or listed as asked; nothing was changed."""


class AttestDateError(AttestError, ValueError):
    """A --date/--from/--to is not a YYYY-MM-DD calendar date, is in the future, or the range is
    reversed."""


class NoPackError(AttestError):
    """The day has no daily pack to attest (it must be made first)."""


class PartialPackError(AttestError):
    """Only a partial pack exists: a partial pack is a day still open, not a record to certify."""


class PackInvalidError(AttestError):
    """The pack does not verify against the trail's key: the officer must not sign it."""


class AttestNameError(AttestError, ValueError):
    """--by differs from the name of the officer's key."""


class AttestKeyError(AttestError, ValueError):
    """The officer's key cannot be used: unreadable, malformed, or the trail's own key."""


# ----------------------------------------------------------- tradetrail.compliance.exam


class ExamError(PackError):
    """An exam package that cannot be made as asked (names the day or option at fault)."""


# ------------------------------------------------------ tradetrail.compliance.retention


class PolicyError(TradetrailError, ValueError):
    """The retention policy file is malformed; names the file, the key and what is wrong."""


class RetentionError(TradetrailError):
    """Retention cannot be applied as asked (trail held by a writer, an interrupted batch that
    no longer matches the journal); nothing more was removed."""


# ------------------------------------------------------ tradetrail.compliance.archive


class ArchiveError(TradetrailError):
    """The archive cannot be used as asked (bucket missing or without Object Lock, bad URL,
    access refused); the message names the bucket, key or option at fault."""


class ArchiveConflictError(ArchiveError):
    """An archived object differs from the trail's bytes under the same key: it is never
    overwritten; the message names the key."""


# ------------------------------------------------------ tradetrail.compliance.snapshots


class SnapshotError(TradetrailError, ValueError):
    """A snapshot cannot be taken, found or read; the message names the path or the id."""


# ---------------------------------------------------------------------- tradetrail.demo


class DemoHomeError(ConfigError):
    """The demo was pointed at a directory it did not make; it never clears or writes into one."""


# ------------------------------------------------------------- tradetrail.reports.model


class ReportError(TradetrailError, ValueError):
    """A report cannot be made as asked (unknown kind or format, bad date or range, no trail);
    the message names the argument at fault."""


# --------------------------------------------------------------- tradetrail.verify.pack


class PackUsageError(TradetrailError):
    """The path is not a pack, or no usable key was given (exit 2, not a fault of the pack)."""


# --------------------------------------------------------------- tradetrail.index.query


class QueryError(TradetrailError, ValueError):
    """A search that cannot be run: names the option and the value at fault."""


# ------------------------------------------------------------ tradetrail.core.exactjson


class ExactJSONError(TradetrailError, ValueError):
    """Input that is not JSON, or JSON tradetrail will not take; says where (line and column)."""


# --------------------------------------------------------- tradetrail.alerts


class RulesError(ConfigError):
    """An alert rules file that cannot be used; the message names the rule and the field."""


class NotificationError(TradetrailError):
    """A notification channel could not deliver; `retryable` is False for an answer a retry
    will not change (a 4xx but 408/429, a refused address)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def missing_extra(exc: ModuleNotFoundError, feature: str, extra: str) -> TradetrailError:
    """The one-line error for `exc`, raised importing what `feature` needs from `extra`."""
    return MissingExtraError(
        f"{feature} need {exc.name or 'a module'}, which is not installed: "
        f"python3 -m pip install 'tradetrail[{extra}]'"
    )


class TokenError(TradetrailError):
    """A bearer token is unknown, revoked, expired or not allowed what it asked; the message
    names the token's id, never its secret."""


# ------------------------------------------------------------ tradetrail.writer.remote


class EventRejectedError(TradetrailError):
    """The service refused this event (its model differs from the client's): it is kept, with
    the service's reason, in the rejected file of the client's spool, and never resent."""


class BatchError(TradetrailError, ValueError):
    """Lines of an ingest batch (POST /v1/events) that cannot be journaled, each with its line
    number and why: [{"line": n, "error": why}]; nothing of the batch is journaled.
    `too_large`: the batch as a whole is too big (HTTP 413: send it in smaller parts)."""

    def __init__(self, errors: list[dict[str, Any]], *, too_large: bool = False) -> None:
        lines = ", ".join(str(e["line"]) for e in errors[:10])
        super().__init__(f"{len(errors)} bad line(s) ({lines}); nothing of the batch was journaled")
        self.errors = errors
        self.too_large = too_large


class JobsConfigError(ConfigError):
    """The jobs file of `serve --jobs` / `jobs` is wrong; names the file and the key at fault."""


class JobBusyError(TradetrailError):
    """Another process runs a scheduled job of this trail right now (`jobs run` beside the
    service): try again when it is done."""


class JobCancelledError(TradetrailError):
    """The service is stopping: a running job gives up at its next progress point."""


# ------------------------------------------------------------ tradetrail.writer.stream


class StreamError(TradetrailError):
    """The service's record stream (GET /v1/stream) or another read of it cannot be had: the
    service is unreachable, refused the request or ended the stream; the message names the
    URL."""
