"""``kameng risk evaluate``: risk's rules measured against a labelled set of attacks and normal traffic.

A fresh suite is started (its own vhost, data folder and, on PostgreSQL, databases)
with risk's settings as they are configured; a generator then plays, through the
gateway's public API as any client would, a number of runs of each scenario:

- ``normal``: customers who sign in from home, buy one to three orders of everyday
  cards and pay them; a few leave an order unpaid, ask one refund, or sign in again from
  their phone's network before buying, as honest customers do;
- ``card_testing``: an account that opens orders and abandons their payments, again
  and again, as a fraudster trying stolen cards does;
- ``stock_hoarding``: an account that reserves a product's stock with unpaid orders;
- ``velocity_burst``: an account (a reseller's bot) that buys and pays order after order;
- ``refund_abuse``: an account that buys and asks a refund of each order;
- ``account_takeover``: a customer who signs in from home and buys, then someone who
  knows the password signs in from a network the account never used and buys a
  high-value card (even runs), or changes the password and buys any card (odd runs).

An attack run is *caught* when risk holds one of its orders for review, or refuses it
(cancelled "risk reject"). The detection rate is the share of runs caught; the
false-positive rate is the share of normal orders risk held or refused. Every run draws
from its own random generator seeded by ``--seed``, the scenario and its number, so the
same seed plays the same traffic. Client addresses are told to the gateway by
``X-Forwarded-For`` (the suite trusts one proxy), each customer's home a network of its own.
"""

import datetime
import json
import random
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kameng_cli import shop
from kameng_cli.secrets import admin_credentials, local_secrets
from kameng_cli.suite import throwaway_suite

PASSWORD = "correct-horse-battery-staple"
ATTACKS = ("card_testing", "stock_hoarding", "velocity_burst", "refund_abuse", "account_takeover")
SCENARIOS = ("normal", *ATTACKS)
# the targets
MIN_DETECTION = 0.95
MAX_FALSE_POSITIVES = 0.01
# card prices in fen, and how often normal customers buy each
PRICES = (1_000, 3_000, 5_000, 10_000, 30_000, 50_000)
NORMAL_PRICE_WEIGHTS = (25, 25, 20, 20, 6, 4)
NORMAL_QUANTITY_WEIGHTS = ((1, 85), (2, 12), (3, 3))
# what a held order looks like to its buyer
HELD = "on_hold"
ORDER_TTL_SECONDS = 4


def suite_environment(redis_prefix: str) -> dict[str, str]:
    """The settings the evaluated suite runs with; risk's own are left as configured."""
    return {
        "KAMENG_RATE_LIMITS": "off",
        # the generator tells each client's address by X-Forwarded-For
        "KAMENG_TRUSTED_PROXIES": "1",
        # abandoned payments are what card testing leaves: orders expire within the run's patience
        "KAMENG_ORDER_TTL_SECONDS": str(ORDER_TTL_SECONDS),
        "KAMENG_ORDER_EXPIRY_INTERVAL": "1",
        # hundreds of sign-ups: a cheaper argon2 changes nothing risk sees
        "KAMENG_CUSTOMERS_ARGON2_TIME_COST": "1",
        "KAMENG_CUSTOMERS_ARGON2_MEMORY_KIB": "8192",
        "KAMENG_REDIS_PREFIX": redis_prefix,
    }


@dataclass
class Outcome:
    """What one run did: its orders, how many risk held or refused, and whether it was caught."""

    scenario: str
    run: int
    orders: int = 0
    held: int = 0  # on hold for review
    refused: int = 0  # cancelled by risk
    # expired before the generator's payment reached it: a machine slower than ORDER_TTL_SECONDS
    lapsed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def caught(self) -> bool:
        return bool(self.held or self.refused)


class Client:
    """One person at one network: a gateway client whose requests come from ``address``."""

    def __init__(self, gateway_url: str, address: str) -> None:
        self.gateway = shop.Gateway(gateway_url)
        self.address = address

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Forwarded-For": self.address, **kwargs.pop("headers", {})}
        return self.gateway.request(method, path, headers=headers, **kwargs)

    def sign_in(self, username: str, password: str) -> "Client":
        self.gateway.token = self.request(
            "POST", "/api/v1/auth/token", json={"username": username, "password": password}
        )["access_token"]
        return self


