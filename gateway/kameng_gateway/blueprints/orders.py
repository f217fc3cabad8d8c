"""Orders: placing them, reading them, paying for them and revealing their cards."""

import uuid
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue

from kameng_common.errors import Forbidden
from kameng_gateway import remote, waits
from kameng_gateway.auth import (
    ORDER_READER_ROLES,
    customer_required,
    login_required,
    roles_required,
    signed_in,
)
from kameng_gateway.blueprints import load_headers, load_json, load_query
from kameng_gateway.observability import set_correlation_id
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    CardSecretSchema,
    OrderCountsSchema,
    OrderCreationSchema,
    OrderHeadersSchema,
    OrderListQuerySchema,
    OrderPageSchema,
    OrderReadQuerySchema,
    OrderReadSchema,
    PaymentRequestSchema,
    PaymentSchema,
    PlacedOrderSchema,
)

blueprint = Blueprint("orders", __name__, url_prefix="/api/v1/orders")

_ORDER_COUNTS_SCHEMA = OrderCountsSchema()
_ORDER_CREATION_SCHEMA = OrderCreationSchema()
_ORDER_HEADERS_SCHEMA = OrderHeadersSchema()
_ORDER_LIST_QUERY_SCHEMA = OrderListQuerySchema()
_ORDER_READ_QUERY_SCHEMA = OrderReadQuerySchema()
_PAYMENT_REQUEST_SCHEMA = PaymentRequestSchema()
_ORDER_READ_SCHEMA = OrderReadSchema()
_PLACED_ORDER_SCHEMA = PlacedOrderSchema()
_ORDER_PAGE_SCHEMA = OrderPageSchema()
_PAYMENT_SCHEMA = PaymentSchema()
_CARD_SECRETS_SCHEMA = CardSecretSchema(many=True)


@blueprint.post("")
@operation(
    "Place an order",
    body=OrderCreationSchema,
    headers=OrderHeadersSchema,
    responses={201: PlacedOrderSchema},
    auth="required",
)
@customer_required
def create_order() -> ResponseReturnValue:
    """Priced at the customer's level (through an agent's shop: at the agent price plus
    the shop's markup), its stock reserved and its risk scored before the
    answer: the order comes back awaiting_payment, on_hold (a reviewer decides) or
    cancelled. Retrying with the same Idempotency-Key returns the same order instead of
    placing a second one; after a 503 (a service did not answer) the order waits, and
    the same key places it. The client's address and its X-Device-Id go to risk with
    the order (a blacklisted one is rejected). With payment_method, the payment is opened
    too and answered as payment, saving POST /orders/{id}/payments."""
    data = load_json(_ORDER_CREATION_SCHEMA)
    headers = load_headers(_ORDER_HEADERS_SCHEMA)
    idempotency_key = headers.get("idempotency_key") or str(uuid.uuid4())
    customer_id = signed_in().user_id
    order = remote.call(
        "orders",
        "create_order",
        customer_id,
        data["items"],
        idempotency_key,
        coupon_code=data.get("coupon_code"),
        client_ip=request.remote_addr,
        device_id=headers.get("device_id"),
        payment_method=data.get("payment_method"),
        shop=data.get("shop"),
    )
    set_correlation_id(order["id"])
    return _PLACED_ORDER_SCHEMA.dump(order), 201, {"Location": f"{blueprint.url_prefix}/{order['id']}"}


@blueprint.get("")
@operation("List orders", query=OrderListQuerySchema, responses={200: OrderPageSchema}, auth="required")
@login_required
def list_orders() -> ResponseReturnValue:
    """A customer sees their own orders; support, finance, auditors and admins see
    everyone's, or one customer's with ?customer_id=."""
    query = load_query(_ORDER_LIST_QUERY_SCHEMA)
    identity = signed_in()
    if identity.is_customer:
        if query.get("customer_id", identity.user_id) != identity.user_id:
            raise Forbidden("Customers may list only their own orders.")
        customer_id = identity.user_id
    elif identity.has_role(ORDER_READER_ROLES):
        customer_id = query.get("customer_id")
    else:
        raise Forbidden("Your role may not read orders.")
    page = remote.call(
        "orders", "list_orders", customer_id=customer_id, limit=query["limit"], cursor=query["cursor"]
    )
    return _ORDER_PAGE_SCHEMA.dump(page)


@blueprint.get("/counts")
@operation("Count orders by status", responses={200: OrderCountsSchema}, auth="required")
@roles_required(*ORDER_READER_ROLES)
def order_counts() -> ResponseReturnValue:
    """Every order the shop has, counted by status (the console's dashboard): the roles that read orders."""
    return _ORDER_COUNTS_SCHEMA.dump(remote.call("orders", "order_counts"))


