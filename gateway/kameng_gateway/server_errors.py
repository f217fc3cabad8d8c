"""The answers gunicorn writes itself, before the app sees a request (a request line over
``limit_request_line``, headers over their limits, a malformed request): API.md's JSON
error body, like every other answer, instead of gunicorn's HTML page."""

import json
import socket

from gunicorn import util

from kameng_gateway.errors import HTTP_ERROR_CODES


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s signature and behaviour, with a JSON body."""
    code = HTTP_ERROR_CODES.get(status_int) or reason.lower().replace(" ", "_")
    message = f"{reason}: {mesg}" if mesg else f"{reason}."
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


def install() -> None:
    # gunicorn's workers call util.write_error by its module attribute
    util.write_error = write_json_error
