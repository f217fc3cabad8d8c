"""Event contracts: every event's payload schema, its source and its subscribers.

The subscriber table is what lets a publisher declare every queue before it
publishes anything, so that no event is dropped for want of a queue.
"""

import datetime
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from kameng_common.money import amount_field, currency_field

ENVELOPE_VERSION = 1


class Payload(Schema):
    class Meta:
        # consumers ignore fields added by a newer publisher
        unknown = EXCLUDE


class OrderLine(Payload):
    product_id = fields.Integer(strict=True, required=True)
    quantity = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    unit_price = amount_field(required=True)
    # a direct top-up's line: the account the supplier tops up
    recharge_account = fields.String()


class OrderClosed(Payload):
    order_id = fields.String(required=True)
    reason = fields.String(load_default=None)


class OrderReviewed(Payload):
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    # approve or reject by a reviewer, timeout when nobody decided in time
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject", "timeout"]))
    reason = fields.String(required=True)
    decided_by = fields.String(required=True, allow_none=True)
    decided_at = fields.AwareDateTime(required=True)


class OrderPaid(Payload):
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    items = fields.List(fields.Nested(OrderLine), required=True)
    payment_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)


class ShopSale(Payload):
    """An order placed through an agent's shop: the agent and the markup they are credited on delivery."""

    slug = fields.String(required=True)
    agent_id = fields.String(required=True)
    markup = amount_field(required=True)


class OrderDelivered(Payload):
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    total = amount_field(required=True)
    currency = currency_field(required=True)
    # only on an order placed through an agent's shop
    shop = fields.Nested(ShopSale)


class RefundRequested(Payload):
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    payment_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)
    reason = fields.String(required=True)


class StockRefused(Payload):
    order_id = fields.String(required=True)
    reason = fields.String(required=True)


class SaleLine(Payload):
    """One line of an order as sold: what it was priced at, and what it cost the shop then."""

    product_id = fields.Integer(strict=True, required=True)
    quantity = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    unit_price = amount_field(required=True)
    # the product's cost price at the sale (for a product bought from a supplier, the supplier's
    # price as last synced); None where the shop does not know it
    unit_cost = amount_field(required=True, allow_none=True)


class CardsDelivered(Payload):
    order_id = fields.String(required=True)
    card_ids = fields.List(fields.Integer(strict=True), required=True)
    # the sale, for finance's cost and margin; absent from an older publisher's events
    currency = currency_field(load_default=None)
    lines = fields.List(fields.Nested(SaleLine), load_default=None)


class StockLow(Payload):
    product_id = fields.Integer(strict=True, required=True)
    # the units orderable when it fell under its threshold
    available = fields.Integer(strict=True, required=True)
    threshold = fields.Integer(strict=True, required=True)


class PaymentSucceeded(Payload):
    payment_id = fields.String(required=True)
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)
    provider = fields.String(required=True)
    trade_no = fields.String(required=True)


class PaymentRefunded(Payload):
    payment_id = fields.String(required=True)
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)
    refund_id = fields.String(required=True)
    # after this refund, everything the order received is given back (inventory gives back its cards)
    order_refunded_in_full = fields.Boolean(load_default=False)


class RefundFailed(Payload):
    """A staff refund through the provider that failed for good: nothing was given back."""

    refund_id = fields.String(required=True)
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)
    error = fields.String(required=True)  # the provider's code and message, never a key


class CardsRefunded(Payload):
    """An order refunded in full: its sold cards are marked refunded or void, as the shop's policy says."""

    order_id = fields.String(required=True)
    card_ids = fields.List(fields.Integer(strict=True), required=True)
    policy = fields.String(required=True, validate=validate.OneOf(["void", "mark_refunded"]))


class RefundRequestOpened(Payload):
    """A buyer's after-sales ticket: they ask for their money back, with a reason."""

    request_id = fields.String(required=True)
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    reason = fields.String(required=True)


class RefundRequestDecided(Payload):
    request_id = fields.String(required=True)
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(required=True)
    decided_by = fields.String(required=True)
    # the staff refund an approval opened
    refund_id = fields.String(load_default=None, allow_none=True)


