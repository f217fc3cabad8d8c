"""The rules of payments, refunds, wallets and the double-entry ledger; pure Python, no I/O."""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kameng_common.errors import Conflict, InvalidInput

PENDING = "pending"
SUCCEEDED = "succeeded"

BALANCE = "balance"
MOCKPAY = "mockpay"
ALIPAY = "alipay"
WECHAT = "wechat"
UNIONPAY = "unionpay"
REAL_PROVIDERS = (ALIPAY, WECHAT, UNIONPAY)
METHODS = (MOCKPAY, BALANCE, *REAL_PROVIDERS)

SALES = "sales"
REFUNDS = "refunds"

# what an intent pays for: an order, or money put into the buyer's own wallet
ORDER = "order"
TOPUP = "topup"


def provider_account(provider: str) -> str:
    """The clearing account of money a provider holds for us."""
    return f"provider:{provider}"


def wallet_account(customer_id: str) -> str:
    """What we owe a customer: the ledger side of their wallet."""
    return f"wallet:{customer_id}"


@dataclass(frozen=True)
class Notice:
    """A provider's verified word that money was received for a payment."""

    provider: str
    payment_id: str
    trade_no: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Intent:
    id: str
    order_id: str
    customer_id: str
    amount: int
    currency: str
    method: str
    status: str
    purpose: str = ORDER


@dataclass(frozen=True)
class Receipt:
    id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class ProviderRefund:
    """Money to give back through the provider that received it."""

    refund_id: str
    payment_id: str
    # the provider's transaction the money came in by
    trade_no: str
    amount: int
    # what that transaction received in all (WeChat asks for it)
    total: int
    currency: str
    reason: str


def subject(intent: Intent) -> str:
    """What the buyer sees on the provider's cashier page."""
    if intent.purpose == TOPUP:
        return "Kameng wallet top-up"
    return f"Kameng order {intent.order_id}"


def topup_id(customer_id: str, idempotency_key: str) -> str:
    """A top-up's id: the same customer's same key names the same top-up, never a second one."""
    return str(uuid.uuid5(TOPUP_NAMESPACE, f"{customer_id}\n{idempotency_key}"))


TOPUP_NAMESPACE = uuid.UUID("6f1d3a52-0c55-4a4e-9d55-6b1f7c0e2a11")


def wallet_entry(ledger_amount: int) -> int:
    """A wallet account's ledger entry as the customer sees it: money in is positive."""
    return -ledger_amount


# --- intents -----------------------------------------------------------------


def same_request(intent: Intent, customer_id: str, amount: int, currency: str) -> None:
    """A repeated create_intent must ask for what the first one did."""
    if (intent.customer_id, intent.amount, intent.currency) != (customer_id, amount, currency):
        raise Conflict(
            f"order {intent.order_id} already has a {intent.method} payment "
            f"of {intent.amount} {intent.currency} for another request",
            "intent_mismatch",
        )


def not_paid_yet(order_id: str, paid_intents: Sequence[object]) -> None:
    """No new way to pay an order that another intent has already paid."""
    if paid_intents:
        raise Conflict(f"order {order_id} is already paid", "already_paid")


def received(status: str) -> tuple[str, bool]:
    """An intent's status once money arrived, and whether this is its first money."""
    if status not in (PENDING, SUCCEEDED):
        raise ValueError(f"unknown payment status {status!r}")
    return SUCCEEDED, status == PENDING


def check_notice(intent: Intent, notice: Notice) -> None:
    """A notification is accepted only for its own provider, amount and currency."""
    if notice.provider != intent.method:
        raise InvalidInput(
            f"payment {intent.id} is paid with {intent.method}, not {notice.provider}", "provider_mismatch"
        )
    if (notice.amount, notice.currency) != (intent.amount, intent.currency):
        raise InvalidInput(
            f"notified {notice.amount} {notice.currency} but payment {intent.id} "
            f"is {intent.amount} {intent.currency}",
            "amount_mismatch",
        )


# --- wallets -----------------------------------------------------------------


def debit_wallet(balance: int, amount: int) -> int:
    """The balance after paying ``amount``; a wallet never goes below zero."""
    if amount <= 0:
        raise ValueError("a debit is a positive amount")
    if balance < amount:
        raise InvalidInput(f"wallet balance {balance} is less than {amount}", "insufficient_balance")
    return balance - amount


# --- refunds -----------------------------------------------------------------


def receipt_to_refund(
    intent: Intent, request: Mapping[str, Any], unrefunded: Sequence[Receipt], refunded_count: int
) -> Receipt | None:
    """The receipt a refund request gives back, or None when every receipt already is.

    Each sum received is refunded at most once: a request repeated under a
    new event id changes nothing, while money received twice for one payment
    (two trade numbers) can be refunded twice. The latest receipt goes first,
    since a payment received twice keeps (delivers) its first one.
    """
    expected = (intent.order_id, intent.customer_id, intent.currency)
    asked = (request["order_id"], request["customer_id"], request["currency"])
    if asked != expected:
        raise InvalidInput(
            f"refund of payment {intent.id} asks for order, customer and currency {asked}, "
            f"but the payment is {expected}",
            "refund_mismatch",
        )
    if not unrefunded:
        if refunded_count:
            return None
        raise InvalidInput(f"payment {intent.id} has received no money to refund", "not_paid")
    receipt = unrefunded[0]
    if request["amount"] != receipt.amount:
        raise InvalidInput(
            f"refund of {request['amount']} for payment {intent.id}, which received {receipt.amount}",
            "amount_mismatch",
        )
    return receipt


