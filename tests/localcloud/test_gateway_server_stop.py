"""A stopped gateway ends its kept-alive connections: a client that reuses one must not keep
being served by the stopped gateway (and, through it, by a stopped cloud's functions) after a
new gateway took the port (the restart in `make demo` met exactly that)."""

from __future__ import annotations

import httpx

from localcloud.apigateway import ApiServer, Reply


class NamedGateway:
    def __init__(self, name: str) -> None:
        self.name = name

    def handle(self, request) -> Reply:
        return Reply(200, [("Content-Type", "text/plain")], self.name.encode())


def test_a_restarted_gateway_serves_a_client_that_kept_its_connection():
    first = ApiServer(NamedGateway("first"), port=0)
    first.start()
    port = first.port
    with httpx.Client(base_url=first.url, trust_env=False) as client:
        assert client.get("/").text == "first"  # the connection stays open (HTTP/1.1)
        first.stop()
        second = ApiServer(NamedGateway("second"), port=port)
        second.start()
        try:
            assert client.get("/").text == "second"
        finally:
            second.stop()