class RefundIssued(Payload):
    """Staff gave back all or part of an order's money (on a ticket's approval or of their own accord)."""

    refund_id = fields.String(required=True)
    order_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)
    # "original" (through the provider that took the money) or "wallet"
    to = fields.String(required=True, validate=validate.OneOf(["original", "wallet"]))
    reason = fields.String(required=True)


class AuditRecorded(Payload):
    """An entry for the tamper-evident audit log (kameng_common.auditlog.record)."""

    entry_id = fields.String(required=True, validate=validate.Length(1, 64))
    at = fields.String(required=True)
    actor = fields.String(required=True, validate=validate.Length(1, 64))
    action = fields.String(required=True, validate=validate.Length(1, 64))
    target = fields.String(required=True, validate=validate.Length(0, 128))
    detail = fields.Dict(load_default=dict)


class CustomerLevelChanged(Payload):
    customer_id = fields.String(required=True)
    # the level the customer's prices are keyed by (inventory's level_prices): a
    # membership level, or "agent" for an agent
    level = fields.String(required=True, validate=validate.Length(min=1, max=32))
    # counts the customer's level changes: a copy keeps the highest it has seen, so a
    # change delivered late or twice never overwrites a newer one
    version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))


class CommissionEarned(Payload):
    entry_id = fields.String(required=True)
    agent_id = fields.String(required=True)
    order_id = fields.String(required=True)
    # "commission": a rate of an order down the agent's line; "markup": a sale through their shop
    kind = fields.String(required=True, validate=validate.OneOf(["commission", "markup"]))
    amount = amount_field(required=True)
    currency = currency_field(required=True)


class CommissionReversed(Payload):
    entry_id = fields.String(required=True)
    agent_id = fields.String(required=True)
    order_id = fields.String(required=True)
    kind = fields.String(
        required=True, validate=validate.OneOf(["commission", "markup"])
    )  # what it takes back
    amount = amount_field(required=True)  # what is taken back, as a positive amount
    currency = currency_field(required=True)


class WithdrawalPaid(Payload):
    withdrawal_id = fields.String(required=True)
    agent_id = fields.String(required=True)
    amount = amount_field(required=True)
    currency = currency_field(required=True)


class CustomerSignedIn(Payload):
    customer_id = fields.String(required=True)
    # the client's network: its address's /24 (IPv4) or /48 (IPv6), never the whole address
    network = fields.String(required=True)
    signed_in_at = fields.AwareDateTime(required=True)
    registered_at = fields.AwareDateTime(required=True)


class CustomerPasswordChanged(Payload):
    customer_id = fields.String(required=True)
    changed_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class Contract:
    source: str
    schema: type[Payload]
    # (service, handler method) pairs; each gets its own durable queue
    subscribers: tuple[tuple[str, str], ...]


