"""The rest of bench/: the load generator's HTTP client, the profile summary, the step runner, the stage."""

import asyncio
import importlib
from types import SimpleNamespace

import hotspots
import pytest
import stage
import steps
from rawhttp import HttpStatusError, JsonClient

# rawhttp


def test_a_status_error_reads_alike_for_every_id():
    error = HttpStatusError("GET", f"/api/v1/orders/{'a' * 32}/cards", 404, b'{"error": "not_found"}' * 20)
    assert str(error).startswith('GET /api/v1/orders/{id}/cards → 404 {"error": "not_found"}')
    assert len(str(error)) == len("GET /api/v1/orders/{id}/cards → 404 ") + 200
    assert str(HttpStatusError("POST", "/api/v1/admin/products/12/cards", 409, b"")).startswith(
        "POST /api/v1/admin/products/{id}/cards → 409"
    )
    assert error.status == 404


def exchange(chunks, ask, token=None, reconnect=None):
    """``(answer, what was sent, the client)``: ``ask(client)`` on a connection that received ``chunks``.

    With ``reconnect`` (bytes), a new connection receives those."""
    client = JsonClient("http://127.0.0.1:8000", token)
    sent = []

    def connection(received):
        reader = asyncio.StreamReader()
        reader.feed_data(received)
        reader.feed_eof()
        return reader, SimpleNamespace(write=sent.append, close=lambda: sent.append("closed"))

    async def connect():
        client._reader, client._writer = connection(reconnect)

    async def scenario():
        client._reader, client._writer = connection(chunks)
        client._connect = connect
        try:
            return await ask(client), sent, client
        except Exception as exc:
            return exc, sent, client

    return asyncio.run(scenario())


def test_a_request_and_its_json_answer():
    answer, sent, client = exchange(
        b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"id": 12}\n',
        lambda client: client.request(
            "POST", "/api/v1/orders", json_body={"a": 1}, headers={"Idempotency-Key": "k"}
        ),
        token="tok",
    )
    assert answer == {"id": 12}
    assert sent == [
        b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
        b'Content-Length: 8\r\nAuthorization: Bearer tok\r\nIdempotency-Key: k\r\n\r\n{"a": 1}'
    ]
    assert client._writer is not None  # kept alive


def test_query_parameters_without_the_empty_ones():
    answer, sent, _client = exchange(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        lambda client: client.request(
            "GET", "/o", params={"changed_from": "a,b", "wait": 10, "include": None}
        ),
    )
    assert answer is None
    assert sent[0].startswith(b"GET /o?changed_from=a%2Cb&wait=10 HTTP/1.1\r\n")


def test_a_chunked_answer():
    answer, _sent, _client = exchange(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext\r\n[1, \r\n3\r\n2]\n\r\n0\r\n\r\n",
        lambda client: client.request("GET", "/x"),
    )
    assert answer == [1, 2]


def test_an_answer_ended_by_the_connection_closes_it():
    answer, sent, client = exchange(
        b'HTTP/1.1 200 OK\r\n\r\n{"ok": true}', lambda client: client.request("GET", "/x")
    )
    assert answer == {"ok": True}
    assert sent[-1] == "closed" and client._writer is None


def test_an_unexpected_status_raises():
    error, _sent, client = exchange(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
        lambda client: client.request("GET", "/x"),
    )
    assert isinstance(error, HttpStatusError) and str(error) == "GET /x → 503 busy"
    assert error.status == 503
    assert client._writer is None
    answer, _sent, _client = exchange(
        b"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}",
        lambda client: client.request("POST", "/x", expected=(201, 409)),
    )
    assert answer == {}


