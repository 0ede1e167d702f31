"""SSRF guard for outgoing HTTP (webhooks, REST/JSON sources): check a URL, then connect to what was checked.

:func:`check_url` accepts only ``http``/``https`` URLs without credentials, resolves the host
(every A/AAAA record) and refuses it when ANY address is loopback, private (RFC 1918, unique
local fc00::/7), link-local (169.254/16 with the cloud metadata address, fe80::/10), shared
(100.64/10), unspecified, multicast, reserved or otherwise not public — IPv4 written as IPv6
(``::ffff:127.0.0.1``, 6to4, NAT64) is judged by the IPv4 inside. Numeric host spellings that
resolvers accept (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) are decoded here, never sent to DNS.

The :class:`ResolvedTarget` it returns names the address to use; :func:`pinned_session` connects
to THAT address (the Host header, SNI and certificate check still use the host name), so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot move the request.

Redirects: a pinned session only talks to its own origin. A redirect to another host fails with
``InvalidURL`` instead of being followed (a hop to a new host would need a new check); a redirect
within the origin goes to the same checked address. :mod:`portal.notify.webhook` does not follow
redirects at all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import idna
import requests
from requests.adapters import HTTPAdapter

from portal.errors import InvalidSpec, closest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``socket.getaddrinfo`` or a stand-in with its calling convention and result shape.
Resolver = Callable[..., Iterable[tuple[Any, Any, Any, Any, tuple[Any, ...]]]]

_SCHEMES = ("http", "https")
_DEFAULT_PORT = {"http": 80, "https": 443}
_MAX_URL = 2048
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")
_METADATA = ipaddress.ip_address("169.254.169.254")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class HostNotFound(InvalidSpec):
    """The host name did not resolve; ``transient`` when DNS said "try again" rather than "no such host"."""

    def __init__(self, message: str, *, field: str | None = None, transient: bool) -> None:
        super().__init__(message, field=field)
        self.transient = transient


@dataclass(frozen=True)
class ResolvedTarget:
    """A checked URL and the address to connect to. Send to ``url`` (normalized) through
    :func:`pinned_session`; show ``origin`` in messages (the path and query may hold tokens)."""

    url: str
    scheme: str
    host: str  # lower-case ASCII (IDNA) name, or the canonical IP of an IP-literal URL
    port: int
    address: str  # the address connections go to: the first one the resolver returned
    addresses: tuple[str, ...]
    host_header: str  # host[:port], IPv6 in brackets, port left out when it is the default
    #: The address check was waived (``allow_private`` or the host is in ``allowed_hosts``).
    waived: bool = False

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: what messages and logs may show of the URL."""
        return f"{self.scheme}://{self.host_header}"


def check_url(
    url: str,
    *,
    allow_private: bool = False,
    allowed_hosts: Collection[str] = (),
    resolver: Resolver = socket.getaddrinfo,
    field: str = "url",
    purpose: str = "webhooks",
    setting: str = "WEBHOOK_ALLOW_PRIVATE",
) -> ResolvedTarget:
    """Check ``url`` and resolve its host; :class:`InvalidSpec` naming ``field`` if it may not be called.

    ``allowed_hosts`` holds host names (or IPs) exempt from the address check, compared
    case-insensitively after IDNA encoding; ``purpose`` and ``setting`` word the refusal
    ("webhooks may not call ... (allow it in settings: WEBHOOK_ALLOW_PRIVATE)"). Messages show
    the host, never the path or query, which may carry tokens. DNS failures raise
    :class:`HostNotFound`.
    """
    scheme, written, host, port, literal, (path, query) = _parse(url, field)
    host_header = _bracket(host) if port == _DEFAULT_PORT[scheme] else f"{_bracket(host)}:{port}"
    allowed = {_normalize_allowed(h) for h in allowed_hosts}
    waived = allow_private or host in allowed
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        addresses = _resolve(host, port, resolver, field)
    if not waived:
        for addr in addresses:
            problem = address_problem(addr)
            if problem is None:
                continue
            if literal is None:
                where = f"{host} resolves to {addr}, which"
            else:
                same = written == str(addr) or ":" in written  # IPv6: as written is clearest
                where = written if same else f"{written} ({addr})"
            raise InvalidSpec(
                f"{field}: {where} is {problem}; {purpose} may not call the portal's own network "
                f"(allow it in settings: {setting})",
                field=field,
            )
    normalized = urlunsplit((scheme, host_header, path or "/", query, ""))
    return ResolvedTarget(
        url=normalized,
        scheme=scheme,
        host=host,
        port=port,
        address=str(addresses[0]),
        addresses=tuple(dict.fromkeys(str(a) for a in addresses)),
        host_header=host_header,
        waived=waived,
    )


