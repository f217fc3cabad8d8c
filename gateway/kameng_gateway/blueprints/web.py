"""The storefront (/) and the operator console (/admin): the built web app in web/dist.

The browser app talks to the same public API as any client. Hashed assets are cached
for good; every other path that is not the API's answers the app's index.html, whose
router shows the page (or its own "not found").
"""

import os
from pathlib import Path

from flask import Blueprint, current_app, send_from_directory
from werkzeug.exceptions import NotFound

from kameng_common.errors import Unavailable

blueprint = Blueprint("web", __name__)

WEB_DIR_EXTENSION = "kameng_web_dir"
# where `make run` builds it in a checkout; images set KAMENG_WEB_DIR
_CHECKOUT_WEB_DIR = Path(__file__).resolve().parents[3] / "web" / "dist"
# paths the API and the operations routes own: never answered with the app
_NOT_THE_APP = ("api/", "health/", "metrics", "openapi.json")
# the app's own scripts and styles only; Element Plus sets inline styles
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def install(app):
    app.extensions[WEB_DIR_EXTENSION] = Path(os.environ.get("KAMENG_WEB_DIR") or _CHECKOUT_WEB_DIR)


@blueprint.get("/")
@blueprint.get("/<path:path>")
def web_app(path=""):
    if path.startswith(_NOT_THE_APP):
        raise NotFound()
    web_dir = current_app.extensions[WEB_DIR_EXTENSION]
    if path.startswith("assets/"):
        response = send_from_directory(web_dir, path, max_age=365 * 24 * 3600)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
    if not (web_dir / "index.html").is_file():
        raise Unavailable(
            "the web app is not built: run `make web` (make run builds it)", code="web_not_built"
        )
    response = send_from_directory(web_dir, "index.html", max_age=0)
    # the gateway's own policy forbids everything, as an API answer should; a page needs its scripts
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    return response
