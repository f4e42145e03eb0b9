"""The SSRF guard: the refusal table (each wrapped form too), URL syntax, a resolver that
flips to a forbidden address after the check, and a redirect to the metadata address."""

from __future__ import annotations

import asyncio
import ipaddress

import httpcore
import pytest

from drgero.core.loopback import loopback_endpoints
from drgero.core.settings import ProvidersSettings, Settings
from drgero.providers import CustomTarget, ProviderClient, UnsafeUrl, UpstreamError, call_model
from drgero.providers.ssrf import GuardPolicy, check_url, check_url_syntax, refusal_reason

ASK = [{"role": "user", "content": "What is 2 + 2?"}]
STRICT = GuardPolicy()
LOCAL = GuardPolicy(allow_loopback=True)


def teredo(server: str, client: str) -> str:
    """The Teredo address (2001::/32) for a server and a client IPv4 (client bits inverted)."""
    s = int(ipaddress.IPv4Address(server))
    c = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (s << 64) | c))


def sixtofour(v4: str) -> str:
    return str(ipaddress.IPv6Address((0x2002 << 112) | (int(ipaddress.IPv4Address(v4)) << 80) | 1))


def nat64(v4: str) -> str:
    return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ipaddress.IPv4Address(v4))))


FORBIDDEN_V4 = [
    "0.0.0.0",  # noqa: S104 - an address under test, nothing binds to it
    "0.1.2.3",
    "10.0.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "169.254.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.1",
    "192.0.2.1",
    "192.168.1.1",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
]
REFUSED = [
    *FORBIDDEN_V4,
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "fd00:ec2::254",  # EC2 IMDS over IPv6
    "fc00::1",
    "fe80::1",
    "ff02::1",
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    # every forbidden IPv4 again, in each wrapped form
    *[f"::ffff:{v4}" for v4 in FORBIDDEN_V4],
    *[sixtofour(v4) for v4 in FORBIDDEN_V4],
    *[nat64(v4) for v4 in FORBIDDEN_V4],
    *[teredo("8.8.8.8", v4) for v4 in FORBIDDEN_V4],
    teredo("169.254.169.254", "8.8.8.8"),
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address):
    assert refusal_reason(ipaddress.ip_address(address), STRICT) is not None
    # allow_loopback only lifts 127/8 and ::1 themselves
    if address not in ("::1",) and not address.startswith("127."):
        assert refusal_reason(ipaddress.ip_address(address), LOCAL) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address):
    assert refusal_reason(ipaddress.ip_address(address), STRICT) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.2.1", "::1"])
def test_allow_loopback_admits_exactly_loopback(address):
    assert refusal_reason(ipaddress.ip_address(address), LOCAL) is None
    assert refusal_reason(ipaddress.ip_address(address), STRICT) is not None


@pytest.mark.parametrize(
    ("url", "policy", "reason"),
    [
        ("file:///etc/passwd", LOCAL, "scheme"),
        ("gopher://example.com/", LOCAL, "scheme"),
        ("ftp://example.com/", LOCAL, "scheme"),
        ("http://example.com/", STRICT, "scheme"),
        ("https://user:pw@example.com/", STRICT, "userinfo"),
        ("https:///nohost", STRICT, "no_host"),
        ("https://example.com:99999/", STRICT, "invalid_url"),
    ],
)
def test_url_syntax_refusals(url, policy, reason):
    with pytest.raises(UnsafeUrl) as caught:
        check_url_syntax(url, policy)
    assert caught.value.reason == reason
    assert caught.value.to_api_error().code == "unsafe_url"


def test_plain_http_needs_a_setting():
    assert check_url_syntax("http://example.com/x", GuardPolicy(allow_plain_http=True)).port == 80
    assert check_url_syntax("https://example.com/x", STRICT).port == 443


def test_check_url_refuses_if_any_answer_is_forbidden():
    async def mixed(host: str) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(UnsafeUrl, match="10.0.0.7"):
        asyncio.run(check_url("https://mixed.example/", STRICT, mixed))


def test_check_url_literals_and_names():
    async def public(host: str) -> list[str]:
        return ["93.184.216.34", "2606:4700:4700::1111"]

    assert asyncio.run(check_url("https://ok.example/", STRICT, public)) == ["93.184.216.34", "2606:4700:4700::1111"]
    with pytest.raises(UnsafeUrl):
        asyncio.run(check_url("https://[::ffff:169.254.169.254]/", STRICT, public))
    with pytest.raises(UnsafeUrl):
        asyncio.run(check_url("https://169.254.169.254/", STRICT, public))


class SpyBackend(httpcore.AsyncNetworkBackend):
    """Records every address the guarded backend actually connects to."""

    def __init__(self, real: bool) -> None:
        self.connected: list[str] = []
        self.real = httpcore.AnyIOBackend() if real else None

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append(host)
        if self.real is None:
            raise httpcore.ConnectError("spy: not connecting anywhere")
        return await self.real.connect_tcp(host, port, timeout=timeout, local_address=local_address)

    async def sleep(self, seconds):
        return None


class FlippingResolver:
    """Answers ``first`` on the first lookup and ``then`` afterwards (DNS rebinding)."""

    def __init__(self, first: str, then: str) -> None:
        self.first, self.then, self.calls = first, then, 0

    async def __call__(self, host: str) -> list[str]:
        self.calls += 1
        return [self.first if self.calls == 1 else self.then]


def _client(resolver, spy, **settings) -> ProviderClient:
    async def no_sleep(_):
        return None

    return ProviderClient(
        ProvidersSettings(**settings), resolver=resolver, inner_backend=spy, sleep=no_sleep, rng=lambda: 0.0
    )


