"""Inventory's rules, in plain Python: pricing, card intake, and what each order event may do."""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kameng_common.errors import Conflict, InvalidInput


@dataclass(frozen=True)
class PricedProduct:
    """What a quote reads of a product's row of ``products``."""

    name: str
    status: str
    currency: str
    category_id: int
    price: int
    level_prices: Mapping[str, int]


@dataclass(frozen=True)
class SoldOrder:
    """What the reveal rule reads of an order's row of ``orders`` (a tombstone has no buyer)."""

    customer_id: str | None
    stock_state: str | None


CARD, LOOP, DIRECT = "card", "loop", "direct"
KINDS = (CARD, LOOP, DIRECT)
# a card product sells each card once; a loop product delivers its one live card to
# every buyer (a shared account), up to an optional limit of units sold
STOCKED_KINDS = (CARD, LOOP)

# why a line is bought from a supplier: a direct product's top-up, or the cards a
# card product linked to a supplier lacks when its order is paid
TOP_UP, RESTOCK = "top_up", "restock"
UPSTREAM_KINDS = (CARD, DIRECT)

# a product buyers may see and order, or one taken off the shelf by staff
ON_SALE, OFF_SALE = "on_sale", "off_sale"
PRODUCT_STATUSES = (ON_SALE, OFF_SALE)

# the membership level of a buyer with none, and of anonymous visitors
REGULAR = "regular"

NUMBER_MAX_LENGTH = 128
SECRET_MAX_LENGTH = 512

# a card's life: available -> reserved (by one order) -> sold (to that order);
# a reservation released puts it back to available; staff may void a card that is
# not sold, which takes it out of stock for good. A sold card moves once more only
# when its order's money is given back in full: to refunded or void, as the shop's
# card refund policy says, keeping its order (refunds.py).
# A loop product's card stays available: each buyer's claim on it is a loop sale.
AVAILABLE, RESERVED, SOLD, VOID, REFUNDED = "available", "reserved", "sold", "void", "refunded"
CARD_STATES = (AVAILABLE, RESERVED, SOLD, VOID, REFUNDED)

# what becomes of a refunded order's cards (KAMENG_REFUND_CARD_POLICY): voided, so the
# buyer no longer reads them, or marked refunded, still readable by the buyer
VOID_CARDS, MARK_REFUNDED = "void", "mark_refunded"
CARD_REFUND_POLICIES = (VOID_CARDS, MARK_REFUNDED)
DEFAULT_CARD_REFUND_POLICY = MARK_REFUNDED

# what inventory has done about an order's stock
STOCK_RESERVED = "reserved"  # its cards are held for it
STOCK_REJECTED = "rejected"  # its reservation was refused; nothing held
STOCK_RELEASED = "released"  # it closed unpaid and its cards went back
STOCK_SOLD = "sold"  # paid: its cards are its own
STOCK_SALE_FAILED = "sale_failed"  # paid late and the stock was gone, or a top-up failed: orders refunds
STOCK_FULFILLING = "fulfilling"  # paid: its cards are held while its suppliers top up its direct lines
# reserved for an order orders never stored, and given back by the sweep: asked again, it reserves anew
STOCK_SWEPT = "swept"

OUT_OF_STOCK = "out_of_stock"
NO_SUPPLIER = "no_supplier"
NO_RECHARGE_ACCOUNT = "no_recharge_account"
ORDER_CLOSED = "order_closed"
UNKNOWN_PRODUCT = "unknown_product"
# a reservation asked again for an order refused the first time
REJECTED_BEFORE = "rejected_before"
NOT_ON_SALE = "not_on_sale"

# the decisions an order event leads to
RESERVE, REJECT_CLOSED, RELEASE, CLOSE, SELL, IGNORE = (
    "reserve",
    "reject_closed",
    "release",
    "close",
    "sell",
    "ignore",
)


def on_reservation_asked(stock_state: str | None, closed: bool) -> str:
    """A new order reserves once; an order already closed (cancel or expiry seen first) is refused.

    A reservation the sweep gave back (its order was never stored) is made again: the buyer's retry
    is about to store the order."""
    if stock_state is not None and stock_state != STOCK_SWEPT:
        return IGNORE  # asked before: reserved, rejected, or already paid and sold
    return REJECT_CLOSED if closed else RESERVE


def reserved_before(stock_state: str | None) -> bool:
    """Whether an order asked before got its reservation (it may have been sold or released since)."""
    return stock_state != STOCK_REJECTED


def on_order_closed(stock_state: str | None) -> str:
    """order.cancelled and order.expired give back a reservation; a sale stands."""
    return RELEASE if stock_state == STOCK_RESERVED else CLOSE


def on_order_paid(stock_state: str | None) -> str:
    """order.paid sells whatever the order holds, re-reserving what it lost; once only."""
    return IGNORE if stock_state in (STOCK_SOLD, STOCK_SALE_FAILED, STOCK_FULFILLING) else SELL


