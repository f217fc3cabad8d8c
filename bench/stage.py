"""A fresh suite to measure: its own vhost, data folder and PostgreSQL databases, a shop and its buyers."""

import asyncio
import time
from contextlib import contextmanager
from dataclasses import dataclass

import load

from kameng_cli.secrets import admin_credentials, local_secrets
from kameng_cli.suite import Suite, throwaway_suite

SUITE_ENV = {
    "KAMENG_RATE_LIMITS": "off",
    # one buyer places far more orders a minute than the velocity rule lets through to approval
    "KAMENG_RISK_VELOCITY_REVIEW": "1000000",
    "KAMENG_RISK_VELOCITY_REJECT": "1000000",
    # sign-ups and log-ins happen before the timed window, which hashes no password: a cheaper
    # argon2 there saves a minute of set-up per run without changing what is measured
    "KAMENG_CUSTOMERS_ARGON2_TIME_COST": "1",
    "KAMENG_CUSTOMERS_ARGON2_MEMORY_KIB": "8192",
}


# the marketing configuration: three agents in a line, the closest to the buyer earning the most,
# and a public coupon on every order, with limits no run reaches (so each use is still counted)
COMMISSION_RATES_BP = (1000, 500, 250)
COUPON_TERMS = {"kind": "amount_off", "value": 100, "total_limit": 10**9, "per_customer_limit": 10**6}


@dataclass
class Stage:
    suite: Suite
    database: str
    vhost: str
    amqp_uri: str
    databases: dict  # service → (PostgreSQL database name, URL); empty on SQLite

    @property
    def gateway_url(self):
        return self.suite.settings.gateway_url

    def pids(self):
        return {name: process.pid for name, process in self.suite.processes.items()}

    def service_of_database(self):
        return {name: service for service, (name, _url) in self.databases.items()}


@dataclass
class Marketing:
    coupon_code: str
    rates_bp: tuple  # the commission plan: basis points for each agent up the buyer's line
    agents: list  # (username, token) of each agent, the closest to the buyers first


@dataclass
class Shop:
    products: list
    cards_imported: int
    accounts: list  # (username, token) of each buyer
    mockpay_secret: str
    marketing: Marketing | None = None  # set when every order carries a coupon and every buyer has agents


@contextmanager
def fresh_suite(database, replicas=None, say=print):
    """A running suite on ``database`` ("sqlite" or "postgresql"); everything it made is removed after.

    If the body fails, the data folder (with the processes' logs) is kept and named.
    """
    with throwaway_suite(database, "kameng-bench", SUITE_ENV, replicas, say=say) as made:
        yield Stage(made.suite, database, made.vhost, made.amqp_uri, made.databases)


def open_shop(stage, products, cards, buyers, marketing=False, say=print):
    """Seed ``products`` with ``cards`` cards in all, and register and log in ``buyers`` customers.

    With ``marketing``, also a line of agents under a commission plan, with every buyer registered
    with the lowest agent's invite code, and a public coupon for every order."""
    data_dir = stage.suite.settings.data_dir
    started = time.monotonic()
    created, imported = asyncio.run(
        load.seed_catalogue(stage.gateway_url, admin_credentials(data_dir), products, cards)
    )
    say(f"imported {imported} cards into {len(created)} products in {time.monotonic() - started:.1f} s")
    line, invite_code = None, None
    if marketing:
        started = time.monotonic()
        coupon_code, invite_code, agents = asyncio.run(
            load.seed_marketing(
                stage.gateway_url, admin_credentials(data_dir), COMMISSION_RATES_BP, COUPON_TERMS
            )
        )
        # the lowest agent's tokens come first: the order in which they earn on a buyer's order
        line = Marketing(coupon_code, COMMISSION_RATES_BP, agents[::-1])
        say(
            f"made a line of {len(agents)} agents (commission {'/'.join(map(str, COMMISSION_RATES_BP))} bp) "
            f"and coupon {coupon_code} in {time.monotonic() - started:.1f} s"
        )
    started = time.monotonic()
    accounts = asyncio.run(load.register_buyers(stage.gateway_url, buyers, invite_code=invite_code))
    say(f"registered and logged in {len(accounts)} buyers in {time.monotonic() - started:.1f} s")
    return Shop(created, imported, accounts, local_secrets(data_dir)["KAMENG_MOCKPAY_SECRET"], line)
