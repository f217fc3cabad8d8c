"""Every error, local or remote, answered as API.md's error body.

``{"error": {"code": "<machine_code>", "message": "<human text>"}}``, with
``details`` added where the caller can act on them (the invalid fields).
"""

import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from kameng_common.errors import KamengError
from kameng_common.validation import invalid_input

_log = logging.getLogger(__name__)

HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    431: "request_header_fields_too_large",
}


def error_response(
    status: int,
    code: str,
    message: str | None,
    details: object = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    error: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    response.headers.extend(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(KamengError, _kameng_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _kameng_error(error: KamengError) -> Response:
    headers = dict(getattr(error, "headers", None) or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(error.status, error.code, error.message, details=error.details, headers=headers)


def _validation_error(error: ValidationError) -> Response:
    # input a view checks beyond its schema (e.g. the lines of a text body) is refused like the rest
    return _kameng_error(invalid_input(error))


def _http_error(error: HTTPException) -> HTTPException | Response:
    if error.code is None or error.code < 400:
        return error  # redirects, e.g. to the canonical trailing slash
    code = HTTP_ERROR_CODES.get(error.code) or error.name.lower().replace(" ", "_")
    # keep the headers werkzeug chose, e.g. Allow on a 405
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    return error_response(error.code, code, error.description, headers=headers)


def _unexpected_error(error: Exception) -> Response:
    _log.exception("unhandled error")
    return error_response(500, "internal_error", "Internal server error.")
