"""Notification channels behind one Protocol: webhook (generic JSON), Slack incoming webhook,
email over SMTP with STARTTLS, PagerDuty Events API v2, SMS through an HTTP provider.

Each one sends one alert or raises NotificationError; retries, fallback and journaling are the
dispatcher's, so a channel stays a few lines of the provider's documented format. HTTP goes
through the standard library (urllib): no client library for five POSTs."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Final, Protocol

from ..core.timefmt import format_ns
from ..errors import NotificationError
from .engine import Alert
from .rules import RulesError, resolve_env

__all__ = [
    "PAGERDUTY_URL",
    "Channel",
    "EmailChannel",
    "NotificationError",
    "PagerDutyChannel",
    "SlackChannel",
    "SmsChannel",
    "WebhookChannel",
    "build_channel",
    "webhook_body",
]

PAGERDUTY_URL: Final = "https://events.pagerduty.com/v2/enqueue"
# PagerDuty's payload.severity takes critical, error, warning or info
_PD_SEVERITY: Final = {"debug": "info", "info": "info", "warning": "warning", "error": "error",
                       "critical": "critical"}  # fmt: skip
_SLACK_EMOJI: Final = {"debug": ":white_circle:", "info": ":large_blue_circle:",
                       "warning": ":large_orange_circle:", "error": ":red_circle:",
                       "critical": ":rotating_light:"}  # fmt: skip


class Channel(Protocol):
    """Where an alert goes. `name` is the channel's name in the rules file."""

    name: str

    def send(self, alert: Alert, origin: str) -> None: ...


def _post_json(url: str, body: object, headers: dict[str, str], timeout: float) -> bytes:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "tradetrail-alerts")
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        retryable = exc.code >= 500 or exc.code in (408, 429)
        detail = exc.read()[:200].decode(errors="replace")
        message = f"HTTP {exc.code} from {url}: {detail}"
        raise NotificationError(message, retryable=retryable) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotificationError(f"{url}: {reason}") from None


def webhook_body(alert: Alert, origin: str) -> dict[str, Any]:
    """The generic webhook's JSON (`tradetrail.alert/1`): the alert as the trail knows it."""
    return {
        "format": "tradetrail.alert/1",
        "origin": origin,
        "rule": alert.rule,
        "severity": alert.severity,
        "action": alert.action,
        "alert_id": alert.key,
        "message": alert.message,
        "seqs": list(alert.seqs),
        "group": alert.group,
        "escalation": alert.escalation,
        "at": format_ns(alert.at_ns),
    }


@dataclass
class WebhookChannel:
    name: str
    url: str
    headers: dict[str, str]
    timeout: float = 10.0

    def send(self, alert: Alert, origin: str) -> None:
        _post_json(self.url, webhook_body(alert, origin), self.headers, self.timeout)


