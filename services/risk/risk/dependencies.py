"""nameko dependency providers of the risk service."""

from nameko.extensions import DependencyProvider

from risk import domain

# config key → Thresholds field (each key comes from KAMENG_RISK_<key>, or KAMENG_MAX_UNPAID_ORDERS)
_THRESHOLD_SETTINGS = {
    "REVIEW_AMOUNT": "review_amount",
    "REJECT_AMOUNT": "reject_amount",
    "VELOCITY_REVIEW": "velocity_review",
    "VELOCITY_REJECT": "velocity_reject",
    "VELOCITY_WINDOW_SECONDS": "velocity_window_seconds",
    "MAX_UNPAID_ORDERS": "max_unpaid_orders",
    "MAX_UNPAID_UNITS_PER_PRODUCT": "max_unpaid_units_per_product",
    "NEW_ACCOUNT_SECONDS": "new_account_seconds",
    "NEW_ACCOUNT_REVIEW_AMOUNT": "new_account_review_amount",
    "CARD_TESTING_REVIEW": "card_testing_review",
    "CARD_TESTING_REJECT": "card_testing_reject",
    "CARD_TESTING_WINDOW_SECONDS": "card_testing_window_seconds",
    "REFUND_REVIEW": "refund_review",
    "REFUND_REJECT": "refund_reject",
    "REFUND_WINDOW_SECONDS": "refund_window_seconds",
    "SIGNIN_WINDOW_SECONDS": "signin_window_seconds",
    "SIGNIN_REVIEW_AMOUNT": "signin_review_amount",
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
