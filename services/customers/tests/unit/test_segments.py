"""RFM scores, computed and hand-given tags, and the staff's customer list, on SQLite and PostgreSQL."""

import datetime
import uuid

import pytest
import sqlalchemy as sa

from customers import domain, schemas, segments, usecases
from customers.db import customer_stats
from kameng_common import contracts
from kameng_common.db import utcnow
from kameng_common.errors import InvalidInput, NotFound
from kameng_common.testing import deliver
from kameng_common.validation import load_or_invalid

PASSWORD = "s3cret-pass-phrase"
STAFF = "staff-1"


class Customers:
    def __init__(self, db, passwords):
        self.db = db
        self.passwords = passwords

    def register(self, username=None, region=None):
        username = username or f"c_{uuid.uuid4().hex[:12]}"
        return usecases.register(self.db, self.passwords, username, PASSWORD, region=region)["id"]

    def deliver(self, customer_id, total, orders=1):
        order_ids = []
        for _ in range(orders):
            order_id = str(uuid.uuid4())
            payload = {"order_id": order_id, "customer_id": customer_id, "total": total, "currency": "CNY"}
            event = contracts.load_event(contracts.new_event("order.delivered", payload, order_id))
            deliver(self.db, "customers", usecases.on_order_delivered, event, 3600)
            order_ids.append(order_id)
        return order_ids

    def refund(self, customer_id, order_id, amount):
        payload = {
            "payment_id": str(uuid.uuid4()),
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": amount,
            "currency": "CNY",
            "refund_id": str(uuid.uuid4()),
        }
        event = contracts.load_event(contracts.new_event("payment.refunded", payload, order_id))
        deliver(self.db, "customers", usecases.on_payment_refunded, event)

    def tags(self, customer_id, now=None):
        return segments.customer_detail(self.db, customer_id, now=now)["tags"]


def days_later(days):
    return utcnow() + datetime.timedelta(days=days)


@pytest.fixture
def customers(any_db, passwords):
    return Customers(any_db, passwords)


def activity(orders=0, spend=0, days_since_order=None, days_registered=400):
    return domain.Activity(orders, spend, days_since_order, days_registered)


@pytest.mark.parametrize(
    "facts, scores, tags",
    [
        (activity(), (0, 0, 0), []),
        (activity(days_registered=3), (0, 0, 0), ["new"]),
        (activity(1, 10_000, 1), (5, 1, 1), []),
        (activity(10, 400_000, 20), (4, 4, 4), ["high_value", "loyal"]),
        (activity(5, 50_000, 120), (2, 3, 2), ["at_risk"]),
        (activity(25, 2_000_000, 181), (1, 5, 5), ["high_value", "dormant"]),
        (activity(2, 20_000, 90), (3, 2, 2), []),
    ],
)
def test_scores_and_tags_follow_the_bounds(facts, scores, tags):
    assert tuple(domain.rfm_scores(facts).values()) == scores
    assert domain.computed_tags(facts) == tags


def test_a_customer_moves_through_the_tags_as_time_passes_and_refunds_come(customers):
    customer_id = customers.register()
    assert customers.tags(customer_id) == ["new"]

    order_ids = customers.deliver(customer_id, 40_000, orders=10)

    detail = segments.customer_detail(customers.db, customer_id)
    assert detail["rfm"] == {"recency": 5, "frequency": 4, "monetary": 4}
    assert detail["tags"] == ["new", "high_value", "loyal"]
    assert (detail["orders_count"], detail["total_spent"], detail["refunded"]) == (10, 400_000, 0)
    assert customers.tags(customer_id, now=days_later(100)) == ["high_value", "at_risk"]
    assert customers.tags(customer_id, now=days_later(200)) == ["high_value", "dormant"]

    customers.refund(customer_id, order_ids[0], 40_000)
    customers.refund(customer_id, order_ids[1], 20_000)
    customers.refund(customer_id, order_ids[1], 20_000)  # a second refund of one order counts too
    customers.refund(customer_id, order_ids[2], 20_001)

    detail = segments.customer_detail(customers.db, customer_id)
    assert detail["refunded"] == 100_001 and detail["rfm"]["monetary"] == 3
    assert detail["tags"] == ["new", "loyal"]


def test_the_list_filters_by_each_tag_exactly_as_the_customers_are_tagged(customers):
    idle = customers.register()
    once = customers.register()
    customers.deliver(once, 10_000)
    regular = customers.register()
    customers.deliver(regular, 30_000, orders=6)
    big = customers.register()
    customers.deliver(big, 500_000, orders=12)
    everyone = {idle, once, regular, big}

    for days in (0, 10, 31, 60, 100, 200):
        now = days_later(days)
        tagged = {customer_id: set(customers.tags(customer_id, now=now)) for customer_id in everyone}
        for tag in domain.COMPUTED_TAGS:
            listed = segments.list_customers(customers.db, tag=tag, now=now)["items"]
            expected = {customer_id for customer_id, tags in tagged.items() if tag in tags}
            assert {item["id"] for item in listed} == expected, (tag, days)
            assert all(tag in item["tags"] for item in listed)


