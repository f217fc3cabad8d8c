"""Staff accounts and the catalogue: categories, products and their card keys."""

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue

from kameng_gateway import audit, card_import, remote
from kameng_gateway.auth import ADMIN, CATALOGUE_ROLES, roles_required, signed_in
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    AdminProductListQuerySchema,
    CardImportResultSchema,
    CardImportSchema,
    CardListQuerySchema,
    CardPageSchema,
    CardStateSchema,
    CategoryChangeSchema,
    CategoryCreationSchema,
    CategorySchema,
    PageQuerySchema,
    PriceHistorySchema,
    ProductChangeSchema,
    ProductCreationSchema,
    ProductSchema,
    StaffCreationSchema,
    StaffProductPageSchema,
    StaffProductSchema,
    StaffSchema,
)

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1/admin")

# one batch of card_import.BATCH cards is sealed and stored in well under a second
_IMPORT_BATCH_TIMEOUT = 60

_STAFF_CREATION_SCHEMA = StaffCreationSchema()
_CATEGORY_CREATION_SCHEMA = CategoryCreationSchema()
_CATEGORY_CHANGE_SCHEMA = CategoryChangeSchema()
_PRODUCT_CREATION_SCHEMA = ProductCreationSchema()
_PRODUCT_CHANGE_SCHEMA = ProductChangeSchema()
_ADMIN_PRODUCT_QUERY_SCHEMA = AdminProductListQuerySchema()
_PAGE_QUERY_SCHEMA = PageQuerySchema()
_CARD_LIST_QUERY_SCHEMA = CardListQuerySchema()
_STAFF_SCHEMA = StaffSchema()
_CATEGORY_SCHEMA = CategorySchema()
_PRODUCT_SCHEMA = ProductSchema()
_STAFF_PRODUCT_SCHEMA = StaffProductSchema()
_STAFF_PRODUCT_PAGE_SCHEMA = StaffProductPageSchema()
_PRICE_HISTORY_SCHEMA = PriceHistorySchema()
_CARD_PAGE_SCHEMA = CardPageSchema()
_CARD_STATE_SCHEMA = CardStateSchema()
_CARD_IMPORT_RESULT_SCHEMA = CardImportResultSchema()


@blueprint.post("/staff")
@operation("Create a staff account", body=StaffCreationSchema, responses={201: StaffSchema}, auth="required")
@roles_required(ADMIN)
def create_staff() -> ResponseReturnValue:
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
def create_category() -> ResponseReturnValue:
    """Under ``parent_id``, or a root without one. Names are unique among siblings:
    the same name under the same parent answers the category that has it."""
    data = load_json(_CATEGORY_CREATION_SCHEMA)
    category = remote.call("inventory", "create_category", data["name"], parent_id=data.get("parent_id"))
    audit.record(
        "category.created",
        f"category:{category['id']}",
        {"name": category["name"], "parent_id": category.get("parent_id")},
    )
    return _CATEGORY_SCHEMA.dump(category), 201


@blueprint.patch("/categories/<int:category_id>")
@operation(
    "Rename or move a category", body=CategoryChangeSchema, responses={200: CategorySchema}, auth="required"
)
@roles_required(*CATALOGUE_ROLES)
def change_category(category_id: int) -> ResponseReturnValue:
    """A category never moves under itself or its own subcategories (422); a name
    taken by a sibling where it lands conflicts (409)."""
    changes = load_json(_CATEGORY_CHANGE_SCHEMA)
    category = remote.call("inventory", "update_category", category_id, changes)
    audit.record("category.changed", f"category:{category_id}", changes)
    return _CATEGORY_SCHEMA.dump(category)


