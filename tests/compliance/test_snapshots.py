"""Configuration snapshots (tradetrail.compliance.snapshots, `tradetrail snapshot`):
content-addressed
documents with hashes, redacted contents and git state; config.snapshot events; list, diff and
show; drift alerts when a configuration changes with no config.changed event; secrets never
reaching the snapshots or the journal; one-line errors that record nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

import tradetrail
import tradetrail.cli.snapshot
from conftest import SimClock, journal_records
from secret_corpus import (
    AWS_KEY_ID,
    AWS_SECRET,
    BINANCE_KEY,
    BINANCE_SECRET,
    CORPUS,
    GH_PAT,
    JWT,
    PEM,
    PEM_BODY,
    SLACK_HOOK,
    STRIPE_LIVE,
)
from tradetrail.cli import main
from tradetrail.compliance.snapshots import (
    CONFIG_PATHS_ENV,
    SnapshotError,
    build_document,
    canonical_bytes,
    load_document,
    redact_content,
    snapshot_configured,
    snapshot_paths,
)
from tradetrail.errors import ConfigError
from tradetrail.model.redact import MARKER
from tradetrail.verify.trail import verify_trail

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
ENV = {"TRADETRAIL_MIN_FREE_BYTES": "0"}

APP_TOML = """\
[venue]
name = "binance"
max_notional = 100000
"""


def invoke(*args: Any) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], env=ENV)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_one_line_error(result: Result, words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tradetrail: error: "), lines[0]
    assert words in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )
    return proc.stdout.strip()


def make_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "app.toml").write_text(APP_TOML)
    (cfg / "risk.json").write_text('{\n  "max_position": "2.5",\n  "kill_switch": false\n}\n')
    return cfg


def of_type(home: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in journal_records(home) if r["type"] == kind]


# ------------------------------------------------------------------- documents and storage


def test_snapshot_document_event_and_content_addressed_file(
    tmp_path: Path, open_trail: Any, home: Path
) -> None:
    cfg = make_config(tmp_path)
    (cfg / "logo.bin").write_bytes(b"\x89PNG\r\n\x00\x01\x02")
    (cfg / "sub").mkdir()
    (cfg / "sub" / "limits.yaml").write_text("symbols:\n  - BTC-USD\n")
    trail = open_trail()
    snap = snapshot_paths(trail, [cfg], actor="ops")
    assert re.fullmatch(r"[0-9a-f]{16}", snap.id) and snap.hash.startswith(snap.id)
    stored = home / "snapshots" / f"{snap.id}.json"
    body = stored.read_bytes()
    # the file is exactly the canonical document: sha256sum checks it
    assert hashlib.sha256(body).hexdigest() == snap.hash
    assert body == canonical_bytes(snap.document)
    assert os.stat(stored).st_mode & 0o222 == 0  # read-only
    doc = load_document(home, snap.id).to_dict()
    assert doc["paths"] == [str(cfg)]
    files = {f["path"]: f for f in doc["files"]}
    assert sorted(files) == sorted(
        str(cfg / n) for n in ("app.toml", "risk.json", "logo.bin", "sub/limits.yaml")
    )
    app = files[str(cfg / "app.toml")]
    assert app["sha256"] == hashlib.sha256(APP_TOML.encode()).hexdigest()
    assert app["size"] == len(APP_TOML)
    assert app["content"] == APP_TOML and app["format"] == "toml" and app["parsed"] is True
    assert "redacted" not in app
    logo = files[str(cfg / "logo.bin")]
    assert logo["content_omitted"] == "binary" and "content" not in logo
    assert logo["sha256"] == hashlib.sha256(b"\x89PNG\r\n\x00\x01\x02").hexdigest()
    assert "redaction" in doc and "REDACTED" in doc["redaction"]

    [event] = of_type(home, "config.snapshot")
    assert event["seq"] == snap.seq and event["actor"] == "ops"
    assert "schema_error" not in event and "redacted" not in event
    data = event["data"]
    assert data["hash"] == snap.hash and data["path"] == str(cfg)
    assert data["content"]["snapshot_id"] == snap.id
    assert data["content"]["paths"] == [str(cfg)]
    assert {f["path"]: f["sha256"] for f in data["content"]["files"]} == {
        p: f["sha256"] for p, f in files.items()
    }
    assert snap.baseline is None and snap.changes == () and not snap.alerted
    trail.close()
    assert verify_trail(home).ok


def test_ids_are_stable_and_a_snapshot_is_never_rewritten(
    tmp_path: Path, open_trail: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(tmp_path)
    first = build_document([cfg])
    monkeypatch.chdir(tmp_path)
    again = build_document(["cfg/risk.json", "cfg", "./cfg/"])  # relative, repeated, nested
    assert canonical_bytes(first) == canonical_bytes(again)
    trail = open_trail()
    one = snapshot_paths(trail, [cfg])
    stored = home / "snapshots" / f"{one.id}.json"
    before = os.stat(stored)
    two = snapshot_paths(trail, [str(cfg)])
    assert (two.id, two.hash) == (one.id, one.hash)
    after = os.stat(stored)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(of_type(home, "config.snapshot")) == 2  # each taking is recorded
    assert sorted(p.name for p in (home / "snapshots").iterdir()) == [f"{one.id}.json"]
    (cfg / "risk.json").write_text('{"max_position": "3"}\n')
    three = snapshot_paths(trail, [cfg])
    assert three.id != one.id
    assert len(list((home / "snapshots").iterdir())) == 2


@needs_git
def test_git_commit_and_dirty_state(tmp_path: Path, open_trail: Any, home: Path) -> None:
    cfg = make_config(tmp_path)
    git(cfg, "init", "-q")
    git(cfg, "add", ".")
    git(cfg, "commit", "-q", "-m", "config")
    head = git(cfg, "rev-parse", "HEAD")
    root = os.path.realpath(cfg)
    trail = open_trail()

    clean = snapshot_paths(trail, [cfg])
    assert clean.document.to_dict()["repos"] == [{"root": root, "commit": head, "dirty": False}]
    assert {f["git"] for f in clean.files} == {"clean"}
    assert {f["repo"] for f in clean.files} == {root}
    assert of_type(home, "config.snapshot")[-1]["data"]["version"] == head

    (cfg / "app.toml").write_text(APP_TOML + "leverage = 3\n")
    (cfg / "new.toml").write_text("x = 1\n")
    dirty = snapshot_paths(trail, [cfg])
    assert dirty.document.to_dict()["repos"] == [{"root": root, "commit": head, "dirty": True}]
    states = {Path(f["path"]).name: f["git"] for f in dirty.files}
    assert states == {"app.toml": "modified", "new.toml": "untracked", "risk.json": "clean"}
    assert of_type(home, "config.snapshot")[-1]["data"]["version"] == head + "+dirty"
    # the remote is never read (its URL can carry credentials)
    git(cfg, "remote", "add", "origin", f"https://x:{GH_PAT}@github.com/desk/cfg.git")
    assert GH_PAT not in json.dumps(snapshot_paths(trail, [cfg]).document.to_dict())

    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "a.ini").write_text("[x]\ny = 1\n")
    plain = snapshot_paths(trail, [outside])
    assert plain.document.to_dict()["repos"] == [] and "git" not in plain.files[0]
    assert "version" not in of_type(home, "config.snapshot")[-1]["data"]


# ------------------------------------------------------------------------------ redaction

TOML_WITH_SECRETS = f"""\
[venue]
name = "binance"
api_key = "{BINANCE_KEY}"
dsn = "postgresql://trader:Tr4d3r!Pass@db.internal:5432/oms"
max_tokens = 4096