@dataclass
class World:
    """The running shop the generator plays against."""

    gateway_url: str
    mockpay_secret: str
    products: dict[int, dict]  # price → product

    def network(self, rng: random.Random) -> str:
        """An address in a /24 drawn at random: a network nobody else in the run uses, most likely."""
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def new_customer(self, rng: random.Random, prefix: str) -> tuple[str, Client]:
        """A customer registered and signed in from its home network: (username, client)."""
        username = f"{prefix}_{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        client = Client(self.gateway_url, self.network(rng))
        client.request(
            "POST",
            "/api/v1/auth/register",
            expected=(201,),
            json={"username": username, "password": PASSWORD},
        )
        return username, client.sign_in(username, PASSWORD)

    def place(self, client: Client, price: int, quantity: int, outcome: Outcome) -> dict:
        """Place an order and count what risk made of it; the order as it settled."""
        order = client.request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"items": [{"product_id": self.products[price]["id"], "quantity": quantity}]},
        )
        if order["status"] not in ("awaiting_payment", HELD, "cancelled", "expired"):
            # "expired" too: on a busy machine the short deadline can pass before the order is read
            order = shop.wait_for_status(client.gateway, order["id"], {"awaiting_payment", HELD, "expired"})
        outcome.orders += 1
        if order["status"] == HELD:
            outcome.held += 1
        elif order["status"] == "cancelled" and _refused_by_risk(order):
            outcome.refused += 1
        return order

    def pay(self, client: Client, order: dict, outcome: Outcome) -> dict:
        """Pay an order awaiting payment with mockpay; the order once delivered, or as it stands when
        it expired before the payment reached it (counted as lapsed: no verdict of risk's)."""
        try:
            payment = client.request(
                "POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"}
            )
        except shop.ApiError as error:
            if error.status != 409:
                raise
            outcome.lapsed += 1
            return client.request("GET", f"/api/v1/orders/{order['id']}")
        shop.notify_mockpay(self.gateway_url, payment, self.mockpay_secret)
        order = shop.wait_for_status(client.gateway, order["id"], {"delivered", "expired"})
        if order["status"] == "expired":
            outcome.lapsed += 1
        return order

    def buy(self, client: Client, price: int, quantity: int, outcome: Outcome) -> dict:
        order = self.place(client, price, quantity, outcome)
        if order["status"] == "expired":
            outcome.lapsed += 1
            return order
        return self.pay(client, order, outcome) if order["status"] == "awaiting_payment" else order

    def ask_refund(self, client: Client, order: dict) -> None:
        client.request(
            "POST",
            f"/api/v1/orders/{order['id']}/refund-requests",
            expected=(200, 201),
            json={"reason": "the card did not work"},
        )


def _refused_by_risk(order: dict) -> bool:
    return any((step.get("reason") or "").startswith("risk ") for step in order.get("history", []))


def _wait_expired(client: Client, orders: list[dict]) -> None:
    for order in orders:
        if order["status"] == "awaiting_payment":
            shop.wait_for_status(client.gateway, order["id"], {"expired"}, timeout=ORDER_TTL_SECONDS + 60)


def _normal_price(rng: random.Random) -> int:
    return rng.choices(PRICES, weights=NORMAL_PRICE_WEIGHTS)[0]


def _normal_quantity(rng: random.Random) -> int:
    return rng.choices(
        [q for q, _ in NORMAL_QUANTITY_WEIGHTS], weights=[w for _, w in NORMAL_QUANTITY_WEIGHTS]
    )[0]


# --- the scenarios: each plays one run and reports its outcome ------------------------------


def normal(world: World, rng: random.Random, outcome: Outcome) -> None:
    username, client = world.new_customer(rng, "shopper")
    for number in range(rng.choice((1, 1, 2, 2, 3))):
        if number and rng.random() < 0.05:
            # later that day, from the phone's network
            client = Client(world.gateway_url, world.network(rng)).sign_in(username, PASSWORD)
        order = world.place(client, _normal_price(rng), _normal_quantity(rng), outcome)
        if order["status"] != "awaiting_payment":
            continue
        if rng.random() < 0.03:
            continue  # changed their mind: the order expires unpaid
        order = world.pay(client, order, outcome)
        if rng.random() < 0.03 and order["status"] == "delivered":
            world.ask_refund(client, order)
        time.sleep(rng.uniform(0.2, 1.0))


def card_testing(world: World, rng: random.Random, outcome: Outcome) -> None:
    """Order after order whose payment is abandoned, a few at a time, until one goes through unpaid
    no more: at most four rounds."""
    _username, client = world.new_customer(rng, "tester")
    for _round in range(4):
        orders = [world.place(client, rng.choice(PRICES[:4]), 1, outcome) for _ in range(rng.randint(1, 3))]
        if outcome.caught:
            return
        _wait_expired(client, orders)


