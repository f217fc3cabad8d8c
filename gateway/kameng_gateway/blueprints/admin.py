"""Staff accounts and the catalogue: categories, products and their card keys."""

from flask import Blueprint, request
from marshmallow import ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from kameng_gateway import audit, remote
from kameng_gateway.auth import ADMIN, CATALOGUE_ROLES, roles_required
from kameng_gateway.blueprints import load_json
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    CardImportResultSchema,
    CardImportSchema,
    CategoryCreationSchema,
    CategorySchema,
    ProductCreationSchema,
    ProductSchema,
    StaffCreationSchema,
    StaffSchema,
)

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1/admin")

# enough line numbers to find the mistakes, not a copy of a huge file
_REPORTED_BAD_LINES = 20

_STAFF_CREATION_SCHEMA = StaffCreationSchema()
_CATEGORY_CREATION_SCHEMA = CategoryCreationSchema()
_PRODUCT_CREATION_SCHEMA = ProductCreationSchema()
_CARD_IMPORT_SCHEMA = CardImportSchema()
_STAFF_SCHEMA = StaffSchema()
_CATEGORY_SCHEMA = CategorySchema()
_PRODUCT_SCHEMA = ProductSchema()
_CARD_IMPORT_RESULT_SCHEMA = CardImportResultSchema()


@blueprint.post("/staff")
@operation("Create a staff account", body=StaffCreationSchema, responses={201: StaffSchema}, auth="required")
@roles_required(ADMIN)
def create_staff():
    """Admins only. Roles: admin; ops (catalogue, stock, coupons); support (orders,
    customers; never card secrets or money); finance (payments, refunds, ledger,
    reconciliation); auditor (read-only, audit log)."""
    data = load_json(_STAFF_CREATION_SCHEMA)
    staff = remote.call("customers", "create_staff", data["username"], data["password"], data["role"])
    audit.record(
        "staff.created", f"account:{staff['id']}", {"username": staff["username"], "role": staff["role"]}
    )
    return _STAFF_SCHEMA.dump(staff), 201


@blueprint.post("/categories")
@operation(
    "Create a product category", body=CategoryCreationSchema, responses={201: CategorySchema}, auth="required"
)
@roles_required(*CATALOGUE_ROLES)
def create_category():
    data = load_json(_CATEGORY_CREATION_SCHEMA)
    category = remote.call("inventory", "create_category", data["name"])
    audit.record("category.created", f"category:{category['id']}", {"name": category["name"]})
    return _CATEGORY_SCHEMA.dump(category), 201


@blueprint.post("/products")
@operation("Create a product", body=ProductCreationSchema, responses={201: ProductSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def create_product():
    data = load_json(_PRODUCT_CREATION_SCHEMA)
    product = remote.call(
        "inventory",
        "create_product",
        data["name"],
        data["category_id"],
        data["kind"],
        data["price"],
        currency=data["currency"],
        level_prices=data.get("level_prices"),
        # a direct product's supplier, when it names one
        **{field: data[field] for field in ("supplier_id", "supplier_sku") if field in data},
    )
    audit.record(
        "product.created",
        f"product:{product['id']}",
        {key: product.get(key) for key in ("name", "kind", "price", "currency", "level_prices")},
    )
    return _PRODUCT_SCHEMA.dump(product), 201


@blueprint.post("/products/<int:product_id>/cards")
@operation(
    "Import card keys into a product's stock",
    body={
        "application/json": CardImportSchema,
        "text/plain": {
            "type": "string",
            "description": "one card a line: its number and its secret, separated by whitespace",
        },
    },
    responses={200: CardImportResultSchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def import_cards(product_id):
    """Cards already in stock count as duplicates; cards the inventory refuses as rejected."""
    if request.mimetype == "text/plain":
        cards = _CARD_IMPORT_SCHEMA.load({"cards": _cards_from_text()})["cards"]
    elif request.is_json:
        cards = load_json(_CARD_IMPORT_SCHEMA)["cards"]
    else:
        raise UnsupportedMediaType("Send the cards as application/json or text/plain.")
    result = remote.call("inventory", "import_cards", product_id, cards)
    # counts only: never a card number or secret
    audit.record("cards.imported", f"product:{product_id}", dict(result))
    return _CARD_IMPORT_RESULT_SCHEMA.dump(result), 200


def _cards_from_text():
    try:
        text = request.get_data().decode(request.mimetype_params.get("charset", "utf-8"))
    except (LookupError, UnicodeDecodeError):
        raise ValidationError(
            {"cards": ["The body is not text in its declared charset (default UTF-8)."]}
        ) from None
    cards, bad_lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if len(fields) == 2:
            cards.append({"number": fields[0], "secret": fields[1]})
        elif fields:
            bad_lines.append(number)
    if bad_lines:
        # line numbers only: the content of a line may be a card secret
        shown = ", ".join(map(str, bad_lines[:_REPORTED_BAD_LINES]))
        unshown = len(bad_lines) - _REPORTED_BAD_LINES
        more = f" and {unshown} more" if unshown > 0 else ""
        raise ValidationError(
            {"cards": [f"Each line must be 'number secret'; not so on line(s) {shown}{more}."]}
        )
    return cards
