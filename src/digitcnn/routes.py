"""The HTTP endpoints (a FastAPI router); ``serve.create_app`` puts the reader and settings in ``app.state``."""

import base64

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from . import fetch
from .imaging import (
    FILE_SIZE,
    ImageError,
    NotAnImageError,
    frame_to_png,
    preview_png,
)
from .results import ReadResult
from .serve import STATIC_DIR, BodyTooLarge

router = APIRouter()


class ErrorMessage(BaseModel):
    error: str


class UrlRequest(BaseModel):
    url: str


ERROR_RESPONSES = {status: {"model": ErrorMessage, "description": description}
                   for status, description in ((400, "a bad image, URL or request"),
                                               (408, "the body took too long to arrive"), (413, "body over 10 MB"),
                                               (415, "not an image"), (503, "too many URL fetches in flight"))}
UPLOAD_ERRORS = {status: response for status, response in ERROR_RESPONSES.items() if status != 503}
# /api/predict reads its body itself (a multipart field or raw bytes), so FastAPI cannot infer it:
# described here, the API page's "Try it out" can send a file.
UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                       "properties": {"image": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def source_size(image) -> list[int]:
    """[width, height] of the input in the pixels its boxes use (those of the file, for a JPEG decoded reduced)."""
    if isinstance(image, np.ndarray):
        return [int(image.shape[1]), int(image.shape[0])]
    return list(image.info.get(FILE_SIZE, image.size))


def read_with_preview(reader, source, include_images: bool) -> ReadResult:
    """Read ``source`` (strict); with ``include_images``, add the 28x28 images and the picture read."""
    result = reader.read(source, None, True)
    if include_images:
        result.images = [png_data_url(frame_to_png(image)) for image in result.frames]
        result.source_image = png_data_url(preview_png(result.source))
        result.source_size = source_size(result.source)
    result.source = None  # the decoded picture is not kept beyond the request's decode slot
    return result


async def answer(request: Request, source, include_images: bool = False):
    """Read ``source`` off the event loop, one decode per core at a time; a ReadResult, or a 4xx JSON error."""
    state = request.app.state
    try:
        # Always in the thread pool: a few hundred bytes can hide a large image.
        async with state.decode_slots:  # the preview too: it reads the decoded picture
            result = await run_in_threadpool(read_with_preview, state.reader, source, include_images)
    except NotAnImageError as exc:
        return error(415, str(exc))
    except ImageError as exc:
        return error(400, str(exc))
    return result


@router.get("/", include_in_schema=False)
async def page():
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.post("/api/predict", summary="Read the digits in an uploaded image", response_model=ReadResult,
             responses=UPLOAD_ERRORS, openapi_extra=UPLOAD_BODY)
async def predict(request: Request, include_images: bool = False):
    """Send the image as a multipart file field named ``image``, or as the raw request body.
    ``include_images=true`` adds the 28x28 images the model saw and the picture read, as PNG data URLs."""
    body = await request.body()  # already read whole, within the size and time limits, by serve.BodyLimit
    name = "<body>"
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled upload files
            uploads = form.getlist("image")
            if not uploads:
                return error(400, "the multipart body has no file field named 'image'")
            if len(uploads) > 1:
                return error(400, f"the multipart body has {len(uploads)} fields named 'image'; send one image per request")
            upload = uploads[0]
            if isinstance(upload, str):
                return error(400, "the multipart field 'image' is text, not a file: send the image as a file "
                                  "(curl -F image=@photo.jpg)")
            body = await upload.read()
            name = upload.filename or "<upload>"
            if not body:
                return error(400, "the multipart field 'image' is an empty file")
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
    if state.fetch_slots.locked():
        return error(503, f"{fetch.URL_FETCHES_BUSY}; try again in a few seconds")
    # Fetched under its own bound, outside the decode slots: a slow remote server never holds
    # the cores that uploads need.
    async with state.fetch_slots:
        try:
            raw = await run_in_threadpool(guarded_fetch, request_body.url)
        except fetch.FetchError as exc:  # every URL failure is a 400
            return error(400, str(exc))
    result = await answer(request, raw, include_images)
    if isinstance(result, ReadResult):
        result.input = request_body.url
    return result


@router.get("/api/model", summary="The model card")
async def model_info(request: Request) -> dict:
    return request.app.state.card


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: 503 while every decode or URL-fetch slot is taken")
async def readyz(request: Request):
    state = request.app.state
    busy = {"decodes_waiting": bool(state.decode_slots.locked()), "url_fetches_full": bool(state.fetch_slots.locked())}
    ready = not any(busy.values())
    return JSONResponse({"ready": ready, **busy}, status_code=200 if ready else 503)
