"""An order refunded in full gives back its cards, as the shop's card refund policy says."""

import os
import subprocess
import sys

import pytest

from inventory import catalogue, domain, refunds, usecases
from inventory.domain import REFUNDED, SOLD, VOID
from kameng_common.errors import Conflict
from kameng_common.testing import deliver


def _refunded(shop, make_event, order_id, in_full=True, refund_id="r1"):
    handled = make_event(
        "payment.refunded",
        {
            "payment_id": f"pay-{order_id}",
            "order_id": order_id,
            "customer_id": "c1",
            "amount": 1000,
            "currency": "CNY",
            "refund_id": refund_id,
            "order_refunded_in_full": in_full,
        },
    )
    deliver(shop.db, "inventory", usecases.on_payment_refunded, handled)
    return handled


def _states(shop, product_id):
    return {card["id"]: card["state"] for card in catalogue.list_cards(shop.db, product_id)["items"]}


@pytest.fixture
def policy(monkeypatch):
    def set_policy(value):
        monkeypatch.setenv(refunds.POLICY_ENV, value)

    return set_policy


def test_by_default_a_full_refund_marks_the_cards_refunded_and_the_buyer_still_reads_them(
    any_shop, make_event, monkeypatch
):
    monkeypatch.delenv(refunds.POLICY_ENV, raising=False)
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    sold = any_shop.cards_of("o1", SOLD)
    _refunded(any_shop, make_event, "o1")
    assert any_shop.cards_of("o1", REFUNDED) == sold
    assert any_shop.published("cards.refunded") == [
        {"order_id": "o1", "card_ids": sold, "policy": domain.MARK_REFUNDED}
    ]
    listed = catalogue.list_cards(any_shop.db, product, state=REFUNDED)["items"]
    assert [card["id"] for card in listed] == sold
    assert all(card["order_id"] == "o1" and card["refunded_at"] for card in listed)
    assert len(usecases.reveal_cards(any_shop.db, any_shop.keyring, "o1", "c1")) == 2
    assert any_shop.available(product) == 1  # never sold again


def test_the_void_policy_voids_the_cards_keeping_their_order_and_hides_them_from_the_buyer(
    any_shop, make_event, policy
):
    policy("void")
    product = any_shop.product(cards=2)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    sold = any_shop.cards_of("o1", SOLD)
    _refunded(any_shop, make_event, "o1")
    assert any_shop.cards_of("o1", VOID) == sold
    assert any_shop.published("cards.refunded")[0]["policy"] == domain.VOID_CARDS
    assert usecases.reveal_cards(any_shop.db, any_shop.keyring, "o1", "c1") == []
    assert any_shop.available(product) == 0


def test_a_refund_in_part_leaves_the_cards_sold(any_shop, make_event):
    product = any_shop.product(cards=2)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    _refunded(any_shop, make_event, "o1", in_full=False)
    assert len(any_shop.cards_of("o1", SOLD)) == 2
    assert any_shop.published("cards.refunded") == []


def test_the_cards_are_given_back_once_however_often_the_refunds_come(any_shop, make_event):
    product = any_shop.product(cards=2)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    again = _refunded(any_shop, make_event, "o1")
    deliver(any_shop.db, "inventory", usecases.on_payment_refunded, again)  # redelivered
    _refunded(any_shop, make_event, "o1", refund_id="r2")  # another refund saying so
    assert len(any_shop.cards_of("o1", REFUNDED)) == 2
    assert len(any_shop.published("cards.refunded")) == 1


def test_an_order_refunded_before_its_sale_gives_its_cards_back_once_sold(any_shop, make_event):
    product = any_shop.product(cards=2)
    any_shop.created("o1", (product, 2))
    _refunded(any_shop, make_event, "o1")
    any_shop.paid("o1", (product, 2))
    assert len(any_shop.cards_of("o1", REFUNDED)) == 2
    assert any_shop.cards_of("o1", SOLD) == []


def test_staff_may_not_void_a_refunded_card(shop, make_event):
    product = shop.product(cards=1)
    shop.created("o1", (product, 1))
    shop.paid("o1", (product, 1))
    _refunded(shop, make_event, "o1")
    [card_id] = shop.cards_of("o1")
    with pytest.raises(Conflict):
        catalogue.void_card(shop.db, card_id)
    assert _states(shop, product) == {card_id: REFUNDED}


def test_the_audit_snapshot_lists_the_given_back_cards_apart_from_the_sold(any_shop, make_event):
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    any_shop.created("o2", (product, 1))
    any_shop.paid("o2", (product, 1))
    _refunded(any_shop, make_event, "o1")
    snapshot = usecases.audit_snapshot(any_shop.db)
    assert snapshot["given_back"] == {"o1": {"cards": {str(product): 2}}}
    assert set(snapshot["sold"]) == {"o2"}
    assert snapshot["cards"][REFUNDED] == 2


def test_an_unknown_policy_is_refused_and_moves_nothing(shop, make_event, policy):
    policy("shred")
    product = shop.product(cards=1)
    shop.created("o1", (product, 1))
    shop.paid("o1", (product, 1))
    with pytest.raises(ValueError, match="KAMENG_REFUND_CARD_POLICY"):
        _refunded(shop, make_event, "o1")
    assert len(shop.cards_of("o1", SOLD)) == 1


def test_refunds_racing_the_sale_leave_no_card_sold(any_shop, make_event, racing):
    """The full refund and the payment's sale of ten orders, all at once, on SQLite and PostgreSQL."""
    product = any_shop.product(cards=10)
    for number in range(10):
        any_shop.created(f"o{number}", (product, 1))
    paid = [any_shop.paid_event(f"o{number}", (product, 1)) for number in range(10)]
    refunded = [
        make_event(
            "payment.refunded",
            {
                "payment_id": f"pay-o{number}",
                "order_id": f"o{number}",
                "customer_id": "c1",
                "amount": 1000,
                "currency": "CNY",
                "refund_id": f"r{number}",
                "order_refunded_in_full": True,
            },
        )
        for number in range(10)
    ]
    handlers = {"order.paid": usecases.on_order_paid, "payment.refunded": usecases.on_payment_refunded}
    racing(
        lambda event: deliver(any_shop.db, "inventory", handlers[event["type"]], event),
        [event for pair in zip(paid, refunded, strict=True) for event in pair],
    )
    for number in range(10):
        assert len(any_shop.cards_of(f"o{number}", REFUNDED)) == 1
    assert len(any_shop.published("cards.refunded")) == 10


def test_an_unknown_policy_stops_the_service_at_start_in_one_line_naming_the_setting(tmp_path):
    env = {**os.environ, "KAMENG_DATA_DIR": str(tmp_path), "KAMENG_REFUND_CARD_POLICY": "bogus"}

    started = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "inventory"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        "inventory: KAMENG_REFUND_CARD_POLICY must be one of void, mark_refunded, not 'bogus'"
    )
