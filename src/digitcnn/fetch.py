"""Fetch an image from an http(s) URL, with limits: timeouts, a body cap, few redirects.

Redirects are followed by hand so that every hop is checked (scheme, and the optional address
check the web server uses against server-side request forgery). The address check runs inside
the connection: the host is resolved once, every address it resolved to is checked, and the
socket connects to one of exactly those addresses. A DNS answer that changes between a check and
the connection (DNS rebinding) therefore cannot slip a private address past it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from urllib.parse import urljoin, urlsplit

from .imaging import ImageError

MAX_BYTES = 10 * 1024 * 1024
URL_FETCHES_BUSY = "too many URL fetches in flight"
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0  # a server that trickles bytes cannot hold us longer than this


class FetchError(ImageError):
    """A URL could not be fetched as an image, with the reason in one line."""


def short(url: str, keep: int = 120) -> str:
    """A URL (or a path) cut for messages: an error must not echo a 100 MB URL back."""
    return url if len(url) <= keep else f"{url[:keep]}... ({len(url)} characters)"


def is_url(text: str) -> bool:
    """True when an input names a URL rather than a file: the one place that decides it."""
    return "://" in text


NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, 6to4, Teredo, NAT64 or IPv4-compatible.

    A network that routes these forms reaches the IPv4 address inside, so each one is checked too.
    """
    inside = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in NAT64_PREFIX or int(ip) >> 32 == 0:  # 64:ff9b::a.b.c.d, or ::a.b.c.d (deprecated)
        inside.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in inside if address is not None]


def refuse_private_address(host: str, address: str) -> None:
    """Raise FetchError when ``address``, which ``host`` resolved to, is not public.

    Loopback, private, link-local, multicast, unspecified and reserved addresses are refused, and
    so is an IPv6 address that carries such an IPv4 address: a URL must not make the server reach
    into its own network (server-side request forgery). fetch_url calls this with every resolved
    address and then connects only to those.
    """
    ip = ipaddress.ip_address(address.split("%")[0])
    candidates = [ip, *embedded_ipv4(ip)] if isinstance(ip, ipaddress.IPv6Address) else [ip]
    for candidate in candidates:
        if not candidate.is_global or candidate.is_multicast:
            raise FetchError(f"{host}: refused, it resolves to the non-public address {candidate} "
                             "(start the server with --allow-private-urls to allow it)")




def url_host(url: str) -> str:
    """The host of an http(s) URL, checked; raises FetchError for anything else.

    The host must read the same to Python's parser and to urllib3's (which requests uses to
    connect): URLs that parse differently, such as ones with a backslash, could show the
    SSRF guard one host and connect to another.
    """
    from urllib3.util import parse_url

    if not url:
        raise FetchError("an empty URL: expected an http or https URL")
    if "\\" in url or any(ord(c) < 33 for c in url):
        raise FetchError(f"{short(url)!r}: the URL holds a backslash, a space or a control character")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        connect_host = parse_url(url).host
    except ValueError as exc:
        raise FetchError(f"{short(url)!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{short(url)}: only http and https URLs are fetched, not {parts.scheme or 'a bare path'}")
    if not hostname:
        raise FetchError(f"{short(url)}: the URL has no host")
    if (connect_host or "").strip("[]").lower() != hostname.lower():
        raise FetchError(f"{short(url)!r}: the URL's host is ambiguous")
    return hostname


