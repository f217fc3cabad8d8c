"""RPC inputs."""

from marshmallow import Schema, fields, validate


class BlacklistEntry(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


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