def address_problem(addr: IPAddress) -> str | None:
    """Why ``addr`` may not be called (``"a loopback address"``...), or None for a public address."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (IPv4 {embedded} written as IPv6)" if inner else None
    if addr.is_unspecified:
        return "the unspecified address (this machine)"
    if addr.is_loopback:
        return "a loopback address"
    if addr == _METADATA:
        return "the cloud metadata address (link-local)"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if any(addr in net for net in _RFC1918) or addr in _ULA:
        return "a private address"
    if addr in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if addr.is_reserved or (isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local):
        return "a reserved address"
    if not addr.is_global:
        return "a special-purpose address (not on the public internet)"
    return None


def _parse(url: object, field: str) -> tuple[str, str, str, int, IPAddress | None, tuple[str, str]]:
    """(scheme, host as written, host, port, IP if the host is an IP literal, (path, query))."""

    def bad(problem: str) -> InvalidSpec:
        return InvalidSpec(f"{field}: {problem}", field=field)

    if not isinstance(url, str) or not url.strip():
        raise bad("give an http:// or https:// URL (like https://hooks.example.com/conductor)")
    text = url.strip()
    if len(text) > _MAX_URL:
        raise bad(f"is longer than {_MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text) or "\\" in text:
        raise bad("must not contain spaces, control characters or backslashes")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        hint = closest(scheme, _SCHEMES)
        got = f"{scheme!r}" if scheme else "no scheme"
        raise bad(
            f"must start with http:// or https:// (got {got}){f'; did you mean {hint!r}?' if hint else ''}"
        )
    if "@" in parts.netloc:
        raise bad("must not contain a user name or password (user:pass@host); the secret signs the request")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise bad("has no host (like https://hooks.example.com/...)")
    try:
        port = parts.port
    except ValueError:
        raise bad("port must be a number from 1 to 65535") from None
    if port == 0:
        raise bad("port must be a number from 1 to 65535")
    written = raw_host[:-1] if raw_host.endswith(".") else raw_host  # "example.com." is example.com
    host, literal = _parse_host(written, bad)
    return scheme, written, host, port or _DEFAULT_PORT[scheme], literal, (parts.path, parts.query)


def _parse_host(raw: str, bad: Callable[[str], InvalidSpec]) -> tuple[str, IPAddress | None]:
    if ":" in raw or "%" in raw:
        if "%" in raw:
            raise bad(f"{raw!r}: zone ids (like %eth0) are not accepted")
        try:
            v6 = ipaddress.IPv6Address(raw)
        except ValueError:
            raise bad(f"{raw!r} is not a valid IPv6 address") from None
        return str(v6), v6
    try:
        ascii_host = raw.encode("ascii").decode() if raw.isascii() else idna.encode(raw, uts46=True).decode()
    except idna.IDNAError:
        raise bad(f"{raw!r} is not a valid host name") from None
    ascii_host = ascii_host.lower()
    v4 = _numeric_ipv4(ascii_host, bad)
    if v4 is not None:
        return str(v4), v4
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise bad(f"{raw!r} is not a valid host name")
    return ascii_host, None


def _numeric_ipv4(host: str, bad: Callable[[str], InvalidSpec]) -> ipaddress.IPv4Address | None:
    """Decode an IPv4 address in any spelling resolvers accept (WHATWG URL rules): 1 to 4 parts,
    each decimal, octal (leading 0) or hex (0x), the last filling the remaining bytes.
    None when the last label is not a number (a host name)."""
    parts = host.split(".")
    if not _NUMBER.fullmatch(parts[-1]):
        return None
    numbers: list[int] = []
    for part in parts:
        if not _NUMBER.fullmatch(part) or len(parts) > 4:
            raise bad(f"{host!r} looks like an IPv4 address but is not a valid one")
        try:
            if part[:2].lower() == "0x":
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part))
        except ValueError:
            raise bad(f"{host!r} looks like an IPv4 address but is not a valid one") from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise bad(f"{host!r} looks like an IPv4 address but is not a valid one")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _resolve(host: str, port: int, resolver: Resolver, field: str) -> list[IPAddress]:
    try:
        infos = list(resolver(host, port, type=socket.SOCK_STREAM))
    except socket.gaierror as exc:
        again = exc.errno in {socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)}
        why = "DNS did not answer; try again later" if again else "no such host"
        raise HostNotFound(
            f"{field}: cannot find host {host!r} ({why})", field=field, transient=again
        ) from None
    except (OSError, UnicodeError) as exc:
        raise HostNotFound(
            f"{field}: cannot find host {host!r} ({exc})", field=field, transient=True
        ) from None
    found: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        try:
            found.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    if not found:
        raise HostNotFound(
            f"{field}: host {host!r} has no IPv4 or IPv6 address", field=field, transient=False
        )
    return list(dict.fromkeys(found))


def _normalize_allowed(host: str) -> str:
    text = str(host).strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not text.isascii():
        try:
            return idna.encode(text, uts46=True).decode()
        except idna.IDNAError:
            return text
    return text


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --------------------------------------------------------------------------- pinned connections
class PinnedAdapter(HTTPAdapter):
    """Connects to ``target.address`` only, for requests to ``target``'s origin (others fail).

    The URL keeps the host name; the Host header, TLS SNI and certificate check use it, and the
    urllib3 pool is opened on the pinned IP (``server_hostname``/``assert_hostname``).
    Proxies are never used: a proxy would resolve the name itself and undo the pin.
    """

    def __init__(self, target: ResolvedTarget) -> None:
        self.target = target
        super().__init__()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request`` to the pinned address after checking it stays on the pinned origin."""
        parts = urlsplit(request.url or "")
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _DEFAULT_PORT.get(scheme, 0)
        except ValueError:
            port = -1
        host = _normalize_allowed(parts.hostname or "")
        t = self.target
        if (scheme, host, port) != (t.scheme, t.host, t.port):
            raise requests.exceptions.InvalidURL(
                f"this connection is pinned to {t.origin}; {scheme}://{host} needs its own check"
            )
        request.headers["Host"] = t.host_header
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Open the urllib3 pool on the pinned IP; verify TLS against the host name."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = self.target.address
        if self.target.scheme == "https":
            pool_kwargs["server_hostname"] = self.target.host
            pool_kwargs["assert_hostname"] = self.target.host
        return host_params, pool_kwargs


def pinned_session(target: ResolvedTarget) -> requests.Session:
    """A session whose every request goes to ``target.address`` (and only to ``target``'s origin).

    ``trust_env`` is off: no proxy from the environment, no ``.netrc`` credentials.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
