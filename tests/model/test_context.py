"""bind()/bound_fields(): nesting, validation, isolation across threads and asyncio tasks;
trace_fields() with and without OpenTelemetry."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest

from tradetrail.model import context
from tradetrail.model.context import BINDABLE_FIELDS, bind, bound_fields, trace_fields


def test_nothing_bound_is_an_empty_read_only_mapping() -> None:
    fields = bound_fields()
    assert fields == {}
    assert bound_fields() is fields  # cached: no allocation per call
    with pytest.raises(TypeError):
        fields["strategy"] = "x"  # type: ignore[index]


def test_nesting_merges_and_the_inner_block_wins() -> None:
    with bind(strategy="s1", account="A1") as outer:
        assert outer == {"strategy": "s1", "account": "A1"}
        with bind(account="A2", symbol="BTC-USD"):
            assert bound_fields() == {"strategy": "s1", "account": "A2", "symbol": "BTC-USD"}
        assert bound_fields() == {"strategy": "s1", "account": "A1"}
    assert bound_fields() == {}


def test_the_mapping_is_cached_per_block() -> None:
    with bind(strategy="s1"):
        first = bound_fields()
        assert bound_fields() is first
        with pytest.raises(TypeError):
            first["strategy"] = "x"  # type: ignore[index]


def test_binding_none_hides_a_field_for_the_inner_block() -> None:
    with bind(strategy="s1", account="A1"):
        with bind(strategy=None):
            assert bound_fields() == {"account": "A1"}
        assert bound_fields()["strategy"] == "s1"


def test_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), bind(strategy="s1"):
        raise RuntimeError("boom")
    assert bound_fields() == {}


def test_a_bind_object_can_be_reentered() -> None:
    b = bind(account="A1")
    with b:
        with b:
            assert bound_fields() == {"account": "A1"}
        assert bound_fields() == {"account": "A1"}
    assert bound_fields() == {}


DESK = bind(account="desk-1")  # a module-level bind object, entered by many threads and tasks


def test_one_bind_object_entered_by_many_threads_at_once() -> None:
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with DESK:
                barrier.wait(5)  # every thread is inside the same object's block
                with bind(order_id=f"O{i}"):
                    assert bound_fields() == {"account": "desk-1", "order_id": f"O{i}"}
                barrier.wait(5)
            assert bound_fields() == {}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_one_bind_object_entered_by_interleaved_tasks() -> None:
    async def task(delay: float) -> dict[str, Any]:
        with DESK:
            await asyncio.sleep(delay)  # tasks leave the block in another order than they came
            inside = dict(bound_fields())
        return {"inside": inside, "after": dict(bound_fields())}

    async def main() -> list[dict[str, Any]]:
        return await asyncio.gather(*(task(d) for d in (0.03, 0.01, 0.02, 0.0)))

    for result in asyncio.run(main()):
        assert result == {"inside": {"account": "desk-1"}, "after": {}}


@pytest.mark.parametrize("bad", ["qty", "type", "data", "seq", "Strategy"])
def test_a_key_that_is_not_an_envelope_field_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match=rf"^{bad}: not an envelope field"):
        bind(**{bad: "x"})


@pytest.mark.parametrize("single", ["event_id", "event_ts"])
def test_per_event_fields_cannot_be_bound(single: str) -> None:
    with pytest.raises(ValueError, match=rf"^{single}: describes a single event"):
        bind(**{single: "x"})
    assert single not in BINDABLE_FIELDS


def test_values_are_checked_at_bind_time() -> None:
    with pytest.raises(TypeError, match=r"^strategy: expected str, got float"):
        bind(strategy=1.5)
    with pytest.raises(ValueError, match=r"^account: must be 1..512 characters"):
        bind(account="")
    with pytest.raises(ValueError, match=r"^priority: 'urgent' is not one of"):
        bind(priority="urgent")
    with pytest.raises(TypeError, match=r"^source: expected a mapping"):
        bind(source="svc")
    with pytest.raises(ValueError, match=r"^source.x: nan is not a finite number"):
        bind(source={"x": float("nan")})


def test_values_are_normalised_to_their_stored_form() -> None:
    class Desk(StrEnum):
        ONE = "desk-1"

    with bind(account=Desk.ONE, order_id=42, priority="high", source={"service": "oms"}):
        fields = bound_fields()
        assert type(fields["account"]) is str and fields["account"] == "desk-1"
        assert fields["order_id"] == "42"
        assert fields["priority"] == "high"
        assert dict(fields["source"]) == {"service": "oms"}


def test_decorating_a_function_binds_for_each_call() -> None:
    @bind(strategy="deco")
    def work(extra: str) -> dict[str, Any]:
        with bind(symbol=extra):
            return dict(bound_fields())

    assert work("ETH-USD") == {"strategy": "deco", "symbol": "ETH-USD"}
    assert work.__name__ == "work"
    assert bound_fields() == {}


def test_decorating_a_coroutine_function_binds_inside_the_coroutine() -> None:
    @bind(strategy="async-deco")
    async def work() -> dict[str, Any]:
        await asyncio.sleep(0)
        return dict(bound_fields())

    assert asyncio.run(work()) == {"strategy": "async-deco"}
    assert bound_fields() == {}


def test_each_thread_has_its_own_context() -> None:
    n_threads, rounds = 8, 200
    barrier = threading.Barrier(n_threads)
    errors: list[str] = []

    def worker(i: int) -> None:
        barrier.wait()
        for r in range(rounds):
            with bind(account=f"A{i}", order_id=f"O{i}-{r}"):
                if r % 17 == 0:
                    threading.Event().wait(0.0005)  # let other threads run inside the block
                got = dict(bound_fields())
                if got != {"account": f"A{i}", "order_id": f"O{i}-{r}"}:
                    errors.append(f"thread {i} round {r}: {got}")
        if bound_fields():
            errors.append(f"thread {i} left {dict(bound_fields())}")

    with bind(strategy="main-only"):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert bound_fields() == {"strategy": "main-only"}
    assert errors == []


def test_a_thread_bind_does_not_leak_into_other_threads() -> None:
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with bind(account="thread"):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(5)
    try:
        assert "account" not in bound_fields()
    finally:
        release.set()
        t.join()


def test_asyncio_tasks_inherit_a_copy_and_do_not_leak() -> None:
    async def child(name: str, seen: dict[str, Any]) -> None:
        seen[f"{name}-start"] = dict(bound_fields())
        with bind(symbol=name):
            await asyncio.sleep(0.001)
            seen[f"{name}-inner"] = dict(bound_fields())
        await asyncio.sleep(0)
        seen[f"{name}-end"] = dict(bound_fields())

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with bind(strategy="parent"):
            tasks = [asyncio.create_task(child(n, seen)) for n in ("a", "b", "c")]
            with bind(strategy="changed-after-spawn"):
                await asyncio.gather(*tasks)
            seen["parent"] = dict(bound_fields())
        seen["after"] = dict(bound_fields())
        return seen

    seen = asyncio.run(main())
    for n in ("a", "b", "c"):
        assert seen[f"{n}-start"] == {"strategy": "parent"}  # the copy taken at create_task
        assert seen[f"{n}-inner"] == {"strategy": "parent", "symbol": n}
        assert seen[f"{n}-end"] == {"strategy": "parent"}
    assert seen["parent"] == {"strategy": "parent"}
    assert seen["after"] == {}


def test_many_interleaved_tasks_keep_their_own_fields() -> None:
    async def task(i: int) -> list[str]:
        bad = []
        with bind(order_id=f"O{i}"):
            for _ in range(20):
                await asyncio.sleep(0)
                if bound_fields().get("order_id") != f"O{i}":
                    bad.append(f"task {i}: {dict(bound_fields())}")
        return bad

    async def main() -> list[str]:
        results = await asyncio.gather(*(task(i) for i in range(100)))
        return [line for lines in results for line in lines]

    assert asyncio.run(main()) == []


def test_bound_decimal_id_is_stringified() -> None:
    with bind(signal_id=Decimal("7")):
        assert bound_fields()["signal_id"] == "7"


# ------------------------------------------------------------------ OpenTelemetry


@pytest.fixture
def reset_otel() -> Iterator[None]:
    saved = context._otel_trace
    context._otel_trace = context._UNSET
    yield
    context._otel_trace = saved


def test_trace_fields_without_opentelemetry_is_empty(
    reset_otel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    assert trace_fields() == {}
    assert context._otel_trace is None  # the failed import is remembered
    assert trace_fields() == {}


class _SpanContext:
    def __init__(self, trace_id: int, span_id: int, valid: bool = True) -> None:
        self.trace_id, self.span_id, self.is_valid = trace_id, span_id, valid


class _Span:
    def __init__(self, ctx: _SpanContext) -> None:
        self._ctx = ctx

    def get_span_context(self) -> _SpanContext:
        return self._ctx


def _fake_otel(monkeypatch: pytest.MonkeyPatch, span: Any) -> None:
    package = types.ModuleType("opentelemetry")
    trace = types.ModuleType("opentelemetry.trace")
    trace.get_current_span = lambda: span  # type: ignore[attr-defined]
    package.trace = trace  # type: ignore[attr-defined]
    current = types.ModuleType("opentelemetry.context")  # a context that holds the span
    current.get_current = lambda: {"current-span": span}  # type: ignore[attr-defined]
    package.context = current  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", trace)
    monkeypatch.setitem(sys.modules, "opentelemetry.context", current)


def test_trace_fields_formats_the_active_span_ids(
    reset_otel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_otel(monkeypatch, _Span(_SpanContext(0xABC, 0x12)))
    assert trace_fields() == {"trace_id": f"{0xABC:032x}", "span_id": f"{0x12:016x}"}


def test_trace_fields_of_an_invalid_span_is_empty(
    reset_otel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_otel(monkeypatch, _Span(_SpanContext(0, 0, valid=False)))
    assert trace_fields() == {}


def test_trace_fields_never_raises(reset_otel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_otel(monkeypatch, object())  # no get_span_context
    assert trace_fields() == {}


def test_trace_fields_with_real_opentelemetry(reset_otel: None) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = sdk.TracerProvider().get_tracer("tradetrail-test")
    assert trace_fields() == {}  # no active span
    with tracer.start_as_current_span("order") as span:
        ctx = span.get_span_context()
        fields = trace_fields()
        assert fields == {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}
        assert len(fields["trace_id"]) == 32 and len(fields["span_id"]) == 16
    assert trace_fields() == {}


def test_bind_refuses_a_huge_integer_id_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^order_id: "):
        bind(order_id=10**5000)
