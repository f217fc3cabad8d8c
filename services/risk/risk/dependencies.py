"""nameko dependency providers of the risk service."""

from nameko.extensions import DependencyProvider

from kameng_common.extensions import ServiceDatabase
from kameng_common.metrics import callback_gauge
from risk import domain, usecases

# config key → Thresholds field
_THRESHOLD_SETTINGS = {
    "REVIEW_AMOUNT": "review_amount",
    "REJECT_AMOUNT": "reject_amount",
    "VELOCITY_REVIEW": "velocity_review",
    "VELOCITY_REJECT": "velocity_reject",
    "VELOCITY_WINDOW_SECONDS": "velocity_window_seconds",
}


class RiskThresholds(DependencyProvider):
    """The scoring thresholds from config, checked when the service starts rather than at the first order."""

    def setup(self):
        config = self.container.config
        self.thresholds = domain.Thresholds(
            **{field: int(config[key]) for key, field in _THRESHOLD_SETTINGS.items() if key in config}
        )

    def get_dependency(self, worker_ctx):
        return self.thresholds


class ReviewQueueGauge(DependencyProvider):
    """``kameng_risk_reviews_waiting``: orders waiting for a human decision, counted at scrape time."""

    def setup(self):
        database = next(
            dependency
            for dependency in self.container.dependencies
            if isinstance(dependency, ServiceDatabase)
        )
        callback_gauge(
            "kameng_risk_reviews_waiting",
            "Orders waiting for a human review",
            [],
            lambda: {(): usecases.count_waiting_reviews(database.database)},
        )
