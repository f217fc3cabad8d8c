"""Payment providers' notifications."""

import re

from flask import Blueprint, request
from werkzeug.exceptions import BadRequest, NotFound

from kameng_gateway import remote
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import NotificationResultSchema

blueprint = Blueprint("payments", __name__, url_prefix="/api/v1/payments")

_PROVIDER_NAME = re.compile(r"[a-z0-9_-]{1,32}")

_NOTIFICATION_RESULT_SCHEMA = NotificationResultSchema()


@blueprint.post("/notify/<provider>")
@operation(
    "Receive a payment provider's signed notification",
    body={"*/*": {"type": "string", "description": "the provider's own format, passed on byte for byte"}},
    responses={200: NotificationResultSchema},
)
def notify(provider):
    """The payments service checks the signature, amount and currency; this answers
    200 only once it has durably recorded the payment. A refused notification changes
    nothing; a repeated one answers as the first did.

    mockpay: a JSON body {payment_id, trade_no, amount, currency, status: "SUCCESS"}
    with the header X-Mockpay-Signature: the hex HMAC-SHA256 of the raw body."""
    if not _PROVIDER_NAME.fullmatch(provider):
        raise NotFound()
    try:
        body = request.get_data().decode(request.mimetype_params.get("charset", "utf-8"))
    except (LookupError, UnicodeDecodeError):
        raise BadRequest("The body is not text in its declared charset (default UTF-8).") from None
    result = remote.call("payments", "handle_notification", provider, body, dict(request.headers))
    return _NOTIFICATION_RESULT_SCHEMA.dump(result)
