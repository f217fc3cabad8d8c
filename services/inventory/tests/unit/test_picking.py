"""A reservation reads a product's first available cards from the index, however many cards came before."""

import json

import sqlalchemy as sa

from inventory.usecases import _PICK_CARDS

from ..conftest import Shop


def _pick_plan(db, product_id):
    """PostgreSQL's executed plan of the pick for one card of ``product_id``, as JSON."""
    compiled = _PICK_CARDS.compile(dialect=db.engine.dialect)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE cards")
        (plan,) = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}",
            {**compiled.params, "product_id": product_id, "quantity": 1},
        ).scalar_one()
    return plan["Plan"]


def _rows_removed(plan):
    return plan.get("Rows Removed by Filter", 0) + sum(
        _rows_removed(child) for child in plan.get("Plans", ())
    )


def test_the_first_available_card_of_a_later_product_is_found_without_walking_past_the_others(
    postgres_db, keyring
):
    shop = Shop(postgres_db, keyring)
    earlier = shop.product(cards=2500)
    later = shop.product(cards=20)
    shop.created("o-1", (earlier, 1))
    shop.created("o-2", (later, 1))

    plan = _pick_plan(postgres_db, later)
    assert _rows_removed(plan) == 0, json.dumps(plan)
    with postgres_db.reading() as session:
        first_available = session.execute(
            sa.text("SELECT min(id) FROM cards WHERE product_id = :p AND status = 'available'"), {"p": later}
        ).scalar_one()
        picked = session.execute(_PICK_CARDS, {"product_id": later, "quantity": 1}).scalar_one()
    assert picked == first_available
