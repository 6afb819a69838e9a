"""Coverage-guided fuzzing of the compiled shaper (tradetrail.core._shape, via
core.fastshape) against the pure-Python reference (core.canonical.decode_raw + prepare).

The input bytes are the raw event itself, the `["<type>","<event id>",{<string fields>}
(,{<data>})]` that encode_raw writes (the seeds in corpus/shape/ are such events, so mutation
starts from the form the shaper reads). The shaper may decline any input (answer None); when it
answers, the reference must take the same bytes without raising, redacting or recording a schema
error, and give the same four parts and event id. A difference raises `Mismatch`. The target
runs without atheris (tests/core/test_fuzz_shape_harness.py replays the seeds through it);
`python3 fuzz/fuzz_shape.py` runs it under atheris (libFuzzer), see fuzz/README.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import orjson

from tradetrail.core import fastshape
from tradetrail.core.canonical import Prepared, decode_raw, prepare
from tradetrail.model.events import DEFAULT_MODEL
from tradetrail.model.redact import DEFAULT_REDACTOR

SOURCE = b'{"host":"h","pid":1,"service":"s"}'
LIMIT = 1 << 20

Shape = Callable[[bytes, bytes | None], Prepared | None]
Reference = Callable[[bytes], Prepared]


class Mismatch(AssertionError):
    """The compiled shaper answered otherwise than the reference would for one input."""


def reference(raw: bytes) -> Prepared:
    """What the writer's Python path makes of the bytes (it raises where the writer would
    record a log.fallback instead)."""
    kind, data, fields = decode_raw(raw)
    return prepare(
        kind,
        data,
        fields,
        orjson.Fragment(SOURCE),
        LIMIT,
        model=DEFAULT_MODEL,
        redactor=DEFAULT_REDACTOR,
    )


def installed() -> Shape:
    """The compiled call of the installed extension, configured as a writer configures it."""
    shaper = fastshape.load(DEFAULT_MODEL, DEFAULT_REDACTOR, LIMIT)
    if shaper is None:
        raise RuntimeError("the compiled shaper is not built (or TRADETRAIL_ACCELERATOR=off)")
    return shaper.shape


def check(data: bytes, fast: Shape | None = None, ref: Reference = reference) -> None:
    """Shape one input with the extension (`fast`; by default the installed one); when it
    answers, raise Mismatch unless the reference (`ref`) gives the same answer."""
    if fast is None:
        fast = installed()
    try:
        got = fast(data, SOURCE)
    except Exception as exc:  # shape() raises only for wrong argument types, never for bytes
        raise Mismatch(f"extension raised {exc!r} for {data!r:.500}") from exc
    if got is None:
        return  # declined: the writer takes the reference path itself
    try:
        want = ref(data)
    except Exception as exc:  # the writer would have recorded a log.fallback
        raise Mismatch(f"extension answered, reference raised {exc!r}: {data!r:.500}") from exc
    if want.redacted is not None or want.schema_error is not None:
        raise Mismatch(
            f"extension answered, reference redacted {want.redacted!r} / "
            f"schema_error {want.schema_error!r}: {data!r:.500}"
        )
    answer: tuple[Any, ...] = (*got.parts(), got.event_id, got.redacted, got.schema_error)
    expected: tuple[Any, ...] = (*want.parts(), want.event_id, None, None)
    if answer != expected:
        raise Mismatch(f"extension {answer!r:.600} != reference {expected!r:.600}: {data!r:.500}")


def main() -> None:
    import atheris  # type: ignore[import-untyped]

    from tradetrail.core import _shape

    fast = installed()
    print(f"fuzzing {_shape.__file__}", file=sys.stderr)

    def one_input(data: bytes) -> None:
        check(data, fast)

    # the extension's coverage comes from its -fsanitize=fuzzer-no-link build (fuzz/README.md);
    # the harness's own adds which of its outcomes an input reached
    atheris.instrument_func(check)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
