"""The caller's minimum (core.canonical.encode_raw, in Python and compiled) against the reference:
for any event the raw path takes, the writer's prepare() of the decoded bytes gives exactly the
bytes the caller's prepare() gives; whatever the caller's prepare() refuses, the raw path refuses to
take (it must raise at once, in the caller). Differential, property-based."""

from __future__ import annotations

import enum
import os
import re
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secret_corpus import CORPUS
from tradetrail.core.canonical import (
    CORRELATION_FIELDS,
    MAX_DEPTH,
    RawEvent,
    decode_raw,
    encode_raw_c,
    encode_raw_py,
    prepare,
)
from tradetrail.errors import PartsError
from tradetrail.model.events import DEFAULT_MODEL
from tradetrail.model.redact import DEFAULT_REDACTOR

SOURCE = orjson.Fragment(b'{"host":"h","pid":1,"service":"s"}')
LIMIT = 1 << 20


class Side(enum.Enum):
    BUY = "buy"


def reference(event_type: str, data: Any, fields: dict[str, Any]) -> Any:
    return prepare(
        event_type, data, fields, SOURCE, LIMIT, model=DEFAULT_MODEL, redactor=DEFAULT_REDACTOR
    )


def through_writer(raw: bytes) -> Any:
    kind, data, fields = decode_raw(raw)
    return prepare(
        kind, data, fields, SOURCE, LIMIT, model=DEFAULT_MODEL, redactor=DEFAULT_REDACTOR
    )


def _compiled(event_type: str, data: Any, fields: Any, limit: int) -> RawEvent | None:
    assert encode_raw_c is not None
    raw = encode_raw_c(event_type, data, fields, limit)
    return None if raw is None else RawEvent(raw)


ENCODERS: dict[str, Any] = {"python": encode_raw_py}
if encode_raw_c is not None:
    ENCODERS["c"] = _compiled
encode_raw = encode_raw_py


@pytest.fixture(autouse=True, scope="module", params=sorted(ENCODERS))
def _each_encoder(request: pytest.FixtureRequest) -> Any:
    """Every test runs against the reference and against the compiled encoder (core/_rawjson.c,
    when built): the same properties hold for both."""
    global encode_raw
    encode_raw = ENCODERS[request.param]
    yield
    encode_raw = encode_raw_py


def test_the_compiled_encoder_comes_with_the_accelerator() -> None:
    """Built by the same hook as core/_chain.c: one without the other is a broken build."""
    import importlib.util

    if importlib.util.find_spec("tradetrail.core._chain") is not None:
        assert encode_raw_c is not None or os.environ.get("TRADETRAIL_ACCELERATOR") == "off"


def check(event_type: str, data: Any, fields: dict[str, Any]) -> bool:
    """True when the raw path took the event (and gave the reference's bytes)."""
    reference(event_type, None, {})  # the type is known valid, as after a first record()
    raw = encode_raw(event_type, data, fields, LIMIT)
    if raw is None:
        return False
    try:
        expected = reference(event_type, data, {**fields, "event_id": raw.event_id})
    except (ValueError, TypeError) as exc:
        pytest.fail(f"the raw path took an event the caller must refuse: {exc}")
    assert through_writer(raw.raw).parts() == expected.parts()
    return True


scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.uuids(),
    st.just(Side.BUY),
    st.datetimes(),
    st.sampled_from([b"bytes", {1, 2}]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)
types = st.sampled_from(["order.accepted", "order.filled", "risk.rejected", "x.note", "fill.x"])
field_values = st.one_of(st.text(min_size=1, max_size=12), st.integers(), st.none())


@settings(max_examples=400, deadline=None)
@given(
    types,
    st.one_of(st.none(), st.dictionaries(st.text(max_size=10), values, max_size=5)),
    st.dictionaries(st.sampled_from(CORRELATION_FIELDS), field_values, max_size=3),
)
def test_raw_events_give_the_reference_bytes(
    event_type: str, data: Any, fields: dict[str, Any]
) -> None:
    check(event_type, data, fields)


def test_every_secret_of_the_corpus_is_redacted_by_the_writer_as_in_the_caller() -> None:
    taken = 0
    for _, data, *_ in CORPUS:
        taken += check("x.note", data, {"account": "ACC-1"})
    assert taken >= len(CORPUS) // 2  # most take the raw path; the rest the caller's


def test_the_common_event_takes_the_raw_path() -> None:
    data = {"status": "accepted", "price": Decimal("64012.50"), "qty": 3, "px": "1.5"}
    assert check("order.accepted", data, {"order_id": "O-1", "symbol": "BTC-USD"})
    assert check("order.accepted", None, {"order_id": "O-1"})


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"px": float("nan")}, {}),
        ({"px": Decimal("NaN")}, {}),
        ({"at": __import__("datetime").datetime(2024, 1, 1)}, {}),  # naive
        ({1: "x"}, {}),
        ({"b": b"x"}, {}),
        ({"n": None}, {}),
        ({"n": [1, None]}, {}),
        ({"id": uuid.uuid4()}, {"priority": "high"}),
        ({}, {"order_id": 7}),
        ({}, {"order_id": ""}),
        ({}, {"context": {"a": 1}}),
    ],
)
def test_what_the_caller_must_check_takes_its_full_path(
    data: dict[str, Any], fields: dict[str, Any]
) -> None:
    assert encode_raw("order.accepted", data, fields, LIMIT) is None


