"""Each channel against a real local receiver, its payload checked against the provider's
documented format; the dispatcher's retries, fallback and journaling on a real trail."""

from __future__ import annotations

import email
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from alerts_receivers import http_receiver, smtp_receiver

from conftest import journal_records
from tradetrail.alerts.channels import EmailChannel, build_channel
from tradetrail.alerts.dispatch import CHANNEL_FAILED_RULE, Dispatcher
from tradetrail.alerts.engine import Alert
from tradetrail.errors import NotificationError

ALERT = Alert(
    rule="venue_api_errors",
    severity="error",
    action="trigger",
    key="venue_api_errors/SIMX",
    message="6 venue.api_error in 1m (more than 5) [venue=SIMX]",
    seqs=(10, 11, 12, 13, 14, 15),
    routes=("hook",),
    fallback=(),
    at_ns=1_709_540_000 * 10**9,
    group={"venue": "SIMX"},
)
ORIGIN = "trail.example.com/desk-1"

# PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event" / "Resolve"): the
# documented request body, as a schema
PAGERDUTY_EVENT = {
    "type": "object",
    "required": ["routing_key", "event_action", "dedup_key"],
    "additionalProperties": False,
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "additionalProperties": False,
            "properties": {
                "summary": {"type": "string", "maxLength": 1024},
                "source": {"type": "string"},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
    },
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]},
}
# Slack incoming webhooks (api.slack.com/messaging/webhooks, Block Kit): `text` is the
# notification fallback; section and context blocks with mrkdwn text objects
SLACK_MESSAGE = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "blocks": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {"type": {"const": "section"}, "text": {"$ref": "#/$defs/t"}},
                    },
                    {
                        "type": "object",
                        "required": ["type", "elements"],
                        "properties": {
                            "type": {"const": "context"},
                            "elements": {
                                "type": "array",
                                "maxItems": 10,
                                "items": {"$ref": "#/$defs/t"},
                            },
                        },
                    },
                ]
            },
        },
    },
    "$defs": {
        "t": {
            "type": "object",
            "required": ["type", "text"],
            "properties": {
                "type": {"enum": ["mrkdwn", "plain_text"]},
                "text": {"type": "string", "maxLength": 3000},
            },
        }
    },
}


def test_webhook_posts_the_alert_as_json() -> None:
    with http_receiver() as rx:
        conf = {
            "type": "webhook",
            "url": rx.url + "/in",
            "headers": {"Authorization": "Bearer ${T}"},
        }
        hook = build_channel("hook", conf, {"T": "s3"})
        hook.send(ALERT, ORIGIN)
    [req] = rx.requests
    assert req.path == "/in" and req.headers["Authorization"] == "Bearer s3"
    assert req.headers["Content-Type"] == "application/json"
    assert req.body == {
        "format": "tradetrail.alert/1", "origin": ORIGIN, "rule": "venue_api_errors",
        "severity": "error", "action": "trigger", "alert_id": "venue_api_errors/SIMX",
        "message": ALERT.message, "seqs": [10, 11, 12, 13, 14, 15], "group": {"venue": "SIMX"},
        "escalation": 0, "at": "2024-03-04T08:13:20.000000Z",
    }  # fmt: skip


def test_slack_payload_is_an_incoming_webhook_message() -> None:
    with http_receiver() as rx:
        build_channel("ops", {"type": "slack", "url": rx.url + "/services/T/B/x"}).send(
            ALERT, ORIGIN
        )
    [req] = rx.requests
    jsonschema.validate(req.body, SLACK_MESSAGE)
    assert req.body["text"] == f"[ERROR] venue_api_errors: {ALERT.message}"
    assert "seq 10, 11, 12, 13, 14, 15" in req.body["blocks"][1]["elements"][0]["text"]


def test_pagerduty_triggers_and_resolves_one_incident_by_dedup_key() -> None:
    key = "R0UT1NGKEY0123456789abcdefABCDEF"
    with http_receiver() as rx:
        rx.reply = b'{"status":"success","message":"Event processed","dedup_key":"x"}'
        pd = build_channel("pd", {"type": "pagerduty", "routing_key": key,
                                  "url": rx.url + "/v2/enqueue", "source": "desk-1"})  # fmt: skip
        pd.send(ALERT, ORIGIN)
        pd.send(Alert(**{**ALERT.__dict__, "action": "resolve"}), ORIGIN)
    trigger, resolve = (r.body for r in rx.requests)
    for body in (trigger, resolve):
        jsonschema.validate(body, PAGERDUTY_EVENT, format_checker=jsonschema.FormatChecker())
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "venue_api_errors/SIMX"
    assert trigger["payload"]["severity"] == "error" and trigger["payload"]["source"] == "desk-1"
    assert "payload" not in resolve


def test_sms_fills_the_providers_template_once_per_number() -> None:
    with http_receiver() as rx:
        sms = build_channel("sms", {
            "type": "sms", "url": rx.url + "/send/{to}", "to": ["+15550100", "+15550101"],
            "body": {"from": "TRADETRAIL", "to": "{to}", "message": {"text": "{text}"}},
        })  # fmt: skip
        sms.send(ALERT, ORIGIN)
    assert [r.path for r in rx.requests] == ["/send/+15550100", "/send/+15550101"]
    assert rx.requests[0].body == {"from": "TRADETRAIL", "to": "+15550100",
                                   "message": {"text": ALERT.title}}  # fmt: skip


