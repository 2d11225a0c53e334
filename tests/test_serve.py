"""The HTTP API: every endpoint and every error, the SSRF guard included."""

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from digitcnn import fetch, serve
from digitcnn.fetch import FetchError


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def client():
    return TestClient(serve.create_app())


def test_page_and_health(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and 'aria-label="Drawing area' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]


def test_the_api_schema_says_what_the_server_does(client):
    """The API page's "Try it out" can upload a file; no route documents FastAPI's 422 (a request
    that fails validation is answered 400), nor an upload the URL fetches' 503."""
    schema = client.get("/openapi.json").json()
    upload = schema["paths"]["/api/predict"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["image"] == {"type": "string", "format": "binary"} and form["required"] == ["image"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert "503" not in upload["responses"] and "503" in schema["paths"]["/api/predict-url"]["post"]["responses"]
    assert not [path for path, ops in schema["paths"].items() for op in ops.values() if "422" in op["responses"]]
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_model_card(client):
    card = client.get("/api/model").json()
    assert card["name"] == "digitcnn.onnx" and card["input_size"] == [28, 28, 1]
    assert card["test_accuracy"] >= 0.99 and card["version"]
    from digitcnn.models import REFUSE_ABOVE

    assert card["not_a_digit"] == {"output": 10, "refused_above": REFUSE_ABOVE}  # the shipped model's 11th class
    assert "and not a digit" in client.get("/model").text


def test_predict_raw_body_and_multipart(client, mnist_test):
    x_test, y_test = mnist_test
    raw = png(x_test[5])
    answer = client.post("/api/predict", content=raw, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200
    result = answer.json()
    assert result["digits"] == str(y_test[5]) and result["error"] is None
    assert set(result) >= {"input", "digits", "confidence", "predictions", "error"}
    answer = client.post("/api/predict?include_images=true", files={"image": ("d.png", raw, "image/png")})
    assert answer.json()["digits"] == str(y_test[5]) and answer.json()["input"] == "d.png"
    assert answer.json()["images"][0].startswith("data:image/png;base64,")
    assert answer.json()["source_image"].startswith("data:image/png;base64,")


def test_predict_errors_are_4xx_json(client):
    cases = [
        ({"content": b""}, 400, "empty body"),
        ({"content": b"certainly not an image"}, 415, "not an image"),
        ({"content": png(np.random.default_rng(0).integers(0, 255, (99, 99), dtype=np.uint8))[:3000]}, 400,
         "corrupt or truncated"),
        ({"files": {"other": ("x.png", b"123", "image/png")}}, 400, "no file field named 'image'"),
        ({"files": {"image": ("x.png", b"", "image/png")}}, 400, "the multipart field 'image' is an empty file"),
        ({"files": [("image", ("a.png", b"123", "image/png")), ("image", ("b.png", b"456", "image/png"))]}, 400,
         "2 fields named 'image'; send one image per request"),  # (not the last one read, silently)
        ({"data": {"image": "hello"}, "files": {"other": ("x.png", b"123", "image/png")}}, 400,
         "the multipart field 'image' is text, not a file"),  # curl -F image=hello
        ({"content": b"\0" * (10 * 1024 * 1024 + 70_000)}, 413, "over the limit"),
    ]
    for kwargs, status, message in cases:
        answer = client.post("/api/predict", **kwargs)
        assert answer.status_code == status, (message, answer.text)
        assert message in answer.json()["error"]


def test_blank_image_is_no_digit_not_an_error(client):
    answer = client.post("/api/predict", content=png(np.full((60, 60), 255, np.uint8)))
    assert answer.status_code == 200 and answer.json()["digits"] == "" and answer.json()["message"]


def test_predict_url_bad_requests(client):
    for body, message in (({}, "url"), ({"url": "ftp://example.org/x.png"}, "only http and https"),
                          ({"url": 5}, "url")):
        answer = client.post("/api/predict-url", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"]
    answer = client.post("/api/predict-url", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"].startswith("invalid request: the body is not JSON")


def test_ssrf_guard_refuses_private_hosts(client, image_server):
    for url in (f"{image_server}/digit.png", "http://localhost:9/x.png", "http://[::1]/x.png",
                "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x.png", "http://0.0.0.0/x.png",
                "http://224.0.0.1/x.png"):
        answer = client.post("/api/predict-url", json={"url": url})
        assert answer.status_code == 400 and "refused" in answer.json()["error"], url


def test_allow_private_urls(image_server, mnist_test):
    _, y_test = mnist_test
    client = TestClient(serve.create_app(allow_private_urls=True))
    answer = client.post("/api/predict-url?include_images=true", json={"url": f"{image_server}/digit.png"})
    assert answer.status_code == 200 and answer.json()["digits"] == str(y_test[0])
    # the page shows the picture the server fetched (the other site sends no CORS header)
    fetched = Image.open(io.BytesIO(base64.b64decode(answer.json()["source_image"].split(",", 1)[1])))
    assert fetched.size == (84, 84)
    answer = client.post("/api/predict-url", json={"url": f"{image_server}/missing.png"})
    assert answer.status_code == 400 and "HTTP 404" in answer.json()["error"]


def test_ssrf_guard_applies_after_redirects(image_server, monkeypatch, mnist_test):
    """A public-looking first hop that redirects to a private address is refused at the redirect."""
    real_guard = fetch.refuse_private_address

    def guard_treating_127_0_0_1_as_public(host, address):
        if address != "127.0.0.1":
            real_guard(host, address)

    monkeypatch.setattr(fetch, "refuse_private_address", guard_treating_127_0_0_1_as_public)
    client = TestClient(serve.create_app())
    assert client.post("/api/predict-url", json={"url": f"{image_server}/digit.png"}).status_code == 200
    answer = client.post("/api/predict-url", json={"url": f"{image_server}/to-private"})
    assert answer.status_code == 400 and "127.0.0.2: refused" in answer.json()["error"]


def test_guard_function():
    for address in ("127.0.0.1", "10.1.2.3", "::1", "::ffff:192.168.0.1", "fe80::1%eth0", "0.0.0.0", "224.0.0.1",
                    "100.64.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:a00:1::1"):  # IPv4 inside IPv6 too
        with pytest.raises(FetchError, match="non-public address"):
            fetch.refuse_private_address("example.org", address)
    fetch.refuse_private_address("example.org", "8.8.8.8")
    fetch.refuse_private_address("example.org", "2606:4700:4700::1111")
    fetch.refuse_private_address("example.org", "64:ff9b::808:808")  # NAT64 of a public address


def test_concurrent_requests(client, mnist_test):
    from concurrent.futures import ThreadPoolExecutor

    x_test, y_test = mnist_test
    bodies = [png(x_test[i]) for i in range(32)]
    serial = [client.post("/api/predict", content=b).json() for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda b: client.post("/api/predict", content=b).json(), bodies))
    assert concurrent == serial  # the same answers, probabilities included, in the same order
    assert np.mean([a["digits"] == str(y) for a, y in zip(serial, y_test)]) > 0.95


def test_odd_urls_and_paths_are_400_not_500(client):
    for url, message in (("http://127.0.0.1:9\\@example.com/", "backslash"),
                         ("/etc/passwd", "only http and https"),
                         ("http://[::1", "not a valid URL"),
                         ("http://\uff03x/", "URL"),
                         ("http://", "no host")):
        answer = client.post("/api/predict-url", json={"url": url})
        assert answer.status_code == 400 and message in answer.json()["error"], (url, answer.text)


def test_odd_images_are_4xx_not_500(client):
    lab = io.BytesIO()
    Image.new("LAB", (30, 30)).save(lab, format="TIFF")
    answer = client.post("/api/predict", content=lab.getvalue())
    assert answer.status_code == 400 and "unsupported image mode LAB" in answer.json()["error"]
    bars = np.zeros((50, 1000), np.uint8)
    bars[:, 0::6] = bars[:, 1::6] = bars[:, 2::6] = 255  # 167 strokes: no number, not worth seconds
    answer = client.post("/api/predict", content=png(bars))
    assert answer.status_code == 400 and "separate marks" in answer.json()["error"]
