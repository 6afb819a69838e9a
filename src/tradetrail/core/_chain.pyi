from collections.abc import Sequence

from .chain import Parts

def splice_and_hash(
    events: list[Parts], prev: bytes, seq: int, stamps: list[bytes], /
) -> tuple[bytes, list[bytes], bytes]: ...
def splice_hash_extend(
    events: list[Parts],
    prev: bytes,
    seq: int,
    stamps: list[bytes],
    nodes: Sequence[bytes],
    tiles: Sequence[bytes | bytearray],
    /,
) -> tuple[bytes, bytes, list[bytes], list[bytes], list[tuple[int, int, bytes]]]: ...
