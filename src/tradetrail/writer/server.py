"""The writer's side of its channel: accepts local clients on the trail's Unix socket and feeds
their events to the one writer (writer.trail.Trail) of this process.

Each connection has a reader thread (frames in: events, calls) and a sender thread (frames out:
acknowledgement runs, one frame for whatever one journal commit settled, and replies), so a
client that stops reading can never hold up the writer. What a client sends is checked before
it is queued; bytes that do not splice into a canonical record are quarantined under
`<home>/quarantine/` with the reason and never reach the journal, and a connection that breaks
the protocol is closed. Neither stops the writer.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson

from .._version import __version__
from ..core import fastshape, layout
from ..core.canonical import STRING_FIELDS, Prepared, decode_raw, prepare
from ..core.chain import ACCELERATOR
from ..core.timefmt import format_ns
from ..errors import ChannelError, PartsError, TradetrailError, TrailClosedError
from ..store.keys import parse_signer
from . import ring as shm
from . import wire
from .trail import _CHECKPOINT, _FLUSH, _JOURNALED, FALLBACK_TYPE, Receipt, Trail, source_fragment

logger = logging.getLogger("tradetrail")

QUEUE_WAIT_SECONDS: Final = 0.001
RING_NAP_SECONDS: Final = 0.0001
RING_NAPS: Final = 20
"""An empty ring is looked at again after short naps for ~2 ms before its reader says it
sleeps: while events keep coming, clients never need to ring the doorbell (a system call)."""
RING_BATCH_BYTES: Final = 4 * 1024 * 1024
_FALLBACK_MARK: Final = b'"type":"' + FALLBACK_TYPE.encode() + b'"'


class Connection:
    """One client process on the channel."""

    def __init__(self, server: ChannelServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.where = f"{server.where} (client {number})"
        self.pid: int | None = None
        self._acks: list[tuple[int, int, int]] = []
        self._runs: list[tuple[int, int, int, int]] = []  # journaled runs, ready to send
        self._out: list[bytes] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.received = 0
        self._warned: set[str] = set()
        self.source: orjson.Fragment = server.trail._source
        self._source_bytes: bytes = orjson.dumps(self.source)  # for the compiled shaper
        self.attached = False
        self._ring: shm.Ring | None = None
        self._ring_memory: Any = None
        self._reader = threading.Thread(
            target=self._read_loop, name=f"tradetrail-channel-{number}", daemon=True
        )
        self._sender = threading.Thread(
            target=self._send_loop, name=f"tradetrail-channel-{number}-out", daemon=True
        )

    def start(self) -> None:
        self._sender.start()
        self._reader.start()

    # -------------------------------------------------------------- called by the writer

    def settled(self, receipt: Receipt) -> None:
        state = wire.JOURNALED if receipt._state == _JOURNALED else wire.SPILLED
        with self._lock:
            if self._closed:
                return
            self._acks.append((receipt._index, receipt.seq or 0, state))
        self._wake.set()

    def journaled(self, runs: list[tuple[int, int, int, int]]) -> None:
        """Runs (first index, first seq, count, JOURNALED) of this client's events in a chunk
        just made durable, told at once: one lock and one wake-up of the sender a chunk."""
        with self._lock:
            if self._closed:
                return
            self._runs.extend(runs)
        self._wake.set()

    # -------------------------------------------------------------- sending

    def send(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self._out.append(data)
        self._wake.set()

    def _send_loop(self) -> None:
        try:
            while True:
                self._wake.wait()
                with self._lock:
                    self._wake.clear()
                    acks, self._acks = self._acks, []
                    journaled, self._runs = self._runs, []
                    out, self._out = self._out, []
                    closed = self._closed
                data = b"".join(out)
                if acks or journaled:
                    data += wire.ack_frame(journaled + wire.runs(acks))
                if data:
                    self.sock.sendall(data)
                if closed:
                    return
        except OSError:
            self.close()

    # -------------------------------------------------------------- receiving

    def _read_loop(self) -> None:
        reader = wire.FrameReader(self.sock, self.where, accept_fds=shm.available())
        try:
            wire.check_peer(self.sock, self.where)
            first = reader.read()
            if first is None:
                return
            kind, payload = first
            if kind != wire.HELLO:
                raise ChannelError("expected HELLO first", self.where)
            hello = orjson.loads(payload)
            if not isinstance(hello, dict):
                raise ChannelError(f"HELLO is not an object: {payload[:200]!r}", self.where)
            if hello.get("wire") != wire.WIRE_VERSION:
                # another tradetrail version: say so and part, rather than misread its frames
                refusal = (
                    f"this writer (process {os.getpid()}, tradetrail {__version__}) speaks wire "
                    f"version {wire.WIRE_VERSION}, the client {hello.get('wire')!r}; stop the "
                    "writer (or let its clients leave) so that one of the client's version runs"
                )
                self.send(wire.json_frame(wire.WELCOME, {"refused": refusal}))
                logger.error("tradetrail channel: %s", refusal)
                return
            self.pid = hello.get("pid") if isinstance(hello.get("pid"), int) else None
            self.source = self._source_of(hello.get("source"))
            self._source_bytes = orjson.dumps(self.source)
            self.attached = not hello.get("probe")  # `tradetrail info` only looks
            if self.attached:
                self.server.attached()
            self.send(wire.json_frame(wire.WELCOME, self.server.welcome()))
            while True:
                got = reader.read()
                if got is None:
                    return
                kind, payload = got
                if kind == wire.DOORBELL:
                    self.server.rings.bell.set()
                elif kind in (wire.EVENTS, wire.REPLAY):
                    self._events(payload, kind == wire.REPLAY)
                elif kind == wire.REQUEST:
                    self._request(payload, reader.fds)
                else:
                    raise ChannelError(f"unexpected {wire.KIND_NAMES[kind]} frame", self.where)
                reader.close_fds()  # what a call did not take
        except (ChannelError, orjson.JSONDecodeError) as exc:
            self.server.quarantine(self, str(exc), None)
            logger.error("tradetrail channel: %s; connection closed", exc)
        except TrailClosedError:
            pass  # closing: the client hands what we did not acknowledge to the next writer
        except OSError:
            pass  # the client went away: what it handed over is queued and will be journaled
        finally:
            reader.close_fds()
            self.close()

    def _source_of(self, source: Any) -> orjson.Fragment:
        """The client's default `source` (host, pid, service), redacted once per connection."""
        trail = self.server.trail
        if not isinstance(source, dict):
            return trail._source
        return source_fragment(source, trail.redactor)

    def _prepare_raw(self, raw: bytes) -> Prepared:
        """Validate, redact and encode an event as its caller gave it, as record() would have
        in the caller. One that fails is journaled as `log.fallback` with the reason and the
        event as given in its context (redacted like any value): the caller's call returned
        long ago, and the evidence must not be lost."""
        kind, data, fields = decode_raw(raw)
        trail = self.server.trail
        limit = trail.settings.max_event_bytes
        try:
            return prepare(
                kind, data, fields, self.source, limit, model=trail.model, redactor=trail.redactor
            )
        except (ValueError, TypeError) as exc:
            reason = str(exc)
        envelope = {k: v for k, v in fields.items() if k in STRING_FIELDS or k == "event_id"}
        given = {"type": kind, "fields": fields, "data": data}
        try:
            return prepare(
                FALLBACK_TYPE,
                {"intended_type": kind, "reason": reason},
                {**envelope, "context": {"event": given}},
                self.source,
                limit,
                model=trail.model,
                redactor=trail.redactor,
            )
        except (ValueError, TypeError) as exc:
            raise PartsError(f"{reason}; and as log.fallback: {exc}") from None

    def _warn_schema(self, kind: str, error: str) -> None:
        """Tell the client, once per type, that the writer recorded an event it shaped with a
        schema_error: the caller would have been warned had it shaped the event itself."""
        if kind in self._warned or len(self._warned) >= 1024:
            return
        self._warned.add(kind)
        message = (
            f"{kind}: recorded with schema_error ({error}); further mismatches of this type "
            "are only counted (stats()['schema_errors']); open with strict=True to raise"
        )
        self.send(wire.json_frame(wire.WARNING, {"type": kind, "message": message}))

    def _events(self, payload: bytes, replay: bool) -> None:
        first, since, events = wire.parse_events(payload, replay)
        self._submit(first, since, events, replay)

    def _submit(self, first: int, since: int, events: list[wire.Item], replay: bool) -> None:
        """Shape (raw) or check (prepared) the events numbered from `first` and queue them."""
        trail = self.server.trail
        receipts: list[Receipt] = []
        shape = self.server.compiled_shaper()
        source = self._source_bytes
        for offset, item in enumerate(events):
            if shape is not None and type(item) is bytes:
                shaped = shape(item, source)  # the common event, shaped in C (core.fastshape)
                if shaped is not None:
                    receipt = Receipt(trail, shaped)
                    receipt._conn = self
                    receipt._index = first + offset
                    receipts.append(receipt)
                    continue
            try:
                if type(item) is bytes:
                    event = self._prepare_raw(item)
                else:
                    assert isinstance(item, tuple)
                    event = Prepared.from_parts(item)
            except PartsError as exc:
                # a raw event's bytes may hold unredacted secrets: only the reason is kept
                kept = item if isinstance(item, tuple) else None
                self.server.quarantine(self, f"event {first + offset}: {exc}", kept)
                self.send(
                    wire.json_frame(wire.REJECTED, {"index": first + offset, "reason": str(exc)})
                )
                continue
            receipt = Receipt(trail, event)
            receipt._conn = self
            receipt._index = first + offset
            if event.redacted is not None or event.schema_error is not None:
                kind = str(orjson.loads(event.line(b"", 0, b"")).get("type", "?"))
                trail._note_shaping(kind, event)
                if event.schema_error is not None and type(item) is bytes:
                    self._warn_schema(kind, event.schema_error)
            if _FALLBACK_MARK in event.p3:  # (the type is in the last part)
                with trail._shaping_lock:
                    trail._counters["fallbacks"] += 1
            receipts.append(receipt)
        self.received += len(receipts)
        # back-pressure: wait while the queue is full (the client's socket fills, not RAM);
        # a batch larger than the whole queue goes in once it is empty
        while trail.queue_room < min(len(receipts), trail.settings.queue_size) and not (
            self._closed or trail._closing
        ):
            time.sleep(QUEUE_WAIT_SECONDS)
        trail.submit(receipts, since if replay else None)

    # -------------------------------------------------------------- the ring

    def _open_ring(self, ident: int, fds: list[int]) -> None:
        """Map the shared memory a client passed with its `ring` call; from now on it carries
        every event of this connection, taken by the server's one RingReader."""
        if self._ring is not None or not fds or not shm.available():
            raise ChannelError("a ring call without a ring, or a second one", self.where)
        ring, memory = shm.map_client_ring(fds.pop(0), self.where)
        self._ring, self._ring_memory = ring, memory
        self.server.rings.add(self, ring)
        self.send(wire.json_frame(wire.REPLY, {"id": ident, "ok": True, "result": True}))

    def ring_failed(self, exc: Exception) -> None:
        """What this client put into its ring is not well-formed: kept as evidence, and the
        connection dropped (the client replays what was not acknowledged on a new one)."""
        if not self._closed:
            self.server.quarantine(self, f"ring: {exc}", None)
            logger.error("tradetrail channel: %s: ring: %s; connection closed", self.where, exc)
        self.close()

    def _ring_entries(self, entries: list[tuple[int, int, int, bytes]]) -> None:
        """Runs of consecutive events of one kind of hand-over (new or replayed since one
        seq), each submitted as a frame's events would be."""
        run: list[wire.Item] = []
        first = since = 0
        replay = False
        for kind, index, entry_since, payload in entries:
            again = bool(kind & shm.REPLAY)
            if run and (again != replay or entry_since != since or index != first + len(run)):
                self._submit(first, since, run, replay)
                run = []
            if not run:
                first, since, replay = index, entry_since, again
            if kind & ~shm.REPLAY == shm.RAW:
                run.append(payload)
            elif kind & ~shm.REPLAY == shm.PREPARED:
                try:
                    run.append(shm.unpack_parts(payload))
                except ValueError as exc:
                    raise shm.RingError(f"event {index}: {exc}") from None
            else:
                raise shm.RingError(f"event {index}: unknown kind {kind}")
        if run:
            self._submit(first, since, run, replay)

    # -------------------------------------------------------------- calls

    def _request(self, payload: bytes, fds: list[int]) -> None:
        call = orjson.loads(payload)
        if not isinstance(call, dict) or not isinstance(call.get("id"), int):
            raise ChannelError("REQUEST without an id", self.where)
        op = call.get("op")
        args = call.get("args") or {}
        if op == "ring":
            self._open_ring(call["id"], fds)
            return
        trail = self.server.trail
        barrier: Receipt | None = None
        if op in ("flush", "checkpoint"):  # ordered after this client's events
            barrier = Receipt(trail, None, _FLUSH if op == "flush" else _CHECKPOINT)
            trail._queue.append(barrier)
            trail._wake.set()
        threading.Thread(
            target=self._answer, args=(call["id"], op, args, barrier), daemon=True
        ).start()

    def _answer(self, ident: int, op: Any, args: dict[str, Any], barrier: Receipt | None) -> None:
        trail = self.server.trail
        try:
            timeout = args.get("timeout")
            if barrier is not None:
                trail._wait_for(barrier, timeout)
                if op == "checkpoint" and barrier._result is None:
                    raise TradetrailError(f"could not sign a checkpoint: {trail._last_error}")
                result: Any = barrier._result
            elif op == "stats":
                result = self.server.stats()
            elif op == "leave":  # a command needs the trail to itself (demo, retention apply)
                if self.server.leave is None:
                    raise ChannelError("this writer runs under `tradetrail serve`; stop it there")
                if self.server.clients:
                    raise ChannelError(f"{self.server.clients} client(s) attached")
                self.server.leave()
                result = True
            elif op == "rotate_key":
                signer = parse_signer(str(args["skey"]), "rotate_key: new signing key")
                result = trail.rotate_key(signer, reason=args.get("reason"), timeout=timeout)
            else:
                raise ChannelError(f"unknown call {op!r}", self.where)
            reply = {"id": ident, "ok": True, "result": result}
        except (TradetrailError, OSError, ValueError, TypeError, TimeoutError, KeyError) as exc:
            reply = {"id": ident, "ok": False, "error": type(exc).__name__, "message": str(exc)}
        self.send(wire.json_frame(wire.REPLY, reply))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self.server.rings.remove(self)
        if threading.current_thread() is not self._sender:
            self._sender.join(5)
        wire.shutdown(self.sock)
        shm.close(self._ring, self._ring_memory)
        self.server.gone(self)


