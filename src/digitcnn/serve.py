"""The web page and the HTTP API: a FastAPI app on the ONNX Runtime reading path (no TensorFlow).

    GET  /                  the page: draw, upload or paste a URL, see what the model read
    POST /api/predict       an image as multipart field ``image`` or as the raw body
    POST /api/predict-url   {"url": "..."}: fetched with the CLI's limits and an SSRF guard
    GET  /api/model         the model card
    GET  /healthz           liveness

Errors are JSON ``{"error": "..."}`` with a 4xx status; bad input never causes a 500.
"""

import base64
import ipaddress
import json
import os
from pathlib import Path

from . import __version__
from .fetch import MAX_BYTES, FetchError, fetch_url, url_host
from .imaging import ImageError, NotAnImageError, frame_to_png
from .predict import DigitReader, public

STATIC_DIR = Path(__file__).resolve().parent / "static"


class BodyTooLarge(Exception):
    pass


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


def model_card(reader: DigitReader) -> dict:
    metrics_path = reader.model_path.parent / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return {
        "name": reader.model_path.name,
        "test_accuracy": metrics.get("accuracy"),
        "test_size": metrics.get("test_size"),
        "input_size": [28, 28, 1],
        "classes": list(range(10)),
        "version": __version__,
        "runtime": "onnxruntime",
    }


def png_data_url(image) -> str:
    return "data:image/png;base64," + base64.b64encode(frame_to_png(image)).decode("ascii")


def create_app(model=None, allow_private_urls: bool = False, max_bytes: int = MAX_BYTES):
    """Build the app; the model is loaded once here and shared by all requests."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    # One thread per inference: requests run concurrently in the thread pool, and a tiny model
    # gains nothing from splitting one image across cores, only contention.
    reader = DigitReader(model, threads=1)
    card = model_card(reader)
    app = FastAPI(title="digitcnn", version=__version__,
                  description="Reads handwritten digits in images with a CNN trained on MNIST.")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def error(status: int, message: str):
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(400, f"invalid request: {where}: {first.get('msg', 'bad value')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request, exc):
        return error(413, f"request body over the limit of {max_bytes} bytes")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
            raise BodyTooLarge()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes + 64 * 1024:  # multipart framing adds a little
                raise BodyTooLarge()
            chunks.append(chunk)
        body = b"".join(chunks)
        request._body = body  # so that request.form() parses what was already read
        return body

    async def answer(source, fetch=None, include_images: bool = False):
        try:
            # Always in the thread pool: a few hundred bytes can hide a large image.
            result = await run_in_threadpool(reader.read, source, fetch, True)
        except NotAnImageError as exc:
            return error(415, str(exc))
        except ImageError as exc:  # FetchError included: every URL failure is a 400
            return error(400, str(exc))
        payload = public(result)
        if include_images:
            payload["images"] = [png_data_url(image) for image in result["images"]]
        return payload

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.post("/api/predict", summary="Read the digits in an uploaded image")
    async def predict(request: Request, include_images: bool = False):
        """Send the image as a multipart file field named ``image``, or as the raw request body.
        ``include_images=true`` adds the 28x28 images the model saw, as PNG data URLs."""
        body = await read_body(request)
        name = "<body>"
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form() as form:  # closes the spooled upload files
                upload = form.get("image")
                if upload is None or isinstance(upload, str):
                    return error(400, "the multipart body has no file field named 'image'")
                body = await upload.read()
                name = upload.filename or "<upload>"
        if len(body) > max_bytes:
            raise BodyTooLarge()
        if not body:
            return error(400, "empty body: send an image as the body or as the multipart field 'image'")
        result = await answer(body, include_images=include_images)
        if isinstance(result, dict):
            result["input"] = name
        return result

    class UrlRequest(BaseModel):
        url: str

    def guarded_fetch(url: str) -> bytes:
        return fetch_url(url, max_bytes=max_bytes,
                         check_address=None if allow_private_urls else refuse_private_address)

    @app.post("/api/predict-url", summary="Fetch an image from a URL and read its digits")
    async def predict_url(request_body: UrlRequest, include_images: bool = False):
        """http and https only; at most 10 MB and 5 redirects; hosts that resolve to loopback,
        private, link-local, multicast or unspecified addresses are refused."""
        try:
            url_host(request_body.url)  # an http(s) URL, never a path on the server
        except FetchError as exc:
            return error(400, str(exc))
        return await answer(request_body.url, guarded_fetch, include_images)

    @app.get("/api/model", summary="The model card")
    async def model_info():
        return card

    @app.get("/healthz", summary="Liveness")
    async def healthz():
        return {"status": "ok"}

    return app


def app_from_env():
    """The factory uvicorn's workers call: settings come from the environment."""
    return create_app(os.environ.get("DIGITCNN_MODEL") or None,
                      allow_private_urls=os.environ.get("DIGITCNN_ALLOW_PRIVATE_URLS") == "1")


def serve(host: str = "127.0.0.1", port: int = 8000, model=None, workers: int = 1,
          allow_private_urls: bool = False) -> None:
    import uvicorn

    DigitReader(model)  # fail now, with a clear message, if the model is unusable
    os.environ["DIGITCNN_MODEL"] = str(model) if model else ""
    os.environ["DIGITCNN_ALLOW_PRIVATE_URLS"] = "1" if allow_private_urls else "0"
    uvicorn.run("digitcnn.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")
