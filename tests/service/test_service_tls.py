"""TLS from files, and mutual TLS: the service refuses a client without a certificate of the
configured CA. Certificates are made per test with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import warnings
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import tradetrail
from service_server import Service, bearer, token

pytestmark = pytest.mark.slow


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    directory: Path,
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer[0].subject if issuer else _name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    secret = token(home, "read")
    pki = tmp_path / "pki"
    pki.mkdir()
    ca = _issue(pki, "ca", None, ca=True)
    _issue(pki, "server", ca, server=True)
    _issue(pki, "client", ca)
    other_ca = _issue(pki, "other-ca", None, ca=True)
    _issue(pki, "stranger", other_ca)
    tls = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]

    trusting = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    service = Service(home, None, *tls).start(verify=trusting)
    try:
        assert service.url.startswith("https://")
        got = httpx.get(f"{service.url}/v1/info", headers=bearer(secret), verify=trusting)
        assert got.status_code == 200 and got.json()["origin"]
        with pytest.raises(httpx.ConnectError):  # an unknown server certificate is refused
            httpx.get(f"{service.url}/healthz")
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer from a TLS port
            httpx.get(service.url.replace("https", "http") + "/healthz")
        old_client = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            old_client.minimum_version = ssl.TLSVersion.TLSv1_1
            old_client.maximum_version = ssl.TLSVersion.TLSv1_1
        old_client.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that this client offers TLS 1.1
        # the server hangs up (this client could offer it: not NO_PROTOCOLS_AVAILABLE)
        with pytest.raises(httpx.ConnectError, match=r"EOF occurred|alert protocol version"):
            httpx.get(f"{service.url}/healthz", verify=old_client)  # the server's floor: 1.2
        old_client.maximum_version = ssl.TLSVersion.TLSv1_2
        assert httpx.get(f"{service.url}/healthz", verify=old_client).status_code == 200
    finally:
        service.stop()

    def client(name: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        if name is not None:
            context.load_cert_chain(pki / f"{name}.pem", pki / f"{name}.key")
        return context

    service = Service(home, None, *tls, "--tls-client-ca", str(pki / "ca.pem"))
    service.start(verify=client("client"))
    try:
        got = httpx.get(f"{service.url}/v1/info", headers=bearer(secret), verify=client("client"))
        assert got.status_code == 200
        for name in (None, "stranger"):  # no certificate, or one of another CA
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"{service.url}/v1/info", headers=bearer(secret), verify=client(name))
    finally:
        service.stop()


def test_listen_options_are_checked(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tradetrail.cli import main

    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    runner = CliRunner()
    cases = {
        ("--listen", "localhost"): "expected HOST:PORT",
        ("--listen", "127.0.0.1:99999"): "expected HOST:PORT",
        ("--listen", "127.0.0.1:1", "--tls-cert", "x.pem"): "--tls-cert and --tls-key go together",
        ("--tls-cert", "a", "--tls-key", "b"): "go with --listen",
        ("--listen", "127.0.0.1:1", "--tls-cert", "a", "--tls-key", "b"): "no such file",
    }
    for args, message in cases.items():
        result = runner.invoke(main, ["serve", "--home", str(home), *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
