"""After-sales tickets: a buyer asks, staff comment, approve (opening one refund) or reject."""

import uuid

import eventlet
import pytest

from kameng_common.errors import Conflict, InvalidInput, NotFound
from payments import aftersales, usecases


@pytest.fixture
def ask(any_db):
    def open_ticket(order_id, customer_id="buyer-1", reason="the card was already used"):
        ticket, _created = aftersales.open_refund_request(any_db, order_id, customer_id, reason)
        return ticket

    return open_ticket


@pytest.fixture
def decide(any_db, providers):
    def decide_ticket(ticket, decision="approve", amount=None, to="wallet", actor="finance-1"):
        return aftersales.decide_refund_request(
            any_db, providers, ticket["id"], decision, "checked with the supplier", actor, amount, to
        )

    return decide_ticket


def test_a_buyer_opens_a_ticket_on_a_paid_order_and_risk_and_orders_hear_of_it(paid_order, ask, published):
    order_id = paid_order(1500)
    ticket = ask(order_id)
    assert (ticket["status"], ticket["order_id"], ticket["reason"]) == (
        "open",
        order_id,
        "the card was already used",
    )
    assert published("refund_request.opened") == [
        {
            "request_id": ticket["id"],
            "order_id": order_id,
            "customer_id": "buyer-1",
            "reason": "the card was already used",
        }
    ]
    assert published("refund.issued") == []


def test_the_same_request_again_is_the_same_ticket_and_another_reason_is_409(any_db, paid_order, ask):
    order_id = paid_order()
    ticket = ask(order_id)
    again, created = aftersales.open_refund_request(any_db, order_id, "buyer-1", "the card was already used")
    assert (again, created) == (ticket, False)
    with pytest.raises(Conflict) as refused:
        ask(order_id, reason="something else")
    assert refused.value.code == "refund_request_open"


def test_someone_elses_order_is_unknown_and_an_unpaid_one_has_nothing_to_ask(
    any_db, paid_order, open_intent, ask, snapshot
):
    order_id = paid_order(customer_id="buyer-1")
    unpaid = str(uuid.uuid4())
    open_intent(order_id=unpaid)
    before = snapshot()
    with pytest.raises(NotFound):
        ask(order_id, customer_id="buyer-2")
    with pytest.raises(NotFound):
        ask(str(uuid.uuid4()))
    with pytest.raises(InvalidInput) as refused:
        ask(unpaid)
    assert refused.value.code == "not_paid"
    with pytest.raises(InvalidInput):
        ask(order_id, reason="")
    assert snapshot() == before


def test_an_approval_opens_one_refund_and_a_repeat_changes_nothing(
    any_db, paid_order, ask, decide, published
):
    order_id = paid_order(1500)
    ticket = ask(order_id)
    approved = decide(ticket, amount=500)
    assert approved["status"] == "approved"
    assert approved["decided_by"] == "finance-1"
    refund = usecases.get_refund(any_db, approved["refund_id"])
    assert (refund["amount"], refund["to"], refund["status"], refund["order_id"]) == (
        500,
        "wallet",
        "succeeded",
        order_id,
    )
    assert decide(ticket, amount=500) == approved
    with pytest.raises(Conflict) as refused:
        decide(ticket, "reject")
    assert refused.value.code == "already_decided"
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 500
    assert [event["decision"] for event in published("refund_request.decided")] == ["approve"]
    assert [(event["refund_id"], event["amount"]) for event in published("refund.issued")] == [
        (approved["refund_id"], 500)
    ]
    snapshot = usecases.audit_snapshot(any_db)
    assert snapshot["refund_requests"] == [
        {
            "request_id": ticket["id"],
            "order_id": order_id,
            "status": "approved",
            "refund_id": approved["refund_id"],
            "refund_matches": True,
        }
    ]
    assert usecases.check_ledger(any_db) == []


def test_a_rejection_refunds_nothing_and_a_new_ticket_may_follow(any_db, paid_order, ask, decide, published):
    order_id = paid_order(1500)
    rejected = decide(ask(order_id), "reject")
    assert (rejected["status"], rejected["refund_id"]) == ("rejected", None)
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 0
    assert published("refund.issued") == []
    second = ask(order_id, reason="still broken")
    assert second["id"] != rejected["id"]


