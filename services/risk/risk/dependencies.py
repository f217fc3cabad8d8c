"""nameko dependency providers of the risk service."""

from nameko.extensions import DependencyProvider

from risk import domain

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
