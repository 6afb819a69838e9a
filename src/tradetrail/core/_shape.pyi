from .canonical import Prepared

class Shaper:
    def __init__(
        self,
        types: dict[str, list[tuple[str, int, bool, tuple[str, ...]]]],
        keys: list[tuple[str, int, int]],
        check_secrets: bool,
        max_field_chars: int,
        max_bytes: int,
        prepared: type[Prepared],
    ) -> None: ...
    def shape(self, raw: bytes, source: bytes | None, /) -> Prepared | None: ...
