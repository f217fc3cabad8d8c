import datetime
import json
import logging
import uuid

import pytest
import sqlalchemy as sa

from customers import usecases
from customers.db import accounts, customer_stats
from customers.passwords import Passwords
from kameng_common import contracts
from kameng_common.errors import Conflict, InvalidInput, NotFound, Unauthorized
from kameng_common.testing import deliver

PASSWORD = "s3cret-pass-phrase"


def delivered(customer_id, total, order_id=None, currency="CNY"):
    order_id = order_id or str(uuid.uuid4())
    return contracts.load_event(
        contracts.new_event(
            "order.delivered",
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "total": total,
                "currency": currency,
            },
            order_id,
        )
    )


def stored_hash(db, username):
    with db.reading() as session:
        return session.execute(
            sa.select(accounts.c.password_hash).where(accounts.c.username == username)
        ).scalar_one()


def test_register_makes_a_regular_customer(db, passwords):
    customer = usecases.register(db, passwords, "Alice", PASSWORD)

    assert customer == {"id": customer["id"], "username": "Alice", "kind": "customer", "level": "regular"}
    assert uuid.UUID(customer["id"]).version == 4
    assert usecases.get_customer(db, customer["id"]) == {
        "id": customer["id"],
        "username": "Alice",
        "level": "regular",
        "orders_count": 0,
        "total_spent": 0,
    }
    assert stored_hash(db, "Alice").startswith("$argon2id$")


def test_a_username_is_taken_whatever_its_case(db, passwords):
    usecases.register(db, passwords, "Alice", PASSWORD)

    with pytest.raises(Conflict) as taken:
        usecases.register(db, passwords, "aLiCe", "another-s3cret-phrase")
    assert taken.value.code == "username_taken"


def test_staff_and_customers_share_the_username_space(db, passwords):
    usecases.create_staff(db, passwords, "Bob", PASSWORD, "ops")

    with pytest.raises(Conflict) as taken:
        usecases.register(db, passwords, "bob", PASSWORD)
    assert taken.value.code == "username_taken"
    usecases.register(db, passwords, "carol", PASSWORD)
    with pytest.raises(Conflict):
        usecases.create_staff(db, passwords, "CAROL", PASSWORD, "support")


@pytest.mark.parametrize("create", [usecases.register, lambda *args: usecases.create_staff(*args, "ops")])
def test_a_weak_password_is_refused_and_no_account_made(db, passwords, create):
    with pytest.raises(InvalidInput) as refused:
        create(db, passwords, "dave", "dave12345")

    assert refused.value.code == "weak_password"
    with pytest.raises(Unauthorized):
        usecases.authenticate(db, passwords, "dave", "dave12345")


def test_authenticate_a_customer_under_any_case_of_the_name(db, passwords):
    customer = usecases.register(db, passwords, "Alice", PASSWORD)

    assert usecases.authenticate(db, passwords, "ALICE", PASSWORD) == {
        "id": customer["id"],
        "username": "Alice",
        "kind": "customer",
        "role": None,
        "level": "regular",
        "token_version": 0,
    }


