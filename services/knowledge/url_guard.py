"""The single guarded client for every outbound fetch (SSRF defence).

A URL is only fetched after its host has been resolved and EVERY address checked: one
private address among public ones is enough to refuse, because the OS may pick either.
The connection then goes to the address we checked (the IP is put in the request URL; the
Host header and TLS SNI/certificate check still use the name), so DNS rebinding between
check and connect cannot redirect us. Redirects are followed by hand, each hop re-checked.
Numeric host forms (`2130706433`, `0x7f.1`, `017700000001`) are normalized by the
resolver exactly as the OS would, so they are caught by the same address checks.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments (RFC 6890): Python's is_global calls parts of it (e.g. the
# 192.0.0.8 dummy address, depending on the Python version) public; nothing here is a web
# page, so the whole /24 is refused.
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
_METADATA_NAMES = ("metadata.google.internal", "metadata.goog", "metadata", "instance-data")
_LOOPBACK_FOR_TESTS = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
_REDIRECTS = {301, 302, 303, 307, 308}
_USER_AGENT = "CompaninBot/1.0 (+knowledge fetcher)"
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the guard, with the addresses it may be fetched from."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes


def not_allowed(reason: str) -> Unprocessable:
    return Unprocessable(f"This URL is not allowed: {reason}.", code="url_not_allowed")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """OUTBOUND_ALLOW_CIDRS ("10.20.0.0/16, 192.168.5.7/32") as networks; a bad entry
    stops the start-up with its name rather than being ignored."""
    out = []
    for part in (text or "").split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"OUTBOUND_ALLOW_CIDRS: {part.strip()!r} is not a network "
                                 f"({exc})") from None
    return tuple(out)


def check_url(
    url: str, allow_loopback: bool = False, allowed_ports: tuple[int, ...] = (80, 443),
    allow_networks: tuple[Network, ...] = (),
) -> CheckedURL:
    """Validate and resolve `url` or raise Unprocessable(code="url_not_allowed").

    `allow_networks` (OUTBOUND_ALLOW_CIDRS) lets an operator reach named private networks
    (an on-premise CRM), on any port; cloud metadata addresses stay refused whatever it
    says."""
    if not isinstance(url, str) or not url.strip():
        raise not_allowed("it is empty")
    url = url.strip()
    if len(url) > 2048:
        raise not_allowed("it is longer than 2048 characters")
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise not_allowed("it contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise not_allowed("it cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise not_allowed("only http and https URLs can be fetched")
    if "@" in parts.netloc:
        raise not_allowed("URLs with a user name or password are refused")
    try:
        host = parts.hostname
        explicit_port = parts.port
    except ValueError:
        raise not_allowed("its host or port is malformed") from None
    if not host:
        raise not_allowed("it has no host name")
    host = host.rstrip(".").lower()
    try:
        ascii_host = host if _is_ip_literal(host) else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise not_allowed("its host name is not a valid domain name") from None
    if any(ascii_host == n or ascii_host.endswith("." + n) for n in _METADATA_NAMES):
        raise not_allowed("cloud metadata endpoints are refused")
    port = explicit_port or (443 if scheme == "https" else 80)
    if port not in allowed_ports and not (allow_loopback or allow_networks):
        # Refuse before resolving: the answer must not depend on DNS.
        allowed = ", ".join(str(p) for p in allowed_ports)
        raise not_allowed(f"port {port} is not allowed (only {allowed})")

    addresses = _resolve(ascii_host, port)
    if any(a in _METADATA_ADDRESSES for a in addresses):
        raise not_allowed(f"{host} resolves to a cloud metadata address")
    loopback_ok = allow_loopback and all(a in _LOOPBACK_FOR_TESTS for a in addresses)
    allowed_ok = bool(allow_networks) and all(
        any(a.version == n.version and a in n for n in allow_networks) for a in addresses)
    if not (loopback_ok or allowed_ok):
        for address in addresses:
            reason = refusal_reason(address)
            if reason:
                raise not_allowed(f"{host} resolves to {reason} ({address})")
        if port not in allowed_ports:
            allowed = ", ".join(str(p) for p in allowed_ports)
            raise not_allowed(f"port {port} is not allowed (only {allowed})")
    return CheckedURL(url, scheme, ascii_host, port, tuple(str(a) for a in addresses))


def refusal_reason(address: IPAddress) -> str | None:
    """Why an address must not be contacted, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            inner = refusal_reason(embedded)
            return f"an IPv4-embedding IPv6 address of {inner}" if inner else None
        if address in ipaddress.ip_network("64:ff9b::/96"):
            inner = refusal_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
            return f"a NAT64 address of {inner}" if inner else None
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_site_local", "a site-local address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute, False):
            return reason
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address"
    if isinstance(address, ipaddress.IPv4Address) and address in _IETF_PROTOCOL:
        return "an IETF protocol assignment address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise Unprocessable(
            f"The host {host} could not be resolved.", code="url_fetch_failed"
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unprocessable(f"The host {host} could not be resolved.", code="url_fetch_failed")
    return addresses