def _call(client, target):
    async def main():
        try:
            return await call_model(target, ASK, client=client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_connect_goes_to_the_checked_ip_without_a_second_lookup(sandbox):
    # The check sees 127.0.0.1 (allowed locally); any later lookup would say 169.254.169.254.
    port = sandbox.rsplit(":", 1)[1]
    resolver = FlippingResolver("127.0.0.1", "169.254.169.254")
    spy = SpyBackend(real=True)
    client = _client(resolver, spy, allow_loopback=True)
    target = CustomTarget(url=f"http://sandbox.test:{port}/custom/openai")
    assert _call(client, target).output == "4"
    assert resolver.calls == 1
    assert spy.connected == ["127.0.0.1"]


def test_rebinding_to_loopback_after_the_check_is_never_contacted():
    # Public answer first, loopback afterwards: every connection attempt goes to the address
    # its own (single) lookup vetted; the flipped answer is refused, never connected to.
    resolver = FlippingResolver("93.184.216.34", "127.0.0.1")
    spy = SpyBackend(real=False)
    client = _client(resolver, spy, allow_plain_http=True, max_retries=2)
    with pytest.raises(UnsafeUrl):
        # attempt 1: vetted 93.184.216.34, connect fails (spy); attempt 2: the new lookup
        # says 127.0.0.1 and is refused before any socket is opened.
        _call(client, CustomTarget(url="http://rebind.test/custom/openai"))
    assert resolver.calls == 2
    assert spy.connected == ["93.184.216.34"]


def test_redirect_to_metadata_is_not_followed(sandbox):
    spy = SpyBackend(real=True)

    async def loopback(host: str) -> list[str]:
        return ["127.0.0.1"]

    client = _client(loopback, spy, allow_loopback=True)
    target = CustomTarget(url=f"{sandbox}/custom/redirect?to=http://169.254.169.254/latest/meta-data/")
    with pytest.raises(UpstreamError, match="redirect") as caught:
        _call(client, target)
    assert caught.value.upstream_status == 302
    assert all(host == "127.0.0.1" for host in spy.connected)
    assert len(spy.connected) == 1  # not retried either


def test_forbidden_answer_never_reaches_a_socket():
    spy = SpyBackend(real=False)

    async def metadata(host: str) -> list[str]:
        return ["169.254.169.254"]

    client = _client(metadata, spy, allow_plain_http=True)
    with pytest.raises(UnsafeUrl) as caught:
        _call(client, CustomTarget(url="http://evil.test/"))
    assert spy.connected == []
    assert "169.254.169.254" in caught.value.message


def test_clients_ignore_proxy_environment(sandbox, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    client = ProviderClient(ProvidersSettings(allow_loopback=True))
    assert _call(client, CustomTarget(url=f"{sandbox}/custom/openai")).output == "4"


# ---------------------------------------------------------------- loopback: exact origins
SANDBOX_ONLY = GuardPolicy(loopback_origins=loopback_endpoints(["http://127.0.0.1:8123", "http://localhost:9000"]))


def test_loopback_origins_admit_host_and_port_exactly():
    ip = ipaddress.ip_address
    assert refusal_reason(ip("127.0.0.1"), SANDBOX_ONLY, 8123) is None
    assert refusal_reason(ip("127.0.0.1"), SANDBOX_ONLY, 9000) is None  # localhost = 127.0.0.1 and ::1
    assert refusal_reason(ip("::1"), SANDBOX_ONLY, 9000) is None
    assert refusal_reason(ip("127.0.0.1"), SANDBOX_ONLY, 5000) is not None  # the embedded AWS, say
    assert refusal_reason(ip("127.0.0.2"), SANDBOX_ONLY, 8123) is not None
    assert refusal_reason(ip("::1"), SANDBOX_ONLY, 8123) is not None
    assert refusal_reason(ip("127.0.0.1"), SANDBOX_ONLY) is not None  # no port known: refused
    assert refusal_reason(ip("10.0.0.1"), SANDBOX_ONLY, 8123) is not None


def test_loopback_origins_through_check_url():
    async def loopback(host):
        return ["127.0.0.1"]

    assert asyncio.run(check_url("http://sandbox.test:8123/api/v1", SANDBOX_ONLY, loopback)) == ["127.0.0.1"]
    with pytest.raises(UnsafeUrl) as refused:
        asyncio.run(check_url("http://127.0.0.1:5000/moto-api/reset", SANDBOX_ONLY, loopback))
    assert "port 5000" in str(refused.value)
    with pytest.raises(UnsafeUrl):
        asyncio.run(check_url("http://127.0.0.1/", SANDBOX_ONLY, loopback))  # port 80 is not listed


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1", "http://example.com:80", "http://10.0.0.1:80", "ftp://127.0.0.1:21", "http://127.0.0.1:80/x"],
)
def test_loopback_origins_must_be_exact_loopback_origins(origin):
    with pytest.raises(ValueError, match="origin|loopback"):
        loopback_endpoints([origin])
    with pytest.raises(ValueError):
        ProvidersSettings(extra_loopback_origins=[origin])


def test_local_mode_refuses_the_any_port_loopback_switch(monkeypatch):
    monkeypatch.delenv("DRGERO_CONFIG", raising=False)
    with pytest.raises(ValueError, match="extra_loopback_origins"):
        Settings(environment="local", providers=ProvidersSettings(allow_loopback=True))
    listed = Settings(
        environment="local", providers=ProvidersSettings(extra_loopback_origins=["http://127.0.0.1:8080"])
    )
    client = ProviderClient(listed.providers)
    assert client.policy.loopback_origins == {("127.0.0.1", 8080)} and not client.policy.allow_loopback
