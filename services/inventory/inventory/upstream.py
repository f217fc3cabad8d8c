"""The adapter to an upstream supplier: the channel API's client side, as inventory needs it.

Any shop that speaks the channel API (another Kameng, ``kameng supplier-sim``)
can be a supplier. Its answers are turned into the few facts inventory keeps:
a catalogue line (sku, cost price, stock) and an upstream order's outcome.
"""

from dataclasses import dataclass

from kameng_common.channel import ChannelClient, ChannelError

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"

# an upstream order's status, as the channel API answers it, and what it means for the top-up
_OUTCOMES = {
    "delivered": SUCCEEDED,
    "cancelled": FAILED,
    "expired": FAILED,
    "refunded": FAILED,
    "failed": FAILED,
}


@dataclass(frozen=True)
class UpstreamProduct:
    sku: str
    name: str
    kind: str
    cost_price: int
    currency: str
    stock: int | None


@dataclass(frozen=True)
class UpstreamOrder:
    supplier_order_id: str
    outcome: str  # PENDING, SUCCEEDED or FAILED
    # a delivered card order's cards as (number, secret), when the answer carries them
    cards: tuple[tuple[str, str], ...] | None = None


class SupplierRefused(Exception):
    """The supplier answered, and said no (a 4xx): asking again will not change its mind."""


class SupplierUnreachable(Exception):
    """No answer, or a 5xx: worth asking again later."""


class Upstream:
    def __init__(self, base_url, key_id, secret, timeout=10):
        self.client = ChannelClient(base_url, key_id, secret, timeout=timeout)

    def products(self):
        return self._call(lambda: [_product(item) for item in self.client.products()])

    def place_order(self, sku, quantity, recharge_account, client_order_id, callback_url=None):
        """The upstream order for ``client_order_id``: placed now, or the one placed before."""
        item = {"product_id": int(sku) if sku.isdigit() else sku, "quantity": quantity}
        if recharge_account:
            item["recharge_account"] = recharge_account
        return self._call(lambda: _order(self.client.place_order([item], client_order_id, callback_url)))

    def order(self, supplier_order_id):
        return self._call(lambda: _order(self.client.order(supplier_order_id)))

    @staticmethod
    def _call(ask):
        try:
            return ask()
        except ChannelError as error:
            if error.status is not None and 400 <= error.status < 500 and error.status not in (408, 429):
                raise SupplierRefused(error.code or f"HTTP {error.status}") from None
            raise SupplierUnreachable(str(error)[:200]) from None
        except (KeyError, TypeError, ValueError) as error:
            raise SupplierUnreachable(
                f"an answer not in the channel protocol ({type(error).__name__})"
            ) from None


def _product(item):
    return UpstreamProduct(
        sku=str(item["id"]),
        name=str(item["name"])[:200],
        kind=str(item.get("kind", "direct")),
        cost_price=int(item["price"]),
        currency=str(item.get("currency", "CNY")),
        stock=None if item.get("stock") is None else max(0, int(item["stock"])),
    )


def _order(answer):
    cards = answer.get("cards")
    return UpstreamOrder(
        str(answer["id"]),
        _OUTCOMES.get(answer["status"], PENDING),
        None if cards is None else tuple((str(card["number"]), str(card["secret"])) for card in cards),
    )
