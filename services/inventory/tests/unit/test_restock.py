"""Stock alerts (stock.low once per crossing, also under races) and the restock listing, on SQLite and PostgreSQL."""

import datetime

import pytest
import sqlalchemy as sa

from inventory import catalogue, forecast, restock, usecases
from inventory.db import cards, products
from kameng_common.errors import InvalidInput
from kameng_common.testing import deliver


def _product(shop, cards=0, threshold=None, **extra):
    """A product with its cards, then its own low-stock threshold (a change the alert watches)."""
    product = shop.product(cards=cards, **extra)
    if threshold is not None:
        catalogue.update_product(shop.db, product, {"low_stock_threshold": threshold})
    return product


def test_a_sale_that_takes_the_stock_under_its_threshold_publishes_stock_low_once(any_shop):
    product = _product(any_shop, 6, 5)
    any_shop.created("o1", (product, 1))  # 5 left: not under 5
    assert any_shop.published("stock.low") == []
    any_shop.created("o2", (product, 1))
    any_shop.created("o3", (product, 2))
    assert any_shop.published("stock.low") == [{"product_id": product, "available": 4, "threshold": 5}]
    assert restock.low_products(any_shop.db) == {str(product): 1}


def test_stock_back_at_its_threshold_arms_the_alert_again(any_shop):
    product = _product(any_shop, 5, 5)
    any_shop.created("o1", (product, 2))
    any_shop.expired("o1")  # released: 5 again
    assert restock.low_products(any_shop.db) == {}
    any_shop.created("o2", (product, 1))
    any_shop.add_cards(product, 10)  # 14
    any_shop.created("o3", (product, 10))
    assert [alert["available"] for alert in any_shop.published("stock.low")] == [3, 4, 4]


def test_a_void_or_a_new_threshold_is_a_crossing_too(any_shop):
    product = any_shop.product(cards=3)  # the tests' default threshold is 0: no alert
    catalogue.update_product(any_shop.db, product, {"low_stock_threshold": 3})
    assert any_shop.published("stock.low") == []
    with any_shop.db.reading() as session:
        card = session.execute(sa.select(cards.c.id).where(cards.c.product_id == product).limit(1)).scalar()
    catalogue.void_card(any_shop.db, card)
    assert any_shop.published("stock.low") == [{"product_id": product, "available": 2, "threshold": 3}]
    catalogue.update_product(any_shop.db, product, {"low_stock_threshold": 2})  # not under 2: armed
    catalogue.update_product(any_shop.db, product, {"low_stock_threshold": 4})
    assert len(any_shop.published("stock.low")) == 2


def test_the_default_threshold_applies_to_products_without_their_own(any_shop, monkeypatch):
    monkeypatch.setenv(restock.THRESHOLD_ENV, "10")
    product = any_shop.product(cards=9)
    assert any_shop.published("stock.low") == [{"product_id": product, "available": 9, "threshold": 10}]


def test_a_loop_product_is_low_by_the_units_its_limit_leaves_and_never_without_a_limit(any_shop):
    limited = _product(any_shop, 1, 2, kind="loop", stock_limit=4)
    unlimited = _product(any_shop, 1, 2, kind="loop")
    any_shop.created("o1", (limited, 3), (unlimited, 3))
    assert any_shop.published("stock.low") == [{"product_id": limited, "available": 1, "threshold": 2}]


@pytest.mark.parametrize("threshold", [-1, 1.5, "5"])
def test_a_threshold_is_a_whole_number_of_units(db, shop, threshold):
    product = shop.product()
    with pytest.raises(InvalidInput, match="low_stock_threshold"):
        catalogue.update_product(db, product, {"low_stock_threshold": threshold})


def test_concurrent_sales_crossing_the_threshold_together_publish_one_stock_low(any_shop, racing):
    product = _product(any_shop, 30, 20)
    racing(lambda order_id: any_shop.created(order_id, (product, 1)), [f"o{i}" for i in range(20)])
    assert any_shop.available(product) == 10
    assert len(any_shop.published("stock.low")) == 1
    with any_shop.db.reading() as session:
        assert restock.alert_states(session) == {
            str(product): {"low": True, "available": 10, "threshold": 20}
        }


def test_releases_racing_sales_leave_the_alert_as_the_stock_is(any_shop, racing, make_event):
    product = _product(any_shop, 12, 10)
    for i in range(4):
        any_shop.created(f"held{i}", (product, 1))  # 8 left: low
    # new orders reserving while the held ones expire
    steps = [lambda order_id=f"o{i}": any_shop.created(order_id, (product, 1)) for i in range(4)]
    steps += [
        lambda held=f"held{i}": deliver(
            any_shop.db,
            "inventory",
            usecases.on_order_expired,
            make_event("order.expired", {"order_id": held}),
        )
        for i in range(4)
    ]
    racing(lambda step: step(), steps)
    with any_shop.db.reading() as session:
        assert restock.alert_states(session)[str(product)] == {"low": True, "available": 8, "threshold": 10}
    # low once from the first holds; again each time releases lifted it to the threshold and a
    # reservation took it under: at most three times more (9, 10, 9, 10, 9, 10, 9, 8 in series)
    assert 1 <= len(any_shop.published("stock.low")) <= 4


