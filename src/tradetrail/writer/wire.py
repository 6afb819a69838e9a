"""The writer's channel: a Unix stream socket beside the trail, carrying framed batches.

Every frame is `length (u32, big-endian) ‖ kind (u8) ‖ payload`, length counting the payload.
A client says HELLO (JSON: wire version, pid, its default `source`), the writer answers WELCOME
(JSON: origin, size, pid, ...). Events travel as EVENTS frames, `first index (u64)` then per
event either `0 (u8) ‖ 4 lengths (u32) ‖ the 4 parts of an event the client prepared`
(core.canonical.Prepared: the canonical record cut where prev, seq and ts go, already
validated and redacted) or `1 (u8) ‖ length (u32) ‖ the JSON of an event as the caller gave it`
(core.canonical.RawEvent, which the writer validates, redacts and encodes), each event
numbered by the client from `first index` on. REPLAY frames carry the same plus
`since (u64)`: events a client re-sends after losing its writer, which the writer journals only
if the journal from `since` on does not hold them yet. The writer answers with ACK frames of
runs `first index (u64) ‖ first seq (u64) ‖ count (u32) ‖ state (u8)`, one frame per journal
commit; REQUEST/REPLY frames carry JSON calls (flush, checkpoint, stats, ...). On Linux a
client may then hand its events over in shared memory instead (writer/ring.py): a `ring` call
whose frame carries the ring's memfd (SCM_RIGHTS), after which every event of that connection
goes through the ring, and an empty DOORBELL frame wakes a writer that said it sleeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..errors import ChannelError

SOCKET_FILE: Final = layout.SOCKET_FILE
"""In <home>: the writer's channel (or, when the path is too long for a socket address, an
abstract socket named after the home's real path)."""
WIRE_VERSION: Final = 2
MAX_FRAME: Final = 64 * 1024 * 1024
MAX_BATCH_EVENTS: Final = 4096

HELLO, WELCOME, EVENTS, REPLAY, ACK, REQUEST, REPLY, REJECTED, WARNING, DOORBELL = range(1, 11)
KIND_NAMES: Final = {
    HELLO: "HELLO",
    WELCOME: "WELCOME",
    EVENTS: "EVENTS",
    REPLAY: "REPLAY",
    ACK: "ACK",
    REQUEST: "REQUEST",
    REPLY: "REPLY",
    REJECTED: "REJECTED",
    WARNING: "WARNING",
    DOORBELL: "DOORBELL",
}
DOORBELL_FRAME: Final = struct.pack("!IB", 0, DOORBELL)
"""A client's "the ring has events" to a writer that said it sleeps (writer/ring.py)."""
MAX_FDS: Final = 1
JOURNALED, SPILLED = 1, 2

_HEADER = struct.Struct("!IB")
_LENGTHS = struct.Struct("!BIIII")
_RAW_LENGTH = struct.Struct("!BI")
PREPARED, RAW = 0, 1
_INDEX = struct.Struct("!Q")
_REPLAY_HEAD = struct.Struct("!QQ")
_RUN = struct.Struct("!QQIB")
_MAX_PATH = 100  # sun_path holds 108 bytes with its NUL; keep a margin

Parts = tuple[bytes, bytes, bytes, bytes]
Item = Parts | bytes
"""One event on the wire: the parts of a prepared event, or a raw event's JSON."""


def address(home: Path) -> str | bytes:
    """Where the writer of `home` listens: `<home>/writer.sock`, or an abstract socket (Linux)
    when that path is too long for a socket address."""
    path = os.fsencode(home / SOCKET_FILE)
    if len(path) <= _MAX_PATH:
        return os.fsdecode(path)
    if not sys.platform.startswith("linux"):
        raise ChannelError(
            f"the path is longer than {_MAX_PATH} bytes, too long for a Unix socket; use a "
            "shorter home",
            os.fsdecode(path),
        )
    digest = hashlib.sha256(os.fsencode(os.path.realpath(home))).hexdigest()[:32]
    return b"\0tradetrail-" + digest.encode()


def describe(addr: str | bytes) -> str:
    return addr if isinstance(addr, str) else "@" + addr[1:].decode()


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end (SO_PEERCRED), None where unsupported."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def check_peer(sock: socket.socket, where: str) -> None:
    """Only the writer's own user (or root) may speak on its channel: events of another user
    could forge books and records; a writer of another user could swallow them."""
    uid = peer_uid(sock)
    if uid is not None and uid not in (os.getuid(), 0):
        raise ChannelError(f"peer runs as uid {uid}, not as this user ({os.getuid()})", where)


def frame(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), kind) + payload


def json_frame(kind: int, body: object) -> bytes:
    return frame(kind, orjson.dumps(body))


def events_frame(first: int, events: Sequence[Item], since: int | None = None) -> bytes:
    out = [_INDEX.pack(first) if since is None else _REPLAY_HEAD.pack(first, since)]
    for item in events:
        if isinstance(item, bytes):
            out.append(_RAW_LENGTH.pack(RAW, len(item)))
            out.append(item)
            continue
        p0, p1, p2, p3 = item
        out.append(_LENGTHS.pack(PREPARED, len(p0), len(p1), len(p2), len(p3)))
        out.extend((p0, p1, p2, p3))
    return frame(EVENTS if since is None else REPLAY, b"".join(out))


