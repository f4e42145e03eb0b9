"""The pinned connection keeps TLS honest: the socket goes to the vetted IP while SNI, the
Host header and certificate verification are for the URL's hostname."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from drgero.core.settings import ProvidersSettings
from drgero.providers import CustomTarget, ProviderClient, UpstreamError, call_model

HOST = "endpoint.sandbox.test"


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dr.Gero test CA (toy)")])
    ca = _cert("Dr.Gero test CA (toy)", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(HOST, ca_key, ca_name, key, ca=False)
    (folder / "leaf.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    seen: dict[str, list] = {"sni": [], "host": []}

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(folder / "leaf.pem")
    server_context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            return

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["host"].append(self.headers.get("Host"))
            body = json.dumps({"choices": [{"message": {"content": "secure hello"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    yield server.server_address[1], client_context, seen
    server.shutdown()
    server.server_close()


def _call(port, context, url_host, resolved):
    async def resolver(host: str) -> list[str]:
        return resolved

    client = ProviderClient(
        ProvidersSettings(allow_loopback=True, max_retries=0), resolver=resolver, ssl_context=context
    )

    async def main():
        try:
            return await call_model(
                CustomTarget(url=f"https://{url_host}:{port}/v1/chat/completions"),
                [{"role": "user", "content": "hi"}],
                client=client,
            )
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_pinned_ip_keeps_sni_host_and_certificate(tls_server):
    port, context, seen = tls_server
    result = _call(port, context, HOST, ["127.0.0.1"])
    assert result.output == "secure hello"
    assert seen["sni"][-1] == HOST
    assert seen["host"][-1] == f"{HOST}:{port}"


def test_certificate_for_another_name_is_refused(tls_server):
    port, context, _ = tls_server
    with pytest.raises(UpstreamError, match="certificate could not be verified") as caught:
        _call(port, context, "other.sandbox.test", ["127.0.0.1"])
    assert not caught.value.retryable
