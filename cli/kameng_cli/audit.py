"""``kameng audit``: ask every service what it knows and check DESIGN.md's invariants across them.

Each service answers ``audit_snapshot()`` over RPC, and the dead-letter queues
are read from the broker. ``check`` is pure (snapshots, dead letters, a moment
and the timeouts in; violations out), so tests can hand it any state.

What is still moving is not a violation: a fact younger than the grace period
(a sale, a sum received, an unpublished event) may not have reached the other
services yet. Past it, the fact must have had its effect everywhere.
"""

import datetime
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

from kameng_common import dlq
from kameng_common.db import utcnow
from kameng_gateway.rpc import RpcClient

# Orders is asked first: an order is delivered or refunded only after inventory
# sold its cards or payments gave the money back, so the snapshots asked later
# already hold the facts behind every status orders reports.
SERVICES = ("orders", "inventory", "payments", "customers", "risk")

# a snapshot of tens of thousands of orders takes longer than an API call may
RPC_TIMEOUT_SECONDS = 120
DEAD_LETTERS_LISTED = 100
DEFAULT_GRACE_SECONDS = 60
# how long a provider refund may stay pending: the record delay and every retry's back-off, with room
REFUND_RETRY_SECONDS = 300

PENDING, AWAITING_PAYMENT, ON_HOLD, PAID, FAILED = "pending", "awaiting_payment", "on_hold", "paid", "failed"
DELIVERED, REFUNDED = "delivered", "refunded"
# an order in one of these holds no reservation: its cards were sold or went back
RESERVATION_RELEASED = (DELIVERED, "cancelled", "expired", REFUNDED, FAILED)
# an order in one of these was paid: its coupon's use is spent
PAID_ONCE = (PAID, DELIVERED, REFUNDED, FAILED)
# an order in one of these may still be paid: its coupon's use stays held
STILL_OPEN = (PENDING, AWAITING_PAYMENT, ON_HOLD)


@dataclass(frozen=True)
class Timeouts:
    """Seconds: how long an order may wait in each status, how long customers leaves a coupon held
    for an order it was never stored, and how long a message may travel."""

    order_ttl: float = 900
    expiry_interval: float = 5
    grace: float = DEFAULT_GRACE_SECONDS
    coupon_hold_grace: float = 600
    coupon_hold_sweep_interval: float = 60
    reservation_grace: float = 600
    reservation_sweep_interval: float = 60

    @classmethod
    def from_env(cls, grace=DEFAULT_GRACE_SECONDS):
        """The orders and customers services' settings, read from the same environment variables."""
        return cls(
            order_ttl=float(os.environ.get("KAMENG_ORDER_TTL_SECONDS", cls.order_ttl)),
            expiry_interval=float(os.environ.get("KAMENG_ORDER_EXPIRY_INTERVAL", cls.expiry_interval)),
            grace=grace,
            coupon_hold_grace=float(
                os.environ.get("KAMENG_COUPON_HOLD_GRACE_SECONDS", cls.coupon_hold_grace)
            ),
            coupon_hold_sweep_interval=float(
                os.environ.get("KAMENG_COUPON_HOLD_SWEEP_INTERVAL", cls.coupon_hold_sweep_interval)
            ),
            reservation_grace=float(
                os.environ.get("KAMENG_RESERVATION_GRACE_SECONDS", cls.reservation_grace)
            ),
            reservation_sweep_interval=float(
                os.environ.get("KAMENG_RESERVATION_SWEEP_INTERVAL", cls.reservation_sweep_interval)
            ),
        )


@dataclass(frozen=True)
class Violation:
    kind: str
    subject: str
    detail: str


