"""Coverage-guided fuzzing of the compiled accelerator (tradetrail.core._chain) against the
pure-Python reference (tradetrail.core.chain.splice_and_hash_py).

`check(data)` turns any bytes into a call (events, prev, seq, stamps) -- odd parts, missing or
non-bytes parts, wrong stamp counts, seqs at and beyond the 64-bit edges, wrong argument types
-- and makes both implementations answer: the same (data, leaves, prev), or the same exception
class. Where the reference accepts what the extension's contract refuses (a seq outside uint64,
a bytearray part, a tuple for the list), `contract_error` says what the extension must raise.
A difference raises `Mismatch`. The target runs without atheris (tests/core/
test_fuzz_harness.py replays the seed corpus through it); `python3 fuzz/fuzz_chain.py` runs
it under atheris (libFuzzer), see fuzz/README.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from tradetrail.core.chain import splice_and_hash_py

U64_MAX = 2**64 - 1
PARTS = ("p0", "p1", "p2", "p3")
MAX_EVENTS = 9
MISSING: Any = object()
"""A part the input leaves out (as a stamp: a value of the wrong type)."""

Call = tuple[Any, Any, Any, Any]
"""(events, prev, seq, stamps) as handed to splice_and_hash: any types, on purpose."""

SpliceAndHash = Callable[..., tuple[bytes, list[bytes], bytes]]


class Mismatch(AssertionError):
    """The extension and the reference (or the contract) disagree on one input."""


class Event:
    """A prepared event as the writer hands it over; a part the input leaves out is missing."""

    def __repr__(self) -> str:
        return f"Event({vars(self)!r})"


class Blob(bytes):
    """A bytes subclass: bytes to the extension's checks as to the reference."""


