"""Upstream suppliers: shops that speak the channel API, from which direct top-ups are bought."""

from flask import Blueprint
from marshmallow import Schema, fields, validate

from kameng_gateway import audit, remote
from kameng_gateway.auth import CATALOGUE_ROLES, roles_required
from kameng_gateway.blueprints import load_json
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import RequestSchema

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


class SupplierSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    base_url = fields.String()
    key_id = fields.String()
    created_at = fields.String(metadata={"format": "date-time"})
    synced_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    sync_error = fields.String(
        allow_none=True, metadata={"description": "why the last sync failed, if it did"}
    )


class SupplierPageSchema(Schema):
    items = fields.List(fields.Nested(SupplierSchema))
    next_cursor = fields.String(allow_none=True)


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
def create_supplier():
    """Admins and ops. The same name with the same address and key answers the supplier made first."""
    data = load_json(_CREATION_SCHEMA)
    supplier = remote.call(
        "inventory", "create_supplier", data["name"], data["base_url"], data["key_id"], data["secret"]
    )
    audit.record(
        "supplier.created",
        f"supplier:{supplier['id']}",
        {"name": supplier["name"], "base_url": supplier["base_url"], "key_id": supplier["key_id"]},
    )
    return _SUPPLIER_SCHEMA.dump(supplier), 201


@blueprint.get("")
@operation("List the suppliers", responses={200: SupplierPageSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def list_suppliers():
    return _PAGE_SCHEMA.dump(remote.call("inventory", "list_suppliers"))


@blueprint.post("/<int:supplier_id>/sync")
@operation(
    "Pull a supplier's products, cost prices and stock now",
    responses={200: SyncResultSchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def sync_supplier(supplier_id):
    """A periodic sync runs anyway. An unreachable supplier answers 503 supplier_unavailable."""
    result = remote.call("inventory", "sync_supplier", supplier_id)
    audit.record("supplier.synced", f"supplier:{supplier_id}", {"products": result["products"]})
    return _SYNC_SCHEMA.dump(result)