@dataclass
class Report:
    checked_at: datetime.datetime
    timeouts: Timeouts
    counts: dict
    violations: list

    @property
    def ok(self):
        return not self.violations

    def as_dict(self):
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat(),
            "timeouts": asdict(self.timeouts),
            "counts": self.counts,
            "violations": [asdict(violation) for violation in self.violations],
        }

    def render(self):
        counts = self.counts
        orders = counts["orders"]
        cards = counts["cards"]
        payments = counts["payments"]
        lines = [
            f"Kameng audit at {self.checked_at.isoformat()} (grace {self.timeouts.grace:g} s)",
            f"  orders        {sum(orders.values())}: "
            + (", ".join(f"{status} {count}" for status, count in orders.items()) or "none"),
            f"  cards         sold {cards['sold']}, reserved {cards['reserved']}, "
            f"available {cards['available']}",
            f"  payments      {payments['paid']} paid with {payments['received']} sums received, "
            f"{payments['refunded']} refunded",
            "  outbox        "
            + ", ".join(f"{service} {pending}" for service, pending in counts["outbox"].items())
            + " pending",
            "  dead letters  "
            + ", ".join(f"{service} {depth}" for service, depth in counts["dead_letters"].items()),
        ]
        if self.ok:
            lines.append("OK: every invariant holds")
        else:
            lines.append(f"{len(self.violations)} violation(s):")
            lines += [
                f"  {violation.kind}  {violation.subject}: {violation.detail}"
                for violation in self.violations
            ]
        return "\n".join(lines)


def audit(amqp_uri, timeouts=None):
    """Collect every service's snapshot and the dead letters, and check them; returns the Report."""
    timeouts = timeouts or Timeouts.from_env()
    rpc = RpcClient(amqp_uri, timeout=RPC_TIMEOUT_SECONDS)
    try:
        snapshots = collect(rpc)
    finally:
        rpc.close()
    dead_letters = collect_dead_letters(amqp_uri)
    now = utcnow()
    return Report(
        checked_at=now,
        timeouts=timeouts,
        counts=summarize(snapshots, dead_letters),
        violations=check(snapshots, dead_letters, now, timeouts),
    )


def collect(rpc):
    """{service: its audit_snapshot()}, asked in SERVICES' order; ``rpc`` has ``call(service, method)``."""
    return {service: rpc.call(service, "audit_snapshot") for service in SERVICES}


def collect_dead_letters(amqp_uri, limit=DEAD_LETTERS_LISTED):
    """{service: {depth, letters}}: how many dead letters each service has, and the first ``limit``."""
    return {
        service: {
            "depth": dlq.depth(amqp_uri, service),
            "letters": dlq.list_dead_letters(amqp_uri, service, limit),
        }
        for service in SERVICES
    }


def summarize(snapshots, dead_letters):
    """The report's counts: orders by status, cards by status, payments and refunds, backlogs."""
    receipts = snapshots["payments"]["receipts"]
    return {
        "orders": dict(
            sorted(Counter(order["status"] for order in snapshots["orders"]["orders"].values()).items())
        ),
        "cards": snapshots["inventory"]["cards"],
        "payments": {
            "paid": len({receipt["payment_id"] for receipt in receipts}),
            "received": len(receipts),
            "refunded": sum(1 for receipt in receipts if receipt["refunded_at"]),
        },
        "outbox": {service: snapshot["outbox"]["pending"] for service, snapshot in snapshots.items()},
        "dead_letters": {service: found["depth"] for service, found in dead_letters.items()},
    }


def check(snapshots, dead_letters, now, timeouts):
    """Every broken invariant, as Violations; empty when all hold.

    ``snapshots``: {service: audit_snapshot()} of every service in SERVICES;
    ``dead_letters``: as ``collect_dead_letters`` returns; ``now``: an aware
    datetime no earlier than the snapshots; ``timeouts``: a Timeouts.
    """
    orders = snapshots["orders"]["orders"]
    inventory = snapshots["inventory"]
    payments = snapshots["payments"]
    receipts = _receipts_by_payment(payments["receipts"])
    return [
        *_cards_sold_once(inventory),
        *_loop_products_within_their_limit(inventory),
        *_stock_alerts_match_the_stock(inventory),
        *_direct_lines_served_or_refunded(orders, inventory, now, timeouts),
        *_upstream_orders_used_once(inventory),
        *_late_collections_end_in_time(inventory, now, timeouts),
        *_delivered_orders_hold_their_cards(orders, inventory),
        *_refunded_orders_cards_given_back(inventory, payments, now, timeouts),
        *_cards_sold_only_for_delivered_orders(orders, inventory, now, timeouts),
        *_reservations_released(orders, inventory, now, timeouts),
        *_delivered_orders_paid_in_full(orders, receipts),
        *_sales_recorded_for_finance(orders, payments, now, timeouts),
        *_refunded_orders_refunded(orders, receipts),
        *_money_delivered_or_refunded(orders, receipts, now, timeouts),
        *_ledger_consistent(payments),
        *_refunds_within_paid(payments),
        *_refunds_executed(payments, now, timeouts),
        *_approved_requests_refunded(payments),
        *_no_order_stuck(orders, now, timeouts),
        *_agents_money_reconciled(
            snapshots["customers"]["agents"], payments["agent_postings"], now, timeouts
        ),
        *_shop_markups_credited(orders, snapshots["customers"]["agents"], now, timeouts),
        *_customer_stats_add_up(snapshots["customers"]),
        *_coupons_within_their_limits(snapshots["customers"]["coupons"]),
        *_coupon_uses_follow_their_orders(orders, snapshots["customers"]["coupons"], now, timeouts),
        *_an_admin_may_sign_in(snapshots["customers"]),
        *_outboxes_published(snapshots, now, timeouts),
        *_no_dead_letters(dead_letters),
    ]


