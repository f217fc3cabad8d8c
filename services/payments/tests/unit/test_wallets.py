"""Wallet top-ups through any channel, and a wallet's statement, on SQLite and PostgreSQL."""

import uuid

import pytest

from kameng_common.errors import InvalidInput
from payments import usecases


@pytest.fixture
def topup(any_db, providers):
    def create(method="mockpay", amount=5000, customer_id="buyer-1", key=None, currency="CNY"):
        return usecases.create_topup(
            any_db, providers, customer_id, amount, currency, method, key or str(uuid.uuid4())
        )

    return create


@pytest.fixture
def notify_topup(any_db, providers, signed_notification):
    def notify(intent, trade_no="TOP-1"):
        return usecases.handle_notification(
            any_db, providers, "mockpay", *signed_notification(intent, trade_no)
        )

    return notify


def test_a_topup_is_credited_to_the_wallet_once_its_notification_is_verified(
    any_db, topup, notify_topup, published
):
    intent = topup(amount=5000)
    assert intent["status"] == "pending" and intent["topup_id"]
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 0

    answer = notify_topup(intent)
    assert notify_topup(intent) == answer  # a replay credits nothing more

    statement = usecases.wallet_statement(any_db, "buyer-1")
    assert statement["balance"] == 5000
    [entry] = statement["entries"]
    assert (entry["amount"], entry["kind"]) == (5000, "topup")
    # a top-up pays for no order: orders hears nothing of it, and the audit sees no order's money
    assert published("payment.succeeded") == []
    assert usecases.audit_snapshot(any_db)["receipts"] == []
    assert usecases.check_ledger(any_db) == []


@pytest.mark.parametrize("provider", ["alipay", "wechat", "unionpay"])
def test_a_topup_through_a_real_provider_answers_where_to_pay(topup, provider):
    intent = topup(method=provider)
    assert intent["pay_url"] or intent["code_url"]


def test_a_topup_spent_on_an_order_leaves_the_rest(any_db, topup, notify_topup, open_intent):
    notify_topup(topup(amount=5000))
    open_intent(method="balance", amount=1200)
    statement = usecases.wallet_statement(any_db, "buyer-1")
    assert statement["balance"] == 3800
    assert [entry["amount"] for entry in statement["entries"]] == [-1200, 5000]
    assert [entry["kind"] for entry in statement["entries"]] == ["payment", "topup"]


def test_the_same_idempotency_key_opens_one_topup(any_db, topup):
    first = topup(key="k-1")
    assert topup(key="k-1") == first
    with pytest.raises(InvalidInput) as refused:
        topup(key="k-1", amount=9999)
    assert refused.value.code == "idempotency_key_reused"
    # another customer's same key is their own top-up
    assert topup(key="k-1", customer_id="buyer-2")["topup_id"] != first["topup_id"]


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"method": "balance"}, "invalid_method"),
        ({"method": "paypal"}, "invalid_input"),
        ({"amount": 0}, "invalid_input"),
        ({"amount": -5}, "invalid_input"),
        ({"amount": 10**13}, "invalid_input"),
        ({"key": ""}, "invalid_input"),
        ({"method": "alipay", "currency": "USD"}, "currency_unsupported"),
    ],
)
def test_a_bad_topup_is_refused_and_opens_nothing(any_db, providers, snapshot, changes, code):
    before = snapshot()
    changes = dict(changes)
    key = changes.pop("key", None)
    with pytest.raises(InvalidInput) as refused:
        usecases.create_topup(
            any_db,
            providers,
            "buyer-1",
            changes.get("amount", 5000),
            changes.get("currency", "CNY"),
            changes.get("method", "mockpay"),
            "k" if key is None else key,
        )
    assert refused.value.code == code
    assert snapshot() == before


def test_a_statement_pages_through_every_entry_newest_first(any_db, fund_wallet, open_intent):
    fund_wallet("buyer-1", 10000)
    for _ in range(4):
        open_intent(method="balance", amount=100)
    seen, cursor = [], None
    while True:
        page = usecases.wallet_statement(any_db, "buyer-1", limit=2, cursor=cursor)
        seen += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [entry["amount"] for entry in seen] == [-100, -100, -100, -100, 10000]
    assert page["balance"] == 9600


@pytest.mark.parametrize("cursor", ["abc", "-1", "0"])
def test_a_bad_cursor_is_refused(db, cursor):
    with pytest.raises(InvalidInput):
        usecases.wallet_statement(db, "buyer-1", cursor=cursor)
