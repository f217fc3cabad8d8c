"""RPC inputs. Error messages name the field and the rule, never the value: it may be a password."""

from marshmallow import Schema, fields, validate

from customers import domain


class NewAccount(Schema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            domain.USERNAME_PATTERN, error="must be 3 to 32 characters of letters, digits, '_', '.' or '-'"
        ),
    )
    password = fields.String(
        required=True,
        validate=validate.Length(
            min=domain.PASSWORD_MIN_LENGTH,
            max=domain.PASSWORD_MAX_LENGTH,
            error="must be {min} to {max} characters",
        ),
    )


class NewStaff(NewAccount):
    role = fields.String(
        required=True, validate=validate.OneOf(domain.STAFF_ROLES, error="must be one of: {choices}")
    )


class Credentials(Schema):
    # only the types: a malformed username is just an unknown one, answered as such
    username = fields.String(required=True)
    password = fields.String(required=True)


class CustomerRef(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
