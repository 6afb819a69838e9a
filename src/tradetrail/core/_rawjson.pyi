from collections.abc import Mapping
from typing import Any

def configure(
    valid_types: set[str],
    string_fields: frozenset[str],
    decimal_type: type,
    max_field_chars: int,
    raw_margin: int,
    /,
) -> None: ...
def encode_raw(
    event_type: str, data: Any, fields: Mapping[str, Any], max_bytes: int, /
) -> bytes | None: ...
