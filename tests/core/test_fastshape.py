"""The writer's compiled shaper (core.fastshape, core/_shape.c) against the reference: whenever
it answers for a raw event, its answer is byte for byte what `prepare()` makes of
`decode_raw()` of the same bytes; whenever the reference would redact, record a schema error,
refuse or fall back, it declines. Differential and property-based, on the events the caller's
encoders make and on hostile bytes."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from secret_corpus import CORPUS
from tradetrail.core import fastshape
from tradetrail.core.canonical import (
    CORRELATION_FIELDS,
    STRING_FIELDS,
    decode_raw,
    encode_raw_c,
    encode_raw_py,
    prepare,
)
from tradetrail.errors import PartsError
from tradetrail.model.events import DEFAULT_MODEL
from tradetrail.model.redact import DEFAULT_REDACTOR, Redactor

pytestmark = pytest.mark.skipif(
    fastshape.load(DEFAULT_MODEL, DEFAULT_REDACTOR, 1 << 20) is None,
    reason="the accelerator is not built (or TRADETRAIL_ACCELERATOR=off)",
)

SOURCE = b'{"host":"h","pid":1,"service":"s"}'
LIMIT = 1 << 20


def shaper(redactor: Any = DEFAULT_REDACTOR, limit: int = LIMIT) -> fastshape.CompiledShaper:
    got = fastshape.load(DEFAULT_MODEL, redactor, limit)
    assert got is not None
    return got


SHAPER = None if encode_raw_c is None else fastshape.load(DEFAULT_MODEL, DEFAULT_REDACTOR, LIMIT)


def reference(raw: bytes, redactor: Any = DEFAULT_REDACTOR, limit: int = LIMIT) -> Any:
    """prepare() of the decoded bytes, as the writer's Python path does; None when it raises
    (the writer then records a log.fallback, which the compiled shaper must leave to it)."""
    try:
        kind, data, fields = decode_raw(raw)
        return prepare(
            kind,
            data,
            fields,
            orjson.Fragment(SOURCE),
            limit,
            model=DEFAULT_MODEL,
            redactor=redactor,
        )
    except (PartsError, ValueError, TypeError):
        return None


def agrees(raw: bytes, shape: fastshape.CompiledShaper | None = None, **kw: Any) -> bool:
    """The compiled answer is the reference's, or None; True when it answered."""
    got = (shape or SHAPER or shaper()).shape(raw, SOURCE)
    if got is None:
        return False
    expected = reference(raw, **kw)
    assert expected is not None, f"shaped an event the reference refuses: {raw!r}"
    assert expected.redacted is None and expected.schema_error is None, raw
    assert got.parts() == expected.parts(), raw
    assert got.event_id == expected.event_id
    assert got.redacted is None and got.schema_error is None
    return True


def raw_of(event_type: str, data: Any, fields: dict[str, Any]) -> bytes | None:
    prepare(event_type, None, {}, None, LIMIT)  # the type is known valid, as after a record()
    event = encode_raw_py(event_type, data, fields, LIMIT)
    return None if event is None else event.raw


ORDER = {"order_id": "O-1001", "account": "ACC-7", "symbol": "BTC-USD", "venue": "COINBASE"}


def test_the_common_events_are_shaped_in_c() -> None:
    """The point of it: the order lifecycle of bench/run.py's stream takes the compiled path."""
    cases = [
        ("order.accepted", {"status": "accepted", "price": "101.25"}, ORDER),
        ("order.submitted", {"side": "buy", "qty": "0.5", "price": "64012.50"}, ORDER),
        ("order.filled", {"fill_qty": "0.5", "fill_price": "64012.5", "liquidity": "maker"}, ORDER),
        ("order.rejected", {"reason": "insufficient margin", "rejected_by": "venue"}, ORDER),
        ("risk.passed", {"checks": ["notional", "position"], "notional": "10934.2"}, ORDER),
        ("order.accepted", {"price": Decimal("1.50"), "latency_us": 17}, ORDER),
        ("order.accepted", {"price": 5, "remaining_qty": Decimal("-0.0")}, ORDER),
        ("order.accepted", None, {"order_id": "O-2"}),
        ("order.accepted", {}, {}),
    ]
    for event_type, data, fields in cases:
        raw = raw_of(event_type, data, fields)
        assert raw is not None
        assert agrees(raw), (event_type, data)


