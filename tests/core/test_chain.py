"""The compiled accelerator against the pure-Python reference: the same bytes, leaves and next
prev for any batch, and the same journal from a writer that uses it.

CI builds the extension (scripts/test sets TRADETRAIL_BUILD_ACCELERATOR=1), so there these
tests run; on an install without a compiler they skip, and only the reference runs.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tradetrail
from tradetrail.core import chain
from tradetrail.core.canonical import Prepared
from tradetrail.core.merkle import leaf_hash
from tradetrail.writer import sequencer

_chain = pytest.importorskip("tradetrail.core._chain", reason="the accelerator is not built")


def parts(p0: bytes, p1: bytes, p2: bytes, p3: bytes) -> Prepared:
    event = Prepared.__new__(Prepared)
    event.p0, event.p1, event.p2, event.p3 = p0, p1, p2, p3
    return event


# odd parts: empty, any bytes, UTF-8 of any text, now and then large (with newlines)
part = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    st.text(max_size=32).map(str.encode),
    st.integers(5_000, 70_000).map(lambda n: (b"\xe2\x9c\x93\n" * n)[:n]),
)
event = st.builds(parts, part, part, part, part)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(event, max_size=12),
    prev=st.one_of(st.binary(max_size=80), st.just(b"0" * 64)),
    seq=st.one_of(st.integers(0, 2**64 - 100), st.sampled_from([0, 9, 10, 99, 2**64 - 13])),
    data=st.data(),
)
def test_same_bytes_as_the_reference(
    events: list[Prepared], prev: bytes, seq: int, data: st.DataObject
) -> None:
    stamps = data.draw(st.lists(st.binary(max_size=40), min_size=len(events), max_size=len(events)))
    want = chain.splice_and_hash_py(events, prev, seq, stamps)
    assert _chain.splice_and_hash(events, prev, seq, stamps) == want
    # the reference itself: the lines as Prepared.line() splices them, their RFC 6962 leaves
    lines, before = [], prev
    for i, (e, ts) in enumerate(zip(events, stamps, strict=True)):
        lines.append(e.line(before, seq + i, ts))
        before = leaf_hash(lines[-1]).hex().encode()
    assert want[0] == b"".join(line + b"\n" for line in lines)
    assert want[1] == [leaf_hash(line) for line in lines]
    assert want[2] == (want[1][-1].hex().encode() if events else prev)


def test_a_large_batch_of_real_events(tmp_path: Path) -> None:
    with tradetrail.open(tmp_path, writer="embedded", min_free_bytes=0) as trail:
        shaped = [
            trail.shape("order.accepted", {"qty": i, "note": "é✓" * (i % 7)}, {}, {})
            for i in range(5000)
        ]
    stamps = [b"2026-01-01T00:00:00.%06dZ" % i for i in range(5000)]
    got = _chain.splice_and_hash(shaped, b"", 0, stamps)
    assert got == chain.splice_and_hash_py(shaped, b"", 0, stamps)
    assert got[1][0] == hashlib.sha256(b"\x00" + got[0].split(b"\n", 1)[0]).digest()


def test_bad_arguments_are_named() -> None:
    good = parts(b"{", b"", b"", b"}")
    with pytest.raises(ValueError, match="stamps has 0 item"):
        _chain.splice_and_hash([good], b"", 0, [])
    with pytest.raises(TypeError, match=r"events\[1\]\.p2 must be bytes, not str"):
        _chain.splice_and_hash([good, parts(b"", b"", "x", b"")], b"", 0, [b"", b""])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"stamps\[0\] must be bytes"):
        _chain.splice_and_hash([good], b"", 0, [bytearray()])  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        _chain.splice_and_hash([object()], b"", 0, [b""])  # type: ignore[list-item]
    with pytest.raises(OverflowError):
        _chain.splice_and_hash([good], b"", -1, [b""])
    with pytest.raises(OverflowError, match="seq overflows"):
        _chain.splice_and_hash([good, good], b"", 2**64 - 1, [b"", b""])
    assert _chain.splice_and_hash([], b"abc", 5, []) == (b"", [], b"abc")


class StepClock:
    """1 ms a reading from just before a UTC midnight: the batch crosses a day."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> int:
        return 1_767_225_599_000_000_000 - 700_000_000 + next(self._ticks) * 1_000_000


def journal_bytes(home: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((home / "journal").glob("*.jsonl"))]


def test_the_writer_journals_the_same_bytes_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sequencer.splice_and_hash_c is _chain.splice_and_hash or chain.ACCELERATOR.endswith(
        "=off)"
    )
    with tradetrail.open(tmp_path / "shaper", writer="embedded", min_free_bytes=0) as trail:
        shaped = [
            trail.shape("order.accepted", {"qty": i, "text": "ü" * (i % 5)}, {}, {"pid": 1})
            for i in range(3000)
        ]
    homes: dict[str, Any] = {}
    for name, fast in (("c", _chain.splice_and_hash), ("py", None)):
        monkeypatch.setattr(sequencer, "splice_and_hash_c", fast)
        home = tmp_path / name
        with tradetrail.open(home, writer="embedded", clock=StepClock(), min_free_bytes=0) as t:
            for start in range(0, len(shaped), 700):
                for receipt in t.record_shaped(shaped[start : start + 700]):
                    receipt.wait(30)
        assert tradetrail.verify(home).ok
        homes[name] = journal_bytes(home)
    assert len(homes["c"]) == 2  # the clock crossed midnight
    assert homes["c"] == homes["py"]