# ---- the restock listing


def _sold_on(db, product_id, day, count):
    """Mark ``count`` available cards of a product sold on ``day`` (noon UTC), as past orders did."""
    moment = datetime.datetime.combine(day, datetime.time(12), datetime.UTC)
    with db.unit_of_work() as uow:
        picked = (
            uow.execute(
                sa.select(cards.c.id)
                .where(cards.c.product_id == product_id, cards.c.status == "available")
                .limit(count)
            )
            .scalars()
            .all()
        )
        uow.execute(
            cards.update()
            .where(cards.c.id.in_(picked))
            .values(status="sold", order_id=f"past-{day}", sold_at=moment, reserved_at=moment)
        )


def _created_days_ago(db, product_id, days, today):
    midnight = datetime.datetime.combine(today, datetime.time(), datetime.UTC)
    with db.unit_of_work() as uow:
        uow.execute(
            products.update()
            .where(products.c.id == product_id)
            .values(created_at=midnight - datetime.timedelta(days=days))
        )


def test_the_restock_listing_forecasts_from_the_sales_history(any_shop):
    today = datetime.date(2026, 11, 27)
    steady = _product(any_shop, 400, 5)
    _created_days_ago(any_shop.db, steady, 28, today)
    for back in range(1, 29):
        day = today - datetime.timedelta(days=back)
        _sold_on(any_shop.db, steady, day, 10 if day.weekday() >= 5 else 5)
    fresh = _product(any_shop, 20, 5)
    _created_days_ago(any_shop.db, fresh, 3, today)
    for back in (1, 2, 3):
        _sold_on(any_shop.db, fresh, today - datetime.timedelta(days=back), 4)
    new = _product(any_shop, 3, 5)
    any_shop.product(kind="direct")  # its supplier holds its stock: not listed

    page = restock.restock_list(any_shop.db, today=today)

    assert page["next_cursor"] is None
    listed = {item["product_id"]: item for item in page["items"]}
    assert list(listed) == [steady, fresh, new]
    weekly = listed[steady]
    assert weekly["forecast_method"] == forecast.HOLT_WINTERS and weekly["history_days"] == 28
    assert weekly["stock"] == 400 - 4 * (5 * 5 + 2 * 10)
    assert 40 <= weekly["forecast_7d"] <= 50  # a week of 5 weekdays at 5 and 2 weekend days at 10
    assert weekly["days_of_cover"] == pytest.approx(weekly["stock"] / (weekly["forecast_7d"] / 7), abs=0.1)
    assert weekly["suggested_quantity"] == 0  # 220 cards last far beyond the lead time
    assert listed[fresh]["forecast_method"] == forecast.MEAN
    # 4 a day over the 7 days' lead time, with no spread in the history, less the 8 left
    assert listed[fresh]["forecast_7d"] == 28.0 and listed[fresh]["suggested_quantity"] == 28 - 8
    assert listed[new] == {
        "product_id": new,
        "name": listed[new]["name"],
        "kind": "card",
        "stock": 3,
        "threshold": 5,
        "low": True,
        "forecast_7d": 0.0,
        "forecast_method": forecast.NONE,
        "history_days": 0,
        "days_of_cover": None,
        "suggested_quantity": 2,  # no demand known: back to its threshold
    }


def test_the_restock_listing_is_paginated(any_shop):
    stocked = [any_shop.product(cards=1) for _ in range(3)]
    first = restock.restock_list(any_shop.db, limit=2)
    assert [item["product_id"] for item in first["items"]] == stocked[:2]
    rest = restock.restock_list(any_shop.db, limit=2, cursor=first["next_cursor"])
    assert [item["product_id"] for item in rest["items"]] == stocked[2:] and rest["next_cursor"] is None


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1000}, {"cursor": "x"}, {"cursor": -1}])
def test_a_bad_restock_query_is_invalid_input(db, query):
    with pytest.raises(InvalidInput):
        restock.restock_list(db, **query)


def test_the_sweep_raises_the_alert_of_a_product_already_under_its_threshold_once(any_shop, monkeypatch):
    empty = any_shop.product()  # created empty: nothing has changed its stock since
    stocked = any_shop.product(cards=12)
    loop = any_shop.product(kind="loop", cards=1, stock_limit=3)
    assert any_shop.published("stock.low") == []  # the tests' default threshold is 0
    monkeypatch.setenv(restock.THRESHOLD_ENV, "10")  # a new default, as after a restart
    assert restock.sweep(any_shop.db, batch=2) == 2
    assert any_shop.published("stock.low") == [
        {"product_id": empty, "available": 0, "threshold": 10},
        {"product_id": loop, "available": 3, "threshold": 10},
    ]
    assert restock.sweep(any_shop.db) == 0  # raised already: not again
    assert restock.low_products(any_shop.db) == {str(empty): 1, str(loop): 1}
    assert str(stocked) not in restock.low_products(any_shop.db)