# --- the invariants ------------------------------------------------------------


def _cards_sold_once(inventory):
    for card in inventory["sold_twice"]:
        yield Violation(
            "card_sold_twice",
            "cards " + ", ".join(map(str, card["card_ids"])),
            f"one card of product {card['product_id']} is sold to orders " + ", ".join(card["order_ids"]),
        )


def _loop_products_within_their_limit(inventory):
    """A loop product's card goes to every buyer, but never to more units than its limit.

    (Its card is never sold as a card, so it can never count as sold twice; a
    delivered order holds its units of it like cards, checked below.)
    """
    for product_id, loop in inventory.get("loop_products", {}).items():
        taken = loop["sold"] + loop["reserved"]
        if loop["stock_limit"] is not None and taken > loop["stock_limit"]:
            yield Violation(
                "loop_over_limit",
                f"product {product_id}",
                f"{loop['sold']} units sold and {loop['reserved']} reserved, over its limit of "
                f"{loop['stock_limit']}",
            )


def _stock_alerts_match_the_stock(inventory):
    """A product is flagged low exactly while its stock is under its threshold.

    Every change of its stock re-reads it under the alert's lock, so once the
    changes have committed the flag agrees with the stock; a flag that does not
    means a crossing was missed (no stock.low) or published without one.
    """
    for product_id, alert in inventory.get("stock_alerts", {}).items():
        under = alert["available"] is not None and alert["available"] < alert["threshold"]
        if alert["low"] != under:
            yield Violation(
                "stock_alert_stale",
                f"product {product_id}",
                f"flagged {'low' if alert['low'] else 'not low'} with {alert['available']} available "
                f"and a threshold of {alert['threshold']}",
            )


def _direct_lines_served_or_refunded(orders, inventory, now, timeouts):
    """Every paid line bought from a supplier (a direct top-up, or cards a linked card product lacked)
    succeeded (and its order is delivered) or failed (and its order is refunded)."""
    direct = set(inventory["direct_products"])
    fulfilments = inventory.get("fulfilments", {})
    for order_id, order in orders.items():
        lines = fulfilments.get(order_id, [])
        if order["status"] not in (PAID, DELIVERED, FAILED, REFUNDED) or not (
            lines or direct & set(order["items"])
        ):
            continue
        statuses = {line["status"] for line in lines}
        if order["status"] == DELIVERED and lines and statuses != {"succeeded"}:
            yield Violation(
                "direct_line_unserved",
                f"order {order_id}",
                f"delivered, but its lines bought from suppliers are {sorted(statuses)}",
            )
        elif (
            order["status"] == REFUNDED
            and lines
            and "failed" not in statuses
            # cards sold to it: delivered first, then refunded after sale
            and order_id not in inventory.get("sold", {})
        ):
            yield Violation(
                "direct_line_refunded_when_served",
                f"order {order_id}",
                "refunded, though every line bought from a supplier succeeded",
            )
        elif (
            order["status"] == PAID
            and direct & set(order["items"])
            and _after(order["updated_at"], timeouts.grace) < now
            and not lines
        ):
            yield Violation(
                "direct_line_unserved", f"order {order_id}", "paid, and no top-up was ever placed"
            )


