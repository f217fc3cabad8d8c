"""The gateway's own entries in the tamper-evident audit log.

``record(action, target, detail)`` after a staff action the gateway carries
out, or a sign-in lock it decides: one ``risk.record_audit`` call, with an
entry id made here so that a retried call appends once. Services write their
entries with ``kameng_common.auditlog.record`` inside their own unit of work
instead. An entry that cannot be written is logged and counted
(``kameng_gateway_audit_failures_total``) rather than undoing the action.
"""

import datetime
import logging
import uuid

from kameng_common.errors import KamengError
from kameng_gateway import metrics, remote
from kameng_gateway.auth import current_identity

_log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"


def record(action: str, target: object, detail: dict | None = None, actor: object = None) -> None:
    if actor is None:
        identity = current_identity()
        actor = identity.user_id if identity is not None else ANONYMOUS
    entry_id = str(uuid.uuid4())
    at = datetime.datetime.now(datetime.UTC).isoformat()
    for attempt in (1, 2):
        try:
            remote.call("risk", "record_audit", entry_id, at, str(actor), action, str(target), detail or {})
            return
        except KamengError as error:
            if attempt == 2:
                metrics.AUDIT_FAILURES.labels(action).inc()
                _log.error(
                    "audit entry not written",
                    extra={
                        "action": action,
                        "target": str(target),
                        "entry_id": entry_id,
                        "error": error.code,
                    },
                )
