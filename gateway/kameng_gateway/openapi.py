"""``/openapi.json``, generated from the routes and their marshmallow schemas.

Each view declares its operation with ``@operation(...)`` beside its code, so
a route cannot exist without appearing in the document.
"""

import http
import inspect
import re
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify

from kameng_gateway.schemas import MAX_ID, ErrorSchema

BEARER_AUTH = "bearerAuth"
CHANNEL_AUTH = "channelSignature"
CHANNEL_AUTH_DESCRIPTION = (
    "The channel API (/api/channel/v1/...) is signed with an API key from "
    "POST /api/v1/admin/api-keys. Each request carries X-Kameng-Key (the key id), "
    "X-Kameng-Timestamp (unix seconds, within 300 s of the server's clock), "
    "X-Kameng-Nonce (random, never sent twice) and X-Kameng-Signature: the hex "
    'HMAC-SHA256, under the key\'s secret, of METHOD + "\\n" + PATH (+ "?" + QUERY when '
    'there is a query string) + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + the '
    "lower-case hex SHA-256 of the raw body (of nothing for a GET). A stale timestamp, "
    "a reused nonce, an unknown or revoked key or a bad signature answers 401 and "
    "changes nothing. Delivery callbacks are POSTed to callback_url signed the same way."
)
_OPERATION_ATTRIBUTE = "openapi_operation"
_RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "uuid": {"type": "string", "format": "uuid"},
}
_SPEC_EXTENSION = "kameng_openapi"

blueprint = Blueprint("openapi", __name__)

View = TypeVar("View", bound=Callable[..., Any])


def operation(
    summary: str,
    *,
    responses: Mapping[int, Any],
    body: Any = None,
    query: Any = None,
    headers: Any = None,
    auth: str | None = None,
) -> Callable[[View], View]:
    """Document a view. ``auth`` is None (anyone), "optional", "required" (a bearer
    token) or "channel" (a request signed with an API key).

    ``body`` and each response are a marshmallow schema (JSON) or a mapping
    of media type to schema; a response of None has no body. The view's
    docstring becomes the operation's description.
    """

    def decorate(view: View) -> View:
        setattr(
            view,
            _OPERATION_ATTRIBUTE,
            {
                "summary": summary,
                "responses": responses,
                "body": body,
                "query": query,
                "headers": headers,
                "auth": auth,
            },
        )
        return view

    return decorate


@blueprint.get("/openapi.json")
@operation("This document", responses={200: {"application/json": {"type": "object"}}})
def openapi_document() -> Response:
    """The OpenAPI 3 description of every route."""
    if _SPEC_EXTENSION not in current_app.extensions:
        current_app.extensions[_SPEC_EXTENSION] = build_spec(current_app)
    return jsonify(current_app.extensions[_SPEC_EXTENSION])


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Kameng",
        version=version("kameng-gateway"),
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "The public REST API of Kameng. Money is an integer in minor "
            "units (fen) with a currency. Errors answer "
            '{"error": {"code", "message"}}. The server refuses a request line over 4094 '
            "bytes (414) and a header over 8190 bytes (431) before any route sees it."
        },
    )
    spec.components.security_scheme(
        BEARER_AUTH,
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a token from POST /api/v1/auth/token",
        },
    )
    spec.components.security_scheme(
        CHANNEL_AUTH,
        {
            "type": "apiKey",
            "in": "header",
            "name": "X-Kameng-Signature",
            "description": CHANNEL_AUTH_DESCRIPTION,
        },
    )
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        documented = getattr(view, _OPERATION_ATTRIBUTE, None)
        if documented is None:
            continue
        path, path_parameters = _openapi_path(rule.rule)
        tag = rule.endpoint.partition(".")[0]
        spec.path(
            path=path,
            operations={
                method.lower(): _operation(documented, view, path_parameters, tag)
                for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            },
        )
    return spec.to_dict()


def _openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """``/orders/<uuid:order_id>`` → ``/orders/{order_id}`` and its parameters."""
    parameters = [
        {
            "in": "path",
            "name": match["name"],
            "required": True,
            "schema": _CONVERTER_SCHEMAS.get(match["converter"], {"type": "string"}),
        }
        for match in _RULE_ARGUMENT.finditer(rule)
    ]
    return _RULE_ARGUMENT.sub(r"{\g<name>}", rule), parameters


def _operation(
    documented: dict[str, Any], view: Callable[..., Any], path_parameters: list[dict[str, Any]], tag: str
) -> dict[str, Any]:
    parameters = list(path_parameters)
    if documented["query"] is not None:
        parameters.append({"in": "query", "schema": documented["query"]})
    if documented["headers"] is not None:
        parameters.append({"in": "header", "schema": documented["headers"]})

    responses = {str(status): _response(status, body) for status, body in documented["responses"].items()}
    responses["default"] = {"description": "an error", "content": _content(ErrorSchema)}

    result = {
        "tags": [tag],
        "summary": documented["summary"],
        "operationId": view.__name__,
        "parameters": parameters,
        "responses": responses,
    }
    if view.__doc__:
        result["description"] = inspect.cleandoc(view.__doc__)
    if documented["body"] is not None:
        result["requestBody"] = {"required": True, "content": _content(documented["body"])}
    if documented["auth"] == "required":
        result["security"] = [{BEARER_AUTH: []}]
    elif documented["auth"] == "channel":
        result["security"] = [{CHANNEL_AUTH: []}]
    elif documented["auth"] == "optional":
        result["security"] = [{}, {BEARER_AUTH: []}]
    return result


def _response(status: int, body: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": http.HTTPStatus(status).phrase}
    if body is not None:
        response["content"] = _content(body)
    return response


def _content(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return {media_type: {"schema": schema} for media_type, schema in body.items()}
    return {"application/json": {"schema": body}}
