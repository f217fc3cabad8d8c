"""What the channel API and the API-key admin routes accept and answer."""

from marshmallow import Schema, fields, validate

from kameng_gateway.schemas import OrderSchema, ProductSchema, RequestSchema, money, page_of

API_KEY_SCOPES = ("products:read", "orders:create", "orders:read", "balance:read")


class ApiKeyCreationSchema(RequestSchema):
    customer_id = fields.String(required=True, validate=validate.Length(1, 64))
    name = fields.String(required=True, validate=validate.Length(1, 100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(API_KEY_SCOPES)),
        load_default=list(API_KEY_SCOPES),
        validate=validate.Length(min=1),
        metadata={"description": f"what the key may do; all of {', '.join(API_KEY_SCOPES)} when absent"},
    )


class ApiKeySchema(Schema):
    key_id = fields.String()
    customer_id = fields.String()
    name = fields.String()
    scopes = fields.List(fields.String())
    created_at = fields.String(metadata={"format": "date-time"})
    revoked_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class NewApiKeySchema(ApiKeySchema):
    secret = fields.String(metadata={"description": "shown this once; Kameng cannot show it again"})


class ChannelOrderItemSchema(RequestSchema):
    product_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    recharge_account = fields.String(
        validate=validate.Length(1, 128), metadata={"description": "a direct top-up's: the account to top up"}
    )


class ChannelOrderCreationSchema(RequestSchema):
    items = fields.List(
        fields.Nested(ChannelOrderItemSchema), required=True, validate=validate.Length(1, 100)
    )
    client_order_id = fields.String(
        required=True,
        validate=[validate.Length(1, 64), validate.Regexp(r"^[A-Za-z0-9_.:-]+$")],
        metadata={"description": "your id for the order: the same one again answers the same order"},
    )
    callback_url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=500),
        metadata={
            "description": "where the outcome is POSTed, signed with the key's secret, until answered 2xx"
        },
    )


class ChannelCardSchema(Schema):
    number = fields.String()
    secret = fields.String()


class ChannelOrderSchema(OrderSchema):
    client_order_id = fields.String(allow_none=True)
    callback_url = fields.String(allow_none=True)
    cards = fields.List(
        fields.Nested(ChannelCardSchema),
        metadata={"description": "once delivered: the card keys (each reveal is audited)"},
    )


ChannelProductPageSchema = page_of(ProductSchema, "ChannelProductPageSchema")


class BalanceSchema(Schema):
    customer_id = fields.String()
    balance = money()
    currency = fields.String()
