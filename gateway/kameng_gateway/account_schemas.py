"""marshmallow schemas of the account routes: the signed-in account, its password, and staff management."""

from marshmallow import Schema, fields, validate

from kameng_gateway.auth import STAFF_ROLES
from kameng_gateway.schemas import NEW_PASSWORD, RequestSchema, page_of


class PasswordChangeSchema(RequestSchema):
    current_password = fields.String(required=True, validate=validate.Length(1, 256), load_only=True)
    new_password = fields.String(
        required=True,
        validate=NEW_PASSWORD,
        load_only=True,
        metadata={"description": "8 to 256 characters, hard enough to guess (422 weak_password otherwise)"},
    )


class AgentRefSchema(Schema):
    agent_id = fields.String()
    invite_code = fields.String()


class MeSchema(Schema):
    id = fields.String()
    username = fields.String()
    kind = fields.String(metadata={"enum": ["customer", "staff"]})
    role = fields.String(
        allow_none=True, metadata={"description": "a staff member's role; null for a customer"}
    )
    level = fields.String(allow_none=True, metadata={"description": "a customer's membership level"})
    balance = fields.Integer(
        allow_none=True, metadata={"description": "a customer's wallet balance, minor units; null for staff"}
    )
    currency = fields.String(allow_none=True)
    agent = fields.Nested(
        AgentRefSchema,
        allow_none=True,
        metadata={"description": "the customer's agent account, if they are one"},
    )


class StaffListQuerySchema(RequestSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(1, 32),
        metadata={"description": "next_cursor of the page before"},
    )


class StaffAccountSchema(Schema):
    id = fields.String()
    username = fields.String()
    role = fields.String(validate=validate.OneOf(STAFF_ROLES))
    disabled = fields.Boolean()
    created_at = fields.String()


StaffPageSchema = page_of(StaffAccountSchema, "StaffPageSchema")


class RoleChangeSchema(RequestSchema):
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))


class AccountStateSchema(Schema):
    id = fields.String()
    username = fields.String()
    kind = fields.String(metadata={"enum": ["customer", "staff"]})
    role = fields.String(allow_none=True)
    disabled = fields.Boolean()