def test_an_approval_above_what_is_left_is_422_and_leaves_the_ticket_open(
    any_db, paid_order, ask, decide, snapshot
):
    order_id = paid_order(1500)
    ticket = ask(order_id)
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        decide(ticket, amount=1501)
    assert refused.value.code == "refund_exceeds_paid"
    with pytest.raises(InvalidInput) as refused:
        decide(ticket, to="original")  # mockpay gives back to the wallet only
    assert refused.value.code == "refund_channel_unavailable"
    assert snapshot() == before
    assert aftersales.get_refund_request(any_db, ticket["id"])["status"] == "open"


def test_an_order_refunded_in_full_takes_no_ticket(any_db, providers, paid_order, ask):
    order_id = paid_order(1500)
    usecases.refund_order(any_db, providers, order_id, None, "wallet", "faulty", "k-1", "staff-1")
    with pytest.raises(InvalidInput) as refused:
        ask(order_id)
    assert refused.value.code == "nothing_to_refund"


def test_staff_comments_are_kept_in_order_and_listed_with_the_ticket(any_db, paid_order, ask):
    ticket = ask(paid_order())
    aftersales.comment_refund_request(any_db, ticket["id"], "support-1", "asked the buyer for a screenshot")
    commented = aftersales.comment_refund_request(any_db, ticket["id"], "finance-1", "supplier confirms")
    assert [(c["author"], c["text"]) for c in commented["comments"]] == [
        ("support-1", "asked the buyer for a screenshot"),
        ("finance-1", "supplier confirms"),
    ]
    page = aftersales.list_refund_requests(any_db, status="open")
    assert [item["id"] for item in page["items"]] == [ticket["id"]]
    assert page["items"][0]["comments"] == commented["comments"]
    with pytest.raises(NotFound):
        aftersales.comment_refund_request(any_db, str(uuid.uuid4()), "support-1", "lost")


def test_the_queue_is_newest_first_and_pages(any_db, paid_order, ask, decide):
    tickets = [ask(paid_order()) for _ in range(3)]
    decide(tickets[0], "reject")
    page = aftersales.list_refund_requests(any_db, limit=2)
    assert [item["id"] for item in page["items"]] == [tickets[2]["id"], tickets[1]["id"]]
    rest = aftersales.list_refund_requests(any_db, limit=2, cursor=int(page["next_cursor"]))
    assert ([item["id"] for item in rest["items"]], rest["next_cursor"]) == ([tickets[0]["id"]], None)
    assert aftersales.request_counts(any_db) == {"open": 2, "rejected": 1}
    with pytest.raises(InvalidInput):
        aftersales.list_refund_requests(any_db, status="lost")


def test_concurrent_tickets_on_one_order_make_one(any_db, paid_order):
    order_id = paid_order()
    start = eventlet.event.Event()

    def open_one(_):
        start.wait()
        ticket, _created = aftersales.open_refund_request(any_db, order_id, "buyer-1", "broken")
        return ticket["id"]

    pool = eventlet.GreenPool(10)
    ids = pool.imap(open_one, range(10))
    eventlet.sleep(0)
    start.send()
    assert len(set(ids)) == 1


def test_concurrent_approvals_and_staff_refunds_never_give_back_more_than_paid(
    any_db, providers, paid_order, ask, decide
):
    order_id = paid_order(1500)
    ticket = ask(order_id)
    start = eventlet.event.Event()

    def act(n):
        start.wait()
        try:
            if n % 2:
                return decide(ticket, amount=1000)["status"]
            return usecases.refund_order(
                any_db, providers, order_id, 1000, "wallet", "by hand", f"k-{n}", "staff-1"
            )["status"]
        except (InvalidInput, Conflict) as refused:
            return refused.code

    pool = eventlet.GreenPool(10)
    outcomes = pool.imap(act, range(10))
    eventlet.sleep(0)
    start.send()
    outcomes = list(outcomes)
    assert set(outcomes) <= {"approved", "succeeded", "refund_exceeds_paid"}
    # 1,000 of 1,500 given back once: whichever came first, the others found 500 left
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1000
    assert usecases.check_ledger(any_db) == []