def parse_events(payload: bytes, replay: bool) -> tuple[int, int, list[Item]]:
    """(first index, since, parts of each event); raises ChannelError on a malformed payload."""
    head = _REPLAY_HEAD if replay else _INDEX
    if len(payload) < head.size:
        raise ChannelError("events frame shorter than its header")
    if replay:
        first, since = _REPLAY_HEAD.unpack_from(payload)
    else:
        (first,), since = _INDEX.unpack_from(payload), 0
    events: list[Item] = []
    pos, end = head.size, len(payload)
    while pos < end:
        if payload[pos] == RAW:
            if pos + _RAW_LENGTH.size > end:
                raise ChannelError(f"event {len(events)}: truncated length")
            n = _RAW_LENGTH.unpack_from(payload, pos)[1]
            pos += _RAW_LENGTH.size
            if pos + n > end:
                raise ChannelError(f"event {len(events)}: runs past the frame")
            events.append(payload[pos : pos + n])
            pos += n
            continue
        if payload[pos] != PREPARED:
            raise ChannelError(f"event {len(events)}: unknown form {payload[pos]}")
        if pos + _LENGTHS.size > end:
            raise ChannelError(f"event {len(events)}: truncated lengths")
        lengths = _LENGTHS.unpack_from(payload, pos)[1:]
        pos += _LENGTHS.size
        if pos + sum(lengths) > end:
            raise ChannelError(f"event {len(events)}: parts run past the frame")
        parts = []
        for n in lengths:
            parts.append(payload[pos : pos + n])
            pos += n
        events.append((parts[0], parts[1], parts[2], parts[3]))
        if len(events) > MAX_BATCH_EVENTS:
            raise ChannelError(f"more than {MAX_BATCH_EVENTS} events in one frame")
    return first, since, events


def ack_frame(runs: Sequence[tuple[int, int, int, int]]) -> bytes:
    return frame(ACK, b"".join(_RUN.pack(*run) for run in runs))


def parse_acks(payload: bytes) -> Iterator[tuple[int, int, int, int]]:
    if len(payload) % _RUN.size:
        raise ChannelError("ACK frame of a broken length")
    return _RUN.iter_unpack(payload)


def runs(acks: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(index, seq, state) acknowledgements as runs where index and seq both count up by one."""
    out: list[tuple[int, int, int, int]] = []
    for index, seq, state in acks:
        if out:
            first, first_seq, count, last_state = out[-1]
            if (
                last_state == state
                and index == first + count
                and (state != JOURNALED or seq == first_seq + count)
            ):
                out[-1] = (first, first_seq, count + 1, state)
                continue
        out.append((index, seq, 1, state))
    return out


class FrameReader:
    """Reads whole frames from a socket; None at a clean end of stream."""

    def __init__(self, sock: socket.socket, where: str, *, accept_fds: bool = False) -> None:
        self._sock = sock
        self._where = where
        self._accept_fds = accept_fds
        self.fds: list[int] = []
        """File descriptors that came with the frames read (accept_fds): the reader's to close."""

    def _recv(self, n: int) -> bytes:
        if not self._accept_fds:
            return self._sock.recv(n)
        data, fds, _flags, _addr = socket.recv_fds(self._sock, n, MAX_FDS)
        self.fds.extend(fds)
        return data

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()

    def _exact(self, n: int, started: bool) -> bytes | None:
        chunks, left = [], n
        while left:
            chunk = self._recv(min(left, 1 << 20))
            if not chunk:
                if not started and left == n:
                    return None
                raise ChannelError("connection ended inside a frame", self._where)
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read(self) -> tuple[int, bytes] | None:
        head = self._exact(_HEADER.size, False)
        if head is None:
            return None
        length, kind = _HEADER.unpack(head)
        if length > MAX_FRAME:
            raise ChannelError(f"frame of {length} bytes exceeds {MAX_FRAME}", self._where)
        if kind not in KIND_NAMES:
            raise ChannelError(f"unknown frame kind {kind}", self._where)
        payload = self._exact(length, True) if length else b""
        return kind, payload or b""


def handshake(sock: socket.socket, where: str, hello: dict[str, object]) -> dict[str, Any]:
    """A client's opening: the writer's uid checked, HELLO (wire version and pid added) sent,
    the writer's WELCOME returned (it may say `refused`). ChannelError when it says anything
    else or nothing."""
    check_peer(sock, where)
    sock.sendall(json_frame(HELLO, {"wire": WIRE_VERSION, "pid": os.getpid(), **hello}))
    got = FrameReader(sock, where).read()
    if got is None or got[0] != WELCOME:
        raise ChannelError("the writer did not welcome us", where)
    welcome = orjson.loads(got[1])
    if not isinstance(welcome, dict):
        raise ChannelError("WELCOME is not an object", where)
    return welcome


def connect(addr: str | bytes, timeout: float | None = None) -> socket.socket:
    """A connected channel socket; raises OSError when no writer listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(addr)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