def _upstream_orders_used_once(inventory):
    for reused in inventory.get("supplier_orders_reused", []):
        yield Violation(
            "supplier_order_reused",
            f"supplier {reused['supplier_id']} order {reused['supplier_order_id']}",
            "one upstream order serves more than one order line",
        )


def _late_collections_end_in_time(inventory, now, timeouts):
    """A restock line failed by its deadline is asked for its cards until its ``collect_until`` and
    then no more (its order stays refunded either way: the line still reads ``failed``)."""
    for order_id, lines in inventory.get("fulfilments", {}).items():
        for line in lines:
            collect_until = line.get("collect_until")
            if collect_until is not None and _after(collect_until, timeouts.grace) < now:
                yield Violation(
                    "late_collection_overdue",
                    f"order {order_id} line {line.get('line_no')}",
                    f"its cards are still being collected, though its window ended at {collect_until}",
                )


def _delivered_orders_hold_their_cards(orders, inventory):
    direct = set(inventory["direct_products"])  # fulfilled by a supplier: no cards
    for order_id, order in orders.items():
        if order["status"] != DELIVERED:
            continue
        ordered = {product: quantity for product, quantity in order["items"].items() if product not in direct}
        # a delivered order refunded in full still holds its cards, refunded or void
        held = dict(
            Counter(inventory["sold"].get(order_id, {}).get("cards", {}))
            + Counter(inventory.get("given_back", {}).get(order_id, {}).get("cards", {}))
        )
        if held != ordered:
            yield Violation(
                "delivery_mismatch",
                f"order {order_id}",
                f"delivered holding {_cards(held)}, but {_cards(ordered)} were ordered",
            )


def _refunded_orders_cards_given_back(inventory, payments, now, timeouts):
    """An order whose money is given back in full has no card left sold: its cards are refunded or
    void, as the card refund policy says (a loop product's card, every buyer's at once, stays sold)."""
    paid: defaultdict[str, int] = defaultdict(int)
    given_back: defaultdict[str, int] = defaultdict(int)
    last_refund: dict[str, datetime.datetime] = {}

    def refunded(order_id, amount, at):
        given_back[order_id] += amount
        moment = _after(at, 0)
        last_refund[order_id] = max(last_refund.get(order_id, moment), moment)

    for receipt in payments["receipts"]:
        paid[receipt["order_id"]] += receipt["amount"]
        if receipt["refunded_at"]:
            refunded(receipt["order_id"], _given_back(receipt), receipt["refunded_at"])
    for refund in payments.get("refunds", []):
        if refund["status"] == "succeeded":
            refunded(refund["order_id"], refund["amount"], refund.get("updated_at") or refund["created_at"])
    loops = set(inventory.get("loop_products", {}))
    for order_id, sale in inventory["sold"].items():
        cards = {product: count for product, count in sale["cards"].items() if product not in loops}
        if not cards or not paid[order_id] or given_back[order_id] < paid[order_id]:
            continue
        settled = max(last_refund[order_id], _after(sale["sold_at"], 0))
        if settled + datetime.timedelta(seconds=timeouts.grace) < now:
            yield Violation(
                "refunded_cards_still_sold",
                f"order {order_id}",
                f"refunded in full at {last_refund[order_id].isoformat()}, yet {_cards(cards)} are still sold",
            )


def _cards_sold_only_for_delivered_orders(orders, inventory, now, timeouts):
    for order_id, sale in inventory["sold"].items():
        status = _status(orders, order_id)
        if status != DELIVERED and _after(sale["sold_at"], timeouts.grace) < now:
            yield Violation(
                "cards_sold_to_undelivered_order",
                f"order {order_id}",
                f"{_cards(sale['cards'])} sold at {sale['sold_at']}, but the order is {status}",
            )


def _reservations_released(orders, inventory, now, timeouts):
    """Every reservation of a closed order goes back; one of an order orders does not know (reserved,
    then never stored) is inventory's sweep's to give back, once its grace period and interval passed."""
    for order_id, reservation in inventory["reserved"].items():
        order = orders.get(order_id)
        if order is not None and order["status"] not in RESERVATION_RELEASED:
            continue
        if order is None:
            sweep_wait = timeouts.reservation_grace + timeouts.reservation_sweep_interval + timeouts.grace
            settled = _after(reservation["reserved_at"], sweep_wait) < now
        else:
            last_moves = (reservation["reserved_at"], order["updated_at"])
            settled = max(_after(moment, timeouts.grace) for moment in last_moves) < now
        if settled:
            yield Violation(
                "reservation_leaked",
                f"order {order_id}",
                f"{reservation['cards']} cards still reserved, but the order is {_status(orders, order_id)}",
            )