@pytest.mark.parametrize(
    ("event_type", "data", "why"),
    [
        ("order.accepted", {"status": "accepted", "bogus": 1}, "unknown field: schema_error"),
        ("order.submitted", {"qty": "1"}, "missing required side: schema_error"),
        ("order.submitted", {"side": "up", "qty": "1"}, "not a value of the Literal"),
        ("order.accepted", {"latency_us": True}, "a bool for an int"),
        ("order.accepted", {"price": "01.5"}, "a decimal text format() rewrites"),
        ("order.accepted", {"price": "1e5"}, "a decimal text format() rewrites"),
        ("order.accepted", {"price": Decimal("1E+2")}, "a Decimal not in plain form"),
        ("order.accepted", {"latency_us": 2**53}, "an integer beyond I-JSON"),
        ("order.accepted", {"status": "token: abc"}, "a label a secret could follow"),
        ("order.accepted", {"status": "Bearer abcdefgh12345"}, "a credential"),
        ("order.accepted", {"status": "caf\u00e9"}, "not ASCII"),
        ("order.accepted", {"status": 'a "quote"'}, "an escape"),
        ("x.unknown", {"a": "b"}, "a type the model does not know"),
        ("compliance.record_corrected", {"reason": "typo"}, "its own rule: __post_init__"),
        ("log.fallback", {"intended_type": "a.b", "reason": "r"}, "counted by the writer"),
    ],
)
def test_what_it_leaves_to_the_reference(event_type: str, data: Any, why: str) -> None:
    raw = raw_of(event_type, data, ORDER)
    if raw is None:
        return  # the caller shapes it itself: nothing reaches the writer raw
    assert (SHAPER or shaper()).shape(raw, SOURCE) is None, why
    reference(raw)  # and the reference takes it (or falls back) without the compiled answer


def test_every_secret_of_the_corpus_is_left_to_the_redactor() -> None:
    """No secret written in text in the corpus gets past the compiled check, wherever it is
    put: the event goes to the reference, which redacts it. (The corpus's other values are
    secret by their key only; under a plain key they are plain text, and shaped as such.)"""
    in_text = 0
    for _, data, *_ in CORPUS:
        for value in _strings(data):
            secret = bool(DEFAULT_REDACTOR.redact(value, "v")[1])
            in_text += secret
            for event_type, event_data, fields in (
                ("order.accepted", {"status": value}, ORDER),
                ("order.rejected", {"reason": value}, ORDER),
                ("order.accepted", {}, {**ORDER, "client_order_id": value[:512] or "x"}),
                ("risk.passed", {"checks": ["a", value]}, ORDER),
            ):
                raw = raw_of(event_type, event_data, fields)
                if raw is not None and agrees(raw):
                    assert not secret, value
    assert in_text >= 20


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


# the fragments every built-in value pattern needs, mixed with harmless text
PIECES = [
    *("bearer ", "Basic ", "-----BEGIN RSA PRIVATE KEY-----", "AKIA", "ASIA", "AIza", "ghp_"),
    *("github_pat_", "xoxb-", "hooks.slack.com/services/", "discord.com/api/webhooks/"),
    *("123456789:AA", "sk_live_", "rk_test_", "whsec_", "sk-", "eyJ", "eyJhbGciOi.eyJzdWIi."),
    *("://user:pw@", "password=", "api key: ", "?sig=", "token", "secret", " ", "-", "_", "."),
    *("ORD", "1234567890", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRST", "x" * 40),
]
texts = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(sorted(STRING_FIELDS - {"trace_id", "span_id"})))
def test_text_the_compiled_check_passes_is_never_redacted(text: str, field: str) -> None:
    for event_type, data, fields in (
        ("order.rejected", {"reason": text}, {"account": "A"}),
        ("order.accepted", None, {field: text[:512]}),
    ):
        raw = raw_of(event_type, data, fields)
        if raw is not None and agrees(raw):
            assert not DEFAULT_REDACTOR.redact(text, "v")[1], text