class RingReader:
    """One thread that takes the events of every client's ring, in turn: a thread per ring
    would each wake thousands of times a second while napping and contend for the writer's
    GIL (measured with 8 clients: a fifth less throughput and ten times the callers' p99)."""

    def __init__(self) -> None:
        self._rings: dict[Connection, shm.Ring] = {}
        self._lock = threading.Lock()
        self.bell = threading.Event()
        """Set by any client's DOORBELL frame."""
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, conn: Connection, ring: shm.Ring) -> None:
        with self._lock:
            self._rings[conn] = ring
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="tradetrail-channel-rings", daemon=True
                )
                self._thread.start()
        self.bell.set()

    def remove(self, conn: Connection) -> None:
        with self._lock:
            self._rings.pop(conn, None)

    def stop(self) -> None:
        self._closed = True
        self.bell.set()

    def _loop(self) -> None:
        naps = 0
        while not self._closed:
            with self._lock:
                rings = list(self._rings.items())
            busy = False
            for conn, ring in rings:
                try:
                    entries = ring.take(wire.MAX_BATCH_EVENTS, RING_BATCH_BYTES)
                except shm.RingError as exc:
                    conn.ring_failed(exc)
                    continue
                except ValueError:  # released: that connection closed meanwhile
                    continue
                if not entries:
                    continue
                busy = True
                try:
                    conn._ring_entries(entries)
                except shm.RingError as exc:
                    conn.ring_failed(exc)
                except TrailClosedError:
                    return  # closing: clients hand what was not acknowledged to the next writer
                except Exception:
                    # one client's trouble never stops the other rings: dropped, it replays
                    # what was not acknowledged on a new connection
                    logger.exception("tradetrail channel: %s: ring", conn.where)
                    conn.close()
            if busy:
                naps = 0
            elif naps < RING_NAPS:
                naps += 1
                time.sleep(RING_NAP_SECONDS)
            else:
                self._sleep([ring for _, ring in rings])
                naps = 0

    def _sleep(self, rings: list[shm.Ring]) -> None:
        """Say asleep in every ring and wait for a doorbell, unless one has events already."""
        marked: list[shm.Ring] = []
        try:
            for ring in rings:
                if not ring.sleep():
                    return  # events came meanwhile: take them
                marked.append(ring)
            self.bell.wait(1.0)
            self.bell.clear()
        except ValueError:  # released meanwhile
            pass
        finally:
            for ring in marked:
                with contextlib.suppress(ValueError):
                    ring.awake()


