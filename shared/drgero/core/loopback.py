"""Loopback origins the SSRF guard may call in local mode, parsed exactly.

Standard library only: settings validate these lists at load time (every handler's cold
start), and the guard (drgero.providers.ssrf) admits a loopback address only with a listed
port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

_LOCALHOST_NAMES = {"localhost": ("127.0.0.1", "::1")}


def loopback_endpoints(origins: Iterable[str]) -> frozenset[tuple[str, int]]:
    """``{(ip, port)}`` of origins such as ``http://127.0.0.1:8123`` (``localhost`` stands for
    127.0.0.1 and ::1). ValueError for anything that is not a loopback origin with a port:
    the list is exact by design, so a typo must not widen it."""
    found: set[tuple[str, int]] = set()
    for origin in origins:
        parts = urlsplit(origin.strip())
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or parts.port is None or parts.path not in ("", "/"):
            raise ValueError(f"{origin!r} is not an origin like http://127.0.0.1:8123 (scheme, host and port only)")
        addresses = _LOCALHOST_NAMES.get(host) or (host,)
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError as exc:
                raise ValueError(f"{origin!r}: the host must be localhost or a loopback IP literal") from exc
            if not ip.is_loopback:
                raise ValueError(f"{origin!r} is not on loopback; public hosts need no listing")
            found.add((str(ip), parts.port))
    return frozenset(found)
