"""What depends on the SQL dialect and on concurrency, on SQLite and PostgreSQL alike."""

import json
import uuid

import eventlet
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from eventlet import tpool

from customers import agents, credentials, segments, usecases
from customers.db import accounts, metadata
from customers.passwords import Passwords
from kameng_common import contracts
from kameng_common.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from kameng_common.testing import deliver

PASSWORD = "s3cret-pass-phrase"
NEW = "another-long-phrase-42"


@pytest.fixture
def shared_db(make_database, database_url):
    """The service's tables as its migrations build them, on SQLite and on PostgreSQL."""
    return make_database(metadata, database_url, migrate="customers")


def test_migrations_build_exactly_the_tables_of_the_metadata(shared_db):
    with shared_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_concurrent_registrations_of_one_name_make_one_account(shared_db, argon2_parameters):
    # hashing in real threads, as the service does, lets every registration pass the
    # early "is the name free?" check before any of them inserts
    passwords = Passwords(**argon2_parameters, offload=tpool.execute)
    spellings = ["racer", "Racer", "RACER", "rAcEr", "raceR", "RaCeR"]

    def register(username):
        try:
            return usecases.register(shared_db, passwords, username, PASSWORD)
        except Conflict as exc:
            return exc

    outcomes = list(eventlet.GreenPool(len(spellings)).imap(register, spellings))

    registered = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(registered) == 1 and len(refused) == len(spellings) - 1
    assert {exc.code for exc in refused} == {"username_taken"}
    with shared_db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one() == 1


def test_concurrent_ensure_admin_creates_one_admin(shared_db, argon2_parameters):
    passwords = Passwords(**argon2_parameters, offload=tpool.execute)

    outcomes = list(
        eventlet.GreenPool(4).imap(
            lambda _: usecases.ensure_admin(shared_db, passwords, "root", PASSWORD), range(4)
        )
    )

    assert sorted(outcome["created"] for outcome in outcomes) == [False, False, False, True]


def _deliver(db, event):
    """Handle an event as the reliable handler would: a handler that lost a race is redelivered."""
    for _attempt in range(5):
        try:
            return deliver(db, "customers", usecases.on_order_delivered, event, 60)
        except sa.exc.IntegrityError:
            eventlet.sleep(0.01)
    raise AssertionError("event never handled")


def test_concurrent_deliveries_and_duplicates_add_up_exactly(shared_db, passwords):
    customer = usecases.register(shared_db, passwords, "alice", PASSWORD)
    events = []
    for _ in range(12):
        order_id = str(uuid.uuid4())
        payload = {"order_id": order_id, "customer_id": customer["id"], "total": 10_000, "currency": "CNY"}
        first = contracts.load_event(contracts.new_event("order.delivered", payload, order_id))
        # the same event twice, and the same order under a second event id
        events += [
            first,
            first,
            contracts.load_event(contracts.new_event("order.delivered", payload, order_id)),
        ]

    list(eventlet.GreenPool(16).imap(lambda event: _deliver(shared_db, event), events))

    stats = usecases.get_customer(shared_db, customer["id"])
    assert (stats["orders_count"], stats["total_spent"], stats["level"]) == (12, 120_000, "vip")


def test_concurrent_deliveries_of_shop_sales_credit_each_markup_once(shared_db, passwords):
    agent_customer = usecases.register(shared_db, passwords, "shopkeeper", PASSWORD)
    agent = agents.make_agent(shared_db, agent_customer["id"])
    buyer = usecases.register(shared_db, passwords, "shopper", PASSWORD)
    events = []
    for _ in range(8):
        order_id = str(uuid.uuid4())
        payload = {
            "order_id": order_id,
            "customer_id": buyer["id"],
            "total": 11_000,
            "currency": "CNY",
            "shop": {"slug": "lucky", "agent_id": agent["agent_id"], "markup": 1_000},
        }
        first = contracts.load_event(contracts.new_event("order.delivered", payload, order_id))
        events += [
            first,
            first,
            contracts.load_event(contracts.new_event("order.delivered", payload, order_id)),
        ]

    list(eventlet.GreenPool(16).imap(lambda event: _deliver(shared_db, event), events))

    earnings = agents.earnings(shared_db, agent_customer["id"])
    assert earnings["pending"] == 8_000 and len(earnings["entries"]) == 8
    facts = usecases.audit_snapshot(shared_db)["agents"]
    assert len(facts["markups"]) == 8 and facts["commissions_twice"] == []
    assert facts["balance_mismatches"] == []


def test_concurrent_withdrawals_never_take_more_than_is_available(shared_db, passwords):
    agent_customer = usecases.register(shared_db, passwords, "agent", PASSWORD)
    agent = agents.make_agent(shared_db, agent_customer["id"])
    buyer = usecases.register(shared_db, passwords, "buyer", PASSWORD, invite_code=agent["invite_code"])
    agents.set_commission_plan(shared_db, [1000])
    order_id = str(uuid.uuid4())
    payload = {"order_id": order_id, "customer_id": buyer["id"], "total": 10_000, "currency": "CNY"}
    deliver(
        shared_db,
        "customers",
        usecases.on_order_delivered,
        contracts.load_event(contracts.new_event("order.delivered", payload, order_id)),
        0,
    )

    def withdraw(_):
        try:
            return agents.request_withdrawal(shared_db, agent_customer["id"], 300, "bank:1")
        except InvalidInput as exc:
            return exc

    outcomes = list(eventlet.GreenPool(10).imap(withdraw, range(10)))

    assert sum(isinstance(outcome, dict) for outcome in outcomes) == 3
    assert {outcome.code for outcome in outcomes if isinstance(outcome, InvalidInput)} == {
        "withdrawal_exceeds_available"
    }
    earnings = agents.earnings(shared_db, agent_customer["id"])
    assert (earnings["available"], earnings["requested"]) == (100, 900)
    assert json.loads(json.dumps(earnings)) == earnings  # an RPC answer: plain JSON, no Decimal