def published(db):
    outbox = db.tables["outbox"]
    with db.reading() as session:
        bodies = session.execute(sa.select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
    return [(body["type"], body["payload"]) for body in map(json.loads, bodies)]


def test_a_customers_sign_in_is_published_with_its_network_never_its_address(db, passwords):
    customer = usecases.register(db, passwords, "Alice", PASSWORD)
    staff = usecases.create_staff(db, passwords, "Fin", PASSWORD, "finance")

    usecases.authenticate(db, passwords, "alice", PASSWORD, client_ip="203.0.113.77")
    usecases.authenticate(db, passwords, "alice", PASSWORD)  # no address: nothing to tell
    usecases.authenticate(db, passwords, "fin", PASSWORD, client_ip="203.0.113.77")  # staff: not risk's
    with pytest.raises(Unauthorized):
        usecases.authenticate(db, passwords, "alice", "wrong password", client_ip="203.0.113.77")

    [(event_type, payload)] = published(db)
    assert event_type == "customer.signed_in"
    assert payload["customer_id"] == customer["id"] != staff["id"]
    assert payload["network"] == "203.0.113.0/24"
    assert "203.0.113.77" not in json.dumps(payload)
    assert datetime.datetime.fromisoformat(payload["registered_at"]) <= datetime.datetime.fromisoformat(
        payload["signed_in_at"]
    )


def test_authenticate_staff(db, passwords):
    staff = usecases.create_staff(db, passwords, "Fin", PASSWORD, "finance")

    assert staff == {"id": staff["id"], "username": "Fin", "kind": "staff", "role": "finance"}
    assert usecases.authenticate(db, passwords, "fin", PASSWORD) == {
        "id": staff["id"],
        "username": "Fin",
        "kind": "staff",
        "role": "finance",
        "level": None,
        "token_version": 0,
    }


@pytest.mark.parametrize(
    "username, password",
    [
        ("alice", "wrong-password"),  # a wrong password
        ("nobody", PASSWORD),  # an unknown user
        ("no such name!", PASSWORD),  # a name that could never be registered
    ],
)
def test_bad_credentials_all_get_the_same_answer(db, passwords, username, password):
    usecases.register(db, passwords, "alice", PASSWORD)

    with pytest.raises(Unauthorized) as refused:
        usecases.authenticate(db, passwords, username, password)
    assert refused.value.code == "invalid_credentials"
    assert refused.value.message == usecases.INVALID_CREDENTIALS


def test_an_unknown_user_costs_a_password_verification(db, argon2_parameters):
    verified = []

    def offload(function, *args):
        verified.append(function.__name__)
        return function(*args)

    passwords = Passwords(**argon2_parameters, offload=offload)
    with pytest.raises(Unauthorized):
        usecases.authenticate(db, passwords, "nobody", PASSWORD)
    assert "verify" in verified


def test_login_rehashes_a_password_hashed_under_old_parameters(db, passwords, argon2_parameters):
    usecases.register(db, passwords, "alice", PASSWORD)
    old_hash = stored_hash(db, "alice")
    stronger = Passwords(**{**argon2_parameters, "time_cost": 2})

    usecases.authenticate(db, stronger, "alice", PASSWORD)

    new_hash = stored_hash(db, "alice")
    assert new_hash != old_hash and not stronger.needs_rehash(new_hash)
    usecases.authenticate(db, stronger, "alice", PASSWORD)
    assert stored_hash(db, "alice") == new_hash  # under current parameters: left alone


def test_a_failed_login_never_rehashes(db, passwords, argon2_parameters):
    usecases.register(db, passwords, "alice", PASSWORD)
    old_hash = stored_hash(db, "alice")

    with pytest.raises(Unauthorized):
        usecases.authenticate(
            db, Passwords(**{**argon2_parameters, "time_cost": 2}), "alice", "wrong-password"
        )
    assert stored_hash(db, "alice") == old_hash


def test_ensure_admin_creates_the_first_admin_only(db, passwords):
    assert usecases.ensure_admin(db, passwords, "root", PASSWORD) == {"created": True}
    assert usecases.ensure_admin(db, passwords, "root", PASSWORD) == {"created": False}
    assert usecases.ensure_admin(db, passwords, "another-root", PASSWORD) == {"created": False}

    assert usecases.authenticate(db, passwords, "root", PASSWORD)["role"] == "admin"
    with pytest.raises(Unauthorized):
        usecases.authenticate(db, passwords, "another-root", PASSWORD)


def test_ensure_admin_counts_an_admin_made_by_create_staff(db, passwords):
    usecases.create_staff(db, passwords, "boss", PASSWORD, "admin")

    assert usecases.ensure_admin(db, passwords, "root", PASSWORD) == {"created": False}


def test_ensure_admin_does_not_take_over_a_customer_name(db, passwords):
    usecases.register(db, passwords, "root", PASSWORD)

    with pytest.raises(Conflict):
        usecases.ensure_admin(db, passwords, "ROOT", PASSWORD)
    assert usecases.authenticate(db, passwords, "root", PASSWORD)["kind"] == "customer"


def test_get_customer_knows_only_customers(db, passwords):
    staff = usecases.create_staff(db, passwords, "sup", PASSWORD, "support")

    with pytest.raises(NotFound):
        usecases.get_customer(db, staff["id"])
    with pytest.raises(NotFound):
        usecases.get_customer(db, str(uuid.uuid4()))


def test_a_delivered_order_counts_toward_stats_and_level(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)

    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 60_000), 60)
    assert usecases.get_customer(db, customer["id"])["level"] == "regular"
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 40_000), 60)

    stats = usecases.get_customer(db, customer["id"])
    assert (stats["orders_count"], stats["total_spent"], stats["level"]) == (2, 100_000, "vip")
    assert usecases.authenticate(db, passwords, "alice", PASSWORD)["level"] == "vip"
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 900_000), 60)
    assert usecases.get_customer(db, customer["id"])["level"] == "svip"


