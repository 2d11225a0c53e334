"""Fetching images from URLs, against a local HTTP server on 127.0.0.1 only."""

import socket
import time

import pytest

from digitcnn.fetch import FetchError, fetch_url


def test_fetch_success_and_redirect(image_server, digit_png):
    assert fetch_url(f"{image_server}/digit.png") == digit_png
    assert fetch_url(f"{image_server}/redirect") == digit_png


@pytest.mark.parametrize("path, message", [
    ("/missing", "HTTP 404"),
    ("/loop", "more than 5 redirects"),
    ("/huge", "over the limit of 10485760 bytes"),
    ("/huge-declared", "over the limit"),
])
def test_fetch_failures_are_one_line_errors(image_server, path, message):
    with pytest.raises(FetchError, match=message) as info:
        fetch_url(f"{image_server}{path}")
    assert "\n" not in str(info.value)


def test_slow_server_times_out(image_server):
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch_url(f"{image_server}/slow", timeout=(1.0, 0.5))
    assert time.monotonic() - started < 2.5


def test_unreachable_port_is_an_error():
    with pytest.raises(FetchError, match="cannot connect"):
        fetch_url("http://127.0.0.1:9/digit.png", timeout=(1.0, 1.0))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x.png", "file:///etc/passwd", "gopher://127.0.0.1/"])
def test_only_http_and_https(url):
    with pytest.raises(FetchError, match="only http and https"):
        fetch_url(url)


def test_reader_reads_urls(image_server, reader):
    result = reader.read(f"{image_server}/digit.png")
    assert result.digits == "7" and result.input == f"{image_server}/digit.png"
    result = reader.read(f"{image_server}/lying.png")  # Content-Type is not trusted
    assert "not an image" in result.error
    assert "HTTP 404" in reader.read(f"{image_server}/nothing.png").error


def test_address_check_applies_after_redirects(image_server):
    seen = []

    def refuse_second_hop(host, address):
        seen.append((host, address))
        if len(seen) > 1:
            raise FetchError(f"{host}: refused")

    with pytest.raises(FetchError, match="refused"):
        fetch_url(f"{image_server}/redirect", check_address=refuse_second_hop)
    assert seen == [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.1")]


def test_the_checked_address_is_the_connected_one(image_server, monkeypatch):
    """DNS rebinding: the host is resolved once, and the socket connects to what was checked.

    A resolver that answers differently on every call (public for the check, private for the
    connection) could fool a guard that resolves on its own; here there is no second resolution.
    """
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding_resolver(host, port, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_resolver)
    checked = []
    port = image_server.rsplit(":", 1)[1]
    body = fetch_url(f"http://rebind.test:{port}/digit.png", check_address=lambda h, a: checked.append((h, a)))
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    assert lookups == ["rebind.test"] and checked == [("rebind.test", "127.0.0.1")]

    def refuse_all(host, address):
        raise FetchError(f"{host}: refused {address}")

    with pytest.raises(FetchError, match="rebind.test: refused 127.0.0.1"):
        fetch_url(f"http://rebind.test:{port}/digit.png", check_address=refuse_all)
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch_url("http://no-such-host.invalid/x.png")
