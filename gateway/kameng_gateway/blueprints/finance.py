"""Finance: the ledger, a period's summary, and reconciling a provider's daily statement against it."""

import csv
import io

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from kameng_gateway import remote
from kameng_gateway.auth import LEDGER_READER_ROLES, REFUND_ROLES, roles_required, signed_in
from kameng_gateway.blueprints import load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    FinanceSummaryQuerySchema,
    FinanceSummarySchema,
    LedgerEntrySchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    ReconciliationQuerySchema,
    ReconciliationSchema,
)

blueprint = Blueprint("finance", __name__, url_prefix="/api/v1/admin")

# rows in one CSV export; the answer's X-Next-Cursor header continues it
CSV_EXPORT_ROWS = 10_000
CSV_COLUMNS = ("id", "at", "transaction_id", "kind", "reference", "account", "currency", "amount")

_LEDGER_QUERY_SCHEMA = LedgerQuerySchema()
_LEDGER_PAGE_SCHEMA = LedgerPageSchema()
_RECONCILIATION_QUERY_SCHEMA = ReconciliationQuerySchema()
_RECONCILIATION_SCHEMA = ReconciliationSchema()
_SUMMARY_QUERY_SCHEMA = FinanceSummaryQuerySchema()
_SUMMARY_SCHEMA = FinanceSummarySchema()


@blueprint.post("/reconciliations")
@operation(
    "Reconcile a provider's daily statement",
    query=ReconciliationQuerySchema,
    body={
        "text/csv": {
            "type": "string",
            "description": "the provider's bill (Alipay's or WeChat's CSV), as downloaded",
        }
    },
    responses={200: ReconciliationSchema},
    auth="required",
)
@roles_required(*REFUND_ROLES)
def reconcile() -> ResponseReturnValue:
    """Admins and finance. Payments are matched by the provider's trade number and amount,
    refunds by our refund request number and amount, against what payments recorded on the
    statement's days (Beijing time): matched, missing_here, missing_at_provider and
    amount_mismatch with their rows, and broken lines by number. A mismatch raises
    kameng_reconciliation_mismatches (and its alert)."""
    query = load_query(_RECONCILIATION_QUERY_SCHEMA)
    try:
        statement = request.get_data().decode(request.mimetype_params.get("charset", "utf-8"))
    except (LookupError, UnicodeDecodeError):
        raise BadRequest("The statement is not text in its declared charset (default UTF-8).") from None
    report = remote.call("payments", "reconcile", query["provider"], statement, signed_in().user_id)
    return _RECONCILIATION_SCHEMA.dump(report)


@blueprint.get("/ledger")
@operation(
    "Read the ledger",
    query=LedgerQuerySchema,
    responses={200: {"application/json": LedgerPageSchema, "text/csv": LedgerEntrySchema}},
    auth="required",
)
@roles_required(*LEDGER_READER_ROLES)
def read_ledger() -> ResponseReturnValue:
    """Admins, finance and auditors. Entries newest first, each transaction's entries summing
    to zero. With Accept: text/csv, an export of up to 10,000 entries; the X-Next-Cursor
    header, when present, is the cursor of the rest."""
    query = load_query(_LEDGER_QUERY_SCHEMA)
    as_csv = request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
    page = remote.call(
        "payments",
        "ledger_page",
        account=query.get("account"),
        since=query["from_"].isoformat() if query.get("from_") else None,
        until=query["to"].isoformat() if query.get("to") else None,
        limit=CSV_EXPORT_ROWS if as_csv else query["limit"],
        cursor=query["cursor"],
    )
    if not as_csv:
        return _LEDGER_PAGE_SCHEMA.dump(page)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(page["items"])
    headers = {"Content-Disposition": 'attachment; filename="ledger.csv"'}
    if page["next_cursor"]:
        headers["X-Next-Cursor"] = page["next_cursor"]
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8", headers=headers)


@blueprint.get("/finance/summary")
@operation(
    "Summarise a period's money",
    query=FinanceSummaryQuerySchema,
    responses={200: FinanceSummarySchema},
    auth="required",
)
@roles_required(*LEDGER_READER_ROLES)
def finance_summary() -> ResponseReturnValue:
    """Admins, finance and auditors. Revenue (money received for orders), refunds (when given
    back), cost (of the cards delivered, at their cost price at the sale), agents' commissions,
    net and margin, per day, channel or product and per currency, with totals; at most 366 days
    (422 otherwise)."""
    query = load_query(_SUMMARY_QUERY_SCHEMA)
    summary = remote.call(
        "payments",
        "finance_summary",
        since=query["from_"].isoformat() if query.get("from_") else None,
        until=query["to"].isoformat() if query.get("to") else None,
        group_by=query["group_by"],
    )
    return _SUMMARY_SCHEMA.dump(summary)
