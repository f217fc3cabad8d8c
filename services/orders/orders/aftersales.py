"""After-sales in an order's history: a buyer's refund request, its decision, each refund issued (and
failed, when the provider never gave the money back), and its cards given back once it is refunded in full.

Payments keeps the tickets and the money; orders writes each step into the
history the buyer and staff read, beside the order's status changes. The
order's status stays as it is: a partial refund leaves a delivered order
delivered.
"""

from orders import usecases

REFUND_DESTINATIONS = {"original": "the original payment channel", "wallet": "the wallet"}


def _in_history(describe):
    """Make ``describe(payload) → reason`` the handler ``(uow, event, now=None)`` that records it."""

    @usecases._about_an_order
    def handler(uow, order, payload, now):
        usecases._record(uow, order.id, order.status, describe(payload), now)

    return handler


def _money(amount, currency):
    return f"{amount // 100}.{amount % 100:02d} {currency}"


on_refund_request_opened = _in_history(lambda ticket: f"refund requested: {ticket['reason']}")
on_refund_request_decided = _in_history(
    lambda ticket: (
        f"refund request {'approved' if ticket['decision'] == 'approve' else 'rejected'}: {ticket['reason']}"
    )
)
on_refund_issued = _in_history(
    lambda refund: (
        f"refund of {_money(refund['amount'], refund['currency'])} "
        f"to {REFUND_DESTINATIONS[refund['to']]}: {refund['reason']}"
    )
)
on_refund_failed = _in_history(
    lambda refund: (
        f"refund of {_money(refund['amount'], refund['currency'])} through the provider failed "
        f"({refund['error']}): nothing was given back"
    )
)

CARD_POLICIES = {"void": "voided", "mark_refunded": "marked refunded"}

on_cards_refunded = _in_history(
    lambda given_back: (
        f"{len(given_back['card_ids'])} card(s) {CARD_POLICIES[given_back['policy']]}: "
        "the order is refunded in full"
    )
)
