"""The business metrics of risk: counters here, gauges declared beside the service's dependencies."""

from prometheus_client import Counter

from risk import domain

DECISIONS = Counter("kameng_risk_decisions_total", "Orders scored, by decision", ["decision"])
for _decision in domain.DECISIONS:
    DECISIONS.labels(_decision)  # every decision shows from the first scrape, at zero


def count_decision(decision):
    DECISIONS.labels(decision).inc()
