"""The business metrics of risk: counters here, gauges declared beside the service's dependencies."""

from prometheus_client import Counter

from risk import domain

DECISIONS = Counter("kameng_risk_decisions_total", "Orders scored, by decision", ["decision"])
RULE_HITS = Counter(
    "kameng_risk_rule_hits_total",
    "Rules that fired on an order, by rule and the decision called for",
    ["rule", "decision"],
)
for _decision in domain.DECISIONS:
    DECISIONS.labels(_decision)  # every decision shows from the first scrape, at zero
    if _decision != domain.APPROVE:
        for _rule in domain.RULE_NAMES:
            RULE_HITS.labels(_rule, _decision)


def count_assessment(assessment):
    DECISIONS.labels(assessment.decision).inc()
    for rule, decision in assessment.hits:
        RULE_HITS.labels(rule, decision).inc()