def test_email_goes_over_starttls_and_names_the_records(tmp_path: Path) -> None:
    with smtp_receiver(tmp_path) as rx:
        mail = build_channel("mail", {
            "type": "email", "host": "127.0.0.1", "port": rx.port, "cafile": str(rx.cafile),
            "from": "alerts@example.com", "to": ["ops@example.com", "risk@example.com"],
        })  # fmt: skip
        mail.send(ALERT, ORIGIN)
        plain = EmailChannel("x", "127.0.0.1", "a@example.com", ["b@example.com"], port=rx.port,
                             starttls=False)  # fmt: skip
        with pytest.raises(NotificationError, match="SMTP 530"):  # the server requires TLS
            plain.send(ALERT, ORIGIN)
    [got] = rx.mails
    assert got.tls and got.recipients == ["ops@example.com", "risk@example.com"]
    msg = email.message_from_bytes(got.content, policy=default_policy)
    assert msg["Subject"].strip() == ALERT.title and msg["X-Tradetrail-Alert"] == ALERT.key
    assert "records (seq): 10, 11, 12, 13, 14, 15" in msg.get_content()  # type: ignore[attr-defined]


def test_email_refuses_a_certificate_it_cannot_check(tmp_path: Path) -> None:
    with smtp_receiver(tmp_path) as rx:
        mail = EmailChannel("m", "127.0.0.1", "a@example.com", ["b@example.com"], port=rx.port)
        with pytest.raises(NotificationError, match="CERTIFICATE_VERIFY_FAILED"):
            mail.send(ALERT, ORIGIN)
    assert rx.mails == []


def test_http_errors_say_whether_a_retry_can_help() -> None:
    with http_receiver() as rx:
        rx.statuses = [503, 400]
        hook = build_channel("hook", {"type": "webhook", "url": rx.url})
        with pytest.raises(NotificationError) as first:
            hook.send(ALERT, ORIGIN)
        with pytest.raises(NotificationError) as second:
            hook.send(ALERT, ORIGIN)
    assert first.value.retryable and "HTTP 503" in str(first.value)
    assert not second.value.retryable


# --------------------------------------------------------------------------- the dispatcher


def test_retries_with_backoff_then_journals_alert_sent_with_the_seqs(
    open_trail: Any, home: Path
) -> None:
    trail = open_trail()
    slept: list[float] = []
    with http_receiver() as rx:
        rx.statuses = [500, 502]
        channels = {"hook": build_channel("hook", {"type": "webhook", "url": rx.url})}
        d = Dispatcher(channels, trail, ORIGIN, retries=3, backoff_s=0.5, sleep=slept.append)
        [delivery] = d.deliver(ALERT)
    trail.flush()
    assert delivery.ok and delivery.attempts == 3 and slept == [0.5, 1.0]
    [sent] = [r for r in journal_records(home) if r["type"] == "alert.sent"]
    assert sent["data"] == {
        "channel": "hook", "rule": "venue_api_errors", "severity": "error",
        "message": ALERT.message, "alert_id": "venue_api_errors/SIMX",
        "seqs": [10, 11, 12, 13, 14, 15], "action": "trigger", "attempts": 3,
    }  # fmt: skip
    assert "schema_error" not in sent


def test_a_failing_channel_falls_back_and_raises_its_own_alert(open_trail: Any, home: Path) -> None:
    trail = open_trail()
    with http_receiver() as down, http_receiver() as backup:
        down.statuses = [503] * 10
        channels = {
            "hook": build_channel("hook", {"type": "webhook", "url": down.url}),
            "backup": build_channel("backup", {"type": "webhook", "url": backup.url}),
        }
        d = Dispatcher(channels, trail, ORIGIN, retries=2, backoff_s=0, sleep=lambda _: None)
        d.deliver(Alert(**{**ALERT.__dict__, "fallback": ("backup",)}))
        d.deliver(Alert(**{**ALERT.__dict__, "fallback": ("backup",), "seqs": (20,)}))
    trail.flush()
    assert len(down.requests) == 6  # 3 attempts, twice
    rules = [(r.body["rule"], r.body["seqs"]) for r in backup.requests]
    # the alert, the channel's own alert (once per run of failures), the second alert
    assert rules == [("venue_api_errors", [10, 11, 12, 13, 14, 15]),
                     (CHANNEL_FAILED_RULE, [10, 11, 12, 13, 14, 15]),
                     ("venue_api_errors", [20])]  # fmt: skip
    journaled = [(r["type"], r["data"]["channel"], r["data"].get("fallback_for"))
                 for r in journal_records(home) if r["type"].startswith("alert.")]  # fmt: skip
    assert journaled == [
        ("alert.failed", "hook", None), ("alert.sent", "backup", "hook"),
        ("alert.sent", "backup", None),
        ("alert.failed", "hook", None), ("alert.sent", "backup", "hook"),
    ]  # fmt: skip
    failed = next(r for r in journal_records(home) if r["type"] == "alert.failed")
    assert failed["data"]["attempts"] == 3 and "HTTP 503" in failed["data"]["error"]
    assert all("schema_error" not in r for r in journal_records(home))


def test_the_worker_thread_sends_off_the_callers_path() -> None:
    with http_receiver() as rx:
        channels = {"hook": build_channel("hook", {"type": "webhook", "url": rx.url})}
        d = Dispatcher(channels, None, ORIGIN)
        d.start()
        d.submit(ALERT)
        d.close()
    assert len(rx.requests) == 1