class _ConnectFailed(Exception):
    """Internal: this address refused the connection; the next one may not."""


class GuardedFetcher:
    """GET a public web page with SSRF checks, pinned connections and size/time caps."""

    def __init__(
        self,
        allow_loopback: bool = False,
        timeout: float = 10,
        max_bytes: int = 5 * 1024 * 1024,
        allowed_ports: tuple[int, ...] = (80, 443),
        max_redirects: int = 5,
        allow_networks: tuple[Network, ...] = (),
    ) -> None:
        self.allow_loopback = allow_loopback
        self.allow_networks = allow_networks
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allowed_ports = tuple(allowed_ports)
        self.max_redirects = max_redirects

    def check(self, url: str) -> CheckedURL:
        return check_url(url, self.allow_loopback, self.allowed_ports, self.allow_networks)

    def fetch(self, url: str) -> FetchResult:
        current = url
        for _hop in range(self.max_redirects + 1):
            target = self.check(current)
            status, headers, body = self._request(target)
            if status in _REDIRECTS and headers.get("location"):
                current = urljoin(target.url, headers["location"])
                continue
            if not 200 <= status < 300:
                raise Unprocessable(
                    f"The page could not be fetched: the server answered HTTP {status}.",
                    code="url_fetch_failed",
                    details={"status": status, "transient": status in (429, 502, 503, 504)},
                )
            return FetchResult(
                url=url,
                final_url=target.url,
                status=status,
                content_type=headers.get("content-type", ""),
                body=body,
            )
        raise Unprocessable(
            f"The page redirected more than {self.max_redirects} times.", code="url_fetch_failed"
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST `body` to a checked, pinned address and return the status. No redirect is
        followed: a webhook receiver answers where it is registered."""
        status, _headers, _body = self._request(self.check(url), "POST", body, headers)
        return status

    def _request(self, target: CheckedURL, method: str = "GET", content: bytes | None = None,
                 extra_headers: dict[str, str] | None = None
                 ) -> tuple[int, httpx.Headers, bytes]:
        """Try each checked address in resolver order until one accepts the connection."""
        send = (method, content, extra_headers or {})
        for address in target.addresses[:-1]:
            try:
                return self._request_to(target, address, *send)
            except _ConnectFailed:
                continue
        try:
            return self._request_to(target, target.addresses[-1], *send)
        except _ConnectFailed:
            raise Unprocessable(
                f"The server {target.host} refused the connection.", code="url_fetch_failed",
                details={"transient": True},
            ) from None

    def _request_to(self, target: CheckedURL, ip: str, method: str = "GET",
                    content: bytes | None = None, extra_headers: dict[str, str] | None = None
                    ) -> tuple[int, httpx.Headers, bytes]:
        address = ipaddress.ip_address(ip)
        literal = f"[{address}]" if address.version == 6 else str(address)
        parts = urlsplit(target.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        pinned = f"{target.scheme}://{literal}:{target.port}{path}"
        default_port = 443 if target.scheme == "https" else 80
        host_header = f"[{target.host}]" if ":" in target.host else target.host
        if target.port != default_port:
            host_header += f":{target.port}"
        headers = {"Host": host_header, "User-Agent": _USER_AGENT, "Accept": _ACCEPT,
                   **(extra_headers or {})}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            # A fresh client per hop: no pooled connection opened for another host is reused,
            # and trust_env=False keeps proxy variables from rerouting the pinned request.
            with httpx.Client(
                timeout=self.timeout, trust_env=False, follow_redirects=False
            ) as client:
                request = client.build_request(
                    method, pinned, headers=headers, content=content, extensions=extensions
                )
                response = client.send(request, stream=True)
                try:
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.max_bytes:
                        raise self._too_large()
                    body = bytearray()
                    if response.status_code in _REDIRECTS or 200 <= response.status_code < 300:
                        for piece in response.iter_bytes():
                            body += piece
                            if len(body) > self.max_bytes:
                                raise self._too_large()
                    return response.status_code, response.headers, bytes(body)
                finally:
                    response.close()
        except httpx.ConnectError:
            raise _ConnectFailed from None
        except httpx.TimeoutException:
            raise Unprocessable(
                f"The page did not answer within {self.timeout:g} seconds.",
                code="url_fetch_failed", details={"transient": True},
            ) from None
        except httpx.HTTPError as exc:
            raise Unprocessable(
                f"The page could not be fetched ({type(exc).__name__}).", code="url_fetch_failed"
            ) from None

    def _too_large(self) -> Unprocessable:
        return Unprocessable(
            f"The page is larger than {self.max_bytes // 1024} KiB.", code="url_too_large"
        )
