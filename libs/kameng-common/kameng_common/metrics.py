"""Prometheus metrics, named the same way in every service."""

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

_log = logging.getLogger(__name__)

RPC_REQUESTS = Counter("kameng_rpc_requests_total", "RPC calls handled", ["service", "entrypoint", "outcome"])
RPC_DURATION = Histogram("kameng_rpc_duration_seconds", "RPC handling time", ["service", "entrypoint"])
EVENTS_HANDLED = Counter(
    "kameng_events_handled_total", "Events handled", ["service", "entrypoint", "outcome"]
)
EVENT_DURATION = Histogram("kameng_event_duration_seconds", "Event handling time", ["service", "entrypoint"])
TIMER_RUNS = Counter("kameng_timer_runs_total", "Timer runs", ["service", "entrypoint", "outcome"])
EVENTS_PUBLISHED = Counter(
    "kameng_events_published_total", "Events confirmed by the broker", ["service", "event_type"]
)


# what a scrape-time gauge reads: {label values: value}
GaugeSource = Callable[[], Mapping[tuple, float]]


class _CallbackGauge:
    """A gauge whose samples are computed when Prometheus scrapes."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.source: GaugeSource | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        try:
            samples = self.source() if self.source else {}
        except Exception:  # a scrape must answer even while a dependency is down
            _log.warning("metric %s unavailable", self.name, exc_info=True)
            samples = {}
        for label_values, value in samples.items():
            family.add_metric(list(label_values), value)
        yield family

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labels)]


_callback_gauges: dict[str, _CallbackGauge] = {}


def callback_gauge(
    name: str, documentation: str, labels: Sequence[str], source: GaugeSource
) -> _CallbackGauge:
    """Register (or re-point) a scrape-time gauge; ``source()`` returns {label values tuple: value}.

    Re-pointing keeps tests that start several containers in one process from
    registering the same metric twice.
    """
    gauge = _callback_gauges.get(name)
    if gauge is None:
        gauge = _callback_gauges[name] = _CallbackGauge(name, documentation, labels)
        REGISTRY.register(gauge)
    gauge.source = source
    return gauge