def _delivered_orders_paid_in_full(orders, receipts):
    """No order delivered without a verified payment of the right amount."""
    for order_id, order in orders.items():
        if order["status"] != DELIVERED:
            continue
        received = [
            receipt for receipt in receipts.get(order["payment_id"], []) if receipt["order_id"] == order_id
        ]
        if not received:
            yield Violation(
                "delivered_without_payment",
                f"order {order_id}",
                f"payments received nothing for it as payment {order['payment_id']}"
                if order["payment_id"]
                else "it has no payment",
            )
            continue
        wrong = {(receipt["amount"], receipt["currency"]) for receipt in received} - {
            (order["total"], order["currency"])
        }
        if wrong:
            yield Violation(
                "payment_amount_mismatch",
                f"order {order_id}",
                f"costs {order['total']} {order['currency']}, but payment "
                f"{order['payment_id']} received "
                + ", ".join(f"{amount} {currency}" for amount, currency in sorted(wrong)),
            )


def _sales_recorded_for_finance(orders, payments, now, timeouts):
    """Payments holds each delivered order's sale (its cost and revenue by product) once, with the
    order's quantities, once the grace period has passed since it was delivered; an order delivered
    before payments kept sales (``sales_kept_since``) has none."""
    kept_since = payments.get("sales_kept_since")
    for order_id, order in orders.items():
        if order["status"] != DELIVERED or _after(order["updated_at"], timeouts.grace) >= now:
            continue
        if kept_since is not None and _after(order["updated_at"], 0) < _after(kept_since, 0):
            continue
        recorded = payments["sales"].get(order_id)
        if recorded != order["items"]:
            yield Violation(
                "sale_not_recorded",
                f"order {order_id}",
                f"delivered with {_units(order['items'])}, but payments recorded "
                + (_units(recorded) if recorded else "no sale"),
            )


def _refunded_orders_refunded(orders, receipts):
    for order_id, order in orders.items():
        if order["status"] != REFUNDED:
            continue
        if not any(
            receipt["refunded_at"] and receipt["order_id"] == order_id
            for receipt in receipts.get(order["payment_id"], [])
        ):
            yield Violation(
                "refund_missing",
                f"order {order_id}",
                f"refunded, but payments gave nothing back of payment {order['payment_id']}",
            )


def _money_delivered_or_refunded(orders, receipts, now, timeouts):
    """Every sum received ends delivered or refunded: a delivered order keeps one sum, anything else none.

    A payment received twice (two trade numbers) keeps at most its first sum.
    """
    for payment_id, received in receipts.items():
        order_id = received[0]["order_id"]
        order = orders.get(order_id)
        may_keep = int(
            order is not None and order["payment_id"] == payment_id and order["status"] == DELIVERED
        )
        kept = [receipt for receipt in received if not receipt["refunded_at"]]
        if may_keep and not kept:
            yield Violation(
                "delivered_and_refunded",
                f"payment {payment_id}",
                f"order {order_id} is delivered, yet every sum received for it was refunded",
            )
        settled = [receipt for receipt in kept if _after(receipt["received_at"], timeouts.grace) < now]
        if len(settled) > may_keep:
            yield Violation(
                "payment_unsettled",
                f"payment {payment_id}",
                f"order {order_id} is {_status(orders, order_id)} and may keep {may_keep} "
                f"of the sums received, but keeps {len(settled)}: trade "
                + ", ".join(
                    f"{receipt['provider']} {receipt['trade_no']} ({receipt['amount']} {receipt['currency']})"
                    for receipt in settled
                ),
            )