@dataclass
class SlackChannel:
    """Slack incoming webhook: `text` (the notification's fallback) and `blocks`."""

    name: str
    url: str
    timeout: float = 10.0

    def send(self, alert: Alert, origin: str) -> None:
        _post_json(self.url, self.payload(alert, origin), {}, self.timeout)

    @staticmethod
    def payload(alert: Alert, origin: str) -> dict[str, Any]:
        icon = ":white_check_mark:" if alert.action == "resolve" else _SLACK_EMOJI[alert.severity]
        seqs = ", ".join(map(str, alert.seqs[:20])) + (" …" if len(alert.seqs) > 20 else "")
        context = f"{origin} · {format_ns(alert.at_ns)} · alert `{alert.key}`"
        if seqs:
            context += f" · seq {seqs}"
        return {
            "text": alert.title,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{alert.title}*"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }


@dataclass
class PagerDutyChannel:
    """PagerDuty Events API v2: trigger and resolve one incident per alert key (dedup_key)."""

    name: str
    routing_key: str
    url: str = PAGERDUTY_URL
    source: str | None = None
    timeout: float = 10.0

    def send(self, alert: Alert, origin: str) -> None:
        _post_json(self.url, self.payload(alert, origin), {}, self.timeout)

    def payload(self, alert: Alert, origin: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": alert.action,
            "dedup_key": alert.key[:255],
        }
        if alert.action == "trigger":
            body["payload"] = {
                "summary": alert.title[:1024],
                "source": self.source or origin,
                "severity": _PD_SEVERITY[alert.severity],
                "timestamp": format_ns(alert.at_ns),
                "component": "tradetrail",
                "group": alert.group.get("venue") or origin,
                "class": alert.rule,
                "custom_details": {
                    "seqs": list(alert.seqs),
                    "group": alert.group,
                    "escalation": alert.escalation,
                },
            }
        return body


@dataclass
class SmsChannel:
    """An SMS provider's HTTP API: a URL and a JSON body, strings holding {to}, {text},
    {severity} and {rule}; one request per recipient."""

    name: str
    url: str
    to: list[str]
    body: dict[str, Any]
    headers: dict[str, str]
    timeout: float = 10.0

    def send(self, alert: Alert, origin: str) -> None:
        text = alert.title[:300]
        for number in self.to:
            values = {"to": number, "text": text, "severity": alert.severity, "rule": alert.rule}
            body = _fill(self.body or {"to": "{to}", "text": "{text}"}, values)
            _post_json(str(_fill(self.url, values)), body, self.headers, self.timeout)


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template


@dataclass
class EmailChannel:
    """Email over SMTP; STARTTLS unless turned off (a loopback relay), certificate checked
    against the system's CAs or `cafile`."""

    name: str
    host: str
    sender: str
    to: list[str]
    port: int = 587
    starttls: bool = True
    cafile: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def message(self, alert: Alert, origin: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.title[:200]
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["X-Tradetrail-Alert"] = alert.key
        lines = [alert.title, "", f"trail: {origin}", f"at: {format_ns(alert.at_ns)}",
                 f"severity: {alert.severity}", f"alert id: {alert.key}",
                 f"records (seq): {', '.join(map(str, alert.seqs)) or '-'}"]  # fmt: skip
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send(self, alert: Alert, origin: str) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(self.message(alert, origin))
        except smtplib.SMTPResponseException as exc:
            raise NotificationError(
                f"SMTP {exc.smtp_code} from {self.host}:{self.port}: {exc.smtp_error!r}",
                retryable=exc.smtp_code >= 400 and exc.smtp_code < 500,
            ) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise NotificationError(f"SMTP {self.host}:{self.port}: {exc}") from None


def build_channel(name: str, raw: dict[str, Any], env: dict[str, str] | None = None) -> Channel:
    """The channel a rules file's `channels.<name>` describes, `${NAME}` taken from `env`."""
    conf = resolve_env(raw, f"channels.{name}", env)
    kind = conf["type"]
    timeout = float(conf.get("timeout", 10.0))
    if kind == "webhook":
        return WebhookChannel(name, conf["url"], conf.get("headers", {}), timeout)
    if kind == "slack":
        return SlackChannel(name, conf["url"], timeout)
    if kind == "pagerduty":
        url = conf.get("url", PAGERDUTY_URL)
        return PagerDutyChannel(name, conf["routing_key"], url, conf.get("source"), timeout)
    if kind == "sms":
        return SmsChannel(
            name, conf["url"], conf["to"], conf.get("body", {}), conf.get("headers", {}), timeout
        )
    if kind == "email":
        return EmailChannel(
            name,
            conf["host"],
            conf["from"],
            conf["to"],
            port=conf.get("port", 587),
            starttls=conf.get("starttls", True),
            cafile=conf.get("cafile"),
            username=conf.get("username"),
            password=conf.get("password"),
            timeout=float(conf.get("timeout", 30.0)),
        )
    raise RulesError(f"channels.{name}.type: unknown channel type {kind!r}")


ChannelFactory = Callable[[str, dict[str, Any]], Channel]
