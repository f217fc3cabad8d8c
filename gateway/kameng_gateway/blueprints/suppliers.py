"""Upstream suppliers: shops that speak the channel API, from which direct top-ups, and the cards a
linked card product lacks, are bought."""

import json

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from kameng_common import channel as protocol
from kameng_common.errors import Unauthorized
from kameng_gateway import audit, remote
from kameng_gateway.auth import CATALOGUE_ROLES, roles_required
from kameng_gateway.blueprints import load_json
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import RequestSchema, page_of

blueprint = Blueprint("suppliers", __name__, url_prefix="/api/v1/admin/suppliers")


class SupplierCreationSchema(RequestSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    base_url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=500),
        metadata={
            "description": "where its channel API answers, e.g. https://upstream.example/ (without /api/...)"
        },
    )
    key_id = fields.String(
        required=True, validate=validate.Length(1, 64), metadata={"description": "our API key there"}
    )
    secret = fields.String(
        required=True,
        validate=validate.Length(8, 256),
        load_only=True,
        metadata={"description": "that key's secret: stored encrypted, never answered"},
    )
    deadline_seconds = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(1, 7 * 24 * 3600),
        metadata={
            "description": "how long a paid line bought from it (a top-up, or cards on demand) may take "
            "before it is refunded; null or absent: the shop's KAMENG_FULFILMENT_DEADLINE"
        },
    )


class SupplierSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    base_url = fields.String()
    key_id = fields.String()
    deadline_seconds = fields.Integer(allow_none=True)
    created_at = fields.String(metadata={"format": "date-time"})
    synced_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    sync_error = fields.String(
        allow_none=True, metadata={"description": "why the last sync failed, if it did"}
    )


SupplierPageSchema = page_of(SupplierSchema, "SupplierPageSchema")


class SyncResultSchema(Schema):
    supplier_id = fields.Integer()
    products = fields.Integer(metadata={"description": "products the supplier listed"})
    synced_at = fields.String(metadata={"format": "date-time"})


_CREATION_SCHEMA = SupplierCreationSchema()
_SUPPLIER_SCHEMA = SupplierSchema()
_PAGE_SCHEMA = SupplierPageSchema()
_SYNC_SCHEMA = SyncResultSchema()


@blueprint.post("")
@operation("Add a supplier", body=SupplierCreationSchema, responses={201: SupplierSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def create_supplier() -> ResponseReturnValue:
    """Admins and ops. The same name with the same address and key answers the supplier made first."""
    data = load_json(_CREATION_SCHEMA)
    supplier = remote.call(
        "inventory",
        "create_supplier",
        data["name"],
        data["base_url"],
        data["key_id"],
        data["secret"],
        data.get("deadline_seconds"),
    )
    audit.record(
        "supplier.created",
        f"supplier:{supplier['id']}",
        {key: supplier[key] for key in ("name", "base_url", "key_id", "deadline_seconds")},
    )
    return _SUPPLIER_SCHEMA.dump(supplier), 201


@blueprint.get("")
@operation("List the suppliers", responses={200: SupplierPageSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def list_suppliers() -> ResponseReturnValue:
    return _PAGE_SCHEMA.dump(remote.call("inventory", "list_suppliers"))


@blueprint.post("/<int:supplier_id>/sync")
@operation(
    "Pull a supplier's products, cost prices and stock now",
    responses={200: SyncResultSchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def sync_supplier(supplier_id: int) -> ResponseReturnValue:
    """A periodic sync runs anyway. An unreachable supplier answers 503 supplier_unavailable."""
    result = remote.call("inventory", "sync_supplier", supplier_id)
    audit.record("supplier.synced", f"supplier:{supplier_id}", {"products": result["products"]})
    return _SYNC_SCHEMA.dump(result)


callbacks_blueprint = Blueprint("supplier_callbacks", __name__, url_prefix="/api/v1/supplier-callbacks")


class CallbackResultSchema(Schema):
    accepted = fields.Boolean(metadata={"description": "whether it named a top-up still waiting"})


_CALLBACK_RESULT_SCHEMA = CallbackResultSchema()


@callbacks_blueprint.post("/<int:supplier_id>")
@operation("A supplier's outcome of a top-up", responses={200: CallbackResultSchema}, auth="channel")
def supplier_callback(supplier_id: int) -> ResponseReturnValue:
    """Where a supplier pushes an order's outcome, signed like a channel request with
    our API key there. It only hastens the next look at that order: the outcome itself
    is read back from the supplier, so a lost, late or repeated callback changes nothing."""
    headers = {name: request.headers.get(name, "").strip() for name in protocol.HEADERS}
    if not all(headers.values()) or not protocol.timestamp_fresh(headers[protocol.TIMESTAMP_HEADER]):
        raise Unauthorized("Sign the callback with a fresh timestamp.", "invalid_signature")
    body = request.get_data(cache=True)
    try:
        supplier_order_id = str(json.loads(body)["id"])
    except (ValueError, KeyError, TypeError):
        raise ValidationError({"id": ["The callback names the supplier's order as id."]}) from None
    message = protocol.string_to_sign(
        "POST",
        request.path,
        request.query_string.decode("latin-1"),
        headers[protocol.TIMESTAMP_HEADER],
        headers[protocol.NONCE_HEADER],
        body,
    )
    result = remote.call(
        "inventory",
        "supplier_callback",
        supplier_id,
        headers[protocol.KEY_HEADER],
        message,
        headers[protocol.SIGNATURE_HEADER],
        supplier_order_id,
    )
    return _CALLBACK_RESULT_SCHEMA.dump(result)
