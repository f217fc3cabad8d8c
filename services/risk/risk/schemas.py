"""RPC inputs."""

from marshmallow import Schema, ValidationError, fields, validate

from kameng_common.errors import InvalidInput


class BlacklistEntry(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


def load(schema, data):
    """``data`` validated by ``schema``, or InvalidInput naming each bad field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field} {' '.join(messages) if isinstance(messages, list) else messages}"
            for field, messages in sorted(exc.messages.items())
        )
        raise InvalidInput(f"invalid input: {problems}") from None