def stock_hoarding(world: World, rng: random.Random, outcome: Outcome) -> None:
    """Unpaid orders of one product, a few units each, until 20 units are asked for."""
    _username, client = world.new_customer(rng, "hoarder")
    price = rng.choice(PRICES[:3])
    asked = 0
    while asked < 20 and not outcome.caught:
        quantity = rng.randint(1, 4)
        world.place(client, price, quantity, outcome)
        asked += quantity


def velocity_burst(world: World, rng: random.Random, outcome: Outcome) -> None:
    """Order after order, each paid at once: 30 within the minute."""
    _username, client = world.new_customer(rng, "bot")
    price = rng.choice(PRICES[:2])
    for _ in range(30):
        if outcome.caught:
            return
        world.buy(client, price, 1, outcome)


def refund_abuse(world: World, rng: random.Random, outcome: Outcome) -> None:
    """Buy, ask the money back, buy again: up to five orders."""
    _username, client = world.new_customer(rng, "refunder")
    for _ in range(5):
        order = world.buy(client, rng.choice(PRICES[:4]), 1, outcome)
        if outcome.caught:
            return
        if order["status"] == "delivered":
            world.ask_refund(client, order)
        time.sleep(rng.uniform(0.2, 1.0))


def account_takeover(world: World, rng: random.Random, outcome: Outcome) -> None:
    """The owner buys from home; then a stranger with the password signs in elsewhere and either buys
    a high-value card at once, or first changes the password (locking the owner out) and buys any card."""
    username, owner = world.new_customer(rng, "victim")
    world.buy(owner, _normal_price(rng), 1, Outcome("normal", 0))
    time.sleep(rng.uniform(0.5, 2.0))
    thief = Client(world.gateway_url, f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    thief.sign_in(username, PASSWORD)
    time.sleep(rng.uniform(1.0, 3.0))  # finds their way round the shop
    if outcome.run % 2:
        changed = thief.request(
            "POST",
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": f"{PASSWORD}-{rng.getrandbits(32):x}"},
        )
        thief.gateway.token = changed["access_token"]
        time.sleep(rng.uniform(1.0, 3.0))
        world.place(thief, _normal_price(rng), 1, outcome)
    else:
        world.place(thief, rng.choice(PRICES[4:]), rng.randint(1, 2), outcome)


PLAYS: dict[str, Callable[[World, random.Random, Outcome], None]] = {
    "normal": normal,
    "card_testing": card_testing,
    "stock_hoarding": stock_hoarding,
    "velocity_burst": velocity_burst,
    "refund_abuse": refund_abuse,
    "account_takeover": account_takeover,
}


# --- a run of the whole set -------------------------------------------------------------------


def play(world: World, seed: int, runs: int, normal_runs: int, workers: int) -> list[Outcome]:
    """Every run of every scenario, interleaved over ``workers`` threads; their outcomes."""
    plan = [("normal", number) for number in range(normal_runs)]
    plan += [(scenario, number) for scenario in ATTACKS for number in range(runs)]
    random.Random(seed).shuffle(plan)

    def one(item: tuple[str, int]) -> Outcome:
        scenario, number = item
        outcome = Outcome(scenario, number)
        try:
            PLAYS[scenario](world, random.Random(f"{seed}:{scenario}:{number}"), outcome)
        except (shop.ApiError, OSError) as error:
            outcome.errors.append(str(error)[:300])
        return outcome

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, plan))


