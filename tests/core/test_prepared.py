"""The caller-side encoding: the writer's concatenation must equal canonical JSON (RFC 8785)
exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tradetrail.core.canonical import CORRELATION_FIELDS, encode_record, prepare

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from([*CORRELATION_FIELDS, "actor"])
envelopes = st.dictionaries(field_names, st.text(min_size=1, max_size=12), max_size=8)


@given(
    data=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_values, max_size=5)),
    fields=envelopes,
    priority=st.one_of(st.none(), st.sampled_from(["low", "high"])),
    seq=st.integers(min_value=0, max_value=10**12),
)
def test_line_is_canonical_json_of_the_record(
    data: dict[str, object] | None, fields: dict[str, str], priority: str | None, seq: int
) -> None:
    source = orjson.Fragment(b'{"host":"h","pid":1,"service":"s"}')
    event = prepare("order.accepted", data, {**fields, "priority": priority}, source, 1 << 20)
    prev = "ab" * 32
    ts = "2026-11-23T10:00:00.000001Z"
    line = event.line(prev.encode(), seq, ts.encode())
    parsed = orjson.loads(line)
    assert encode_record(parsed) == line
    assert parsed["seq"] == seq and parsed["prev"] == prev and parsed["ts"] == ts
    assert parsed["type"] == "order.accepted"
    for name, value in fields.items():
        assert parsed[name] == value
    assert _json_numbers(parsed.get("data")) == _json_numbers(data, given=True)
    assert ("priority" in parsed) == (priority is not None)
    fields_back = event.fields()
    assert "seq" not in fields_back and fields_back["event_id"] == event.event_id


def _json_numbers(value: Any, given: bool = False) -> Any:
    """Numbers as a double-reading JSON parser sees them; given integers beyond ±(2^53-1) are
    journaled as strings."""
    if isinstance(value, dict):
        return {k: _json_numbers(v, given) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v, given) for v in value]
    if given and type(value) is int and abs(value) > 2**53 - 1:
        return str(value)
    if type(value) is int or type(value) is float:
        return float(value)
    return value


def test_decimals_are_exact_strings_and_absent_fields_omitted() -> None:
    event = prepare("fill.done", {"px": Decimal("64250.10"), "q": Decimal("1E+3")}, {}, None, 4096)
    parsed = orjson.loads(event.line(b"0" * 64, 0, b"t"))
    assert parsed["data"] == {"px": "64250.10", "q": "1000"}
    assert set(parsed) == {"data", "event_id", "prev", "seq", "ts", "type"}


def test_caller_mutation_after_prepare_changes_nothing() -> None:
    data = {"qty": "1"}
    event = prepare("order.accepted", data, {"order_id": "O-1"}, None, 4096)
    data["qty"] = "999"
    assert b'"qty":"1"' in event.line(b"0" * 64, 0, b"t")
