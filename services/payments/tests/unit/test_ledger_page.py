"""The ledger as finance reads it: entries newest first, by account and time, paginated."""

import datetime

import pytest

from kameng_common.errors import InvalidInput
from payments import usecases


def test_the_ledger_pages_through_entries_by_account_and_time(any_db, fund_wallet, open_intent):
    fund_wallet("buyer-1", 5000)
    open_intent(method="balance", amount=1200)
    everything = usecases.ledger_page(any_db, limit=100)["items"]
    # a mockpay payment, its refund to the wallet, a wallet payment: two entries each
    assert len(everything) == 6
    assert sum(entry["amount"] for entry in everything) == 0

    wallet = usecases.ledger_page(any_db, account="wallet:buyer-1")["items"]
    assert [(entry["kind"], entry["amount"]) for entry in wallet] == [("payment", 1200), ("refund", -5000)]

    seen, cursor = [], None
    while True:
        page = usecases.ledger_page(any_db, limit=4, cursor=cursor)
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == everything

    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)).isoformat()
    assert usecases.ledger_page(any_db, since=later)["items"] == []
    assert len(usecases.ledger_page(any_db, until=later, limit=100)["items"]) == 6


@pytest.mark.parametrize(
    "query", [{"since": "yesterday"}, {"since": "2026-11-27T10:00:00"}, {"limit": 0}, {"cursor": "x"}]
)
def test_a_bad_ledger_query_is_422(db, query):
    with pytest.raises(InvalidInput):
        usecases.ledger_page(db, **query)
