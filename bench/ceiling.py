"""The broker's ceiling on this machine: raw pika, publish with confirms → consume with manual acks.

Each pair is a publisher process and a consumer process on a durable queue of
its own, in a vhost of its own. The publisher keeps a window of unconfirmed
messages in flight (asynchronous confirms), the consumer acks every
``ACK_EVERY`` messages with ``multiple``; messages are persistent, like the
suite's events. The figure is messages consumed per second over the
measured window, all pairs together: each message was published, confirmed,
delivered and acked.
"""

import multiprocessing
import time

import pika

from kameng_common.testing import create_vhost, delete_vhost

BODY = b"x" * 600  # about the size of a Kameng event envelope
CONFIRM_WINDOW = 2000
PREFETCH = 1000
ACK_EVERY = 100


def _publisher(amqp_uri, queue, seconds):
    connection = None
    in_flight = 0
    properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    deadline = time.monotonic() + seconds
    confirmed = {"tag": 0}

    def fill(channel):
        nonlocal in_flight
        while in_flight < CONFIRM_WINDOW and time.monotonic() < deadline:
            channel.basic_publish("", queue, BODY, properties)
            in_flight += 1

    def on_confirm(frame):
        nonlocal in_flight
        tag = frame.method.delivery_tag
        acked = tag - confirmed["tag"] if frame.method.multiple else 1
        confirmed["tag"] = max(confirmed["tag"], tag)
        in_flight -= acked
        if time.monotonic() >= deadline:
            if in_flight <= 0:
                connection.close()
            return
        if in_flight < CONFIRM_WINDOW // 2:
            fill(channel_holder[0])

    channel_holder = []

    def on_channel(channel):
        channel_holder.append(channel)
        channel.confirm_delivery(on_confirm, callback=lambda _frame: fill(channel))

    def on_open(opened):
        opened.channel(on_open_callback=on_channel)

    connection = pika.SelectConnection(
        pika.URLParameters(amqp_uri),
        on_open_callback=on_open,
        on_close_callback=lambda *_args: connection.ioloop.stop(),
    )
    connection.ioloop.start()


def _consumer(amqp_uri, queue, warmup, seconds, consumed):
    counted = {"all": 0, "start": None}
    window_start = time.monotonic() + warmup
    window_end = window_start + seconds

    def on_message(channel, method, _properties, _body):
        counted["all"] += 1
        now = time.monotonic()
        if counted["start"] is None and now >= window_start:
            counted["start"] = counted["all"]
        if counted["all"] % ACK_EVERY == 0:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if now >= window_end:
            channel.basic_ack(method.delivery_tag, multiple=True)
            consumed.value = counted["all"] - (counted["start"] or counted["all"])
            connection.close()

    def on_channel(channel):
        channel.basic_qos(
            prefetch_count=PREFETCH, callback=lambda _frame: channel.basic_consume(queue, on_message)
        )

    connection = pika.SelectConnection(
        pika.URLParameters(amqp_uri),
        on_open_callback=lambda opened: opened.channel(on_open_callback=on_channel),
        on_close_callback=lambda *_args: connection.ioloop.stop(),
    )
    connection.ioloop.start()


def measure(pairs=1, warmup=1.0, seconds=5.0):
    """Messages per second through ``pairs`` publisher → queue → consumer pairs on a fresh vhost."""
    vhost, amqp_uri = create_vhost("kameng-bench-ceiling")
    try:
        with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as connection:
            channel = connection.channel()
            queues = [f"ceiling-{number}" for number in range(pairs)]
            for queue in queues:
                channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "classic"})
        consumed = [multiprocessing.Value("q", 0) for _ in queues]
        consumers = [
            multiprocessing.Process(target=_consumer, args=(amqp_uri, queue, warmup, seconds, count))
            for queue, count in zip(queues, consumed, strict=False)
        ]
        # publishing goes on a little longer, so the consumers never run dry inside their window
        publishers = [
            multiprocessing.Process(target=_publisher, args=(amqp_uri, queue, warmup + seconds + 1.0))
            for queue in queues
        ]
        for process in consumers + publishers:
            process.start()
        for process in consumers + publishers:
            process.join(warmup + seconds + 30)
            if process.is_alive():
                process.kill()
        return sum(count.value for count in consumed) / seconds
    finally:
        delete_vhost(vhost)


def broker_ceiling(seconds=5.0):
    """The best of one and two pairs: one Python pair may not saturate the broker, two may crowd it."""
    rates = {pairs: measure(pairs=pairs, seconds=seconds) for pairs in (1, 2)}
    best = max(rates, key=rates.get)
    return {
        "messages_per_second": rates[best],
        "pairs": best,
        "by_pairs": {str(pairs): rate for pairs, rate in rates.items()},
        "message": f"{len(BODY)} bytes, persistent, durable classic queue",
        "publisher": f"asynchronous confirms, up to {CONFIRM_WINDOW} unconfirmed",
        "consumer": f"manual acks (multiple, every {ACK_EVERY}), prefetch {PREFETCH}",
    }


if __name__ == "__main__":
    print(broker_ceiling())