def test_staff_tags_are_given_and_taken_once_and_filter_the_list(customers):
    customer_id = customers.register()
    other = customers.register()

    segments.add_tag(customers.db, customer_id, "wholesale", STAFF)
    detail = segments.add_tag(customers.db, customer_id, "wholesale", "staff-2")

    assert detail["tags"] == ["new", "wholesale"]
    assert [(tag["tag"], tag["added_by"]) for tag in detail["staff_tags"]] == [("wholesale", STAFF)]
    listed = segments.list_customers(customers.db, tag="wholesale")["items"]
    assert [item["id"] for item in listed] == [customer_id]
    assert {"tag": "wholesale", "kind": "staff", "description": None, "customers": 1} in segments.tag_counts(
        customers.db
    )["items"]

    segments.remove_tag(customers.db, customer_id, "wholesale")
    assert segments.remove_tag(customers.db, customer_id, "wholesale")["tags"] == ["new"]
    assert segments.list_customers(customers.db, tag="wholesale")["items"] == []
    assert segments.customers_by_tag(customers.db)["new"] == len({customer_id, other})


@pytest.mark.parametrize("tag, code", [("dormant", "tag_reserved"), ("Big Spender", "invalid_tag")])
def test_computed_and_malformed_tags_cannot_be_given_by_hand(customers, tag, code):
    customer_id = customers.register()
    with pytest.raises(InvalidInput) as refused:
        segments.add_tag(customers.db, customer_id, tag, STAFF)
    assert refused.value.code == code


def test_only_customers_can_be_tagged(customers):
    with pytest.raises(NotFound):
        segments.add_tag(customers.db, str(uuid.uuid4()), "wholesale", STAFF)
    with pytest.raises(NotFound):
        segments.customer_detail(customers.db, str(uuid.uuid4()))


def test_the_list_pages_newest_first_and_filters_by_level_and_name(customers):
    ids = [customers.register(f"shopper{index}") for index in range(5)]
    customers.register("someone")
    customers.deliver(ids[0], 150_000)  # vip

    first = segments.list_customers(customers.db, username="SHOP", limit=2)
    second = segments.list_customers(customers.db, username="shop", limit=2, cursor=first["next_cursor"])
    third = segments.list_customers(customers.db, username="shop", limit=2, cursor=second["next_cursor"])

    pages = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert pages == ids[::-1] and third["next_cursor"] is None
    assert [item["id"] for item in segments.list_customers(customers.db, level="vip")["items"]] == [ids[0]]


def test_a_customers_region_from_registration_shows_and_filters_the_list(customers):
    guangdong = customers.register(region="GD")
    beijing = customers.register(region="CN-BJ")
    unplaced = customers.register()

    regions = {item["id"]: item["region"] for item in segments.list_customers(customers.db)["items"]}
    assert regions == {guangdong: "GD", beijing: "CN-BJ", unplaced: None}
    assert segments.customer_detail(customers.db, beijing)["region"] == "CN-BJ"
    query = load_or_invalid(schemas.CustomerQuery, {"region": " gd"})
    assert [item["id"] for item in segments.list_customers(customers.db, **query)["items"]] == [guangdong]
    with customers.db.reading() as session:
        assert set(session.execute(segments.with_segment("region:CN-BJ", utcnow())).scalars()) == {beijing}
        assert segments.segments_of_customer(session, guangdong, utcnow()) == {"new", "region:GD"}
        assert segments.segments_of_customer(session, str(uuid.uuid4()), utcnow()) == set()


@pytest.mark.parametrize("region", ["XX", "广东", "GD, BJ", "", "A" * 17])
def test_a_region_that_is_no_code_is_refused_at_registration_and_in_the_filter(region):
    registration = {"username": "alice", "password": PASSWORD, "region": region}
    with pytest.raises(InvalidInput):
        load_or_invalid(schemas.Registration, registration)
    with pytest.raises(InvalidInput):
        load_or_invalid(schemas.CustomerQuery, {"region": region})


def test_a_malformed_cursor_is_refused(customers):
    with pytest.raises(InvalidInput):
        segments.list_customers(customers.db, cursor="yesterday|x")


def test_the_audit_finds_stats_that_differ_from_the_orders_counted(customers):
    customer_id = customers.register()
    order_id = customers.deliver(customer_id, 10_000)[0]
    customers.refund(customer_id, order_id, 2_500)
    assert usecases.audit_snapshot(customers.db)["stats_mismatches"] == []

    with customers.db.unit_of_work() as uow:
        uow.execute(
            customer_stats.update()
            .where(customer_stats.c.customer_id == customer_id)
            .values(total_spent=sa.literal(1))
        )

    assert usecases.audit_snapshot(customers.db)["stats_mismatches"] == [
        {
            "customer_id": customer_id,
            "held": {"orders_count": 1, "total_spent": 1, "refunded": 2_500},
            "counted": {"orders_count": 1, "total_spent": 10_000, "refunded": 2_500},
        }
    ]
