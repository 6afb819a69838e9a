class Shaper:
    def __init__(
        self,
        types: dict[str, list[tuple[str, int, bool, tuple[str, ...]]]],
        keys: list[tuple[str, int, int]],
        check_secrets: bool,
        max_field_chars: int,
        max_bytes: int,
    ) -> None: ...
    def shape(
        self, raw: bytes, source: bytes | None, /
    ) -> tuple[bytes, bytes, bytes, bytes, str] | None: ...
