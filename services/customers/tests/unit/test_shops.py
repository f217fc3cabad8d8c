"""Agents' shops: set up by the agent, found by slug, on SQLite and PostgreSQL."""

import uuid

import eventlet
import pytest

from customers import agents, credentials, shops, usecases
from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound

PASSWORD = "s3cret-pass-phrase"


@pytest.fixture
def make_agent(any_db, passwords):
    def make_agent():
        customer_id = usecases.register(any_db, passwords, f"a_{uuid.uuid4().hex[:12]}", PASSWORD)["id"]
        return agents.make_agent(any_db, customer_id)

    return make_agent


def test_an_agent_sets_up_a_shop_that_visitors_find_by_slug(any_db, make_agent):
    agent = make_agent()

    with pytest.raises(NotFound) as missing:
        shops.get_shop(any_db, agent["customer_id"])
    assert missing.value.code == "shop_not_set_up"

    shop = shops.set_shop(any_db, agent["customer_id"], "game-cards", "Game cards", 1500)

    assert {key: shop[key] for key in ("slug", "name", "markup_bp", "agent_id", "invite_code")} == {
        "slug": "game-cards",
        "name": "Game cards",
        "markup_bp": 1500,
        "agent_id": agent["agent_id"],
        "invite_code": agent["invite_code"],
    }
    assert shops.shop_by_slug(any_db, "game-cards") == shop
    assert shops.count_shops(any_db) == 1


def test_changing_the_slug_frees_the_old_one(any_db, make_agent):
    first, second = make_agent(), make_agent()
    shops.set_shop(any_db, first["customer_id"], "cards", "Cards", 0)

    shops.set_shop(any_db, first["customer_id"], "more-cards", "More cards", 100)
    shops.set_shop(any_db, second["customer_id"], "cards", "Cards too", 200)

    assert shops.shop_by_slug(any_db, "more-cards")["agent_id"] == first["agent_id"]
    assert shops.shop_by_slug(any_db, "cards")["agent_id"] == second["agent_id"]
    assert shops.count_shops(any_db) == 2


def test_two_agents_racing_for_one_slug_get_one_shop(any_db, make_agent):
    racers = [make_agent() for _ in range(6)]

    def claim(agent):
        try:
            return shops.set_shop(any_db, agent["customer_id"], "the-shop", "The shop", 500)
        except Conflict as exc:
            return exc

    outcomes = list(eventlet.GreenPool(len(racers)).imap(claim, racers))

    won = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(won) == 1 and len(lost) == len(racers) - 1
    assert {exc.code for exc in lost} == {"shop_slug_taken"}
    assert shops.shop_by_slug(any_db, "the-shop") == won[0]


def test_one_agent_changing_their_shop_at_once_keeps_one_shop(any_db, make_agent):
    agent = make_agent()

    def change(markup_bp):
        return shops.set_shop(any_db, agent["customer_id"], f"shop-{markup_bp}", "Mine", markup_bp)

    list(eventlet.GreenPool(5).imap(change, [100, 200, 300, 400, 500]))

    assert shops.count_shops(any_db) == 1
    shop = shops.get_shop(any_db, agent["customer_id"])
    assert shop["slug"] == f"shop-{shop['markup_bp']}"


@pytest.mark.parametrize(
    "slug, markup_bp, code",
    [
        ("ab", 0, "invalid_shop_slug"),
        ("-cards", 0, "invalid_shop_slug"),
        ("Cards", 0, "invalid_shop_slug"),
        ("cards-", 0, "invalid_shop_slug"),
        ("cards", -1, "invalid_shop_markup"),
        ("cards", 10_001, "invalid_shop_markup"),
    ],
)
def test_a_bad_slug_or_markup_is_refused(any_db, make_agent, slug, markup_bp, code):
    agent = make_agent()
    with pytest.raises(InvalidInput) as refused:
        shops.set_shop(any_db, agent["customer_id"], slug, "Cards", markup_bp)
    assert refused.value.code == code


def test_only_agents_have_shops(any_db, passwords):
    customer_id = usecases.register(any_db, passwords, "plain", PASSWORD)["id"]
    with pytest.raises(Forbidden):
        shops.set_shop(any_db, customer_id, "cards", "Cards", 0)
    with pytest.raises(NotFound) as missing:
        shops.shop_by_slug(any_db, "cards")
    assert missing.value.code == "shop_not_found"


def test_orders_find_a_shop_by_slug_with_its_agent_and_markup(any_db, make_agent):
    agent = make_agent()
    shops.set_shop(any_db, agent["customer_id"], "game-cards", "Game cards", 1500)

    assert shops.shop_for_order(any_db, "game-cards") == {
        "slug": "game-cards",
        "agent_id": agent["agent_id"],
        "markup_bp": 1500,
    }
    with pytest.raises(InvalidInput) as unknown:
        shops.shop_for_order(any_db, "no-such-shop")
    assert unknown.value.code == "shop_not_found"


def test_the_shop_of_a_disabled_agent_is_closed_until_enabled_again(any_db, make_agent):
    agent = make_agent()
    shops.set_shop(any_db, agent["customer_id"], "game-cards", "Game cards", 1500)

    credentials.set_disabled(any_db, agent["customer_id"], True, "admin-1")

    with pytest.raises(InvalidInput) as closed:
        shops.shop_for_order(any_db, "game-cards")
    assert closed.value.code == "shop_closed"
    with pytest.raises(NotFound) as hidden:
        shops.shop_by_slug(any_db, "game-cards")
    assert hidden.value.code == "shop_closed"

    credentials.set_disabled(any_db, agent["customer_id"], False, "admin-1")
    assert shops.shop_for_order(any_db, "game-cards")["markup_bp"] == 1500
