"""What the RPC methods take and answer, and what a mockpay notification holds."""

import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from kameng_common.db import utcnow
from kameng_common.money import DEFAULT_CURRENCY, amount_field, currency_field
from payments import domain

# larger than any sale, small enough for every database's BIGINT
MAX_AMOUNT = 10**12
# a notification is a few hundred bytes; anything far larger is not one
MAX_BODY = 64 * 1024


def _id(max_length):
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length))


class CreateIntent(Schema):
    order_id = _id(64)
    customer_id = _id(64)
    amount = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_AMOUNT))
    currency = currency_field(required=True)
    method = fields.String(required=True, validate=validate.OneOf(domain.METHODS))


class NotificationRequest(Schema):
    provider = _id(32)
    body = fields.String(required=True, validate=validate.Length(max=MAX_BODY))
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class MockpayNotification(Schema):
    class Meta:
        # a provider may add fields; what is signed and needed is checked
        unknown = EXCLUDE

    payment_id = _id(64)
    trade_no = _id(128)
    amount = amount_field(required=True)
    currency = currency_field(required=True)
    status = fields.String(required=True)


class WalletQuery(Schema):
    customer_id = _id(64)
    currency = currency_field(load_default=DEFAULT_CURRENCY)


class TopupRequest(Schema):
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=255))


class WalletStatementQuery(Schema):
    customer_id = _id(64)
    currency = currency_field(load_default=DEFAULT_CURRENCY)
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=100))
    cursor = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


class WalletEntry(Schema):
    id = fields.String()
    amount = fields.Integer()
    kind = fields.String()
    reference = fields.String()
    at = fields.String()


class WalletStatement(Schema):
    customer_id = fields.String()
    currency = fields.String()
    balance = fields.Integer()
    entries = fields.List(fields.Nested(WalletEntry))
    next_cursor = fields.String(allow_none=True)


class IntentAnswer(Schema):
    payment_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    method = fields.String()
    status = fields.String()
    pay_url = fields.String(allow_none=True)
    code_url = fields.String(allow_none=True)


class NotificationAnswer(Schema):
    status = fields.String()
    payment_id = fields.String(allow_none=True)
    trade_no = fields.String(allow_none=True)
    # the provider's own answer format ({content_type, body}); none for mockpay
    reply = fields.Dict(allow_none=True)


class Wallet(Schema):
    customer_id = fields.String()
    balance = fields.Integer()
    currency = fields.String()


class RefundOrder(Schema):
    order_id = _id(64)
    amount = fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=validate.Range(min=1, max=MAX_AMOUNT)
    )
    to = fields.String(required=True, validate=validate.OneOf(domain.REFUND_DESTINATIONS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=255))
    actor = _id(64)


class RefundListQuery(Schema):
    status = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.OneOf((domain.REFUND_PENDING, domain.REFUND_SUCCEEDED, domain.REFUND_FAILED)),
    )
    order_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=64))
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=100))
    # an offset: refunds are few, and staff page through them newest first
    cursor = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=10**7))


class RefundAnswer(Schema):
    id = fields.String()
    order_id = fields.String()
    payment_id = fields.String()
    customer_id = fields.String()
    provider = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    to = fields.String()
    reason = fields.String()
    actor = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()


class ReconcileRequest(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(("alipay", "wechat")))
    # a day's bill of a busy shop is a few MB
    statement = fields.String(required=True, validate=validate.Length(min=1, max=32 * 1024 * 1024))
    actor = _id(64)


class LedgerQuery(Schema):
    account = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=128))
    since = fields.AwareDateTime(allow_none=True, load_default=None)
    until = fields.AwareDateTime(allow_none=True, load_default=None)
    # an export asks for many at once
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=10_000))
    cursor = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1))


class OpenRefundRequest(Schema):
    order_id = _id(64)
    customer_id = _id(64)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class RefundRequestQuery(Schema):
    status = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(domain.REQUEST_STATUSES)
    )
    order_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=64))
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=100))
    # an offset, as for refunds: the queue is short and read newest first
    cursor = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=10**7))


class DecideRefundRequest(Schema):
    request_id = _id(36)
    decision = fields.String(required=True, validate=validate.OneOf(tuple(domain.REQUEST_DECISIONS)))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    actor = _id(64)
    # what an approval gives back (None: all that is left) and where to
    amount = fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=validate.Range(min=1, max=MAX_AMOUNT)
    )
    to = fields.String(load_default=domain.TO_ORIGINAL, validate=validate.OneOf(domain.REFUND_DESTINATIONS))


class CommentRefundRequest(Schema):
    request_id = _id(36)
    author = _id(64)
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RefundRequestComment(Schema):
    author = fields.String()
    text = fields.String()
    at = fields.String()


class RefundRequestAnswer(Schema):
    id = fields.String()
    order_id = fields.String()
    customer_id = fields.String()
    reason = fields.String()
    status = fields.String()
    decided_by = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    refund_id = fields.String(allow_none=True)
    created_at = fields.String()
    comments = fields.List(fields.Nested(RefundRequestComment))


FINANCE_DEFAULT_PERIOD = datetime.timedelta(days=30)
FINANCE_LONGEST_PERIOD = datetime.timedelta(days=366)


class FinanceSummaryQuery(Schema):
    # the period ends now and lasts 30 days unless told otherwise
    since = fields.AwareDateTime(allow_none=True, load_default=None)
    until = fields.AwareDateTime(allow_none=True, load_default=None)
    group_by = fields.String(load_default="day", validate=validate.OneOf(("day", "channel", "product")))

    @post_load
    def period(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        until = data["until"] or utcnow()
        since = data["since"] or until - FINANCE_DEFAULT_PERIOD
        if since >= until:
            raise ValidationError("the period's start must come before its end", "since")
        if until - since > FINANCE_LONGEST_PERIOD:
            raise ValidationError("a summary covers at most 366 days", "since")
        return {**data, "since": since, "until": until}