def _ledger_consistent(payments):
    """The ledger balances, no wallet is negative, and its sales and refunds are the sums moved."""
    ledger = payments["ledger"]
    for problem in ledger["problems"]:
        yield Violation("ledger_unbalanced", "ledger", problem)
    received: defaultdict[str, int] = defaultdict(int)
    refunded: defaultdict[str, int] = defaultdict(int)
    for receipt in payments["receipts"]:
        received[receipt["currency"]] += receipt["amount"]
        if receipt["refunded_at"]:
            refunded[receipt["currency"]] += _given_back(receipt)
    # each staff refund executed once: booked once, when it succeeded
    for refund in payments.get("refunds", []):
        if refund["status"] == "succeeded":
            refunded[refund["currency"]] += refund["amount"]
    for account, booked, moved in (
        ("sales", ledger["sales"], received),
        ("refunds", ledger["refunds"], refunded),
    ):
        for currency in sorted(set(booked) | set(moved)):
            if booked.get(currency, 0) != moved[currency]:
                yield Violation(
                    "ledger_mismatch",
                    f"ledger {account} {currency}",
                    f"the {account} account holds {booked.get(currency, 0)}, "
                    f"but the sums {'received' if account == 'sales' else 'refunded'} "
                    f"add up to {moved[currency]}",
                )


def _given_back(receipt):
    """What a sum's refund gave back: the rest of it when staff had refunded part first."""
    return receipt.get("refunded_amount", receipt["amount"])


def _refunds_within_paid(payments):
    """Never more given back for an order, across all its refunds, than it paid."""
    paid: defaultdict[tuple[str, str], int] = defaultdict(int)
    given_back: defaultdict[tuple[str, str], int] = defaultdict(int)
    for receipt in payments["receipts"]:
        key = (receipt["order_id"], receipt["currency"])
        paid[key] += receipt["amount"]
        if receipt["refunded_at"]:
            given_back[key] += _given_back(receipt)
    for refund in payments.get("refunds", []):
        if refund["status"] != "failed":
            given_back[(refund["order_id"], refund["currency"])] += refund["amount"]
    for (order_id, currency), amount in sorted(given_back.items()):
        if amount > paid[(order_id, currency)]:
            yield Violation(
                "refund_exceeds_paid",
                f"order {order_id}",
                f"{amount} {currency} refunded or being refunded, but it paid {paid[(order_id, currency)]}",
            )


def _refunds_executed(payments, now, timeouts):
    """Every refund staff approved is executed (or, after its retries, failed for finance to see)."""
    for refund in payments.get("refunds", []):
        if (
            refund["status"] == "pending"
            and _after(refund["created_at"], timeouts.grace + REFUND_RETRY_SECONDS) < now
        ):
            yield Violation(
                "refund_not_executed",
                f"refund {refund['refund_id']}",
                f"{refund['amount']} {refund['currency']} for order {refund['order_id']} is still pending "
                f"since {refund['created_at']}",
            )


def _approved_requests_refunded(payments):
    """Every after-sales ticket approved opened its own refund (exactly one: a refund belongs to one
    ticket); a rejected one opened none."""
    for ticket in payments.get("refund_requests", []):
        approved = ticket["status"] == "approved"
        if approved != ticket["refund_matches"] or (not approved and ticket["refund_id"]):
            yield Violation(
                "refund_request_unrefunded" if approved else "refund_request_refunded",
                f"refund request {ticket['request_id']}",
                f"{ticket['status']} for order {ticket['order_id']}, with refund {ticket['refund_id']}",
            )


def _agents_money_reconciled(agents, postings, now, timeouts):
    """Agents' balances add up, each order pays an agent once, no withdrawal exceeded what was
    available, and every movement of an agent's money is on the ledger, as much as customers says."""
    for twice in agents["commissions_twice"]:
        yield Violation(
            "commission_twice",
            f"order {twice['order_id']}",
            f"agent {twice['agent_id']} earned {twice['count']} {twice['kind']} entries on it",
        )
    for mismatch in agents["balance_mismatches"]:
        yield Violation(
            "agent_balance_mismatch",
            f"agent {mismatch['agent_id']}",
            f"holds {mismatch['held']} {mismatch['currency']} but its entries add up to {mismatch['entries']}",
        )
    for over in agents["withdrawals_over_available"]:
        yield Violation(
            "withdrawal_over_available",
            f"withdrawal {over['withdrawal_id']}",
            f"agent {over['agent_id']} withdrew {over['amount']} with {over['available']} available",
        )
    moves = agents["ledger_moves"]
    for reference, move in moves.items():
        posted = postings.get(reference)
        if posted is None and _after(move["at"], timeouts.grace) >= now:
            continue  # still on its way to payments
        if posted != {"agent_id": move["agent_id"], "amount": move["amount"]}:
            yield Violation(
                "agent_ledger_mismatch",
                f"agent {move['agent_id']}",
                f"{reference} moved {move['amount']} at {move['at']}, but the ledger posted "
                + ("nothing" if posted is None else f"{posted['amount']} for agent {posted['agent_id']}"),
            )
    for reference, posted in postings.items():
        if reference not in moves:
            yield Violation(
                "agent_ledger_mismatch",
                f"agent {posted['agent_id']}",
                f"the ledger posted {posted['amount']} for {reference}, which customers does not know",
            )