def _checked_connection_classes(check_address, deadline: float, watchdogs: list):
    """urllib3 connection classes that resolve once, check every address, connect to a checked one.

    All connection attempts share the time left before ``deadline`` (time.monotonic()): a DNS
    answer listing many unreachable addresses cannot multiply the connect timeout. Every socket
    is shut down at the deadline by a timer (appended to ``watchdogs``), so that a server that
    trickles a byte now and then, which restarts the read timeout each time, cannot hold a
    fetch past it, over TLS too.
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util.connection import create_connection

    class CheckedConnection:
        def _new_conn(self):
            try:
                infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise FetchError(f"{self.host}: cannot resolve the host ({exc})") from None
            addresses = list(dict.fromkeys(info[4][0] for info in infos))
            if not addresses:
                raise FetchError(f"{self.host}: the host resolves to no address")
            if check_address is not None:
                for address in addresses:
                    check_address(self.host, address)
            error = None
            for address in addresses:  # numeric addresses: create_connection resolves nothing
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError(f"{self.host}: no connection within the time limit")
                timeout = min(self.timeout, left) if isinstance(self.timeout, (int, float)) else left
                try:
                    sock = create_connection((address, self.port), timeout,
                                             source_address=self.source_address, socket_options=self.socket_options)
                    # At the deadline, shut the socket the connection uses by then: for HTTPS that is
                    # the TLS socket that wrapped (and detached) this one.
                    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _shut_connection, (self, sock))
                    watchdog.daemon = True
                    watchdog.start()
                    watchdogs.append(watchdog)
                    return sock
                except TimeoutError:
                    error = ConnectTimeoutError(self, f"connection to {self.host} timed out")
                except OSError as exc:
                    error = NewConnectionError(self, f"failed to connect to {self.host}: {exc}")
            raise error

    return (type("CheckedHTTPConnection", (CheckedConnection, HTTPConnection), {}),
            type("CheckedHTTPSConnection", (CheckedConnection, HTTPSConnection), {}))


def _shut_connection(connection, sock: socket.socket) -> None:
    _shut(getattr(connection, "sock", None) or sock)


def _shut(sock) -> None:
    with contextlib.suppress(OSError, ValueError):  # already closed: the fetch ended in time
        sock.shutdown(socket.SHUT_RDWR)


def _checked_session(check_address, deadline: float, watchdogs: list):
    """A requests session whose every connection goes through ``check_address`` (see above)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    http_connection, https_connection = _checked_connection_classes(check_address, deadline, watchdogs)
    adapter = HTTPAdapter(max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = {
        "http": type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}),
    }
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we fetch what we were asked
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch_url(url: str, max_bytes: int = MAX_BYTES, check_address=None,
              timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
              total_timeout: float = TOTAL_TIMEOUT) -> bytes:
    """GET ``url`` and return the body; raise FetchError for anything but a small 200 answer.

    ``check_address(host, address)`` may raise FetchError to refuse a connection; it is called
    with every address the host resolved to, for the URL and for every redirect target, before
    the socket connects to one of those very addresses. The whole fetch, redirects and body
    included, ends within ``total_timeout`` seconds whatever the server does.
    """
    deadline = time.monotonic() + total_timeout
    watchdogs: list[threading.Timer] = []
    try:
        return _fetch(url, max_bytes, check_address, timeout, total_timeout, deadline, watchdogs)
    finally:
        for watchdog in watchdogs:
            watchdog.cancel()


def _fetch(url, max_bytes, check_address, timeout, total_timeout, deadline, watchdogs) -> bytes:
    import requests

    for _ in range(MAX_REDIRECTS + 1):
        url_host(url)
        # A new session per hop: a kept-alive connection would skip the check of a redirect.
        with _checked_session(check_address, deadline, watchdogs) as session:
            try:
                response = session.get(url, stream=True, timeout=timeout, allow_redirects=False,
                                       headers={"User-Agent": "digitcnn", "Accept": "image/*"})
            except requests.exceptions.Timeout:
                raise FetchError(f"{short(url)}: timed out (connect {timeout[0]:g} s, read {timeout[1]:g} s)") from None
            except requests.exceptions.RequestException as exc:
                if time.monotonic() >= deadline:
                    raise FetchError(f"{short(url)}: no answer within {total_timeout:g} s") from None
                raise FetchError(f"{short(url)}: cannot connect ({type(exc).__name__})") from None
            with response:
                if response.is_redirect:
                    try:
                        url = urljoin(url, response.headers.get("Location", ""))
                    except ValueError:
                        raise FetchError(f"{short(url)}: redirect to an invalid URL") from None
                    continue
                if response.status_code != 200:
                    raise FetchError(f"{short(url)}: HTTP {response.status_code} {response.reason}")
                return _read_capped(response, url, max_bytes, deadline, total_timeout)
    raise FetchError(f"{short(url)}: more than {MAX_REDIRECTS} redirects")


def _read_capped(response, url: str, max_bytes: int, deadline: float, total_timeout: float) -> bytes:
    import requests

    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{short(url)}: body of {int(declared)} bytes is over the limit of {max_bytes} bytes")
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{short(url)}: body is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
    except requests.exceptions.RequestException as exc:
        if time.monotonic() >= deadline:
            raise FetchError(f"{short(url)}: download took longer than {total_timeout:g} s") from None
        raise FetchError(f"{short(url)}: download failed ({type(exc).__name__})") from None
    if time.monotonic() >= deadline:  # the watchdog cut the body short
        raise FetchError(f"{short(url)}: download took longer than {total_timeout:g} s")
    return b"".join(chunks)
