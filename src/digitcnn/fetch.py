"""Fetch an image from an http(s) URL, with limits: timeouts, a body cap, few redirects.

Redirects are followed by hand so that every hop is checked (scheme, and the optional host
check the web server uses against server-side request forgery).
"""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlsplit

from .imaging import ImageError

MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0  # a server that trickles bytes cannot hold us longer than this


class FetchError(ImageError):
    """A URL could not be fetched as an image, with the reason in one line."""


def url_host(url: str) -> str:
    """The host of an http(s) URL, checked; raises FetchError for anything else.

    The host must read the same to Python's parser and to urllib3's (which requests uses to
    connect): URLs that parse differently, such as ones with a backslash, could show the
    SSRF guard one host and connect to another.
    """
    from urllib3.util import parse_url

    if "\\" in url or any(ord(c) < 33 for c in url):
        raise FetchError(f"{url!r}: the URL holds a backslash, a space or a control character")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        connect_host = parse_url(url).host
    except ValueError as exc:
        raise FetchError(f"{url!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs are fetched, not {parts.scheme or 'a bare path'}")
    if not hostname:
        raise FetchError(f"{url}: the URL has no host")
    if (connect_host or "").strip("[]").lower() != hostname.lower():
        raise FetchError(f"{url!r}: the URL's host is ambiguous")
    return hostname


def fetch_url(url: str, max_bytes: int = MAX_BYTES, check_host=None,
              timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
              total_timeout: float = TOTAL_TIMEOUT) -> bytes:
    """GET ``url`` and return the body; raise FetchError for anything but a small 200 answer.

    ``check_host(hostname)`` may raise FetchError to refuse a host; it is called for the URL
    and for every redirect target.
    """
    import requests

    deadline = time.monotonic() + total_timeout
    with requests.Session() as session:
        session.trust_env = False  # no proxies from the environment: we fetch what we were asked
        for _ in range(MAX_REDIRECTS + 1):
            host = url_host(url)
            if check_host is not None:
                check_host(host)
            try:
                response = session.get(url, stream=True, timeout=timeout, allow_redirects=False,
                                       headers={"User-Agent": "digitcnn", "Accept": "image/*"})
            except requests.exceptions.Timeout:
                raise FetchError(f"{url}: timed out (connect {timeout[0]:g} s, read {timeout[1]:g} s)") from None
            except requests.exceptions.RequestException as exc:
                raise FetchError(f"{url}: cannot connect ({type(exc).__name__})") from None
            with response:
                if response.is_redirect:
                    try:
                        url = urljoin(url, response.headers.get("Location", ""))
                    except ValueError:
                        raise FetchError(f"{url}: redirect to an invalid URL") from None
                    continue
                if response.status_code != 200:
                    raise FetchError(f"{url}: HTTP {response.status_code} {response.reason}")
                return _read_capped(response, url, max_bytes, deadline)
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _read_capped(response, url: str, max_bytes: int, deadline: float) -> bytes:
    import requests

    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{url}: body of {int(declared)} bytes is over the limit of {max_bytes} bytes")
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: body is over the limit of {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError(f"{url}: download took longer than {TOTAL_TIMEOUT:g} s")
            chunks.append(chunk)
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"{url}: download failed ({type(exc).__name__})") from None
    return b"".join(chunks)