def _shop_markups_credited(orders, agents, now, timeouts):
    """Each order placed through an agent's shop credits that agent its markup once it is delivered,
    exactly as much as orders recorded; no markup is credited on any other order."""
    markups = agents["markups"]
    for order_id, credited in markups.items():
        shop = (orders.get(order_id) or {}).get("shop")
        expected = [] if shop is None else [{"agent_id": shop["agent_id"], "amount": shop["markup"]}]
        if credited != expected:
            yield Violation(
                "markup_mismatch",
                f"order {order_id}",
                f"agents were credited {credited} as its shop's markup, orders recorded "
                + ("no shop" if shop is None else f"{shop['markup']} for agent {shop['agent_id']}"),
            )
    for order_id, order in orders.items():
        shop = order.get("shop")
        if (
            shop is not None
            and shop["markup"] > 0
            and order["status"] == DELIVERED
            and order_id not in markups
            and _after(order["updated_at"], timeouts.grace) < now
        ):
            yield Violation(
                "markup_not_credited",
                f"order {order_id}",
                f"delivered through shop {shop['slug']}, its agent {shop['agent_id']} was never credited "
                f"the markup of {shop['markup']}",
            )


def _customer_stats_add_up(customers):
    """A customer's order count, spend and refunds (what their level and RFM scores are measured
    from) are the sums of the orders customers counted for them."""
    for mismatch in customers["stats_mismatches"]:
        yield Violation(
            "customer_stats_mismatch",
            f"customer {mismatch['customer_id']}",
            f"holds {mismatch['held']} but the orders counted for them add up to {mismatch['counted']}",
        )


def _coupons_within_their_limits(coupons):
    """No coupon used (held or spent) more often than its total_limit, nor by a customer more
    often than its per_customer_limit; its count of uses is the number of its uses."""
    for coupon_id, coupon in coupons["coupons"].items():
        where = f"coupon {coupon['code']} ({coupon_id})"
        if coupon["total_limit"] is not None and coupon["counted"] > coupon["total_limit"]:
            yield Violation(
                "coupon_over_limit",
                where,
                f"{coupon['counted']} uses, its total_limit is {coupon['total_limit']}",
            )
        for customer_id in coupon["customers_over_limit"]:
            yield Violation(
                "coupon_over_limit",
                where,
                f"customer {customer_id} used it more than its per_customer_limit {coupon['per_customer_limit']}",
            )
        if coupon["used"] != coupon["counted"]:
            yield Violation(
                "coupon_use_count_mismatch",
                where,
                f"counts {coupon['used']} uses but has {coupon['counted']}",
            )


