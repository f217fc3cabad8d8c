"""The web app is served beside the API without ever standing in for it."""

import pytest

from kameng_gateway.blueprints import web


@pytest.fixture
def built(tmp_path, app):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=app></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    app.extensions[web.WEB_DIR_EXTENSION] = tmp_path
    return tmp_path


@pytest.mark.parametrize(
    "path", ["/", "/admin", "/admin/products", "/orders/5c6b0e54-0000-4000-8000-000000000000", "/s/my-shop"]
)
def test_the_app_answers_its_own_pages(client, built, path):
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_hashed_assets_are_cached_for_good(client, built):
    answer = client.get("/assets/index-abc123.js")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api", "/health/nothing", "/assets/missing.js"])
def test_unknown_api_paths_stay_json_404(client, built, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json["error"]["code"]


def test_a_wrong_method_on_the_api_stays_405(client, built):
    assert client.post("/api/v1/products/1/nothing").status_code == 404
    assert client.delete("/api/v1/products").status_code == 405


def test_an_unbuilt_app_says_how_to_build_it(client, app, tmp_path):
    app.extensions[web.WEB_DIR_EXTENSION] = tmp_path / "absent"
    answer = client.get("/")
    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "web_not_built"
