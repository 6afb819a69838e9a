"""Settings: an argument wins over TRADETRAIL_* variables, which win over defaults; a bad value
is a ConfigError naming the argument and the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tradetrail
from tradetrail import ConfigError, Durability
from tradetrail.core.note import Signer
from tradetrail.writer.config import DEFAULT_HOME, resolve

DEFAULTS = {
    "durability": Durability.FSYNC,
    "max_event_bytes": 1024 * 1024,
    "queue_size": 100_000,
    "checkpoint_every": 10_000,
    "checkpoint_interval": 10.0,
    "min_free_bytes": 1024**3,
}

# setting, variable, value in the environment, parsed, value as argument
SETTINGS: list[tuple[str, str, str, Any, Any]] = [
    ("origin", "TRADETRAIL_ORIGIN", "env.example.com/log", "env.example.com/log", "arg/log"),
    ("durability", "TRADETRAIL_DURABILITY", "write", Durability.WRITE, "fsync"),
    ("signing_key", "TRADETRAIL_SIGNING_KEY", "/keys/env.key", "/keys/env.key", "/keys/arg"),
    ("max_event_bytes", "TRADETRAIL_MAX_EVENT_BYTES", "4096", 4096, 8192),
    ("queue_size", "TRADETRAIL_QUEUE_SIZE", "17", 17, 5),
    ("checkpoint_every", "TRADETRAIL_CHECKPOINT_EVERY", "250", 250, 100),
    ("checkpoint_interval", "TRADETRAIL_CHECKPOINT_INTERVAL", "2.5", 2.5, 1.5),
    ("min_free_bytes", "TRADETRAIL_MIN_FREE_BYTES", "1000", 1000, 0),
    ("service", "TRADETRAIL_SERVICE", "oms-env", "oms-env", "oms-arg"),
]


def test_defaults() -> None:
    settings = resolve(env={})
    assert settings.home == Path(DEFAULT_HOME)
    assert settings.spill_dir == Path(DEFAULT_HOME) / "spill"
    assert settings.origin is None and settings.signing_key is None and settings.service is None
    for name, value in DEFAULTS.items():
        assert getattr(settings, name) == value, name


def test_home_and_spill_dir_precedence(tmp_path: Path) -> None:
    env = {"TRADETRAIL_HOME": str(tmp_path / "env-home")}
    assert resolve(env=env).home == tmp_path / "env-home"
    assert resolve(env=env).spill_dir == tmp_path / "env-home" / "spill"
    assert resolve(tmp_path / "arg-home", env=env).home == tmp_path / "arg-home"
    assert resolve(tmp_path / "arg-home", env=env).spill_dir == tmp_path / "arg-home" / "spill"
    env["TRADETRAIL_SPILL_DIR"] = str(tmp_path / "env-spill")
    assert resolve(env=env).spill_dir == tmp_path / "env-spill"
    assert resolve(spill_dir=tmp_path / "arg-spill", env=env).spill_dir == tmp_path / "arg-spill"


@pytest.mark.parametrize(
    ("name", "variable", "raw", "parsed", "argument"), SETTINGS, ids=[s[0] for s in SETTINGS]
)
def test_argument_over_environment_over_default(
    tmp_path: Path, name: str, variable: str, raw: str, parsed: Any, argument: Any
) -> None:
    env = {variable: raw}
    assert getattr(resolve(tmp_path, env=env), name) == parsed
    from_arg = getattr(resolve(tmp_path, env=env, **{name: argument}), name)
    assert from_arg == (Durability(argument) if name == "durability" else argument)
    assert getattr(resolve(tmp_path, env={variable: ""}), name) == DEFAULTS.get(name)


def test_durability_accepts_enum_and_any_case(tmp_path: Path) -> None:
    assert resolve(tmp_path, durability=Durability.WRITE, env={}).durability is Durability.WRITE
    assert resolve(tmp_path, durability="WRITE", env={}).durability is Durability.WRITE
    env = {"TRADETRAIL_DURABILITY": "Fsync"}
    assert resolve(tmp_path, env=env).durability is Durability.FSYNC


BAD_ENV = [
    ("TRADETRAIL_DURABILITY", "sometimes"),
    ("TRADETRAIL_DURABILITY", "fsync "),
    ("TRADETRAIL_ORIGIN", "has space/log"),
    ("TRADETRAIL_ORIGIN", "a+b"),
    ("TRADETRAIL_MAX_EVENT_BYTES", "lots"),
    ("TRADETRAIL_MAX_EVENT_BYTES", "100"),
    ("TRADETRAIL_QUEUE_SIZE", "-1"),
    ("TRADETRAIL_QUEUE_SIZE", "1.5"),
    ("TRADETRAIL_CHECKPOINT_EVERY", "0"),
    ("TRADETRAIL_CHECKPOINT_INTERVAL", "soon"),
    ("TRADETRAIL_CHECKPOINT_INTERVAL", "nan"),
    ("TRADETRAIL_CHECKPOINT_INTERVAL", "-1"),
    ("TRADETRAIL_MIN_FREE_BYTES", "-5"),
    ("TRADETRAIL_MIN_FREE_BYTES", "1GB"),
]


@pytest.mark.parametrize(("variable", "value"), BAD_ENV)
def test_bad_environment_value_names_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path, env={variable: value})
    assert variable in str(info.value)


@pytest.mark.parametrize(("variable", "value"), BAD_ENV[:6])
def test_open_reports_bad_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        tradetrail.open(tmp_path / "trail")
    assert not (tmp_path / "trail" / "journal").exists()


BAD_ARGS: list[tuple[str, Any]] = [
    ("durability", "sometimes"),
    ("origin", "two words"),
    ("max_event_bytes", 10),
    ("queue_size", -3),
    ("checkpoint_every", -1),
    ("checkpoint_interval", -0.5),
    ("min_free_bytes", -1),
]


@pytest.mark.parametrize(("name", "value"), BAD_ARGS)
def test_bad_argument_names_the_setting(tmp_path: Path, name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path, env={}, **{name: value})
    assert name in str(info.value)


ZERO_ARGS = ["queue_size", "checkpoint_every", "max_event_bytes", "checkpoint_interval"]


@pytest.mark.parametrize("name", ZERO_ARGS)
def test_zero_argument_is_refused_not_ignored(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        resolve(tmp_path, env={}, **{name: 0})


def test_zero_argument_is_not_replaced_by_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="queue_size"):
        resolve(tmp_path, queue_size=0, env={"TRADETRAIL_QUEUE_SIZE": "50"})
    settings = resolve(tmp_path, min_free_bytes=0, env={"TRADETRAIL_MIN_FREE_BYTES": "50"})
    assert settings.min_free_bytes == 0


def test_open_takes_home_origin_and_durability_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "env-home"
    monkeypatch.setenv("TRADETRAIL_HOME", str(home))
    monkeypatch.setenv("TRADETRAIL_ORIGIN", "env.example.com/desk")
    monkeypatch.setenv("TRADETRAIL_DURABILITY", "write")
    monkeypatch.setenv("TRADETRAIL_MIN_FREE_BYTES", "0")
    with tradetrail.open() as trail:
        assert trail.home == home
        assert trail.origin == "env.example.com/desk"
        assert trail.stats()["durability"] == "write"
        trail.record("order.accepted").wait(timeout=10)
    assert (home / "journal").is_dir()
    assert (home / "checkpoint").read_text().startswith("env.example.com/desk\n")
    # arguments win
    other = tmp_path / "arg-home"
    with tradetrail.open(other, origin="arg.example.com/desk", durability="fsync") as trail:
        assert trail.home == other
        assert trail.origin == "arg.example.com/desk"
        assert trail.stats()["durability"] == "fsync"


def test_open_takes_signing_key_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key = Signer.generate("keys.example.com/desk")
    arg_key = Signer.generate("keys.example.com/desk")
    monkeypatch.setenv("TRADETRAIL_SIGNING_KEY", env_key.skey())
    home = tmp_path / "trail"
    with tradetrail.open(home, origin="keys.example.com/desk", min_free_bytes=0):
        pass
    assert (home / "trail.vkey").read_text().strip() == env_key.verifier().vkey()
    with pytest.raises(ConfigError, match="key"):
        tradetrail.open(home, signing_key=arg_key.skey(), min_free_bytes=0)


def test_bad_signing_key_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETRAIL_SIGNING_KEY", str(tmp_path / "no-such.key"))
    with pytest.raises(ConfigError, match="TRADETRAIL_SIGNING_KEY"):
        tradetrail.open(tmp_path / "trail", min_free_bytes=0)
    monkeypatch.setenv("TRADETRAIL_SIGNING_KEY", "PRIVATE+KEY+garbage")
    with pytest.raises(ConfigError, match="TRADETRAIL_SIGNING_KEY"):
        tradetrail.open(tmp_path / "trail", min_free_bytes=0)


@pytest.mark.embedded
def test_spill_dir_from_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spill = tmp_path / "elsewhere" / "spill"
    monkeypatch.setenv("TRADETRAIL_SPILL_DIR", str(spill))
    trail = tradetrail.open(tmp_path / "trail", queue_size=1, min_free_bytes=0)
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(500)]
    assert trail.stats()["spilled"] > 0
    assert spill.is_dir()
    assert trail.flush(timeout=30)
    trail.close()
    assert all(r.journaled for r in receipts)
    assert not (tmp_path / "trail" / "spill").exists()


def test_storage_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Free space under the threshold is warned about at open."""
    with caplog.at_level("WARNING", logger="tradetrail"):
        tradetrail.open(tmp_path / "trail", min_free_bytes=2**62).close()
    assert "free" in caplog.text


def test_unwritable_home_fails_at_open(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises((OSError, ConfigError)):
        tradetrail.open(blocker / "trail", min_free_bytes=0)