# --- staff refunds -------------------------------------------------------------

TO_ORIGINAL = "original"
TO_WALLET = "wallet"
REFUND_DESTINATIONS = (TO_ORIGINAL, TO_WALLET)
REFUND_PENDING = "pending"
REFUND_SUCCEEDED = "succeeded"
REFUND_FAILED = "failed"
# tries of a provider's refund API before the refund is left to finance as failed
MAX_REFUND_ATTEMPTS = 5


def refund_backoff_seconds(attempts: int) -> int:
    """How long to wait before the next try of a provider refund: 2, 4, 8, 16… seconds, at most 5 min."""
    return min(2**attempts, 300)


@dataclass(frozen=True)
class Received:
    """A sum received for an order, and how much of it has been given back (or is being)."""

    receipt_id: str
    payment_id: str
    provider: str
    trade_no: str
    amount: int
    currency: str
    refunded: int

    @property
    def remaining(self) -> int:
        return self.amount - self.refunded


def receipt_for_refund(
    order_id: str, received: Sequence[Received], amount: int | None, destination: str
) -> tuple[Received, int]:
    """The receipt a staff refund of ``amount`` (None: all that is left) gives back from.

    Never more than was paid across all refunds: the amount must fit in what
    one receipt has left (the newest first: a payment received twice keeps its
    first). ``original`` goes back through the provider that took the money,
    which the development provider cannot do.
    """
    if not received:
        raise InvalidInput(f"order {order_id} has received no money", "not_paid")
    left = sum(receipt.remaining for receipt in received)
    if amount is None:
        receipt = next((receipt for receipt in received if receipt.remaining > 0), None)
        if receipt is None:
            raise InvalidInput(f"order {order_id} is refunded in full already", "refund_exceeds_paid")
        amount = receipt.remaining
    elif amount > left:
        raise InvalidInput(
            f"a refund of {amount} is more than the {left} left of what order {order_id} paid",
            "refund_exceeds_paid",
        )
    else:
        receipt = next((receipt for receipt in received if receipt.remaining >= amount), None)
        if receipt is None:
            raise InvalidInput(
                f"no single payment of order {order_id} has {amount} left to refund; refund in parts",
                "refund_exceeds_paid",
            )
    if destination == TO_ORIGINAL and receipt.provider == MOCKPAY:
        raise InvalidInput(
            "mockpay cannot refund to the original channel; refund to the wallet",
            "refund_channel_unavailable",
        )
    return receipt, amount


def refund_destination(destination: str, provider: str) -> str:
    """Money paid from the wallet goes back to the wallet, whatever was asked."""
    return TO_WALLET if provider == BALANCE else destination


# --- after-sales tickets -------------------------------------------------------

REQUEST_OPEN = "open"
REQUEST_APPROVED = "approved"
REQUEST_REJECTED = "rejected"
REQUEST_STATUSES = (REQUEST_OPEN, REQUEST_APPROVED, REQUEST_REJECTED)
APPROVE = "approve"
REJECT = "reject"
# a decision → where it takes an open ticket
REQUEST_DECISIONS = {APPROVE: REQUEST_APPROVED, REJECT: REQUEST_REJECTED}


def refund_left(order_id: str, received: Sequence[Received]) -> int:
    """What an order has left to give back; a ticket on an order with nothing left is refused."""
    if not received:
        raise InvalidInput(f"order {order_id} has received no money", "not_paid")
    left = sum(receipt.remaining for receipt in received)
    if left <= 0:
        raise InvalidInput(f"order {order_id} is refunded in full already", "nothing_to_refund")
    return left


def decision_applies(request_id: str, status: str, decision: str) -> bool:
    """True if the ticket is open for ``decision``; False if it bears that decision already (a repeat).

    A ticket is decided once: another decision on a decided ticket is refused.
    """
    if status == REQUEST_OPEN:
        return True
    if status == REQUEST_DECISIONS[decision]:
        return False
    raise Conflict(f"refund request {request_id} is {status} already", "already_decided")


def request_refund_key(request_id: str) -> str:
    """The idempotency key of the staff refund a ticket's approval opens: one refund per ticket."""
    return f"refund-request:{request_id}"


# --- ledger ------------------------------------------------------------------


class UnbalancedPosting(ValueError):
    """A posting that would break double entry; a bug, never the caller's fault."""


@dataclass(frozen=True)
class Entry:
    account: str
    currency: str
    # a debit is positive, a credit negative
    amount: int


