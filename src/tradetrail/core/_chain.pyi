from .chain import Parts

def splice_and_hash(
    events: list[Parts], prev: bytes, seq: int, stamps: list[bytes], /
) -> tuple[bytes, list[bytes], bytes]: ...