def summarise(outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    """Per scenario: runs, caught, detection_rate; orders, held, refused, false_positive_rate; errors."""
    summary: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        mine = [outcome for outcome in outcomes if outcome.scenario == scenario]
        orders = sum(outcome.orders for outcome in mine)
        flagged = sum(outcome.held + outcome.refused for outcome in mine)
        counted = [outcome for outcome in mine if not outcome.errors]
        row: dict[str, Any] = {
            "runs": len(mine),
            "errors": len(mine) - len(counted),
            "orders": orders,
            "held": sum(outcome.held for outcome in mine),
            "refused": sum(outcome.refused for outcome in mine),
            "lapsed": sum(outcome.lapsed for outcome in mine),
        }
        if scenario == "normal":
            row["false_positive_rate"] = round(flagged / orders, 4) if orders else None
            row["meets_target"] = bool(orders) and flagged / orders <= MAX_FALSE_POSITIVES
        else:
            caught = sum(1 for outcome in counted if outcome.caught)
            row["caught"] = caught
            row["detection_rate"] = round(caught / len(counted), 4) if counted else None
            row["meets_target"] = bool(counted) and caught / len(counted) >= MIN_DETECTION
        summary[scenario] = row
    return summary


def stock_shop(gateway_url: str, admin: tuple[str, str], cards_per_product: int) -> dict[int, dict]:
    """One card product per price, each with ``cards_per_product`` cards: price → product."""
    staff = shop.Gateway(gateway_url).log_in(*admin)
    category = staff.request(
        "POST", "/api/v1/admin/categories", json={"name": f"risk-eval-{uuid.uuid4().hex[:6]}"}
    )
    products = {}
    for price in PRICES:
        product = staff.request(
            "POST",
            "/api/v1/admin/products",
            json={
                "name": f"Card {price // 100} CNY",
                "category_id": category["id"],
                "kind": "card",
                "price": price,
            },
        )
        cards = [
            {"number": f"E{uuid.uuid4().hex[:16]}", "secret": uuid.uuid4().hex}
            for _ in range(cards_per_product)
        ]
        staff.request("POST", f"/api/v1/admin/products/{product['id']}/cards", json={"cards": cards})
        products[price] = product
    return products


def evaluate(
    database: str = "sqlite",
    seed: int = 1,
    runs: int = 30,
    normal_runs: int = 200,
    workers: int = 6,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start a fresh suite on ``database``, play the set against it, stop it: the report."""
    with throwaway_suite(
        database,
        "kameng-risk-eval",
        suite_environment(f"kameng-risk-eval-{uuid.uuid4().hex[:8]}:"),
        ready_timeout=300,  # a busy machine starts six processes slowly
        say=say,
    ) as made:
        gateway_url = made.suite.settings.gateway_url
        data_dir = made.suite.settings.data_dir
        started = time.monotonic()
        world = World(
            gateway_url,
            local_secrets(data_dir)["KAMENG_MOCKPAY_SECRET"],
            stock_shop(gateway_url, admin_credentials(data_dir), 40 * (runs + normal_runs // 10 + 5)),
        )
        say(
            f"playing {normal_runs} normal customers and {runs} runs of each of {len(ATTACKS)} attacks "
            f"(seed {seed}, {workers} at a time)"
        )
        outcomes = play(world, seed, runs, normal_runs, workers)
        seconds = time.monotonic() - started
    summary = summarise(outcomes)
    return {
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "database": database,
        "seed": seed,
        "runs_per_attack": runs,
        "normal_customers": normal_runs,
        "seconds": round(seconds, 1),
        "targets": {"min_detection_rate": MIN_DETECTION, "max_false_positive_rate": MAX_FALSE_POSITIVES},
        "scenarios": summary,
        "errors": [f"{o.scenario} #{o.run}: {e}" for o in outcomes for e in o.errors][:20],
        "ok": all(row["meets_target"] and not row["errors"] for row in summary.values()),
    }


def _commit() -> str | None:
    """The checked-out commit the suite ran, when this runs from a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def render(report: dict[str, Any]) -> str:
    """The report as a table, one line per scenario."""
    lines = [
        f"risk evaluation on {report['database']}, seed {report['seed']}, {report['seconds']} s",
        f"{'scenario':<18}{'runs':>6}{'caught':>8}{'detection':>11}{'orders':>8}{'held':>6}"
        f"{'refused':>9}{'false pos.':>12}{'lapsed':>8}{'errors':>8}  target",
    ]
    for scenario, row in report["scenarios"].items():
        detection = "" if "detection_rate" not in row else _percent(row["detection_rate"])
        false_positives = "" if "false_positive_rate" not in row else _percent(row["false_positive_rate"])
        lines.append(
            f"{scenario:<18}{row['runs']:>6}{row.get('caught', ''):>8}{detection:>11}{row['orders']:>8}"
            f"{row['held']:>6}{row['refused']:>9}{false_positives:>12}{row.get('lapsed', 0):>8}{row['errors']:>8}  "
            + ("met" if row["meets_target"] else "MISSED")
        )
    lines.extend(f"  error: {error}" for error in report["errors"])
    return "\n".join(lines)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def save(report: dict[str, Any], folder: Path) -> Path:
    """Write the report as JSON into ``folder``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report['database']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