def debit(account: str, amount: int, currency: str) -> Entry:
    return Entry(account, currency, amount)


def credit(account: str, amount: int, currency: str) -> Entry:
    return Entry(account, currency, -amount)


def posting(*entries: Entry) -> tuple[Entry, ...]:
    """A ledger transaction: at least two non-zero entries summing to zero in each currency."""
    if len(entries) < 2:
        raise UnbalancedPosting("a posting has at least two entries")
    sums: defaultdict[str, int] = defaultdict(int)
    for entry in entries:
        if type(entry.amount) is not int or entry.amount == 0:
            raise UnbalancedPosting(f"entry {entry} is not a non-zero integer amount")
        sums[entry.currency] += entry.amount
    unbalanced = {currency: total for currency, total in sums.items() if total}
    if unbalanced:
        raise UnbalancedPosting(f"posting does not balance: {unbalanced}")
    return entries


def provider_payment(provider: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """Money a provider received for us: it owes us; we sold."""
    return posting(debit(provider_account(provider), amount, currency), credit(SALES, amount, currency))


def wallet_payment(customer_id: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """A customer paid from their wallet: we owe them less; we sold."""
    return posting(debit(wallet_account(customer_id), amount, currency), credit(SALES, amount, currency))


def provider_topup(provider: str, customer_id: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """Money a provider received for a customer's wallet: it owes us; we owe the customer."""
    return posting(
        debit(provider_account(provider), amount, currency),
        credit(wallet_account(customer_id), amount, currency),
    )


def refund_to_wallet(customer_id: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """A refund kept for the customer in their wallet: we owe them more."""
    return posting(debit(REFUNDS, amount, currency), credit(wallet_account(customer_id), amount, currency))


def refund_to_provider(provider: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """A refund the provider paid back to the buyer: the provider owes us less."""
    return posting(debit(REFUNDS, amount, currency), credit(provider_account(provider), amount, currency))


AGENT_ACCOUNT_PREFIX = "agent:"
COMMISSIONS = "commissions"
AGENT_MARKUPS = "agent_markups"
PAYOUTS = "payouts"


def agent_account(agent_id: str) -> str:
    """What the shop owes an agent: their earnings not yet paid out."""
    return f"{AGENT_ACCOUNT_PREFIX}{agent_id}"


def _agent_cost_account(kind: str) -> str:
    return AGENT_MARKUPS if kind == "markup" else COMMISSIONS


def agent_earning(agent_id: str, kind: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """An agent earned a commission or a shop's markup: a cost to the shop, owed to the agent."""
    return posting(
        debit(_agent_cost_account(kind), amount, currency), credit(agent_account(agent_id), amount, currency)
    )


def agent_reversal(agent_id: str, kind: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """A refund took back part of an agent's earning: owed less, cost less."""
    return posting(
        debit(agent_account(agent_id), amount, currency), credit(_agent_cost_account(kind), amount, currency)
    )


def agent_payout(agent_id: str, amount: int, currency: str) -> tuple[Entry, ...]:
    """An agent's withdrawal paid out: owed less, the money gone out to them."""
    return posting(debit(agent_account(agent_id), amount, currency), credit(PAYOUTS, amount, currency))


def ledger_problems(
    unbalanced_transactions: Iterable[tuple[str, str, int]],
    thin_transactions: Iterable[str],
    balances: Mapping[tuple[str, str], int],
    wallets: Mapping[tuple[str, str], int],
) -> list[str]:
    """Why the ledger does not balance, in words; empty when it does.

    ``unbalanced_transactions``: (transaction id, currency, sum) whose sum is
    not zero; ``thin_transactions``: ids of transactions with fewer than two
    entries; ``balances``: {(account, currency): balance};
    ``wallets``: {(customer id, currency): wallet balance}.
    """
    problems = [
        f"transaction {tid} sums to {total} {currency}" for tid, currency, total in unbalanced_transactions
    ]
    problems += [f"transaction {tid} has fewer than two entries" for tid in thin_transactions]
    totals: defaultdict[str, int] = defaultdict(int)
    for (_account, currency), balance in balances.items():
        totals[currency] += balance
    problems += [
        f"all accounts in {currency} sum to {total}" for currency, total in sorted(totals.items()) if total
    ]
    for (customer_id, currency), balance in sorted(wallets.items()):
        if balance < 0:
            problems.append(f"wallet of {customer_id} is negative: {balance} {currency}")
        owed = -balances.get((wallet_account(customer_id), currency), 0)
        if owed != balance:
            problems.append(f"wallet of {customer_id} holds {balance} {currency} but the ledger owes {owed}")
    wallet_keys = set(wallets)
    for (account, currency), balance in sorted(balances.items()):
        if (
            account.startswith("wallet:")
            and balance
            and (account.removeprefix("wallet:"), currency) not in wallet_keys
        ):
            problems.append(f"ledger owes {-balance} {currency} on {account}, which has no wallet")
    return problems
