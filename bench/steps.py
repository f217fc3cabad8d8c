"""CPU per step of a purchase, per process: one step kind at a time, for many orders at once.

    python bench/steps.py [--database postgresql] [--orders 200] [--concurrency 8]

Where bench/run.py measures the whole flow under load, this takes it apart
on an otherwise idle suite: it places ``--orders`` orders and waits until
all await payment, then asks for all their payments, then notifies them all
and waits until all are delivered, then reads all their cards, then reads
each order once more (one poll). Each step's CPU, per process, is measured
from /proc around it and divided by the orders, so a step includes the
events it sets off (placing an order includes the reservation and the risk
score; the notification includes the sale, the delivery and the customer's
stats). Waiting polls the orders slowly, and their cost is left out by
measuring the polls separately and subtracting.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import time
import uuid

import probes
import stage
from rawhttp import JsonClient

SLOW_POLL_SECONDS = 0.5


async def in_parallel(calls, concurrency):
    """Await every call in ``calls`` (coroutine functions), ``concurrency`` at a time; their results."""
    results = [None] * len(calls)
    queue = list(enumerate(calls))

    async def worker():
        while queue:
            index, call = queue.pop()
            results[index] = await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def wait_all(clients, order_ids, wanted, timeout=120):
    """Poll every order slowly until each shows ``wanted``; how many polls that took."""
    polls, pending, deadline = 0, set(range(len(order_ids))), time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} orders never became {wanted}")
        await asyncio.sleep(SLOW_POLL_SECONDS)
        for index in list(pending):
            order = await clients[index].request("GET", f"/api/v1/orders/{order_ids[index]}")
            polls += 1
            if order["status"] == wanted:
                pending.discard(index)
    return polls


class Measured:
    """CPU per process between entering and leaving the context, per item with ``per_item``."""

    def __init__(self, running):
        self.running = running

    def __enter__(self):
        self.before = probes.cpu_snapshot()
        return self

    def __exit__(self, *_exc):
        self.after = probes.cpu_snapshot()

    def per_item(self, count):
        used, _machine = probes.cpu_used(
            self.before, self.after, self.running.pids(), self.running.service_of_database()
        )
        return {name: 1000 * seconds / count for name, seconds in used.items()}


async def run_steps(running, shop, orders, concurrency):
    """{step: {process: CPU ms per order}}; the connections live in this one event loop."""
    product = shop.products[0]
    clients = [
        JsonClient(running.gateway_url, shop.accounts[index % concurrency][1]) for index in range(orders)
    ]
    # every order its own connections: the buyer's, and the provider's for its notification
    providers = [JsonClient(running.gateway_url) for _ in range(orders)]
    steps = {}

    async def step(name, coroutine, count, waits=0):
        with Measured(running) as measuring:
            result = await coroutine
        steps[name] = (measuring.per_item(count), waits(result) if callable(waits) else waits)
        return result

    async def place_all():
        placed = await in_parallel(
            [
                lambda index=index: clients[index].request(
                    "POST",
                    "/api/v1/orders",
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                    json_body={"items": [{"product_id": product["id"], "quantity": 1}]},
                )
                for index in range(orders)
            ],
            concurrency,
        )
        ids = [order["id"] for order in placed]
        return ids, await wait_all(clients, ids, "awaiting_payment")

    order_ids, _polls = await step(
        "place the order (→ awaiting payment)", place_all(), orders, waits=lambda result: result[1]
    )

    async def pay_all():
        return await in_parallel(
            [
                lambda index=index: clients[index].request(
                    "POST", f"/api/v1/orders/{order_ids[index]}/payments", json_body={"method": "mockpay"}
                )
                for index in range(orders)
            ],
            concurrency,
        )

    payments = await step("ask for the payment (mockpay intent)", pay_all(), orders)

    async def notify_all():
        async def notify(index):
            payment = payments[index]
            body = json.dumps(
                {
                    "payment_id": payment["payment_id"],
                    "trade_no": f"STEP{uuid.uuid4().hex}",
                    "amount": payment["amount"],
                    "currency": payment["currency"],
                    "status": "SUCCESS",
                }
            ).encode()
            signature = hmac.new(shop.mockpay_secret.encode(), body, hashlib.sha256).hexdigest()
            return await providers[index].request(
                "POST",
                "/api/v1/payments/notify/mockpay",
                data=body,
                headers={"Content-Type": "application/json", "X-Mockpay-Signature": signature},
            )

        await in_parallel([lambda index=index: notify(index) for index in range(orders)], concurrency)
        return await wait_all(clients, order_ids, "delivered")

    await step("notify the payment (→ delivered)", notify_all(), orders, waits=lambda polls: polls)

    async def reveal_all():
        return await in_parallel(
            [
                lambda index=index: clients[index].request("GET", f"/api/v1/orders/{order_ids[index]}/cards")
                for index in range(orders)
            ],
            concurrency,
        )

    await step("read the cards", reveal_all(), orders)

    async def poll_all():
        return await in_parallel(
            [
                lambda index=index: clients[index].request("GET", f"/api/v1/orders/{order_ids[index]}")
                for index in range(orders)
            ],
            concurrency,
        )

    await step("one poll: GET the order", poll_all(), orders)
    poll_costs = steps["one poll: GET the order"][0]

    # a step's slow polls while it waited are the poll's cost each: taken out of the step
    table = {}
    for name, (per_order, polls) in steps.items():
        table[name] = {
            process: cost - poll_costs.get(process, 0.0) * polls / orders
            for process, cost in per_order.items()
        }
    for client in clients + providers:
        client.close()
    return table


def print_table(table, processes):
    width = max(len(name) for name in table) + 2
    print("\nCPU ms per order, by step and process (idle suite; each step includes the events it sets off)")
    labels = [process.replace("postgresql:", "pg ") for process in processes]
    print(" " * width + "".join(f"{label[:11]:>12}" for label in labels) + f"{'suite':>12}")
    for name, costs in table.items():
        suite = sum(value for process, value in costs.items() if process in processes)
        print(
            f"{name:<{width}}"
            + "".join(f"{costs.get(process, 0.0):>12.2f}" for process in processes)
            + f"{suite:>12.2f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with stage.fresh_suite(args.database) as running:
        shop = stage.open_shop(running, 1, args.orders, args.concurrency)
        table = asyncio.run(run_steps(running, shop, args.orders, args.concurrency))
        processes = [
            name
            for name in ("gateway", "orders", "inventory", "payments", "customers", "risk", "rabbitmq")
            if name in running.pids() or name == "rabbitmq"
        ]
        if args.database == "postgresql":
            processes += [f"postgresql:{service}" for service in running.databases]
        print_table(table, processes)


if __name__ == "__main__":
    main()
