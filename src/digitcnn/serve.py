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
import os
from pathlib import Path

from . import __version__
from .fetch import MAX_BYTES
from .predict import DigitReader

STATIC_DIR = Path(__file__).resolve().parent / "static"


class BodyTooLarge(Exception):
    pass


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


def create_app(model=None, allow_private_urls: bool = False, max_bytes: int = MAX_BYTES):
    """Build the app; the model is loaded once here and shared by all requests."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from .routes import router

    app = FastAPI(title="digitcnn", version=__version__,
                  description="Reads handwritten digits in images with a CNN trained on MNIST.")
    # One thread per inference: requests run concurrently in the thread pool, and a tiny model
    # gains nothing from splitting one image across cores, only contention.
    app.state.reader = DigitReader(model, threads=1)
    app.state.card = model_card(app.state.reader)
    app.state.max_bytes = max_bytes
    app.state.allow_private_urls = allow_private_urls
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)

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
