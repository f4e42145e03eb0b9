"""SSRF guard for user-supplied URLs (custom, Hugging Face and Dr.Gero endpoints).

Policy:
- scheme http/https only (http only when ``allow_plain_http`` or ``allow_loopback``); no
  credentials in the URL; a host is required.
- every A and AAAA answer must be a global unicast address; embedded IPv4 forms are
  unwrapped and checked too (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64
  ``64:ff9b::/96``, Teredo ``2001::/32``). One bad answer refuses the whole host, so a
  resolver mixing a public and a private answer cannot win.
- ``loopback_origins`` admits a loopback address only together with its port: exactly the
  local cloud's own provider servers (the sandbox, the local hub) and the origins an operator
  lists (``providers.extra_loopback_origins``, e.g. a local model server). Everything else on
  loopback stays refused in local mode too: the embedded AWS (whose reset endpoint would wipe
  every workspace), the API gateway itself, any other local service.
- ``allow_loopback`` admits every port of 127.0.0.0/8 and ::1; only the test harness sets it
  (its stand-in servers take free ports), and settings refuse it in local mode.

Time-of-check/time-of-use: the check happens inside the connection itself.
``GuardedNetworkBackend`` is an httpcore network backend whose ``connect_tcp`` resolves the
host once, vets the answers, and opens the socket to the vetted IP literal: there is no
second lookup to race. The URL keeps its hostname, so the Host header, TLS SNI and
certificate verification are still for the hostname. Redirects are never followed (a 3xx is
an error), and clients are built with ``trust_env=False`` so no proxy variable reroutes calls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore

from drgero.providers.errors import UnsafeUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host -> every address it resolves to (A and AAAA). Injectable so tests control DNS.
Resolver = Callable[[str], Awaitable[list[str]]]

# Refused explicitly even where Python's is_global would be wrong or version-dependent.
_ALWAYS_REFUSED = [
    ipaddress.ip_network("0.0.0.0/8"),  # "this network"
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (shared address space)
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("169.254.0.0/16"),  # link-local: cloud metadata (169.254.169.254)
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("240.0.0.0/4"),
    ipaddress.ip_network("::/128"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("::/96"),  # deprecated IPv4-compatible
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.ip_network("fc00::/7"),  # unique local, includes fd00:ec2::254 (EC2 IMDS)
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("ff00::/8"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_ALLOWED = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@dataclass(frozen=True)
class GuardPolicy:
    allow_loopback: bool = False
    allow_plain_http: bool = False
    # (IP literal, port) pairs on loopback that may be called (drgero.core.loopback).
    loopback_origins: frozenset[tuple[str, int]] = frozenset()


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 one (mapped, 6to4, NAT64, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        server, client = address.teredo
        found.extend([server, client])
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal_reason(address: IPAddress, policy: GuardPolicy, port: int | None = None) -> str | None:
    """Why ``address`` (on ``port``, when known) may not be contacted, or None when it may."""
    if policy.allow_loopback and any(address in net for net in _LOOPBACK_ALLOWED if net.version == address.version):
        return None
    if port is not None and (str(address), port) in policy.loopback_origins:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return f"{address} has a zone id"
        for inner in embedded_ipv4(address):
            # Wrapped loopback is refused even with allow_loopback: only 127/8 and ::1 themselves.
            reason = refusal_reason(inner, GuardPolicy())
            if reason:
                return f"{address} wraps {inner}: {reason}"
    for net in _ALWAYS_REFUSED:
        if net.version == address.version and address in net:
            return f"{address} is in {net}"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return f"{address} is not a global unicast address"
    return None


def check_address(
    address: str | IPAddress, policy: GuardPolicy, *, host: str = "", port: int | None = None
) -> IPAddress:
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    reason = refusal_reason(ip, policy, port)
    if reason:
        where = f"{host} resolves to " if host and host != str(ip) else ""
        at = f" port {port}" if port is not None and ip.is_loopback else ""
        raise UnsafeUrl(
            f"Refusing to call {where}{ip}{at}: only public internet addresses are allowed"
            + (" (and, locally, the listed loopback origins)." if policy.loopback_origins else "."),
            reason=reason,
        )
    return ip


@dataclass(frozen=True)
class CheckedUrl:
    scheme: str
    host: str
    port: int


def check_url_syntax(url: str, policy: GuardPolicy) -> CheckedUrl:
    """Scheme, credentials, host and port of ``url``; no DNS."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Invalid URL: {exc}", reason="invalid_url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrl("Only http and https URLs are allowed.", reason="scheme")
    if scheme == "http" and not (policy.allow_plain_http or policy.allow_loopback or policy.loopback_origins):
        raise UnsafeUrl("Endpoint URLs must use https.", reason="scheme")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Credentials in the URL are not allowed; use the auth settings.", reason="userinfo")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.", reason="no_host")
    return CheckedUrl(scheme, host, port or (443 if scheme == "https" else 80))


async def system_resolver(host: str) -> list[str]:
    """A and AAAA answers from the system resolver (one getaddrinfo call)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"Cannot resolve host {host!r}.", reason="dns") from exc
    seen: dict[str, None] = {}
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen[str(sockaddr[0])] = None
    return list(seen)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve_and_check(host: str, policy: GuardPolicy, resolver: Resolver, port: int | None = None) -> list[str]:
    """The vetted IP literals for ``host`` on ``port`` (one resolver call; every answer must pass)."""
    literal = _literal(host)
    if literal is not None:
        return [str(check_address(literal, policy, port=port))]
    # Odd numeric spellings ("2130706433", "0x7f.1") reach the resolver like any name;
    # whatever it answers is vetted below, so they gain nothing.
    answers = await resolver(host)
    if not answers:
        raise UnsafeUrl(f"Host {host!r} has no addresses.", reason="dns")
    return [str(check_address(answer, policy, host=host, port=port)) for answer in answers]


async def check_url(url: str, policy: GuardPolicy, resolver: Resolver = system_resolver) -> list[str]:
    """Validate a URL now (e.g. when a model is added): its vetted addresses, or UnsafeUrl."""
    checked = check_url_syntax(url, policy)
    return await resolve_and_check(checked.host, policy, resolver, checked.port)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore backend that connects only to vetted addresses, resolving exactly once."""

    def __init__(
        self,
        policy: GuardPolicy,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_and_check(host, self.policy, self.resolver, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                # The vetted literal goes to the socket; httpcore still uses the URL's
                # hostname for SNI and certificate checks (the connection's origin).
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise UnsafeUrl("Unix sockets are not allowed.", reason="unix_socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