[credentials]
user = "svc-oms"
pin = "8842"
nested = [
  "Xy9Zq",
]

[signer]
label = "hot-1"
pem = \"\"\"
{PEM}\"\"\"
"""

YAML_WITH_SECRETS = f"""\
venue:
  name: binance
  api_secret: {BINANCE_SECRET}
alerts:
  webhook: https://hooks.slack.com/services/{SLACK_HOOK}
  headers:
    Authorization: Bearer {JWT}
secrets:
  stripe: {STRIPE_LIVE}
  list:
  - Xy9Zq
risk:
  max_notional: 250000
  token_symbol: BTC
"""

ENV_WITH_SECRETS = f"""\
export GITHUB_TOKEN={GH_PAT}
AWS_ACCESS_KEY_ID={AWS_KEY_ID}
AWS_SECRET_ACCESS_KEY={AWS_SECRET}
LOG_LEVEL=info
"""


def test_structured_redaction_keeps_lines_and_readable_values() -> None:
    text, info = redact_content(TOML_WITH_SECRETS, "app.toml")
    assert len(text.split("\n")) == len(TOML_WITH_SECRETS.split("\n"))
    assert 'name = "binance"' in text and "max_tokens = 4096" in text
    assert f'api_key = "{MARKER}"' in text
    assert "postgresql://trader:[REDACTED]@db.internal:5432/oms" in text
    assert f'pin = "{MARKER}"' in text and f"  {MARKER}," in text
    for secret in (BINANCE_KEY, "svc-oms", "8842", "Xy9Zq", *PEM_BODY):
        assert secret not in text
    assert "-----BEGIN RSA PRIVATE KEY-----" in text  # the armour stays, the body goes
    assert info["format"] == "toml" and info["parsed"] is True
    assert info["redacted"]["keys"] == ["credentials", "venue.api_key"]
    changed = [i + 1 for i, line in enumerate(text.split("\n")) if MARKER in line]
    assert info["redacted"]["lines"] == changed

    text, info = redact_content(YAML_WITH_SECRETS, "app.yaml")
    assert len(text.split("\n")) == len(YAML_WITH_SECRETS.split("\n"))
    assert "  token_symbol: BTC" in text and "  max_notional: 250000" in text
    assert f"  stripe: {MARKER}" in text and f"  - {MARKER}" in text
    for secret in (BINANCE_SECRET, SLACK_HOOK, JWT, STRIPE_LIVE, "Xy9Zq"):
        assert secret not in text
    assert info["format"] == "yaml"

    text, info = redact_content(ENV_WITH_SECRETS, "deploy/.env")
    assert text.endswith("LOG_LEVEL=info\n")
    for secret in (GH_PAT, AWS_KEY_ID, AWS_SECRET):
        assert secret not in text

    doc = '{\n  "auth": {\n    "user": "bob",\n    "pin": 4711\n  },\n  "level": "info"\n}\n'
    text, info = redact_content(doc, "x.json")
    assert text.split("\n")[1] == '  "auth": {'  # the brace is kept for readability
    assert "bob" not in text and "4711" not in text and '"level": "info"' in text
    assert info["redacted"]["keys"] == ["auth"]


def _blank_ids(data: str) -> str:
    """Hashes, UUIDs and pids can hold a short secret by chance (`8842` in a sha256)."""
    data = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "-", data)
    data = re.sub(r"[0-9a-f]{16,}", "-", data)
    return re.sub(r'"pid":\d+', '"pid":0', data)


def _assert_absent(secret: str, data: str, where: str) -> None:
    for form in {secret, json.dumps(secret)[1:-1]}:
        if len(form) >= 8:
            assert form not in data, f"{form!r} found in {where}"
        else:
            pattern = rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])"
            assert re.search(pattern, data) is None, f"{form!r} found in {where}"


def test_corpus_secrets_never_reach_the_snapshots_or_the_journal(
    tmp_path: Path, open_trail: Any, home: Path
) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    corpus = {name: data for name, data, _, _ in CORPUS}
    (cfg / "corpus.json").write_text(json.dumps(corpus, indent=2) + "\n")
    (cfg / "app.toml").write_text(TOML_WITH_SECRETS)
    (cfg / "alerts.yaml").write_text(YAML_WITH_SECRETS)
    (cfg / ".env").write_text(ENV_WITH_SECRETS)
    (cfg / "notes.txt").write_text(
        "db password=Hunter2-Correct-Horse\nGET /v1 Authorization: Bearer Qk9Xm2Lp7Rz4Tn8Wv1Yb6\n"
    )
    secrets = [s for _, _, found, _ in CORPUS for s in found]
    secrets += [BINANCE_KEY, BINANCE_SECRET, "svc-oms", "8842", "Xy9Zq", *PEM_BODY, GH_PAT]
    secrets += [SLACK_HOOK, JWT, STRIPE_LIVE, AWS_KEY_ID, AWS_SECRET, "Tr4d3r!Pass"]
    secrets += ["Hunter2-Correct-Horse", "Qk9Xm2Lp7Rz4Tn8Wv1Yb6"]

    trail = open_trail()
    snap = snapshot_paths(trail, [cfg])
    (cfg / "app.toml").write_text(TOML_WITH_SECRETS.replace("8842", "9913"))
    trail.record("config.changed", {"path": str(cfg / "app.toml"), "new_hash": "x"})
    snapshot_paths(trail, [cfg])
    trail.close()

    written = [*(home / "snapshots").iterdir(), *(home / "journal").iterdir()]
    assert len(written) >= 3
    for path in written:
        data = _blank_ids(path.read_text())
        for secret in secrets:
            _assert_absent(secret, data, path.name)
    for path in (home / "snapshots").iterdir():
        for entry in orjson.loads(path.read_bytes())["files"]:
            content = _blank_ids(entry.get("content", ""))
            for secret in secrets:
                _assert_absent(secret, content, f"{path.name}:{entry['path']}")
    corpus_entry = next(f for f in snap.files if f["path"].endswith("corpus.json"))
    assert corpus_entry["parsed"] is True and len(corpus_entry["redacted"]["lines"]) >= 40
    assert '"name": "binance"' in corpus_entry["content"]  # what is not secret stays readable


# ----------------------------------------------------------------------------------- drift


def test_drift_alert_only_when_no_config_changed_covers_the_change(
    tmp_path: Path, open_trail: Any, home: Path
) -> None:
    cfg = make_config(tmp_path)
    app, risk = cfg / "app.toml", cfg / "risk.json"
    trail = open_trail()
    base = snapshot_paths(trail, [cfg])

    # changed and recorded: covered by path (absolute or relative) or by the new hash
    app.write_text(APP_TOML.replace("100000", "150000"))
    trail.record("config.changed", {"path": "cfg/app.toml", "new_hash": "n/a"}, actor="ops")
    risk.write_text('{"max_position": "3"}\n')
    new_hash = hashlib.sha256(risk.read_bytes()).hexdigest()
    trail.record("config.changed", {"path": "risk limits", "new_hash": f"sha256:{new_hash}"})
    covered = snapshot_paths(trail, [cfg])
    assert covered.baseline == base.id
    assert [(c.path, c.change, c.covered) for c in covered.changes] == [
        (str(app), "modified", True),
        (str(risk), "modified", True),
    ]
    assert covered.drift == [] and not covered.alerted and of_type(home, "alert.sent") == []

    # changed with no event: drift, even though a config.changed was recorded before the
    # snapshot (it covers the earlier change only)
    app.write_text(APP_TOML.replace("100000", "1"))
    (cfg / "extra.toml").write_text("x = 1\n")
    risk.unlink()
    drifted = snapshot_paths(trail, [cfg], actor="cron")
    assert drifted.baseline == covered.id and drifted.baseline_seq == covered.seq
    assert {(Path(c.path).name, c.change) for c in drifted.drift} == {
        ("app.toml", "modified"),
        ("extra.toml", "added"),
        ("risk.json", "removed"),
    }
    [alert] = of_type(home, "alert.sent")
    assert alert["seq"] == drifted.alert_seq and alert["actor"] == "cron"
    assert "schema_error" not in alert
    data = alert["data"]
    assert (data["channel"], data["rule"], data["severity"]) == (
        "tradetrail",
        "config_drift",
        "warning",
    )
    for name in ("app.toml", "extra.toml", "risk.json"):
        assert str(cfg / name) in data["message"]
    assert covered.id in data["message"] and drifted.id in data["message"]

    # a directory named in config.changed covers the files under it
    app.write_text(APP_TOML)
    trail.record("config.changed", {"path": str(cfg), "new_hash": "n/a"})
    assert snapshot_paths(trail, [cfg]).drift == []
    assert len(of_type(home, "alert.sent")) == 1


def test_check_compares_with_the_newest_snapshot_covering_the_paths(
    tmp_path: Path, open_trail: Any, home: Path
) -> None:
    cfg = make_config(tmp_path)
    app = cfg / "app.toml"
    trail = open_trail()
    first = snapshot_paths(trail, [app], only_if_changed=True)  # no baseline: recorded
    assert first.recorded and first.baseline is None
    size = trail.size
    same = snapshot_paths(trail, [app], only_if_changed=True)
    assert not same.recorded and same.baseline == first.id and trail.size == size
    whole = snapshot_paths(trail, [cfg])  # a directory snapshot covers the file too
    unchanged = snapshot_paths(trail, [app], only_if_changed=True)
    assert unchanged.baseline == whole.id and not unchanged.recorded
    app.write_text("changed = true\n")
    check = snapshot_paths(trail, [app], only_if_changed=True)
    assert check.recorded and check.baseline == whole.id
    assert [(c.path, c.change) for c in check.drift] == [(str(app), "modified")]
    # only the checked file is compared: the directory's other files are not "removed"
    assert len(check.changes) == 1


def test_snapshot_configured_reads_the_environment(
    tmp_path: Path, open_trail: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(tmp_path)
    other = tmp_path / "limits.toml"
    other.write_text("max = 1\n")
    trail = open_trail()
    monkeypatch.delenv(CONFIG_PATHS_ENV, raising=False)
    assert snapshot_configured(trail) is None
    monkeypatch.setenv(CONFIG_PATHS_ENV, f"{cfg}{os.pathsep}{other}{os.pathsep}")
    snap = snapshot_configured(trail)
    assert snap is not None and snap.paths == sorted([str(cfg), str(other)])
    assert of_type(home, "config.snapshot")[-1]["data"]["content"]["snapshot_id"] == snap.id
    monkeypatch.setenv(CONFIG_PATHS_ENV, str(tmp_path / "missing.toml"))
    size = trail.size
    with pytest.raises(ConfigError, match=f"{CONFIG_PATHS_ENV}: cannot snapshot .*missing.toml"):
        snapshot_configured(trail)
    with pytest.raises(tradetrail.TrailClosedError):  # the hook closed the trail
        trail.record("order.accepted", {})
    assert len(journal_records(home)) == size


def test_bad_path_in_the_api_records_nothing(tmp_path: Path, open_trail: Any, home: Path) -> None:
    cfg = make_config(tmp_path)
    trail = open_trail()
    with pytest.raises(SnapshotError, match=r"nope\.toml: No such file or directory"):
        snapshot_paths(trail, [cfg, tmp_path / "nope.toml"])
    trail.close()
    assert of_type(home, "config.snapshot") == []
    assert not (home / "snapshots").exists()


# ------------------------------------------------------------------------------------ CLI


def test_cli_snapshot_list_diff_show_and_check(tmp_path: Path, home: Path) -> None:
    cfg = make_config(tmp_path)
    app = cfg / "app.toml"
    assert invoke("init", "--home", home).exit_code == 0
    first = invoke("snapshot", "--home", home, cfg, "--actor", "ops", "--json")
    assert first.exit_code == 0, first.output
    one = json.loads(first.stdout)
    assert one["recorded"] and one["baseline"] is None and not one["drift"]
    take = invoke("snapshot", "take", "--home", home, cfg)  # the explicit form
    assert take.exit_code == 0 and f"snapshot {one['id']}" in take.stdout

    check = invoke("snapshot", "check", "--home", home, cfg)
    assert check.exit_code == 0 and "unchanged since snapshot" in check.stdout
    app.write_text(APP_TOML.replace("100000", "200000"))
    drift = invoke("snapshot", "check", "--home", home, cfg, "--json")
    assert drift.exit_code == 1, drift.output
    two = json.loads(drift.stdout)
    assert two["drift"] and two["changes"][0]["path"] == str(app)
    assert two["changes"][0]["covered_by"] is None and two["alert_seq"] is not None
    assert "config_drift" in drift.stderr
    again = invoke("snapshot", "check", "--home", home, cfg)  # the new snapshot is the baseline
    assert again.exit_code == 0, again.output

    listed = invoke("snapshot", "list", "--home", home, "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [one["id"], one["id"], two["id"]]
    assert rows[0]["paths"] == [str(cfg)] and rows[0]["hash"] == one["hash"]
    assert rows[0]["actor"] == "ops" and rows[0]["recorded"] and rows[0]["files"] == 2
    text = invoke("snapshot", "list", "--home", home)
    assert text.exit_code == 0 and text.stdout.count("\n") == 3 and one["hash"] in text.stdout

    diff = invoke("snapshot", "diff", "--home", home, one["id"][:6], two["id"])
    assert diff.exit_code == 1, diff.output
    assert f"--- a{app}" in diff.stdout and f"+++ b{app}" in diff.stdout
    assert "-max_notional = 100000" in diff.stdout and "+max_notional = 200000" in diff.stdout
    same = invoke("snapshot", "diff", "--home", home, one["id"], one["id"])
    assert same.exit_code == 0 and same.stdout == ""
    as_json = invoke("snapshot", "diff", "--home", home, one["id"], two["id"], "--json")
    assert as_json.exit_code == 1
    files = json.loads(as_json.stdout)["files"]
    assert [(f["path"], f["change"]) for f in files] == [(str(app), "modified")]

    show = invoke("snapshot", "show", "--home", home, two["id"], "--file", app)
    assert show.exit_code == 0 and show.stdout == APP_TOML.replace("100000", "200000")
    summary = invoke("snapshot", "show", "--home", home, two["id"][:8])
    assert summary.exit_code == 0 and str(app) in summary.stdout
    assert verify_trail(home).ok


def test_cli_diff_by_time_added_removed_and_secret_only(
    tmp_path: Path, home: Path, clock: SimClock
) -> None:
    cfg = make_config(tmp_path)
    (cfg / "keys.toml").write_text(f'api_key = "{BINANCE_KEY}"\n')
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        snapshot_paths(trail, [cfg])  # 2024-03-01T12:00:00Z
        clock.set("2024-03-01T13:00:00")
        (cfg / "keys.toml").write_text(f'api_key = "{BINANCE_SECRET}"\n')  # rotated
        (cfg / "risk.json").unlink()
        (cfg / "new.ini").write_text("[a]\nb = 1\n")
        trail.record("config.changed", {"path": str(cfg), "new_hash": "n/a"})
        snapshot_paths(trail, [cfg])
    diff = invoke(
        "snapshot", "diff", "--home", home, "2024-03-01T12:30:00Z", "2024-03-01T14:00:00Z"
    )
    assert diff.exit_code == 1, diff.output
    out = diff.stdout
    assert f"--- a{cfg}/risk.json" in out and "+++ /dev/null" in out and '-  "kill_switch"' in out
    assert "--- /dev/null" in out and f"+++ b{cfg}/new.ini" in out and "+b = 1" in out
    assert "only redacted parts differ (a secret changed)" in out
    assert BINANCE_KEY not in out and BINANCE_SECRET not in out
    in_force = invoke(
        "snapshot", "diff", "--home", home, "2024-03-01T12:00:00Z", "2024-03-01T12:59:59+00:00"
    )
    assert in_force.exit_code == 0 and in_force.stdout == ""
    early = ("2024-03-01", "2024-03-02", "--path", cfg / "app.toml")
    assert_one_line_error(
        invoke("snapshot", "diff", "--home", home, *early), "no snapshot covering"
    )
    day = ("2024-03-01T12:00:00Z", "2024-03-02", "--path")  # --path also limits the diff
    assert invoke("snapshot", "diff", "--home", home, *day, cfg / "app.toml").exit_code == 0
    keys = invoke("snapshot", "diff", "--home", home, *day, cfg / "keys.toml")
    assert keys.exit_code == 1 and "risk.json" not in keys.stdout


def test_cli_bad_path_is_one_error_and_records_nothing(tmp_path: Path, home: Path) -> None:
    cfg = make_config(tmp_path)
    assert_one_line_error(invoke("snapshot", "--home", home, cfg), "is not a trail")
    assert not home.exists()  # a snapshot never creates a trail
    assert invoke("init", "--home", home).exit_code == 0
    result = invoke("snapshot", "--home", home, cfg, tmp_path / "missing.toml")
    assert_one_line_error(result, "missing.toml: No such file or directory")
    assert invoke("snapshot", "--home", home, cfg).exit_code == 0
    size = len(journal_records(home))
    for args in (
        ("snapshot", "check", "--home", home, tmp_path / "nope"),
        ("snapshot", "--home", home, cfg / "app.toml", "/dev/null"),
    ):
        assert_one_line_error(invoke(*args), "cannot snapshot")
    assert len(journal_records(home)) == size
    assert len(list((home / "snapshots").iterdir())) == 1
    assert_one_line_error(invoke("snapshot", "diff", "--home", home, "abcd", "ef01"), "no snapshot")
    assert_one_line_error(invoke("snapshot", "diff", "--home", home, "yesterday", "x"), "neither")
    assert_one_line_error(invoke("snapshot", "list", "--home", tmp_path / "none"), "not a trail")
    assert_one_line_error(invoke("snapshot"), "give PATH")


@pytest.mark.embedded
def test_cli_snapshot_of_a_trail_held_by_a_running_application_is_queued(
    tmp_path: Path, home: Path
) -> None:
    """As export and attest do: the events go through the spill directory and the running
    writer journals them; nothing is refused, nothing is lost."""
    cfg = make_config(tmp_path)
    trail = tradetrail.open(home, min_free_bytes=0)
    try:
        result = invoke("snapshot", "--home", home, cfg, "--json")
        assert result.exit_code == 0, result.output
        taken = json.loads(result.stdout)
        assert taken["seq"] is None and taken["recorded"] is True
        assert (home / "snapshots" / f"{taken['id']}.json").is_file()
        text = invoke("snapshot", "--home", home, cfg)
        assert "queued" in text.stdout and "journals it within seconds" in text.stdout
        trail.flush()
    finally:
        trail.close()
    tradetrail.open(home, min_free_bytes=0).close()  # an open merges what the spill holds
    snaps = [r for r in journal_records(home) if r["type"] == "config.snapshot"]
    assert len(snaps) == 2 and all("spill" in r for r in snaps)
    assert snaps[0]["data"]["content"]["snapshot_id"] == taken["id"]
    assert verify_trail(home).ok
    listed = json.loads(invoke("snapshot", "list", "--home", home, "--json").stdout)
    assert [s["seq"] for s in listed] == [r["seq"] for r in snaps]


def test_cli_diff_refuses_an_altered_snapshot(tmp_path: Path, home: Path) -> None:
    cfg = make_config(tmp_path)
    assert invoke("init", "--home", home).exit_code == 0
    one = json.loads(invoke("snapshot", "--home", home, cfg, "--json").stdout)
    (cfg / "app.toml").write_text("x = 2\n")
    two = json.loads(invoke("snapshot", "--home", home, cfg, "--json").stdout)
    stored = home / "snapshots" / f"{one['id']}.json"
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes().replace(b"100000", b"100001"))
    result = invoke("snapshot", "diff", "--home", home, one["id"], two["id"])
    assert_one_line_error(result, "altered")


def test_snapshot_list_and_the_config_report_count_the_same_snapshots(tmp_path: Path) -> None:
    """An application's own config.snapshot events (the demo's desk records its configuration
    inline) are snapshots for `snapshot list`, `show` and `diff`, as for the config report."""
    from datetime import UTC, datetime

    from tradetrail.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, events=400, days=2, seed=3, today=datetime(2024, 3, 6, tzinfo=UTC))
    listed = json.loads(invoke("snapshot", "list", "--home", home, "--json").stdout)
    events = [r for r in journal_records(home) if r["type"] == "config.snapshot"]
    assert len(listed) == len(events) == 2
    assert [s["seq"] for s in listed] == [r["seq"] for r in events]
    assert all(s["kind"] == "event" and s["paths"] == ["desk.toml"] for s in listed)
    assert listed[0]["hash"] == events[0]["data"]["hash"].removeprefix("sha256:")
    report = invoke(
        "report",
        "config",
        "--home",
        home,
        "--from",
        "2024-03-04",
        "--to",
        "2024-03-05",
        "--format",
        "json",
    )
    assert report.exit_code == 0, report.output
    assert '"snapshots"' in report.stdout
    diff = invoke("snapshot", "diff", "--home", home, listed[0]["id"], listed[1]["id"])
    assert diff.exit_code == 1, diff.output  # like diff(1): 1 when they differ
    assert '-  "risk.max_order_notional": "250000",' in diff.stdout
    assert '+  "risk.max_order_notional": "200000",' in diff.stdout
    show = invoke("snapshot", "show", "--home", home, listed[1]["id"][:8])
    assert show.exit_code == 0 and "desk.toml" in show.stdout