def test_a_kept_alive_connection_closed_before_the_request_is_tried_once_more():
    answer, sent, _client = exchange(
        b"",  # the server closed it: nothing to read
        lambda client: client.request("GET", "/x"),
        reconnect=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert answer == {}
    assert sent[0] == sent[2] and sent[1] == "closed"  # the same request, sent again


def test_a_new_connection_that_breaks_is_not_tried_again():
    async def ask(client):
        client.close()  # no connection yet: the first request connects
        return await client.request("GET", "/x")

    error, sent, _client = exchange(b"", ask, reconnect=b"")
    assert isinstance(error, asyncio.IncompleteReadError)
    assert [item for item in sent if item != "closed"] == [sent[1]]


# hotspots


def test_where_a_sample_is():
    assert (
        hotspots._entrypoint(["run (nameko/x.py)", "OrdersService.get_order (orders/service.py)"])
        == "get_order"
    )
    assert hotspots._entrypoint(["OutboxRelay.run (kameng_common/relay.py)"]) == "outbox relay"
    assert (
        hotspots._entrypoint(["wsgi (flask/app.py)", "view (kameng_gateway/blueprints/orders.py)"])
        == "route orders.view"
    )
    assert hotspots._entrypoint(["handle (gunicorn/workers/gthread.py)"]) == "gunicorn"
    assert hotspots._entrypoint(["main (x.py)"]) == "other"


def test_what_a_sample_is_doing_by_its_deepest_library():
    frames = [
        "get_order (orders/service.py)",
        "execute (sqlalchemy/engine/base.py)",
        "dumps (json/__init__.py)",
    ]
    assert hotspots._activity(frames) == "JSON"
    assert hotspots._activity(frames[:2]) == "SQL (SQLAlchemy and its driver)"
    assert hotspots._activity(frames[:1]) == "Python (the app, the standard library)"


def test_collapsed_profile(tmp_path):
    profile = tmp_path / "orders.txt"
    profile.write_text(
        "main (x.py:1);OrdersService.get_order (orders/service.py:10);execute (sqlalchemy/engine/base.py:5) 3\n"
        "main (x.py:2);OrdersService.get_order (orders/service.py:12) 1\n"
        "\n"
    )
    total, counters = hotspots.collapsed_profile(profile)
    assert total == 4
    # a function's lines count together
    assert counters["inclusive"]["OrdersService.get_order (orders/service.py)"] == 4
    assert counters["self"] == {
        "execute (sqlalchemy/engine/base.py)": 3,
        "OrdersService.get_order (orders/service.py)": 1,
    }
    assert counters["entrypoint"] == {"get_order": 4}
    assert counters["activity"]["SQL (SQLAlchemy and its driver)"] == 3

    summary = hotspots.summarise(tmp_path, {"orders": 20.0}, top=5)
    assert "=== orders: 20.0 ms CPU per purchase, 4 samples holding the GIL ===" in summary
    assert " 75.0%   15.00 ms  SQL (SQLAlchemy and its driver)" in summary
    assert (tmp_path / "summary.txt").read_text() == summary + "\n"


# steps


def test_in_parallel_keeps_the_order_of_the_calls():
    running, most = 0, 0

    async def call(value):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        return value * 10

    results = asyncio.run(steps.in_parallel([lambda value=value: call(value) for value in range(7)], 3))
    assert results == [0, 10, 20, 30, 40, 50, 60]
    assert most == 3


def test_measured_per_item_in_milliseconds(monkeypatch):
    monkeypatch.setattr(steps.probes, "cpu_snapshot", lambda: "snapshot")
    monkeypatch.setattr(steps.probes, "cpu_used", lambda *args: ({"orders": 0.5, "gateway": 0.2}, {}))
    running = SimpleNamespace(pids=lambda: {}, service_of_database=lambda: {})
    with steps.Measured(running) as measuring:
        pass
    assert measuring.per_item(100) == pytest.approx({"orders": 5.0, "gateway": 2.0})


def test_print_table(capsys):
    steps.print_table(
        {"read the cards": {"orders": 1.5, "postgresql:orders": 0.25, "load generator": 9.0}},
        ["orders", "postgresql:orders"],
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2].split() == ["orders", "pg", "orders", "suite"]
    assert printed[-1].split() == ["read", "the", "cards", "1.50", "0.25", "1.75"]


# the stage and the import benchmark


def test_a_stage_names_its_processes_and_databases():
    suite = SimpleNamespace(
        processes={"orders": SimpleNamespace(pid=10), "gateway": SimpleNamespace(pid=20)},
        settings=SimpleNamespace(gateway_url="http://127.0.0.1:8000"),
    )
    running = stage.Stage(
        suite, "postgresql", "v", "amqp://", {"orders": ("kameng_orders_x", "postgresql://")}
    )
    assert running.pids() == {"orders": 10, "gateway": 20}
    assert running.service_of_database() == {"kameng_orders_x": "orders"}
    assert running.gateway_url == "http://127.0.0.1:8000"


def test_the_import_benchmark_s_card_file():
    cards = importlib.import_module("import").card_file(3, "A")  # "import" is a keyword: no import statement
    lines = cards.decode().splitlines()
    assert len(lines) == 3
    numbers, secrets = zip(*(line.split(" ") for line in lines), strict=True)
    assert numbers == ("A0000000000", "A0000000001", "A0000000002")
    assert len(set(secrets)) == 3 and all(len(secret) == 40 for secret in secrets)