@blueprint.get("/<uuid:order_id>")
@operation("Read an order", query=OrderReadQuerySchema, responses={200: OrderReadSchema}, auth="required")
@login_required
def get_order(order_id: uuid.UUID) -> ResponseReturnValue:
    """Its owner, and support, finance, auditors and admins. With ?changed_from=<status>,
    a long-poll: answered as soon as the order's status is no longer that one, or after
    ?wait= seconds (at most 30, default 0), with the order as it then is (200 either way);
    several statuses, comma-separated (awaiting_payment,paid), are waited through in turn.
    Only a customer's own order is waited on (anyone's for staff who may read it): another's
    is refused at once. A caller may have a few long-polls waiting at
    once (KAMENG_MAX_WAITS_PER_CALLER, default 4), and each gateway process
    KAMENG_MAX_WAITS (half its threads); past either, 429 too_many_waits with Retry-After.
    With ?include=cards (its owner only), a delivered order comes with its card keys, as
    GET /orders/{order_id}/cards reveals and audits them: one request fewer for a buyer."""
    query = load_query(_ORDER_READ_QUERY_SCHEMA)
    identity = signed_in()
    with_cards = query.get("include") == "cards"
    is_reader = identity.has_role(ORDER_READER_ROLES)
    if with_cards and not identity.is_customer:
        raise Forbidden("Only the order's owner may reveal its cards.")
    if "changed_from" in query and query["wait"] > 0:
        with waits.slots().slot(f"{identity.kind}:{identity.user_id}"):
            order = _changed(
                str(order_id), query["changed_from"].split(","), query["wait"], is_reader, identity.user_id
            )
    else:
        order = remote.call("orders", "get_order", str(order_id))
    is_owner = identity.is_customer and order["customer_id"] == identity.user_id
    if not (is_owner or is_reader):
        raise Forbidden("This order is not yours.")
    if with_cards and not is_owner:
        raise Forbidden("Only the order's owner may reveal its cards.")
    headers = {}
    if with_cards and order["status"] == "delivered":
        order = {**order, "cards": remote.call("inventory", "reveal_cards", order["id"], identity.user_id)}
        headers["Cache-Control"] = "no-store"
    return _ORDER_READ_SCHEMA.dump(with_fulfilment(order)), 200, headers


def _changed(
    order_id: str, waited_through: list[str], wait: float, is_reader: bool, user_id: str
) -> dict[str, Any]:
    """The order once its status is none of ``waited_through``, or as it is ``wait`` seconds on: one call,
    the orders service waiting through each status in turn. It waits on a customer's own order only
    (anyone's for staff who may read it): another's is answered at once, and refused above."""
    settings = current_app.config["KAMENG_SETTINGS"]
    return remote.call(
        "orders",
        "get_order",
        order_id,
        changed_from=waited_through,
        wait=wait,
        for_customer=None if is_reader else user_id,
        # the wait, plus the time any call may take
        timeout=settings.rpc_timeout + wait,
    )


def with_fulfilment(order: dict[str, Any]) -> dict[str, Any]:
    """A paid order's direct top-up lines with their supplier's progress (inventory keeps it)."""
    if not any(line.get("recharge_account") for line in order["items"]):
        return order
    progress = {line["line_no"]: line for line in remote.call("inventory", "order_fulfilments", order["id"])}
    items = [
        {**line, "fulfilment": progress[number]} if number in progress else line
        for number, line in enumerate(order["items"], start=1)
    ]
    return {**order, "items": items}


@blueprint.post("/<uuid:order_id>/payments")
@operation("Pay for an order", body=PaymentRequestSchema, responses={201: PaymentSchema}, auth="required")
@customer_required
def request_payment(order_id: uuid.UUID) -> ResponseReturnValue:
    """Its owner only. Follow pay_url, when there is one, to pay the provider."""
    data = load_json(_PAYMENT_REQUEST_SCHEMA)
    payment = remote.call("orders", "request_payment", str(order_id), signed_in().user_id, data["method"])
    return _PAYMENT_SCHEMA.dump(payment), 201


@blueprint.get("/<uuid:order_id>/cards")
@operation(
    "Reveal the card keys of a delivered order", responses={200: CardSecretSchema(many=True)}, auth="required"
)
@customer_required
def reveal_cards(order_id: uuid.UUID) -> ResponseReturnValue:
    """Its owner only, never staff; every reveal is audited."""
    cards = remote.call("inventory", "reveal_cards", str(order_id), signed_in().user_id)
    return _CARD_SECRETS_SCHEMA.dump(cards), 200, {"Cache-Control": "no-store"}