decimal_texts = st.from_regex(r"\A-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,12})?\Z")
field_values: Any = st.one_of(
    st.text(max_size=12),
    texts,
    decimal_texts,
    st.integers(min_value=-(2**60), max_value=2**60),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 40
    ),
    st.booleans(),
    st.sampled_from(["buy", "sell", "maker", "taker", "sell_short", "BUY"]),
    st.lists(st.text(max_size=6), max_size=3),
)
flat_types = sorted(DEFAULT_MODEL.types())


@st.composite
def events(draw: st.DrawFn) -> tuple[str, Any, dict[str, Any]]:
    event_type = draw(st.sampled_from(flat_types))
    names = [name for name, *_ in DEFAULT_MODEL.flat_fields(event_type) or []]
    keys = st.sampled_from(names) if names else st.just("x")
    data = draw(
        st.one_of(
            st.none(),
            st.dictionaries(st.one_of(keys, st.text(max_size=5)), field_values, max_size=6),
        )
    )
    fields = draw(
        st.dictionaries(
            st.sampled_from(CORRELATION_FIELDS), st.one_of(st.text(max_size=8), texts), max_size=4
        )
    )
    return event_type, data, fields


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_any_raw_event_is_shaped_as_the_reference_shapes_it(
    event: tuple[str, Any, dict[str, Any]],
) -> None:
    event_type, data, fields = event
    raw = raw_of(event_type, data, fields)
    assume(raw is not None)
    assert raw is not None
    agrees(raw)
    if encode_raw_c is not None:  # the compiled encoder's bytes too
        compiled = encode_raw_c(event_type, data, fields, LIMIT)
        if compiled is not None:
            agrees(compiled)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.data())
def test_hostile_bytes_are_shaped_as_the_reference_or_declined(
    event: tuple[str, Any, dict[str, Any]], data: st.DataObject
) -> None:
    """A foreign client's bytes: cut, grown, or with a byte changed, anywhere."""
    raw = raw_of(*event)
    assume(raw is not None)
    assert raw is not None
    at = data.draw(st.integers(0, len(raw)))
    how = data.draw(st.sampled_from(["cut", "insert", "replace", "duplicate"]))
    byte = data.draw(st.sampled_from(b' ,:"[]{}\\0159eE.-+atfnu\x00\xc3\xff'))
    if how == "cut":
        raw = raw[:at]
    elif how == "insert":
        raw = raw[:at] + bytes([byte]) + raw[at:]
    elif how == "replace":
        raw = raw[:at] + bytes([byte]) + raw[at + 1 :]
    else:
        raw = raw[:at] + raw[at:][:20] + raw[at:]
    agrees(raw)


def test_a_type_with_rules_of_its_own_is_left_to_validation() -> None:
    """A struct's __post_init__ is code only validation runs (found by the hypothesis test
    below: compliance.record_corrected needs one of two fields, which no field kind says)."""
    assert DEFAULT_MODEL.flat_fields("compliance.record_corrected") is None
    raw = b'["compliance.record_corrected","01a2535f-20b3-709b-98a5-e0edd0ed3b2f",{},{"reason":""}]'
    assert (SHAPER or shaper()).shape(raw, SOURCE) is None
    assert reference(raw).schema_error is not None


def test_duplicate_keys_and_whitespace_are_declined() -> None:
    raw = raw_of("order.accepted", {"status": "a", "price": "1"}, ORDER)
    assert raw is not None and agrees(raw)
    assert SHAPER is not None
    twice = raw.replace(b'"status":"a"', b'"status":"a","status":"b"')
    assert SHAPER.shape(twice, SOURCE) is None
    field_twice = raw.replace(b'"order_id":"O-1001"', b'"order_id":"O-1","order_id":"O-2"')
    assert SHAPER.shape(field_twice, SOURCE) is None
    assert SHAPER.shape(raw.replace(b",", b", ", 1), SOURCE) is None
    assert SHAPER.shape(raw + b" ", SOURCE) is None
    upper = re.sub(rb'"([0-9a-f]{8})-', lambda m: b'"' + m.group(1).upper() + b"-", raw, count=1)
    if upper != raw:
        assert SHAPER.shape(upper, SOURCE) is None


def test_the_size_limit_is_prepares() -> None:
    """An event prepare() refuses as too large is declined (the reference names the limit)."""
    raw = raw_of("order.rejected", {"reason": "x" * 600}, ORDER)
    assert raw is not None
    sizes = [len(reference(raw, limit=LIMIT)) + d for d in (-1, 0, 1)]
    for limit in sizes:
        got = shaper(limit=limit).shape(raw, SOURCE)
        expected = reference(raw, limit=limit)
        assert (got is None) == (expected is None), limit
        if got is not None:
            assert got.parts() == expected.parts()