@blueprint.post("/products")
@operation("Create a product", body=ProductCreationSchema, responses={201: ProductSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def create_product() -> ResponseReturnValue:
    """Kinds: ``card`` (each card sold once), ``loop`` (one card delivered to every
    buyer, e.g. a shared account; ``stock_limit`` optionally bounds the units sold)
    and ``direct`` (fulfilled by a supplier). A membership account is a ``card``
    whose number is the login and whose secret is the password."""
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
        stock_limit=data.get("stock_limit"),
        actor=signed_in().user_id,
    )
    audit.record(
        "product.created",
        f"product:{product['id']}",
        {
            key: product.get(key)
            for key in ("name", "kind", "price", "currency", "level_prices", "stock_limit")
        },
    )
    return _PRODUCT_SCHEMA.dump(product), 201


@blueprint.get("/products")
@operation(
    "List every product, off sale too",
    query=AdminProductListQuerySchema,
    responses={200: StaffProductPageSchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def list_products() -> ResponseReturnValue:
    """At the regular price, with each product's status and stock."""
    query = load_query(_ADMIN_PRODUCT_QUERY_SCHEMA)
    page = remote.call(
        "inventory",
        "list_products",
        level="regular",
        limit=query["limit"],
        cursor=query["cursor"],
        include_off_sale=True,
    )
    return _STAFF_PRODUCT_PAGE_SCHEMA.dump(page)


@blueprint.get("/products/<int:product_id>")
@operation("One product as staff see it", responses={200: StaffProductSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def get_product(product_id: int) -> ResponseReturnValue:
    return _STAFF_PRODUCT_SCHEMA.dump(remote.call("inventory", "get_product_for_staff", product_id))


@blueprint.patch("/products/<int:product_id>")
@operation("Change a product", body=ProductChangeSchema, responses={200: StaffProductSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def change_product(product_id: int) -> ResponseReturnValue:
    """Name, price, level prices, status (``off_sale`` hides the product from buyers
    and refuses new orders of it), a loop product's ``stock_limit`` and the
    ``low_stock_threshold`` under which its stock raises ``stock.low``. An order
    already placed keeps the price it was quoted; every price is kept in the
    product's price history."""
    changes = load_json(_PRODUCT_CHANGE_SCHEMA)
    product = remote.call("inventory", "update_product", product_id, changes, actor=signed_in().user_id)
    audit.record("product.changed", f"product:{product_id}", changes)
    return _STAFF_PRODUCT_SCHEMA.dump(product)


@blueprint.get("/products/<int:product_id>/prices")
@operation(
    "A product's price history, newest first",
    query=PageQuerySchema,
    responses={200: PriceHistorySchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def price_history(product_id: int) -> ResponseReturnValue:
    query = load_query(_PAGE_QUERY_SCHEMA)
    page = remote.call("inventory", "price_history", product_id, limit=query["limit"], cursor=query["cursor"])
    return _PRICE_HISTORY_SCHEMA.dump(page)


@blueprint.post("/cards/<int:card_id>/void")
@operation("Take an unsold card out of stock", responses={200: CardStateSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def void_card(card_id: int) -> ResponseReturnValue:
    """For good: a reserved or sold card is refused (409). Voiding a loop product's
    card stops its delivery to new buyers; the orders that hold it keep it."""
    card = remote.call("inventory", "void_card", card_id)
    # the card's id and product only: never its number, which may be a login
    audit.record("card.voided", f"card:{card_id}", {"product_id": card["product_id"]})
    return _CARD_STATE_SCHEMA.dump(card)


@blueprint.post("/products/<int:product_id>/cards")
@operation(
    "Import card keys into a product's stock",
    body={
        "application/json": CardImportSchema,
        "text/plain": {
            "type": "string",
            "description": "one card a line: its number and its secret, separated by whitespace",
        },
        "text/csv": {
            "type": "string",
            "description": "one card a row: number,secret (quoted as CSV may quote); "
            "an optional header row number,secret",
        },
    },
    responses={200: CardImportResultSchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def import_cards(product_id: int) -> ResponseReturnValue:
    """Up to 100,000 cards a request (a larger body answers 413; `kameng cards import`
    sends files of any size in parts). Cards whose number is earlier in the file or
    already in stock are duplicates; lines that are no card, or cards inventory
    refuses (too long, a second card for a loop product), are rejected: both are
    named by line number (JSON: by position in ``cards``, from 1), never by content.
    Importing the same file again imports nothing twice. A body with no card at
    all is invalid (422)."""
    request.max_content_length = current_app.config["KAMENG_SETTINGS"].max_import_bytes
    card_file = card_import.read_cards(request)
    report = card_import.import_in_batches(
        card_file,
        lambda cards: remote.call(
            "inventory", "import_cards", product_id, cards, timeout=_IMPORT_BATCH_TIMEOUT
        ),
    )
    # counts only: never a card number or secret
    audit.record(
        "cards.imported",
        f"product:{product_id}",
        {key: report[key] for key in ("imported", "duplicates", "rejected")},
    )
    return _CARD_IMPORT_RESULT_SCHEMA.dump(report), 200


# Registered after the import on the same path: werkzeug matches the method before it
# converts the id, so an id beyond its column is 404 on the rule registered first.
@blueprint.get("/products/<int:product_id>/cards")
@operation(
    "A product's cards by state, never their secrets",
    query=CardListQuerySchema,
    responses={200: CardPageSchema},
    auth="required",
)
@roles_required(*CATALOGUE_ROLES)
def list_cards(product_id: int) -> ResponseReturnValue:
    """Card numbers and states (``available``, ``reserved``, ``sold``, ``void``, ``refunded``) in
    import order; ``?state=`` keeps one state. A sold card of an order refunded in full is
    ``refunded``, or ``void`` keeping its order, as KAMENG_REFUND_CARD_POLICY says. A loop
    product's card stays ``available`` while it is delivered: ``loop_orders`` counts its buyers."""
    query = load_query(_CARD_LIST_QUERY_SCHEMA)
    page = remote.call(
        "inventory",
        "list_cards",
        product_id,
        state=query.get("state"),
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return _CARD_PAGE_SCHEMA.dump(page)
