"""The storefront (/) and the operator console (/admin): the built web app in web/dist.

The browser app talks to the same public API as any client. Hashed assets are cached
for good; every other path that is not the API's answers the app's index.html, whose
router shows the page (or its own "not found").
"""

import os
from pathlib import Path

from flask import Blueprint, Flask, current_app, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.routing import PathConverter

from kameng_common.errors import Unavailable

blueprint = Blueprint("web", __name__)

WEB_DIR_EXTENSION = "kameng_web_dir"
# where `make run` builds it in a checkout; images set KAMENG_WEB_DIR
_CHECKOUT_WEB_DIR = Path(__file__).resolve().parents[3] / "web" / "dist"
# the app's own scripts and styles only; Element Plus sets inline styles
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class AppPath(PathConverter):
    """Any path the API, the operations routes and the assets do not own, so that an unknown
    API path stays the API's JSON 404 (or 405), never the app's page."""

    regex = r"(?!(?:api|health|assets)(?:/|$)|metrics$|openapi\.json$)[^/].*?"


def install(app: Flask) -> None:
    """Before the blueprint is registered: its page route uses the converter."""
    app.url_map.converters["app_path"] = AppPath
    app.extensions[WEB_DIR_EXTENSION] = Path(os.environ.get("KAMENG_WEB_DIR") or _CHECKOUT_WEB_DIR)


@blueprint.get("/assets/<path:name>")
def web_asset(name: str) -> ResponseReturnValue:
    response = send_from_directory(current_app.extensions[WEB_DIR_EXTENSION] / "assets", name, max_age=0)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@blueprint.get("/")
@blueprint.get("/<app_path:path>")
def web_page(path: str = "") -> ResponseReturnValue:
    web_dir = current_app.extensions[WEB_DIR_EXTENSION]
    if not (web_dir / "index.html").is_file():
        raise Unavailable(
            "the web app is not built: run `make web` (make run builds it)", code="web_not_built"
        )
    response = send_from_directory(web_dir, "index.html", max_age=0)
    # the gateway's own policy forbids everything, as an API answer should; a page needs its scripts
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    return response