CONTRACTS = {
    "order.cancelled": Contract(
        "orders",
        OrderClosed,
        (
            ("inventory", "on_order_cancelled"),
            ("risk", "on_order_cancelled"),
            ("customers", "on_order_cancelled"),
        ),
    ),
    "order.reviewed": Contract("orders", OrderReviewed, (("risk", "on_order_reviewed"),)),
    "order.expired": Contract(
        "orders",
        OrderClosed,
        (("inventory", "on_order_expired"), ("risk", "on_order_expired"), ("customers", "on_order_expired")),
    ),
    "order.paid": Contract(
        "orders", OrderPaid, (("inventory", "on_order_paid"), ("customers", "on_order_paid"))
    ),
    "order.delivered": Contract("orders", OrderDelivered, (("customers", "on_order_delivered"),)),
    "order.refund_requested": Contract(
        "orders", RefundRequested, (("payments", "on_refund_requested"), ("risk", "on_refund_requested"))
    ),
    "stock.sale_failed": Contract("inventory", StockRefused, (("orders", "on_sale_failed"),)),
    "cards.delivered": Contract(
        "inventory", CardsDelivered, (("orders", "on_cards_delivered"), ("payments", "on_cards_delivered"))
    ),
    "cards.refunded": Contract("inventory", CardsRefunded, (("orders", "on_cards_refunded"),)),
    # risk keeps it in the audit log, where staff see every alert
    "stock.low": Contract("inventory", StockLow, (("risk", "on_stock_low"),)),
    "payment.succeeded": Contract(
        "payments", PaymentSucceeded, (("orders", "on_payment_succeeded"), ("risk", "on_payment_succeeded"))
    ),
    # one audit event type per source (a type has one source), all appended to risk's hash chain
    "audit.recorded.inventory": Contract("inventory", AuditRecorded, (("risk", "on_inventory_audit"),)),
    "audit.recorded.orders": Contract("orders", AuditRecorded, (("risk", "on_orders_audit"),)),
    "audit.recorded.payments": Contract("payments", AuditRecorded, (("risk", "on_payments_audit"),)),
    "audit.recorded.customers": Contract("customers", AuditRecorded, (("risk", "on_customers_audit"),)),
    "payment.refunded": Contract(
        "payments",
        PaymentRefunded,
        (
            ("orders", "on_payment_refunded"),
            ("customers", "on_payment_refunded"),
            ("inventory", "on_payment_refunded"),
        ),
    ),
    # after-sales: a buyer's ticket counts for risk's refund-abuse rule; each step is in the order's history
    "refund_request.opened": Contract(
        "payments",
        RefundRequestOpened,
        (("orders", "on_refund_request_opened"), ("risk", "on_refund_request_opened")),
    ),
    "refund_request.decided": Contract(
        "payments", RefundRequestDecided, (("orders", "on_refund_request_decided"),)
    ),
    "refund.issued": Contract("payments", RefundIssued, (("orders", "on_refund_issued"),)),
    "refund.failed": Contract("payments", RefundFailed, (("orders", "on_refund_failed"),)),
    "customer.level_changed": Contract(
        "customers", CustomerLevelChanged, (("orders", "on_customer_level_changed"),)
    ),
    "commission.earned": Contract("customers", CommissionEarned, (("payments", "on_commission_earned"),)),
    "commission.reversed": Contract(
        "customers", CommissionReversed, (("payments", "on_commission_reversed"),)
    ),
    "withdrawal.paid": Contract("customers", WithdrawalPaid, (("payments", "on_withdrawal_paid"),)),
    "customer.signed_in": Contract("customers", CustomerSignedIn, (("risk", "on_customer_signed_in"),)),
    "customer.password_changed": Contract(
        "customers", CustomerPasswordChanged, (("risk", "on_customer_password_changed"),)
    ),
}


class Envelope(Schema):
    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(list(CONTRACTS)))
    version = fields.Integer(strict=True, required=True)
    occurred_at = fields.AwareDateTime(required=True)
    correlation_id = fields.String(required=True)
    payload = fields.Dict(required=True)


_envelope = Envelope()


def contract(event_type: str) -> Contract:
    try:
        return CONTRACTS[event_type]
    except KeyError:
        raise ValueError(f"no contract for event type {event_type!r}") from None


@cache
def _payload_schema(event_type: str) -> Schema:
    """One instance of the event type's payload schema: a schema keeps no state between loads and dumps."""
    return contract(event_type).schema()


def new_event(event_type: str, payload: Mapping[str, Any], correlation_id: object) -> dict[str, Any]:
    """A validated envelope, ready to serialize; raises ValidationError if the payload breaks its contract."""
    schema = _payload_schema(event_type)
    loaded = schema.load(payload)
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "version": ENVELOPE_VERSION,
        "occurred_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "correlation_id": str(correlation_id),
        "payload": schema.dump(loaded),
    }


def load_event(body: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """Validate a received envelope (dict or JSON text) and its payload; returns plain dicts."""
    envelope = _envelope.load(json.loads(body) if isinstance(body, (str, bytes)) else body)
    payload = _payload_schema(envelope["type"]).load(envelope["payload"])
    return {
        "id": str(envelope["id"]),
        "type": envelope["type"],
        "version": envelope["version"],
        "occurred_at": envelope["occurred_at"],
        "correlation_id": envelope["correlation_id"],
        "payload": payload,
    }