def test_the_redactors_rules_are_followed() -> None:
    """A key made secret by the trail's configuration is left to the redactor; extra value
    patterns (which can match anything) turn the compiled shaper off."""
    secret_status = Redactor(extra_keys=["status"])
    raw = raw_of("order.accepted", {"status": "accepted"}, ORDER)
    assert raw is not None
    assert shaper(secret_status).shape(raw, SOURCE) is None
    assert reference(raw, redactor=secret_status).redacted == ["data.status"]
    secret_account = Redactor(extra_keys=["account"])
    assert shaper(secret_account).shape(raw, SOURCE) is None
    assert fastshape.load(DEFAULT_MODEL, Redactor(extra_patterns=[r"ORD-\d+"]), LIMIT) is None

    class Stricter(Redactor):  # a subclass may judge otherwise: not vouched for
        pass

    assert fastshape.load(DEFAULT_MODEL, Stricter(), LIMIT) is None
    plain = shaper(None)  # redaction off: every string is taken as it is
    raw = raw_of("order.accepted", {"status": "token: abc"}, ORDER)
    assert raw is not None
    got = plain.shape(raw, SOURCE)
    assert got is not None and got.parts() == reference(raw, redactor=None).parts()


def test_a_subclassed_model_is_left_to_its_own_validation() -> None:
    from tradetrail.model.events import BUILTIN_TYPES, EventModel

    class Checked(EventModel):
        pass

    assert Checked(BUILTIN_TYPES).flat_fields("order.accepted") is None
    assert EventModel(BUILTIN_TYPES).flat_fields("order.accepted") is not None


def test_a_model_that_gains_a_type_is_noticed() -> None:
    from tradetrail.model.events import EventData, EventModel

    class Tick(EventData, kw_only=True, frozen=True):
        TYPE = "test.tick"
        VERSION = 1
        px: Decimal

    model = EventModel(())
    compiled = fastshape.load(model, DEFAULT_REDACTOR, LIMIT)
    assert compiled is not None and not compiled.stale()
    model.register(Tick)
    assert compiled.stale()
    fresh = fastshape.load(model, DEFAULT_REDACTOR, LIMIT)
    assert fresh is not None
    raw = b'["test.tick","0190f2a4-0000-7000-8000-000000000001",{},{"px":"1.5"}]'
    assert compiled.shape(raw, SOURCE) is None
    got = fresh.shape(raw, SOURCE)
    assert got is not None
    kind, data, fields = decode_raw(raw)
    expected = prepare(kind, data, fields, orjson.Fragment(SOURCE), LIMIT, model=model)
    assert got.parts() == expected.parts()


def test_the_pure_python_writer_runs_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADETRAIL_ACCELERATOR", "off")
    assert fastshape.load(DEFAULT_MODEL, DEFAULT_REDACTOR, LIMIT) is None
    assert os.environ["TRADETRAIL_ACCELERATOR"] == "off"


def test_what_it_makes_holds_its_references_once() -> None:
    """The Prepared objects the C code makes (slots set directly) free what they hold: the
    shared `p1` and the type are back to their counts once the events are gone."""
    import gc
    import sys

    from tradetrail.core.canonical import Prepared

    compiled = shaper()
    raw = raw_of("order.accepted", {"status": "accepted"}, ORDER)
    assert raw is not None
    first = compiled.shape(raw, SOURCE)
    assert first is not None and type(first) is Prepared
    p1, before_p1, before_type = first.p1, sys.getrefcount(first.p1), sys.getrefcount(Prepared)
    made = [compiled.shape(raw, SOURCE) for _ in range(1000)]
    assert sys.getrefcount(p1) == before_p1 + 1000
    del made
    gc.collect()
    assert sys.getrefcount(p1) == before_p1
    assert sys.getrefcount(Prepared) == before_type
    assert first.redacted is None and first.schema_error is None
    assert first.event_id == orjson.loads(raw)[1]
    assert not gc.is_tracked(first)  # bytes, a str and None: in no cycle, never scanned