class ChannelServer:
    """Serves the trail's channel from the process that holds its writer."""

    def __init__(self, trail: Trail, *, on_last_client: Callable[[], None] | None = None) -> None:
        self.trail = trail
        self.address = wire.address(trail.home)
        self.where = wire.describe(self.address)
        self._on_last_client = on_last_client
        self.leave: Callable[[], None] | None = None
        self.supervised = False
        """Run by `tradetrail serve` (not on demand): when it is gone, clients wait for the
        supervisor to start it again instead of starting one themselves."""
        """Set for a writer started on demand: stops it when no client is attached."""
        self._conns: set[Connection] = set()
        self.rings = RingReader()
        self._shaper = self._load_shaper()
        self._lock = threading.Lock()
        self._count = 0
        self._closed = False
        self.clients_seen = 0
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if isinstance(self.address, str):
                # we hold the writer lock: a socket file left here is a dead writer's
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address)
            old = os.umask(0o177)
            try:
                sock.bind(self.address)
            finally:
                os.umask(old)
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._thread = threading.Thread(
            target=self._accept_loop, name="tradetrail-channel", daemon=True
        )
        self._thread.start()

    def _load_shaper(self) -> fastshape.CompiledShaper | None:
        trail = self.trail
        if trail.model is None:
            return None
        return fastshape.load(trail.model, trail.redactor, trail.settings.max_event_bytes)

    def compiled_shaper(self) -> Callable[[bytes, bytes | None], Prepared | None] | None:
        """The compiled shaper's call for the event model as it is now (a type registered
        since it was made gets it made again), or None without the accelerator."""
        shaper = self._shaper
        if shaper is not None and shaper.stale():
            shaper = self._shaper = self._load_shaper()
        return None if shaper is None else shaper.shape

    def welcome(self) -> dict[str, Any]:
        trail = self.trail
        return {
            "wire": wire.WIRE_VERSION,
            "origin": trail.origin,
            "vkey": trail.verifier.vkey(),
            "size": trail.durable_size,
            "pid": os.getpid(),
            "durability": trail.settings.durability.value,
            "max_event_bytes": trail.settings.max_event_bytes,
            "accelerator": ACCELERATOR,
            "shaper": "python" if self._shaper is None else "compiled",
            "warnings": trail.storage_warnings,
            "supervised": self.supervised,
            "ring": shm.available(),
        }

    def stats(self) -> dict[str, Any]:
        out = self.trail.stats()
        out["clients"] = self.clients
        out["writer_pid"] = os.getpid()
        out["accelerator"] = ACCELERATOR
        out["shaper"] = "python" if self._shaper is None else "compiled"
        out["collector"] = {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()}
        return out

    @property
    def clients(self) -> int:
        """Clients attached now (not counting probes)."""
        with self._lock:
            return sum(1 for c in self._conns if c.attached)

    def attached(self) -> None:
        with self._lock:
            self.clients_seen += 1

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn_sock, _ = self._sock.accept()
            except OSError:
                if self._closed:
                    return
                time.sleep(0.01)
                continue
            with self._lock:
                if self._closed:
                    conn_sock.close()
                    return
                self._count += 1
                conn = Connection(self, conn_sock, self._count)
                self._conns.add(conn)
            conn.start()

    def gone(self, conn: Connection) -> None:
        with self._lock:
            self._conns.discard(conn)
            last = not self._conns and not self._closed
        if last and self._on_last_client is not None:
            self._on_last_client()

    def quarantine(self, conn: Connection, reason: str, parts: wire.Parts | None) -> None:
        """Keep what a client sent that cannot be journaled, with why: evidence of a broken
        or hostile client, never part of the journal."""
        self.trail._counters["quarantined_events"] += 1
        directory = self.trail.home / layout.QUARANTINE_DIR
        entry = {
            "at": format_ns(time.time_ns()),
            "client_pid": conn.pid,
            "reason": reason,
            "parts": [p.decode("utf-8", "backslashreplace") for p in parts] if parts else None,
        }
        try:
            directory.mkdir(exist_ok=True)
            path = directory / layout.CHANNEL_QUARANTINE_FILE
            with open(path, "ab") as fh:
                fh.write(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
        except OSError as exc:
            logger.error("tradetrail channel: cannot quarantine (%s): %s", exc, reason)

    def stop(self) -> None:
        """Take no new client (while the writer still holds the trail, so the socket file
        removed here is ours and not a successor's)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        wire.shutdown(self._sock)
        if isinstance(self.address, str):
            with contextlib.suppress(OSError):
                if Path(self.address).is_socket():
                    os.unlink(self.address)
        self._thread.join(2)

    def close(self) -> None:
        """Drop every connection, once the writer has journaled and acknowledged what they
        sent (close the trail between stop() and close())."""
        self.stop()
        self.rings.stop()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