def _refund(db, event):
    for _attempt in range(5):
        try:
            return deliver(db, "customers", usecases.on_payment_refunded, event)
        except sa.exc.IntegrityError:
            eventlet.sleep(0.01)
    raise AssertionError("event never handled")


def test_concurrent_refunds_and_duplicates_count_once_each(shared_db, passwords):
    customer = usecases.register(shared_db, passwords, "bob", PASSWORD)
    order_ids = [str(uuid.uuid4()) for _ in range(6)]
    for order_id in order_ids:
        payload = {"order_id": order_id, "customer_id": customer["id"], "total": 10_000, "currency": "CNY"}
        _deliver(shared_db, contracts.load_event(contracts.new_event("order.delivered", payload, order_id)))
    events = []
    for order_id in order_ids:
        for _ in range(2):  # two partial refunds of each order, each event delivered twice
            payload = {
                "payment_id": "p-" + order_id,
                "order_id": order_id,
                "customer_id": customer["id"],
                "amount": 3_000,
                "currency": "CNY",
                "refund_id": str(uuid.uuid4()),
            }
            event = contracts.load_event(contracts.new_event("payment.refunded", payload, order_id))
            events += [event, event]

    list(eventlet.GreenPool(16).imap(lambda event: _refund(shared_db, event), events))

    detail = segments.customer_detail(shared_db, customer["id"])
    assert (detail["orders_count"], detail["total_spent"], detail["refunded"]) == (6, 60_000, 36_000)
    assert usecases.audit_snapshot(shared_db)["stats_mismatches"] == []


def test_concurrent_staff_give_a_tag_once(shared_db, passwords):
    customer = usecases.register(shared_db, passwords, "carol", PASSWORD)

    def tag(staff_id):
        return segments.add_tag(shared_db, customer["id"], "reseller", staff_id)

    outcomes = list(eventlet.GreenPool(6).imap(tag, [f"staff-{index}" for index in range(6)]))

    assert all(outcome["tags"] == ["new", "reseller"] for outcome in outcomes)
    assert len(segments.customer_detail(shared_db, customer["id"])["staff_tags"]) == 1


def test_two_admins_disabling_each_other_at_once_leave_one(shared_db, argon2_parameters):
    passwords = Passwords(**argon2_parameters, offload=tpool.execute)
    ann = usecases.create_staff(shared_db, passwords, "ann", PASSWORD, "admin")
    bob = usecases.create_staff(shared_db, passwords, "bob", PASSWORD, "admin")

    def disable(pair):
        target, actor = pair
        try:
            return credentials.set_disabled(shared_db, target["id"], True, actor["id"])
        except Conflict as exc:
            return exc

    outcomes = list(eventlet.GreenPool(2).imap(disable, [(ann, bob), (bob, ann)] * 3))

    assert sum(isinstance(outcome, dict) for outcome in outcomes) >= 1
    assert {exc.code for exc in outcomes if isinstance(exc, Conflict)} <= {"last_admin"}
    with shared_db.reading() as session:
        assert credentials.enabled_admins(session) == 1


def test_a_sign_in_racing_a_password_change_never_gets_a_lasting_token(shared_db, argon2_parameters):
    # hashing in real threads lets the sign-ins verify the old password while the change commits
    passwords = Passwords(**argon2_parameters, offload=tpool.execute)
    alice = usecases.register(shared_db, passwords, "alice", PASSWORD)

    def attempt(n):
        try:
            if n == 0:
                return (
                    "changed",
                    credentials.change_password(shared_db, passwords, alice["id"], PASSWORD, NEW),
                )
            return ("signed_in", usecases.authenticate(shared_db, passwords, "alice", PASSWORD))
        except (Unauthorized, Conflict, Forbidden) as exc:
            return ("refused", exc)

    outcomes = list(eventlet.GreenPool(8).imap(attempt, range(8)))

    changed = [answer for kind, answer in outcomes if kind == "changed"]
    assert len(changed) == 1
    # a token issued on the old password carries a version the change has superseded
    assert all(
        answer["token_version"] < changed[0]["token_version"]
        for kind, answer in outcomes
        if kind == "signed_in"
    )
    assert (
        usecases.authenticate(shared_db, passwords, "alice", NEW)["token_version"]
        == changed[0]["token_version"]
    )


def test_of_two_password_changes_at_once_one_wins(shared_db, argon2_parameters):
    passwords = Passwords(**argon2_parameters, offload=tpool.execute)
    alice = usecases.register(shared_db, passwords, "alice", PASSWORD)

    def change(new_password):
        try:
            return credentials.change_password(shared_db, passwords, alice["id"], PASSWORD, new_password)
        except (Conflict, Forbidden) as exc:
            return exc

    outcomes = list(eventlet.GreenPool(4).imap(change, [f"{NEW}-{n}" for n in range(4)]))

    assert sum(isinstance(outcome, dict) for outcome in outcomes) == 1
    assert {exc.code for exc in outcomes if not isinstance(exc, dict)} <= {
        "password_changed_meanwhile",
        "wrong_password",
    }
    assert credentials.account_state(shared_db, alice["id"])["token_version"] == 1
