"""Payment providers' notifications."""

import base64
import hashlib
import html
import re
import uuid

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, NotFound

from kameng_gateway import remote
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import NotificationResultSchema

blueprint = Blueprint("payments", __name__, url_prefix="/api/v1/payments")

_PROVIDER_NAME = re.compile(r"[a-z0-9_-]{1,32}")

_NOTIFICATION_RESULT_SCHEMA = NotificationResultSchema()
# the checkout page posts its form by itself; the gateway's policy allows that one script only
_SUBMIT_SCRIPT = "document.forms[0].submit()"
_CHECKOUT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    f"script-src 'sha256-{base64.b64encode(hashlib.sha256(_SUBMIT_SCRIPT.encode()).digest()).decode()}'"
)


@blueprint.post("/notify/<provider>")
@operation(
    "Receive a payment provider's signed notification",
    body={"*/*": {"type": "string", "description": "the provider's own format, passed on byte for byte"}},
    responses={200: NotificationResultSchema},
)
def notify(provider: str) -> ResponseReturnValue:
    """The payments service checks the signature, amount and currency; this answers
    200 only once it has durably recorded the payment. A refused notification changes
    nothing (4xx); a repeated one answers as the first did.

    mockpay: a JSON body {payment_id, trade_no, amount, currency, status: "SUCCESS"}
    with the header X-Mockpay-Signature: the hex HMAC-SHA256 of the raw body; answered
    with the JSON below. alipay: the asynchronous notification (form, RSA2), answered
    `success`. wechat: the API v3 notification (JSON, Wechatpay-* headers, AEAD_AES_256_GCM
    resource), answered {"code": "SUCCESS"}. unionpay: the back notification (form,
    signPubKeyCert), answered `ok`."""
    if not _PROVIDER_NAME.fullmatch(provider):
        raise NotFound()
    try:
        body = request.get_data().decode(request.mimetype_params.get("charset", "utf-8"))
    except (LookupError, UnicodeDecodeError):
        raise BadRequest("The body is not text in its declared charset (default UTF-8).") from None
    result = remote.call("payments", "handle_notification", provider, body, dict(request.headers))
    reply = result.get("reply")
    if reply:
        # the provider stops resending only when it reads its own answer format
        return Response(reply["body"], status=200, content_type=f"{reply['content_type']}; charset=utf-8")
    return _NOTIFICATION_RESULT_SCHEMA.dump(result)


@blueprint.get("/<uuid:payment_id>/checkout")
@operation(
    "Open a payment's checkout page",
    responses={200: {"text/html": {"type": "string"}}},
)
def checkout(payment_id: uuid.UUID) -> ResponseReturnValue:
    """For a provider paid through a signed form the buyer's browser posts (unionpay): a
    page that posts it. The payment id is the capability; the form holds no secret."""
    checkout = remote.call("payments", "get_checkout", str(payment_id))
    form = checkout["form"]
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in sorted(form["fields"].items())
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        "<title>Kameng checkout</title></head><body>"
        f'<form method="post" action="{html.escape(form["action"])}">{inputs}'
        '<button type="submit" style="font-size: 1.2em">Pay · 去支付</button></form>'
        f"<script>{_SUBMIT_SCRIPT}</script></body></html>"
    )
    return Response(
        page,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": _CHECKOUT_POLICY},
    )
