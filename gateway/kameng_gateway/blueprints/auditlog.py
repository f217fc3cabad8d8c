"""The tamper-evident audit log, for admins and auditors (kept by the risk service)."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.auth import AUDIT_LOG_ROLES, roles_required
from kameng_gateway.blueprints import load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import AuditLogPageSchema, AuditLogQuerySchema, AuditVerificationSchema

blueprint = Blueprint("audit_log", __name__, url_prefix="/api/v1/admin/audit-log")

_QUERY_SCHEMA = AuditLogQuerySchema()
_PAGE_SCHEMA = AuditLogPageSchema()
_VERIFICATION_SCHEMA = AuditVerificationSchema()


@blueprint.get("")
@operation(
    "Read the audit log", query=AuditLogQuerySchema, responses={200: AuditLogPageSchema}, auth="required"
)
@roles_required(*AUDIT_LOG_ROLES)
def list_audit_log() -> ResponseReturnValue:
    """Admins and auditors. Newest first: every staff action that changed something,
    every card reveal, refund decision, role change and sign-in lock. Each entry's
    hash covers its content and the hash of the entry before it."""
    query = load_query(_QUERY_SCHEMA)
    page = remote.call(
        "risk",
        "list_audit_log",
        limit=query["limit"],
        cursor=query["cursor"],
        action=query.get("action"),
        actor=query.get("actor"),
    )
    return _PAGE_SCHEMA.dump(page)


@blueprint.get("/verify")
@operation("Verify the audit log's hash chain", responses={200: AuditVerificationSchema}, auth="required")
@roles_required(*AUDIT_LOG_ROLES)
def verify_audit_log() -> ResponseReturnValue:
    """Admins and auditors. Recomputes every hash from the first entry: ok is false and
    first_broken names the seq of the first entry changed, removed or moved. head is where
    the chain ends now: kept elsewhere, it also proves that nothing was rewritten since."""
    return _VERIFICATION_SCHEMA.dump(remote.call("risk", "verify_audit_log"))
