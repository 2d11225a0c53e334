"""Fetching images from URLs, against a local HTTP server on 127.0.0.1 only."""

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from digitcnn import DigitReader, data
from digitcnn.fetch import FetchError, fetch_url


def digit_png() -> bytes:
    (_, _), (x_test, _) = data.load_mnist()
    out = io.BytesIO()
    Image.fromarray(255 - x_test[0]).resize((84, 84)).save(out, format="PNG")
    return out.getvalue()


class Handler(BaseHTTPRequestHandler):
    png = b""

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if not any(k == "Content-Length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path == "/digit.png":
            self.send(200, self.png, [("Content-Type", "image/png")])
        elif path == "/lying.png":  # says it is a PNG, is not
            self.send(200, b"<html>hello</html>", [("Content-Type", "image/png")])
        elif path == "/slow":
            time.sleep(3)
            self.send(200, self.png)
        elif path == "/huge":  # 11 MB with no Content-Length: the cap must hold while streaming
            self.send_response(200)
            self.end_headers()
            for _ in range(11 * 16):
                try:
                    self.wfile.write(b"\0" * 65536)
                except OSError:
                    return
        elif path == "/huge-declared":
            self.send(200, b"", [("Content-Length", str(50 * 1024 * 1024))])
        elif path == "/loop":
            self.send(302, headers=[("Location", "/loop")])
        elif path == "/redirect":
            self.send(301, headers=[("Location", "/digit.png")])
        else:
            self.send(404, b"not found")


@pytest.fixture(scope="module")
def server():
    Handler.png = digit_png()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_fetch_success_and_redirect(server):
    assert fetch_url(f"{server}/digit.png") == Handler.png
    assert fetch_url(f"{server}/redirect") == Handler.png


@pytest.mark.parametrize("path, message", [
    ("/missing", "HTTP 404"),
    ("/loop", "more than 5 redirects"),
    ("/huge", "over the limit of 10485760 bytes"),
    ("/huge-declared", "over the limit"),
])
def test_fetch_failures_are_one_line_errors(server, path, message):
    with pytest.raises(FetchError, match=message) as info:
        fetch_url(f"{server}{path}")
    assert "\n" not in str(info.value)


def test_slow_server_times_out(server):
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch_url(f"{server}/slow", timeout=(1.0, 0.5))
    assert time.monotonic() - started < 2.5


def test_unreachable_port_is_an_error():
    with pytest.raises(FetchError, match="cannot connect"):
        fetch_url("http://127.0.0.1:9/digit.png", timeout=(1.0, 1.0))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x.png", "file:///etc/passwd", "gopher://127.0.0.1/"])
def test_only_http_and_https(url):
    with pytest.raises(FetchError, match="only http and https"):
        fetch_url(url)


def test_reader_reads_urls(server):
    reader = DigitReader()
    result = reader.read(f"{server}/digit.png")
    assert result.digits == "7" and result.input == f"{server}/digit.png"
    result = reader.read(f"{server}/lying.png")  # Content-Type is not trusted
    assert "not an image" in result.error
    assert "HTTP 404" in reader.read(f"{server}/nothing.png").error


def test_address_check_applies_after_redirects(server):
    seen = []

    def refuse_second_hop(host, address):
        seen.append((host, address))
        if len(seen) > 1:
            raise FetchError(f"{host}: refused")

    with pytest.raises(FetchError, match="refused"):
        fetch_url(f"{server}/redirect", check_address=refuse_second_hop)
    assert seen == [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.1")]


def test_the_checked_address_is_the_connected_one(server, monkeypatch):
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
    port = server.rsplit(":", 1)[1]
    body = fetch_url(f"http://rebind.test:{port}/digit.png", check_address=lambda h, a: checked.append((h, a)))
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    assert lookups == ["rebind.test"] and checked == [("rebind.test", "127.0.0.1")]

    def refuse_all(host, address):
        raise FetchError(f"{host}: refused {address}")

    with pytest.raises(FetchError, match="rebind.test: refused 127.0.0.1"):
        fetch_url(f"http://rebind.test:{port}/digit.png", check_address=refuse_all)
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch_url("http://no-such-host.invalid/x.png")
