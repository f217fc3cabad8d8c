"""RPC inputs."""

from marshmallow import Schema, fields, validate

from kameng_common import contracts
from kameng_common.money import amount_field, currency_field
from risk import domain

# printable, no whitespace: what an id, an address or a device id looks like
TOKEN = validate.Regexp(r"^[^\s\x00-\x1f\x7f]+$")


class BlacklistEntry(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(domain.BLACKLIST_KINDS))
    value = fields.String(required=True, validate=validate.And(validate.Length(min=1, max=128), TOKEN))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    created_by = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class BlacklistQuery(Schema):
    kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(domain.BLACKLIST_KINDS))
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class BlacklistEntryRef(Schema):
    entry_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    removed_by = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class AuditEntryInput(Schema):
    entry_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    at = fields.String(required=True, validate=validate.Length(min=1, max=40))
    actor = fields.String(required=True, validate=validate.Length(min=1, max=64))
    action = fields.String(required=True, validate=validate.Length(min=1, max=64))
    target = fields.String(required=True, validate=validate.Length(max=128))
    detail = fields.Dict(load_default=dict)


class AuditQuery(Schema):
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    action = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    actor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class OrderToAssess(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    items = fields.List(fields.Nested(contracts.OrderLine), required=True, validate=validate.Length(min=1))
    total = amount_field(required=True)
    currency = currency_field(required=True)
    # when orders created the order: the rules count by it, however late risk is asked
    created_at = fields.AwareDateTime(required=True)
    # where the buyer ordered from, as the gateway saw it (for the blacklist)
    client_ip = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=45))
    device_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