class Reader:
    """The fuzzer's bytes, consumed from the front; an exhausted input reads as zeros, so every
    input (the empty one too) is a call."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def take(self, n: int) -> bytes:
        out = self.data[self.at : self.at + n]
        self.at += len(out)
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size).ljust(size, b"\0"), "big")


def read_bytes_like(r: Reader) -> Any:
    """A part or a stamp: mostly bytes (short, or large with newlines and UTF-8), now and then
    the wrong type, or MISSING."""
    kind = r.byte()
    if kind == 255:
        return MISSING
    if kind < 232:
        return r.take(kind % 48)
    if kind < 240:
        n = r.uint(2) + 1
        return (b"\xe2\x9c\x93\n" + r.take(3)) * (n // 7 + 1)
    if kind < 244:
        return b"0" * 64  # a hex prev's shape, as a part
    return (bytearray(r.take(2)), "x", None, 7, memoryview(b"m"), True, Blob(r.take(5)))[kind % 7]


def read_seq(r: Reader, n: int) -> Any:
    kind = r.byte() % 10
    k = r.byte()
    if kind == 0:
        return k
    if kind == 1:
        return r.uint(8)
    if kind == 2:  # the last seqs a batch of n can start at, and the first it cannot
        return U64_MAX - max(n - 1, 0) + 1 - k % 3
    if kind == 3:
        return U64_MAX - k
    if kind == 4:  # where the digits grow: 9, 10, 99, 100, ...
        return max(10 ** (k % 20) - k // 20 % 2, 0)
    if kind == 5:
        return U64_MAX + 1 + k
    if kind == 6:
        return -1 - k
    if kind == 7:
        return (1.0, "1", None, b"1", True, False, 2**64 * 2**64)[k % 7]
    return r.uint(3)


def read_call(data: bytes) -> Call:
    r = Reader(data)
    n = r.byte() % (MAX_EVENTS + 1)
    shape = r.byte()
    prev_kind = r.byte()
    prev: Any
    if prev_kind < 200:
        prev = r.take(prev_kind % 81)
    elif prev_kind < 250:
        prev = r.take(32).hex().encode()
    else:
        prev = (bytearray(b"ab"), "ab", None, memoryview(b"ab"), 0, Blob(b"ab"))[prev_kind % 6]
    seq = read_seq(r, n)
    events: list[Event] = []
    for _ in range(n):
        event = Event()
        for name in PARTS:
            part = read_bytes_like(r)
            if part is not MISSING:
                setattr(event, name, part)
        events.append(event)
    count = n
    if shape % 8 == 7:  # a wrong stamp count
        count = max(n + (1, -1, 2, -n)[shape // 8 % 4], 0)
    stamps = [read_bytes_like(r) for _ in range(count)]
    events_arg: Any = tuple(events) if shape == 0x20 else events
    stamps_arg: Any = tuple(stamps) if shape == 0x40 else stamps
    return events_arg, prev, seq, stamps_arg


def contract_error(call: Call) -> tuple[type[BaseException], str] | None:
    """The exception class (and a fragment of its message) the extension must raise for a call
    the reference does not refuse in the same way -- in the extension's order of checks -- or
    None when the reference decides."""
    events, prev, seq, stamps = call
    if not isinstance(events, list) or not isinstance(prev, bytes) or not isinstance(stamps, list):
        return TypeError, "splice_and_hash"
    if not isinstance(seq, int):
        return TypeError, ""
    if not 0 <= seq <= U64_MAX:
        return OverflowError, ""
    if len(stamps) != len(events):
        return ValueError, f"stamps has {len(stamps)} item(s) for {len(events)} event(s)"
    if events and seq > U64_MAX - (len(events) - 1):
        return OverflowError, "seq overflows 64 bits"
    for i, (event, ts) in enumerate(zip(events, stamps, strict=True)):
        for k, name in enumerate(PARTS):
            if not hasattr(event, name):
                return AttributeError, name
            if not isinstance(getattr(event, name), bytes):
                return TypeError, f"events[{i}].p{k} must be bytes"
        if not isinstance(ts, bytes):
            return TypeError, f"stamps[{i}] must be bytes"
    return None


def describe(call: Call) -> str:
    events, prev, seq, stamps = call
    shown = ", ".join(repr(e)[:200] for e in events)
    return f"events=[{shown}] prev={prev!r:.100} seq={seq!r} stamps={stamps!r:.300}"


def outcome(fn: SpliceAndHash, call: Call) -> tuple[bool, Any]:
    try:
        return True, fn(*call)
    except Exception as exc:  # any exception is an outcome to compare
        return False, exc


def check(
    data: bytes,
    fast: SpliceAndHash | None = None,
    reference: Callable[
        [Sequence[Any], bytes, int, Sequence[bytes]], tuple[bytes, list[bytes], bytes]
    ] = splice_and_hash_py,
) -> None:
    """Run one input through the extension (`fast`; by default the installed one) and the
    reference; raise Mismatch when they disagree."""
    if fast is None:
        from tradetrail.core import _chain

        fast = _chain.splice_and_hash
    call = read_call(data)
    ok, got = outcome(fast, call)
    refused = contract_error(call)
    if refused is not None:
        cls, fragment = refused
        if ok or type(got) is not cls or fragment not in str(got):
            raise Mismatch(f"want {cls.__name__}({fragment!r}), got {got!r}: {describe(call)}")
        return
    want_ok, want = outcome(reference, call)
    if ok != want_ok or (ok and got != want) or (not ok and type(got) is not type(want)):
        raise Mismatch(f"extension {got!r:.300} != reference {want!r:.300}: {describe(call)}")


def main() -> None:
    import atheris  # type: ignore[import-untyped]

    from tradetrail.core import _chain

    fast = _chain.splice_and_hash
    print(f"fuzzing {_chain.__file__}", file=sys.stderr)

    def one_input(data: bytes) -> None:
        check(data, fast)

    # Python-level coverage of the input decoding (which shapes of call were reached); the
    # extension's own coverage comes from its -fsanitize=fuzzer-no-link build (fuzz/README.md)
    for fn in (read_bytes_like, read_seq, read_call, contract_error, check):
        atheris.instrument_func(fn)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
