"""The business metrics of orders: counters here, gauges declared beside the service's dependencies."""

from prometheus_client import Counter

from orders import domain

REVIEWS_CLOSED = Counter(
    "kameng_orders_reviews_closed_total", "Reviews of orders on hold, by outcome", ["decision"]
)
for _outcome in domain.REVIEW_OUTCOMES:
    REVIEWS_CLOSED.labels(_outcome)  # every outcome shows from the first scrape, at zero

CALLBACK_ATTEMPTS = Counter(
    "kameng_channel_callback_attempts_total",
    "Tries to push a channel order's outcome to its callback_url, by outcome",
    ["outcome"],
)


def count_review_closed(outcome):
    REVIEWS_CLOSED.labels(outcome).inc()


def count_callback_attempt(outcome):
    CALLBACK_ATTEMPTS.labels(outcome).inc()