def price_for_level(price: int, level_prices: Mapping[str, int], level: str) -> int:
    return level_prices.get(level, price)


def merge_lines(items: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """{product_id: total quantity}, lines of the same product added up, in first-seen order."""
    merged: dict[int, int] = {}
    for item in items:
        merged[item["product_id"]] = merged.get(item["product_id"], 0) + item["quantity"]
    return merged


def quote(lines: Mapping[int, int], products: Mapping[int, PricedProduct], level: str) -> dict[str, Any]:
    """Price merged ``lines`` at ``level``; ``products`` maps each product id to what is priced of it."""
    off_sale = [product_id for product_id in lines if products[product_id].status != ON_SALE]
    if off_sale:
        raise Conflict("product " + ", ".join(map(str, off_sale)) + " is not on sale", code=NOT_ON_SALE)
    currencies = {products[product_id].currency for product_id in lines}
    if len(currencies) > 1:
        raise InvalidInput("the items are priced in different currencies; order them separately")
    items: list[dict[str, Any]] = []
    for product_id, quantity in lines.items():
        product = products[product_id]
        items.append(
            {
                "product_id": product_id,
                "name": product.name,
                # what a coupon scoped to categories looks at
                "category_id": product.category_id,
                "quantity": quantity,
                "unit_price": price_for_level(product.price, product.level_prices, level),
            }
        )
    return {
        "items": items,
        "total": sum(item["unit_price"] * item["quantity"] for item in items),
        "currency": currencies.pop(),
    }


def demand(lines: Mapping[int, int], kinds: Mapping[int, str], kind: str) -> dict[int, int]:
    """What an order needs of one kind of stock: {product_id: quantity} of its ``kind`` products.

    A direct product is fulfilled by a supplier, so it holds no stock here.
    """
    return {product_id: quantity for product_id, quantity in lines.items() if kinds[product_id] == kind}


def loop_units_left(stock_limit: int | None, units_taken: int) -> int | None:
    """Units of a loop product still sellable: None when it has no limit."""
    if stock_limit is None:
        return None
    return max(0, stock_limit - units_taken)


def category_cycle(category_id: int, new_parent_id: int | None, parents: Mapping[int, int | None]) -> bool:
    """Whether moving ``category_id`` under ``new_parent_id`` would put it inside itself.

    ``parents`` maps each category id to its parent id (None for a root).
    """
    ancestor = new_parent_id
    seen: set[int] = set()
    while ancestor is not None and ancestor not in seen:
        if ancestor == category_id:
            return True
        seen.add(ancestor)
        ancestor = parents.get(ancestor)
    return False


def direct_line_refusal(
    lines: Sequence[Mapping[str, Any]], kinds: Mapping[int, str], linked: Collection[int]
) -> str | None:
    """Why ``lines`` (quote items) cannot be ordered as they are, or None.

    A direct line needs a recharge_account and a product with a supplier, and
    stands alone in its order: a failed top-up refunds the order, which must
    then hold nothing else.
    """
    direct = [line for line in lines if kinds[line["product_id"]] == DIRECT]
    if not direct:
        return None
    if len(lines) > 1:
        return "a direct top-up is ordered on its own, one line per order"
    line = direct[0]
    if not line.get("recharge_account"):
        return "a direct top-up needs recharge_account: the account to top up"
    if line["product_id"] not in linked:
        return f"product {line['product_id']} has no supplier: it cannot be ordered"
    return None


def clean_card(raw: object) -> tuple[str, str] | None:
    """(number, secret) with surrounding blanks trimmed, or None when the card must be rejected."""
    if not isinstance(raw, dict):
        return None
    number, secret = raw.get("number"), raw.get("secret")
    if not isinstance(number, str) or not isinstance(secret, str):
        return None
    number, secret = number.strip(), secret.strip()
    if not number or not secret:
        return None
    if len(number) > NUMBER_MAX_LENGTH or len(secret) > SECRET_MAX_LENGTH:
        return None
    return number, secret


# the outcomes the reveal audit records
REVEALED, NOT_FOUND, FORBIDDEN, NOT_DELIVERED, INTEGRITY_ERROR = (
    "revealed",
    "not_found",
    "forbidden",
    "not_delivered",
    "integrity_error",
)


def reveal_refusal(order: SoldOrder | None, customer_id: str) -> str | None:
    """Why ``customer_id`` may not read ``order``'s cards, or None when they may."""
    if order is None or order.customer_id is None:
        return NOT_FOUND  # unknown, or only a tombstone: nobody has bought it
    if order.customer_id != customer_id:
        return FORBIDDEN
    if order.stock_state != STOCK_SOLD:
        return NOT_DELIVERED
    return None


def stock_is_low(available: int | None, threshold: int) -> bool:
    """Under its threshold: a product whose stock is unlimited (None) never is."""
    return available is not None and available < threshold
