"""What inventory sold, for finance's cost and margins: each delivered order's lines (cards.delivered),
at the price orders quoted and the cost price inventory knew at the sale."""

from typing import Any

import sqlalchemy as sa

from kameng_common.db import UnitOfWork, utc_isoformat
from payments.db import SALE_LINES_KEPT, milestones, sale_lines


def on_cards_delivered(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """One row per line of the order, written once: the same sale heard again (a new event id)
    changes nothing. An older inventory's event names only cards: there is no sale to record."""
    payload = event["payload"]
    if not payload["lines"]:
        return
    rows = [
        {
            "order_id": payload["order_id"],
            "line_no": line_no,
            "product_id": line["product_id"],
            "quantity": line["quantity"],
            "unit_price": line["unit_price"],
            "unit_cost": line["unit_cost"],
            "currency": payload["currency"],
            "delivered_at": event["occurred_at"],
        }
        for line_no, line in enumerate(payload["lines"], start=1)
    ]
    uow.execute(uow.insert(sale_lines).on_conflict_do_nothing(), rows)


def audit_sales(session: sa.Connection) -> dict[str, dict[str, int]]:
    """{order id: {product id: quantity}} of every sale recorded, for ``kameng audit``."""
    sold: dict[str, dict[str, int]] = {}
    for order_id, product_id, quantity in session.execute(
        sa.select(sale_lines.c.order_id, sale_lines.c.product_id, sale_lines.c.quantity)
    ):
        products = sold.setdefault(order_id, {})
        products[str(product_id)] = products.get(str(product_id), 0) + quantity
    return sold


def sales_kept_since(session: sa.Connection) -> str | None:
    """When sales began to be kept here (ISO 8601), or None where the migration left no mark: the
    orders delivered before it have no sale lines, and the audit does not ask them of those."""
    return utc_isoformat(
        session.execute(
            sa.select(milestones.c.reached_at).where(milestones.c.name == SALE_LINES_KEPT)
        ).scalar_one_or_none()
    )