@pytest.mark.parametrize(
    "data",
    [
        {"latency_us": Decimal("1.5")},  # a schema error: the same message either way
        {"latency_us": Decimal("15")},
        {"latency_us": "15"},
        {"price": Decimal("5")},
        {"price": Decimal("-0")},
        {"price": Decimal("1E+2")},
        {"price": Decimal("0.00000001")},
        {"price": 5},
        {"price": "64012.50"},
        {"status": Decimal("1")},
        {"remaining_qty": [Decimal("1.25"), 3]},
    ],
)
def test_decimals_reach_the_writer_as_decimals(data: dict[str, Any]) -> None:
    assert check("order.accepted", data, {"order_id": "O-1"})


def test_floats_take_the_full_path() -> None:
    assert not check("order.accepted", {"px": 1.5}, {})
    assert not check("order.accepted", {"px": [1e16]}, {})
    assert check("order.accepted", {"note": "1.5 and 1e16 as text"}, {})


def test_nesting_near_the_limit_is_left_to_the_caller() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH - 2):
        deep = [deep]
    assert encode_raw("order.accepted", {"d": deep}, {}, LIMIT) is None


def test_an_unseen_type_takes_the_full_path() -> None:
    assert encode_raw("never.seen_before_type", {}, {}, LIMIT) is None


@pytest.mark.parametrize(
    "raw",
    [b"{", b"{}", b'["a.b"]', b'["a.b","x",{}]', b'[1,"01a25186-1054-7379-b4ad-6d5110c30f20",{}]'],
)
def test_foreign_raw_bytes_are_refused(raw: bytes) -> None:
    with pytest.raises(PartsError):
        decode_raw(raw)


plain = st.recursive(
    st.one_of(
        st.text(max_size=20),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.booleans(),
        st.decimals(allow_nan=False, allow_infinity=False, places=4),
        st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(types, st.dictionaries(st.text(max_size=10), plain, max_size=5))
def test_plain_data_always_takes_the_raw_path_with_the_reference_bytes(
    event_type: str, data: dict[str, Any]
) -> None:
    taken = check(event_type, data, {"account": "ACC-1", "venue": "XNAS"})
    # the one conservative refusal: text that looks like a null value inside a string
    assert taken or re.search(rb"[:,\[]null", orjson.dumps(data)), data


# ------------------------------------------------------------------ the compiled encoder only

needs_c = pytest.mark.skipif(encode_raw_c is None, reason="the accelerator is not built")


@needs_c
@pytest.mark.parametrize(
    "value",
    [
        'quote " backslash \\ slash / tab \t nul \x00 del \x7f',
        "\u00e9\u4e2d\U0001f600",
        2**63 - 1,
        -(2**63),
        2**64 - 1,
        True,
        False,
        [[[["deep"]]]],
        ("a", 1),
        {"k": {"j": [1, "x"]}},
        Decimal("1.5E+255"),
        Decimal("-1.5E-255"),
    ],
)
def test_the_compiled_encoder_writes_json_the_writer_reads_back(value: Any) -> None:
    prepare("order.accepted", None, {}, SOURCE, LIMIT)
    raw = encode_raw_c("order.accepted", {"v": value}, {"account": "A"}, LIMIT)
    assert raw is not None
    expected = list(value) if isinstance(value, tuple) else value
    assert decode_raw(raw)[1] == {"v": expected}
    assert orjson.loads(raw)[3]["v"] is not None


@needs_c
@pytest.mark.parametrize(
    "value",
    [
        "lone \ud800 surrogate",
        2**64,
        -(2**63) - 1,
        Decimal("1E+256"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        1.5,
        None,
        [1, None],
        {1: "non-str key"},
        type("S", (str,), {})("str subclass"),
        type("D", (dict,), {})(),
    ],
)
def test_the_compiled_encoder_leaves_what_it_does_not_know_to_prepare(value: Any) -> None:
    prepare("order.accepted", None, {}, SOURCE, LIMIT)
    assert encode_raw_c("order.accepted", {"v": value}, {}, LIMIT) is None


@needs_c
def test_compiled_event_ids_are_unique_uuid7_and_differ_after_fork() -> None:
    prepare("order.accepted", None, {}, SOURCE, LIMIT)
    ids = [
        RawEvent(encode_raw_c("order.accepted", None, {}, LIMIT) or b"").event_id
        for _ in range(20_000)
    ]
    assert len(set(ids)) == len(ids)
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and str(parsed) == text
    assert ids == sorted(ids)  # one process: increasing (sub-millisecond counter)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child must not reuse the parent's random pool
        child = [
            RawEvent(encode_raw_c("order.accepted", None, {}, LIMIT) or b"").event_id
            for _ in range(64)
        ]
        os.write(write, orjson.dumps(child))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        child_ids = orjson.loads(fh.read())
    os.waitpid(pid, 0)
    parent = [
        RawEvent(encode_raw_c("order.accepted", None, {}, LIMIT) or b"").event_id for _ in range(64)
    ]
    assert not {i[-12:] for i in child_ids} & {i[-12:] for i in parent}


@needs_c
def test_the_compiled_encoder_respects_the_size_limit() -> None:
    prepare("order.accepted", None, {}, SOURCE, LIMIT)
    assert encode_raw_c("order.accepted", {"note": "x" * 5000}, {}, 6000) is None
    assert encode_raw_c("order.accepted", {"note": "x" * 5000}, {}, 7000) is not None
