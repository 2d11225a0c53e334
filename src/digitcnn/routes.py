"""The HTTP endpoints (a FastAPI router); ``serve.create_app`` puts the reader and settings in ``app.state``."""

import base64

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from . import fetch
from .imaging import ImageError, NotAnImageError, frame_to_png
from .results import ReadResult
from .serve import STATIC_DIR, BodyTooLarge

router = APIRouter()


class ErrorMessage(BaseModel):
    error: str


class UrlRequest(BaseModel):
    url: str


ERROR_RESPONSES = {status: {"model": ErrorMessage, "description": description}
                   for status, description in ((400, "a bad image, URL or request"), (413, "body over 10 MB"),
                                               (415, "not an image"))}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def png_data_url(image) -> str:
    return "data:image/png;base64," + base64.b64encode(frame_to_png(image)).decode("ascii")


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) as soon as it passes the limit, before it is all read."""
    limit = request.app.state.max_bytes + 64 * 1024  # multipart framing adds a little
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # so that request.form() parses what was already read
    return body


async def answer(request: Request, source, fetcher=None, include_images: bool = False):
    """Read ``source`` off the event loop; a ReadResult, or a 4xx JSON error."""
    try:
        # Always in the thread pool: a few hundred bytes can hide a large image.
        result = await run_in_threadpool(request.app.state.reader.read, source, fetcher, True)
    except NotAnImageError as exc:
        return error(415, str(exc))
    except ImageError as exc:  # FetchError included: every URL failure is a 400
        return error(400, str(exc))
    if include_images:
        result.images = [png_data_url(image) for image in result.frames]
    return result


@router.get("/", include_in_schema=False)
async def page():
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.post("/api/predict", summary="Read the digits in an uploaded image", response_model=ReadResult,
             responses=ERROR_RESPONSES)
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
    if len(body) > request.app.state.max_bytes:
        raise BodyTooLarge()
    if not body:
        return error(400, "empty body: send an image as the body or as the multipart field 'image'")
    result = await answer(request, body, include_images=include_images)
    if isinstance(result, ReadResult):
        result.input = name
    return result


@router.post("/api/predict-url", summary="Fetch an image from a URL and read its digits",
             response_model=ReadResult, responses=ERROR_RESPONSES)
async def predict_url(request: Request, request_body: UrlRequest, include_images: bool = False):
    """http and https only; at most 10 MB and 5 redirects; hosts that resolve to loopback,
    private, link-local, multicast or unspecified addresses are refused."""
    state = request.app.state

    def guarded_fetch(url: str) -> bytes:
        return fetch.fetch_url(url, max_bytes=state.max_bytes,
                               check_address=None if state.allow_private_urls else fetch.refuse_private_address)

    try:
        fetch.url_host(request_body.url)  # an http(s) URL, never a path on the server
    except fetch.FetchError as exc:
        return error(400, str(exc))
    return await answer(request, request_body.url, guarded_fetch, include_images)


@router.get("/api/model", summary="The model card")
async def model_info(request: Request) -> dict:
    return request.app.state.card


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict:
    return {"status": "ok"}