def _coupon_uses_follow_their_orders(orders, coupons, now, timeouts):
    """Every held use belongs to an order that may still be paid, every paid order's use is spent
    and every spent use's order was paid; an order's discount is its use's.

    A use held for an order orders does not know (never stored) is customers' sweep's to give back:
    it is orphaned once the sweep's grace period and interval have passed too."""
    uses = coupons["uses"]
    for order_id, use in uses.items():
        order = orders.get(order_id)
        status = _status(orders, order_id)
        if order is None:
            sweep_wait = timeouts.coupon_hold_grace + timeouts.coupon_hold_sweep_interval + timeouts.grace
            settled = _after(use["held_at"], sweep_wait) < now
        else:
            settled = (
                max(_after(moment, timeouts.grace) for moment in (use["held_at"], order["updated_at"])) < now
            )
        if use["status"] == "spent" and status not in PAID_ONCE:
            yield Violation(
                "coupon_spent_unpaid", f"order {order_id}", f"its coupon use is spent, the order {status}"
            )
        elif use["status"] != "spent" and status in PAID_ONCE and settled:
            yield Violation(
                "coupon_not_spent",
                f"order {order_id}",
                f"the order is {status}, its coupon use {use['status']}",
            )
        elif use["status"] == "held" and status not in STILL_OPEN and settled:
            yield Violation(
                "coupon_hold_orphaned", f"order {order_id}", f"a coupon use is held, the order is {status}"
            )
    for order_id, order in orders.items():
        if not order.get("discount"):
            continue
        use = uses.get(order_id)
        if use is None or use["discount"] != order["discount"] or use["currency"] != order["currency"]:
            yield Violation(
                "coupon_discount_mismatch",
                f"order {order_id}",
                f"discounted {order['discount']} {order['currency']}, but its coupon use "
                + (
                    "is unknown to customers"
                    if use is None
                    else f"took off {use['discount']} {use['currency']}"
                ),
            )


def _an_admin_may_sign_in(customers):
    """Staff disabling and role changes never leave the shop without an admin."""
    if customers["accounts"]["enabled_admins"] < 1:
        yield Violation("no_admin", "staff accounts", "no enabled admin is left to manage the shop")


def _no_order_stuck(orders, now, timeouts):
    for order_id, order in orders.items():
        deadline = _move_on_deadline(order, timeouts)
        if deadline is not None and deadline < now:
            yield Violation(
                "order_stuck",
                f"order {order_id}",
                f"still {order['status']} (last changed {order['updated_at']}); "
                f"it should have moved on by {deadline.isoformat()}",
            )


def _move_on_deadline(order, timeouts):
    """When an order in a transitional status should have left it; None for one that waits for nobody."""
    status = order["status"]
    if status == PENDING:  # waits for inventory and risk, then expires
        return _after(order["created_at"], timeouts.order_ttl + timeouts.expiry_interval + timeouts.grace)
    if status == AWAITING_PAYMENT:  # waits for the buyer, then expires
        return _after(order["expires_at"], timeouts.expiry_interval + timeouts.grace)
    if status == ON_HOLD:  # waits for a reviewer until its review deadline, then is cancelled
        return _after(order["expires_at"], timeouts.expiry_interval + timeouts.grace)
    if status in (PAID, FAILED):  # waits for the cards, or for the refund: messages only
        return _after(order["updated_at"], timeouts.grace)
    return None


def _outboxes_published(snapshots, now, timeouts):
    for service, snapshot in snapshots.items():
        outbox = snapshot["outbox"]
        if outbox["pending"] and _after(outbox["oldest_pending_at"], timeouts.grace) < now:
            yield Violation(
                "outbox_backlog",
                f"service {service}",
                f"{outbox['pending']} events not published, the oldest written at "
                f"{outbox['oldest_pending_at']}",
            )


def _no_dead_letters(dead_letters):
    for service, found in dead_letters.items():
        for letter in found["letters"]:
            yield Violation(
                "dead_letter",
                f"service {service}",
                f"{letter['event_type']} {letter['message_id']} (order "
                f"{letter['correlation_id']}) from {letter['queue']} after "
                f"{letter['attempts']} attempts: {letter['failure']}",
            )
        unlisted = found["depth"] - len(found["letters"])
        if unlisted > 0:
            yield Violation("dead_letter", f"service {service}", f"{unlisted} more not listed here")


# --- helpers -------------------------------------------------------------------


def _receipts_by_payment(receipts):
    by_payment = defaultdict(list)
    for receipt in receipts:
        by_payment[receipt["payment_id"]].append(receipt)
    return by_payment


def _status(orders, order_id):
    order = orders.get(order_id)
    return order["status"] if order else "unknown to orders"


def _after(moment, seconds):
    """The ISO 8601 ``moment`` plus ``seconds``, as a datetime."""
    return datetime.datetime.fromisoformat(moment) + datetime.timedelta(seconds=seconds)


def _units(counts):
    return ", ".join(f"{count} of product {product}" for product, count in sorted(counts.items()))


def _cards(counts):
    if not counts:
        return "no cards"
    return ", ".join(f"{count} of product {product}" for product, count in sorted(counts.items()))
