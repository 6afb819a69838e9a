"""Settings: an argument wins, then the environment (`TRADETRAIL_*`), then the default."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..core import layout
from ..core.canonical import DEFAULT_MAX_EVENT_BYTES
from ..errors import ConfigError


class Durability(StrEnum):
    """When a record is acknowledged.

    FSYNC (default): after fsync with group commit; survives kill -9 and power loss.
    WRITE: after write() to the OS; survives a crash of the process, not of the machine.
    """

    FSYNC = "fsync"
    WRITE = "write"


DEFAULT_HOME = "./tradetrail"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    home: Path
    origin: str | None
    durability: Durability
    signing_key: str | None
    spill_dir: Path
    max_event_bytes: int
    queue_size: int
    checkpoint_every: int
    checkpoint_interval: float
    min_free_bytes: int
    service: str | None
    strict: bool = False
    checkpoint_spacing: float = 1.0
    """The least time between two checkpoints that `checkpoint_every` triggers: at full speed
    a checkpoint every 10k records would be dozens of signatures a second; the records between
    are signed by the next one (by count or by time, whichever comes first)."""


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else None


def _int(value: object, name: str, minimum: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not an integer") from None
    if number < minimum:
        raise ConfigError(f"{name}: {number} is below the minimum of {minimum}")
    return number


def _float(value: object, name: str, minimum: float) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number") from None
    if not number >= minimum:
        raise ConfigError(f"{name}: {number} is below the minimum of {minimum}")
    return number


def default_origin(home: Path) -> str:
    """A stable, readable log name: host and trail directory."""
    host = socket.gethostname().split(".")[0] or "localhost"
    return f"{host}.tradetrail/{home.resolve().name or 'trail'}"


def check_origin(origin: str, name: str = "origin") -> str:
    if not origin or any(c.isspace() or c == "+" or not c.isprintable() for c in origin):
        raise ConfigError(f"{name}: {origin!r} must be non-empty, printable, without spaces or '+'")
    return origin


def resolve(
    home: str | os.PathLike[str] | None = None,
    *,
    origin: str | None = None,
    durability: str | Durability | None = None,
    signing_key: str | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    max_event_bytes: int | None = None,
    queue_size: int | None = None,
    checkpoint_every: int | None = None,
    checkpoint_interval: float | None = None,
    min_free_bytes: int | None = None,
    service: str | None = None,
    strict: bool | None = None,
    checkpoint_spacing: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting, naming the argument or variable at fault in a ConfigError."""
    env = os.environ if env is None else env
    home_path = Path(home or _env(env, "TRADETRAIL_HOME") or DEFAULT_HOME)

    def pick(arg: object, name: str, default: object) -> object:
        return arg if arg is not None else (_env(env, name) or default)

    raw_durability = pick(durability, "TRADETRAIL_DURABILITY", Durability.FSYNC)
    try:
        dur = Durability(str(raw_durability).lower())
    except ValueError:
        raise ConfigError(
            f"durability (TRADETRAIL_DURABILITY): {raw_durability!r} is not one of "
            f"{', '.join(d.value for d in Durability)}"
        ) from None
    chosen_origin = origin if origin is not None else _env(env, "TRADETRAIL_ORIGIN")
    if chosen_origin is not None:
        check_origin(chosen_origin, "origin (TRADETRAIL_ORIGIN)")
    spill = spill_dir if spill_dir is not None else _env(env, "TRADETRAIL_SPILL_DIR")
    signing = signing_key if signing_key is not None else _env(env, "TRADETRAIL_SIGNING_KEY")
    raw_strict = pick(strict, "TRADETRAIL_STRICT", False)
    if isinstance(raw_strict, bool):
        strict_mode = raw_strict
    elif str(raw_strict).lower() in _TRUE | _FALSE:
        strict_mode = str(raw_strict).lower() in _TRUE
    else:
        raise ConfigError(f"strict (TRADETRAIL_STRICT): {raw_strict!r} is not a boolean (1/0)")
    return Settings(
        home=home_path,
        origin=chosen_origin,
        durability=dur,
        signing_key=signing,
        spill_dir=Path(spill) if spill else home_path / layout.SPILL_DIR,
        max_event_bytes=_int(
            pick(max_event_bytes, "TRADETRAIL_MAX_EVENT_BYTES", DEFAULT_MAX_EVENT_BYTES),
            "max_event_bytes (TRADETRAIL_MAX_EVENT_BYTES)",
            256,
        ),
        queue_size=_int(
            pick(queue_size, "TRADETRAIL_QUEUE_SIZE", 100_000),
            "queue_size (TRADETRAIL_QUEUE_SIZE)",
            1,
        ),
        checkpoint_every=_int(
            pick(checkpoint_every, "TRADETRAIL_CHECKPOINT_EVERY", 10_000),
            "checkpoint_every (TRADETRAIL_CHECKPOINT_EVERY)",
            1,
        ),
        checkpoint_interval=_float(
            pick(checkpoint_interval, "TRADETRAIL_CHECKPOINT_INTERVAL", 10.0),
            "checkpoint_interval (TRADETRAIL_CHECKPOINT_INTERVAL)",
            0.001,
        ),
        min_free_bytes=_int(
            pick(min_free_bytes, "TRADETRAIL_MIN_FREE_BYTES", 1024**3),
            "min_free_bytes (TRADETRAIL_MIN_FREE_BYTES)",
            0,
        ),
        service=service if service is not None else _env(env, "TRADETRAIL_SERVICE"),
        strict=strict_mode,
        checkpoint_spacing=_float(
            pick(checkpoint_spacing, "TRADETRAIL_CHECKPOINT_SPACING", 1.0),
            "checkpoint_spacing (TRADETRAIL_CHECKPOINT_SPACING)",
            0.0,
        ),
    )
