"""The web page and the HTTP API: a FastAPI app on the ONNX Runtime reading path (no TensorFlow).

    GET  /                  the page: draw, upload or paste a URL, see what the model read
    POST /api/predict       an image as multipart field ``image`` or as the raw body
    POST /api/predict-url   {"url": "..."}: fetched with the CLI's limits and an SSRF guard
    GET  /api/model         the model card
    GET  /healthz           liveness

``create_app`` builds the app: the reader (the model, loaded once), the model card and the
settings live in ``app.state``; the endpoints are in ``routes.py``. Errors are JSON
``{"error": "..."}`` with a 4xx status; bad input never causes a 500.
"""

import json
import logging
import os
from pathlib import Path

from . import __version__
from .errors import DigitcnnError
from .fetch import MAX_BYTES
from .models import INPUT_SHAPE, NOT_A_DIGIT, REFUSE_ABOVE
from .predict import DigitReader

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOG = logging.getLogger("digitcnn.serve")


BODY_DEADLINE = 20.0  # seconds to send a whole request body: a client trickling bytes is cut off
HEADER_DEADLINE = 10.0  # seconds to send a request line and its headers (slowloris)
FRAMING = 64 * 1024  # multipart framing around an upload of at most max_bytes
URL_FETCHES = 8  # URL fetches in flight at once, apart from uploads: more are refused (503)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: every request body is read whole, within ``max_bytes`` + FRAMING and within
    BODY_DEADLINE seconds, before any endpoint sees it (413 or 408 JSON otherwise).

    So no endpoint, JSON ones included, ever reads an unbounded body, and a client that sends its
    body a byte at a time holds a connection for BODY_DEADLINE seconds at most. A client that
    disconnects mid-upload is logged as one line.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.limit = app, max_bytes + FRAMING

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        import asyncio

        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _json_error(send, 413, f"request body over the limit of {self.limit - FRAMING} bytes")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(BODY_DEADLINE):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        LOG.info("client disconnected after %d bytes of %s %s", size, scope["method"], scope["path"])
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        return await _json_error(send, 413, f"request body over the limit of {self.limit - FRAMING} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return await _json_error(send, 408, f"the request body took longer than {BODY_DEADLINE:g} s to arrive")
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as Starlette expects

        return await self.app(scope, replay, send)


class Slots:
    """At most ``count`` holders at once: ``async with slots:``. One semaphore per event loop, made
    on first use in it (uvicorn runs one loop per worker; a test client may run one per request)."""

    def __init__(self, count: int):
        import weakref

        self.count, self._by_loop = count, weakref.WeakKeyDictionary()

    def _semaphore(self):
        import asyncio

        loop = asyncio.get_running_loop()
        if loop not in self._by_loop:
            self._by_loop[loop] = asyncio.Semaphore(self.count)
        return self._by_loop[loop]

    def locked(self) -> bool:
        return self._semaphore().locked()

    async def __aenter__(self):
        await self._semaphore().acquire()

    async def __aexit__(self, *exc_info):
        self._semaphore().release()


async def _json_error(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def model_card(reader: DigitReader) -> dict:
    metrics_path = reader.model_path.parent / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    line_reader = None
    if reader.line_model_path is not None:
        line_metrics_path = reader.line_model_path.parent / "lines-metrics.json"
        line_metrics = json.loads(line_metrics_path.read_text()) if line_metrics_path.is_file() else {}
        line_reader = {"name": reader.line_model_path.name,
                       "synthetic_exact_match": {k: v.get("exact_match") for k, v in line_metrics.get("test", {}).items()}}
    return {
        "name": reader.model_path.name,
        "test_accuracy": metrics.get("accuracy"),
        "test_size": metrics.get("test_size"),
        "input_size": list(INPUT_SHAPE),
        "classes": list(range(10)),
        # models trained with marks that are not digits have an eleventh output: such marks are refused
        "not_a_digit": ({"output": NOT_A_DIGIT, "refused_above": REFUSE_ABOVE}
                        if reader.session.get_outputs()[0].shape[-1] > NOT_A_DIGIT else None),
        "version": __version__,
        "runtime": "onnxruntime",
        "line_reader": line_reader,
    }


def create_app(model=None, allow_private_urls: bool = False, max_bytes: int = MAX_BYTES):
    """Build the app; the model is loaded once here and shared by all requests."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from . import pages
    from .routes import router

    # FastAPI's own /docs and /redoc load their scripts from a CDN; pages.py serves /docs offline.
    app = FastAPI(title="digitcnn", version=__version__, docs_url=None, redoc_url=None,
                  description="Reads handwritten digits in images with a CNN trained on MNIST.")
    # One thread per inference: requests run concurrently in the thread pool, and a tiny model
    # gains nothing from splitting one image across cores, only contention (OpenCV's: app_from_env).
    app.state.reader = DigitReader(model, threads=1)
    app.state.card = model_card(app.state.reader)
    app.state.max_bytes = max_bytes
    app.state.allow_private_urls = allow_private_urls
    # Decoding is where memory goes (a big transparent PNG is about 160 MB while decoded): at most
    # one decode per core at a time, the others wait. URL fetches wait on remote servers, not on
    # the CPU: they have their own, larger, bound, and beyond it are refused at once.
    app.state.decode_slots = Slots(os.cpu_count() or 2)
    app.state.fetch_slots = Slots(URL_FETCHES)
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(pages.router)

    def error(status: int, message: str):
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return error(400, f"invalid request: the body is not JSON ({first.get('ctx', {}).get('error', 'bad JSON')})")
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(400, f"invalid request: {where}: {first.get('msg', 'bad value')}")

    def openapi() -> dict:
        """FastAPI's schema, less the 422 answers it adds to every route: a request that fails
        validation is answered 400 here (``invalid_request``), as documented."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request, exc):
        return error(413, f"request body over the limit of {max_bytes} bytes")

    return app


def app_from_env():
    """The factory uvicorn's workers call: settings come from the environment. OpenCV runs on one
    thread in a server process, as the model does (``create_app``): its threads cost a canvas
    request a tenth of its server CPU time."""
    import cv2

    cv2.setNumThreads(1)
    return create_app(os.environ.get("DIGITCNN_MODEL") or None,
                      allow_private_urls=os.environ.get("DIGITCNN_ALLOW_PRIVATE_URLS") == "1")


class ServeError(DigitcnnError):
    """The server cannot start: its address is taken or is none of this machine's."""


def check_address(host: str, port: int) -> None:
    """Fail now, with a clear message, when nothing can listen on ``host``:``port`` (uvicorn would
    say so on stderr after the server was announced, and exit with status 3)."""
    import socket

    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(f"cannot listen on {host}:{port}: not an address of this machine ({exc})") from None
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(host: str = "127.0.0.1", port: int = 8000, model=None, workers: int = 1,
          allow_private_urls: bool = False) -> None:
    """Serve the page and the API until Ctrl-C; announced on stdout once the model loads and the
    address is free."""
    import uvicorn

    DigitReader(model)  # fail now, with a clear message, if the model is unusable
    check_address(host, port)
    print(f"Serving on http://{host}:{port}/ (API docs at /docs); Ctrl-C stops.", flush=True)
    os.environ["DIGITCNN_MODEL"] = str(model) if model else ""
    os.environ["DIGITCNN_ALLOW_PRIVATE_URLS"] = "1" if allow_private_urls else "0"
    # An idle kept-alive connection is closed after 5 s, headers that take over HEADER_DEADLINE and
    # bodies over BODY_DEADLINE are cut off: a client sending a byte a second holds nothing for long.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run("digitcnn.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_keep_alive=5, http="digitcnn.serve:HeaderDeadlineProtocol")


def __getattr__(name):
    # Built on first use, so that importing this module does not import uvicorn.
    if name == "HeaderDeadlineProtocol":
        return _header_deadline_protocol()
    raise AttributeError(f"module 'digitcnn.serve' has no attribute {name!r}")


def _header_deadline_protocol():
    """uvicorn's httptools protocol, plus a timer from a request's first byte to its last header:
    uvicorn bounds idle kept-alive connections, not a request line and headers sent slowly."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        header_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._start_header_timer()

        def on_message_begin(self):
            super().on_message_begin()
            self._start_header_timer()  # the next request of a kept-alive connection

        def on_headers_complete(self):
            self._cancel_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc):
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _start_header_timer(self):
            if self.header_timer is None:
                self.header_timer = self.loop.call_later(HEADER_DEADLINE, self._headers_too_slow)

        def _cancel_header_timer(self):
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_too_slow(self):
            self.header_timer = None
            if not self.transport.is_closing():
                LOG.info("closed a connection whose headers took over %g s", HEADER_DEADLINE)
                self.transport.close()

    return HeaderDeadlineProtocol
