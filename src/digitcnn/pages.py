"""Pages around the reading page: the favicon, the API documentation and the model card.

    GET /favicon.ico       the page's icon (browsers ask for it even when the page names another)
    GET /docs              Swagger UI, served from the ``swagger-ui-bundle-v2`` package: no CDN, so the
                           documentation works offline and behind a firewall
    GET /docs-assets/NAME  Swagger UI's script and stylesheet
    GET /model             the model card as a page (``/api/model`` stays the JSON)

``serve.create_app`` turns FastAPI's own /docs and /redoc off (they load their scripts from a CDN)
and includes this router.
"""

import html
import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from .serve import STATIC_DIR

router = APIRouter(include_in_schema=False)

# Only these files of the Swagger UI package are served: a fixed list, so no path reaches anything else.
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
FAVICON = STATIC_DIR / "favicon.svg"


def swagger_ui_dir():
    """Swagger UI's files, from the serve extra's swagger-ui-bundle-v2 package."""
    from swagger_ui_bundle import swagger_ui_path

    return swagger_ui_path


@router.get("/favicon.ico")
async def favicon():
    return FileResponse(FAVICON, media_type="image/svg+xml")


@router.get("/docs")
async def docs(request: Request):
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title}: HTTP API",
                               swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui.css",
                               swagger_favicon_url="/static/favicon.svg")


@router.get("/docs-assets/{name}")
async def docs_asset(name: str):
    if name not in DOCS_ASSETS:
        raise HTTPException(404, "not found")
    return FileResponse(swagger_ui_dir() / name, media_type=DOCS_ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400"})


def _percent(value) -> str:
    return f"{value * 100:.2f}%" if isinstance(value, (int, float)) else "not measured"


def _model_card_html(card: dict, metrics: dict) -> str:
    """The card as a definition list, and each class's precision and recall when the model's
    metrics.json is beside it. Every value is escaped: the card comes from files on disk."""
    esc = html.escape
    facts = [
        ("Model file", card.get("name")),
        ("Test accuracy", f"{_percent(card.get('test_accuracy'))} on {card.get('test_size') or '?'} MNIST test images"),
        ("Input", ("a 28x28 grey image (light ink on black, the digit centred in a 20x20 box); "
                   "pictures are brought to that form before they are read")),
        ("Classes", ", ".join(str(c) for c in card.get("classes", []))
         + (f", and not a digit: a mark whose probability of it is over {card['not_a_digit']['refused_above']:g} "
            "is refused (listed under rejected, not read)" if card.get("not_a_digit") else "")),
        ("Runs on", card.get("runtime")),
        ("digitcnn version", card.get("version")),
    ]
    line_reader = card.get("line_reader") or {}
    if line_reader:
        scores = ", ".join(f"{k} {_percent(v)}" for k, v in line_reader.get("synthetic_exact_match", {}).items())
        facts.append(("Line reader", (f"{line_reader.get('name')}: numbers read whole (touching digits, separators); "
                                     f"exact match of the line model alone on synthetic numbers of MNIST test digits: "
                                     f"{scores or 'not measured'}")))
    if metrics.get("trained_with"):
        facts.append(("Trained with", metrics["trained_with"]))
    rows = "".join(f"<dt>{esc(str(k))}</dt><dd>{esc(str(v))}</dd>" for k, v in facts if v is not None)
    per_class = metrics.get("per_class") or {}
    table = ""
    if per_class:
        body = "".join(
            f"<tr><th scope=\"row\">{esc(str(label))}</th><td>{_percent(scores.get('precision'))}</td>"
            f"<td>{_percent(scores.get('recall'))}</td><td>{esc(str(scores.get('support', '')))}</td></tr>"
            for label, scores in per_class.items())
        table = ("<h2>Each digit on the test set</h2><table class=\"scores\"><caption>Precision: of the images "
                 "read as this digit, the share that were it. Recall: of the images of this digit, the share "
                 "read as it.</caption><thead><tr><th scope=\"col\">digit</th><th scope=\"col\">precision</th>"
                 f"<th scope=\"col\">recall</th><th scope=\"col\">test images</th></tr></thead><tbody>{body}"
                 "</tbody></table>")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>digitcnn: model card</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
</head>
<body class="text-page">
<header class="top"><h1>Model card</h1><p>The model that reads the digits on <a href="/">the page</a>.</p></header>
<main>
<section class="panel">
<dl class="facts">{rows}</dl>
{table}
<p>The same card as JSON: <a href="/api/model">/api/model</a>. The HTTP API: <a href="/docs">/docs</a>.</p>
</section>
</main>
</body>
</html>
"""


@router.get("/model")
async def model_card_page(request: Request):
    reader = request.app.state.reader
    metrics_path = reader.model_path.parent / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    except (OSError, ValueError):
        metrics = {}
    return HTMLResponse(_model_card_html(request.app.state.card, metrics))