def test_one_big_order_can_skip_a_level(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)

    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 2_000_000), 60)

    assert usecases.get_customer(db, customer["id"])["level"] == "svip"


def test_a_redelivered_event_counts_once(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)
    event = delivered(customer["id"], 70_000)

    deliver(db, "customers", usecases.on_order_delivered, event, 60)
    deliver(db, "customers", usecases.on_order_delivered, event, 60)

    stats = usecases.get_customer(db, customer["id"])
    assert (stats["orders_count"], stats["total_spent"]) == (1, 70_000)


def test_a_second_event_for_the_same_order_counts_nothing(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)
    order_id = str(uuid.uuid4())

    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 70_000, order_id), 60)
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 70_000, order_id), 60)

    stats = usecases.get_customer(db, customer["id"])
    assert (stats["orders_count"], stats["total_spent"], stats["level"]) == (1, 70_000, "regular")


def test_levels_never_go_down(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)
    with db.unit_of_work() as uow:  # an svip granted by hand
        uow.execute(
            customer_stats.update().where(customer_stats.c.customer_id == customer["id"]).values(level="svip")
        )

    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 100), 60)

    assert usecases.get_customer(db, customer["id"])["level"] == "svip"


def test_an_order_in_another_currency_counts_as_an_order_only(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)

    deliver(
        db, "customers", usecases.on_order_delivered, delivered(customer["id"], 500_000, currency="USD"), 60
    )

    stats = usecases.get_customer(db, customer["id"])
    assert (stats["orders_count"], stats["total_spent"], stats["level"]) == (1, 0, "regular")


def test_an_order_of_an_unknown_customer_is_counted_not_lost(db):
    customer_id = str(uuid.uuid4())

    deliver(db, "customers", usecases.on_order_delivered, delivered(customer_id, 150_000), 60)
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer_id, 10_000), 60)

    with db.reading() as session:
        stats = session.execute(
            sa.select(customer_stats).where(customer_stats.c.customer_id == customer_id)
        ).one()
    assert (stats.orders_count, stats.total_spent, stats.level) == (2, 160_000, "vip")
    with pytest.raises(NotFound):  # stats alone make no customer
        usecases.get_customer(db, customer_id)


def test_customers_by_level(db, passwords):
    alice = usecases.register(db, passwords, "alice", PASSWORD)
    usecases.register(db, passwords, "bob", PASSWORD)
    deliver(db, "customers", usecases.on_order_delivered, delivered(alice["id"], 100_000), 60)

    assert usecases.customers_by_level(db) == {"regular": 1, "vip": 1, "svip": 0}


def test_passwords_and_hashes_stay_out_of_logs_errors_and_answers(db, passwords, caplog):
    caplog.set_level(logging.DEBUG)
    answers = [
        usecases.register(db, passwords, "alice", PASSWORD),
        usecases.create_staff(db, passwords, "bob", PASSWORD, "ops"),
        usecases.ensure_admin(db, passwords, "root", PASSWORD),
        usecases.authenticate(db, passwords, "alice", PASSWORD),
    ]
    errors = []
    for call in (
        lambda: usecases.register(db, passwords, "ALICE", PASSWORD),
        lambda: usecases.authenticate(db, passwords, "alice", "wrong-" + PASSWORD),
        lambda: usecases.authenticate(db, passwords, "nobody", PASSWORD),
    ):
        with pytest.raises(Exception) as raised:
            call()
        errors.append(raised.value)
    password_hash = stored_hash(db, "alice")

    seen = caplog.text + repr(answers) + "".join(f"{error!r}{error}" for error in errors)
    assert PASSWORD not in seen
    assert password_hash not in seen and "$argon2" not in seen


def test_a_database_error_does_not_carry_the_hash(db, passwords):
    from customers.db import accounts
    from kameng_common.db import utcnow

    usecases.register(db, passwords, "alice", PASSWORD)
    password_hash = passwords.hash(PASSWORD)
    with pytest.raises(sa.exc.IntegrityError) as raised, db.unit_of_work() as uow:
        uow.execute(
            accounts.insert().values(
                id="another-id",
                username="alice",
                username_key="alice",
                password_hash=password_hash,
                kind="customer",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    assert password_hash not in str(raised.value)
