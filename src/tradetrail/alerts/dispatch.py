"""Sending alerts from a worker thread: retries with backoff, fallback to the next channel,
a channel's own alert when it keeps failing, and every notification journaled as `alert.sent`
or `alert.failed` through the recording API, so the trail proves what supervisors were told."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from ..errors import NotificationError
from .channels import Channel
from .engine import Alert

__all__ = ["CHANNEL_FAILED_RULE", "Delivery", "Dispatcher", "Recorder"]

logger = logging.getLogger("tradetrail.alerts")

CHANNEL_FAILED_RULE: Final = "tradetrail.channel_failed"
"""The rule name of the alert a channel raises about itself when it keeps failing."""


class Recorder(Protocol):
    """What records `alert.sent`: a `Trail` from `tradetrail.open()`."""

    def record(self, event_type: str, data: Any = None, **fields: Any) -> Any: ...


@dataclass(frozen=True)
class Delivery:
    """One attempt to notify on one channel, as journaled."""

    alert: Alert
    channel: str
    ok: bool
    attempts: int
    error: str = ""
    fallback_for: str | None = None


@dataclass
class Dispatcher:
    channels: dict[str, Channel]
    recorder: Recorder | None
    origin: str
    retries: int = 3
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.SimpleQueue[Alert | None] = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None
    _failing: set[str] = field(default_factory=set)
    submitted: int = 0
    """Alerts handed to the worker so far."""
    handled: int = 0
    """Of those, how many the worker has finished with (sent, failed over, or journaled as
    failed): in submission order, so the first `handled` are done."""

    # ---------------------------------------------------------------- the worker

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tradetrail-alerts", daemon=True)
        self._thread.start()

    def submit(self, alert: Alert) -> None:
        """Hand an alert to the worker; never blocks the caller."""
        self.submitted += 1
        self._queue.put(alert)

    def close(self, timeout: float | None = 60.0) -> None:
        """Send what is queued, then stop the worker."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            try:
                self.deliver(alert)
            except Exception:  # a bug must not stop the alerts that follow
                logger.exception("tradetrail alerts: delivering %s failed", alert.key)
            self.handled += 1

    # ---------------------------------------------------------------- delivering

    def deliver(self, alert: Alert) -> list[Delivery]:
        """Send `alert` on each of its routes; a route that fails after its retries is
        journaled as failed and the alert goes to the first fallback that takes it."""
        done: list[Delivery] = []
        for route in alert.routes:
            delivery = self._send(alert, route)
            done.append(delivery)
            if delivery.ok:
                continue
            tried = {route, *alert.routes}
            for fallback in alert.fallback:
                if fallback in tried:
                    continue
                tried.add(fallback)
                taken = self._send(alert, fallback, fallback_for=route)
                done.append(taken)
                if taken.ok:
                    break
            if route not in self._failing:  # its own alert, once per run of failures
                self._failing.add(route)
                own = Alert(
                    rule=CHANNEL_FAILED_RULE,
                    severity="error",
                    action="trigger",
                    key=f"{CHANNEL_FAILED_RULE}/{route}",
                    message=f"channel {route} failed: {delivery.error}",
                    seqs=alert.seqs,
                    routes=(),
                    fallback=(),
                    at_ns=alert.at_ns,
                    group={"channel": route},
                )
                for fallback in alert.fallback:
                    usable = fallback != route and fallback not in self._failing
                    if usable and self._send(replace(own, routes=(fallback,)), fallback).ok:
                        break
        return done

    def _send(self, alert: Alert, route: str, fallback_for: str | None = None) -> Delivery:
        channel = self.channels.get(route)
        attempts, error = 0, ""
        if channel is None:
            error = f"no channel {route!r}"
        while channel is not None:
            attempts += 1
            try:
                channel.send(alert, self.origin)
            except NotificationError as exc:
                error = str(exc)
                if not exc.retryable or attempts > self.retries:
                    break
                self.sleep(self.backoff_s * 2 ** (attempts - 1))
                continue
            error = ""
            self._failing.discard(route)
            break
        delivery = Delivery(alert, route, not error, attempts, error, fallback_for)
        self.deliveries.append(delivery)
        self._journal(delivery)
        if error:
            logger.error("tradetrail alerts: %s on %s failed: %s", alert.key, route, error)
        return delivery

    def _journal(self, d: Delivery) -> None:
        if self.recorder is None:
            return
        data: dict[str, Any] = {
            "channel": d.channel,
            "rule": d.alert.rule,
            "severity": d.alert.severity,
            "message": d.alert.message,
            "alert_id": d.alert.key,
            "seqs": list(d.alert.seqs),
            "action": d.alert.action,
            "attempts": d.attempts,
        }
        if d.ok:
            if d.fallback_for is not None:
                data["fallback_for"] = d.fallback_for
        else:
            data["error"] = d.error
        try:
            self.recorder.record("alert.sent" if d.ok else "alert.failed", data)
        except Exception:  # the notification went (or not) either way; say so loudly
            logger.exception("tradetrail alerts: not journaled: %s on %s", d.alert.key, d.channel)
