"""Running the app on uvicorn inside the writer process: a thread of its own, TLS (and client
certificates) from files, and a graceful stop that lets requests in flight finish before the
writer closes the trail."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ..errors import ConfigError
from ..metrics import Verification
from ..writer.trail import Trail
from .app import ServiceConfig, create_app

logger = logging.getLogger("tradetrail.service")


@dataclass(frozen=True)
class Listen:
    """Where and how the service listens (`--listen HOST:PORT --tls-cert F --tls-key F`)."""

    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None

    @classmethod
    def parse(cls, text: str, **tls: Path | None) -> Listen:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8443")
        listen = cls(host.strip("[]") or "127.0.0.1", int(port), **tls)
        if (listen.tls_cert is None) != (listen.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")
        if listen.client_ca is not None and listen.tls_cert is None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        for name, path in tls.items():
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"--{name.replace('_', '-')} {path}: no such file")
        return listen

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


class Service:
    """The HTTP service of `trail`, started at once; `stop()` before the trail closes."""

    def __init__(
        self,
        trail: Trail,
        listen: Listen,
        config: ServiceConfig | None = None,
        *,
        verification: Callable[[], Verification | None] | None = None,
    ):
        self.listen = listen
        self.app = create_app(trail, config, verification=verification)
        options: dict[str, object] = {}
        if listen.tls_cert is not None:
            options = {"ssl_certfile": str(listen.tls_cert), "ssl_keyfile": str(listen.tls_key)}
            if listen.client_ca is not None:
                options["ssl_ca_certs"] = str(listen.client_ca)
                options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=listen.host,
                port=listen.port,
                log_level="warning",
                access_log=False,  # an access log would be one more place tokens could leak
                timeout_graceful_shutdown=10,
                **options,  # type: ignore[arg-type]
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="tradetrail-http")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigError(f"cannot listen on {listen.host}:{listen.port} (see the log)")
            if time.monotonic() > deadline:
                raise ConfigError(f"the service did not start on {listen.url} within 30 s")
            time.sleep(0.01)
        logger.warning("tradetrail service of %s listening on %s", trail.origin, listen.url)

    def stop(self) -> None:
        self.app.state.stopping = True  # the open streams end (their clients resume elsewhere)
        self._server.should_exit = True
        self._thread.join(30)
        if self.app.state.trail_metrics is not None:
            self.app.state.trail_metrics.close()
