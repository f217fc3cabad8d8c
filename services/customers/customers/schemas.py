"""RPC inputs. Error messages name the field and the rule, never the value: it may be a password."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from customers import coupons, domain
from kameng_common.regions import normalise_region


def _password(**kwargs):
    return fields.String(
        validate=validate.Length(
            min=domain.PASSWORD_MIN_LENGTH,
            max=domain.PASSWORD_MAX_LENGTH,
            error="must be {min} to {max} characters",
        ),
        **kwargs,
    )


class NewAccount(Schema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            domain.USERNAME_PATTERN, error="must be 3 to 32 characters of letters, digits, '_', '.' or '-'"
        ),
    )
    password = _password(required=True)


class NewStaff(NewAccount):
    role = fields.String(
        required=True, validate=validate.OneOf(domain.STAFF_ROLES, error="must be one of: {choices}")
    )


class Region(fields.String):
    """A region as kameng_common.regions has it, normalised ("cn-gd " is CN-GD); None stays None."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        region = normalise_region(text)
        if region is None:
            raise ValidationError("must be 1 to 16 ASCII letters, digits, '_' or '-' (not XX)")
        return region


class Registration(NewAccount):
    invite_code = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    region = Region(load_default=None, allow_none=True)


class Credentials(Schema):
    # only the types: a malformed username is just an unknown one, answered as such
    username = fields.String(required=True)
    password = fields.String(required=True)
    # the signing-in client's address, as the gateway saw it
    client_ip = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class AccountRef(Schema):
    account_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class PasswordChange(AccountRef):
    # any length: it is only compared with the stored one
    current_password = fields.String(required=True, validate=validate.Length(max=domain.PASSWORD_MAX_LENGTH))
    new_password = _password(required=True)


class StaffAction(AccountRef):
    # the admin who acts: no one disables themselves or changes their own role
    actor_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class AccountDisabled(StaffAction):
    disabled = fields.Boolean(required=True)


class RoleChange(StaffAction):
    role = fields.String(
        required=True, validate=validate.OneOf(domain.STAFF_ROLES, error="must be one of: {choices}")
    )


class StaffQuery(Schema):
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))


class CustomerRef(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class Level(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=32))
    threshold = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=2**62))


class Levels(Schema):
    levels = fields.List(fields.Nested(Level), required=True)


class NewAgent(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    parent_agent_id = fields.String(load_default=None, validate=validate.Length(min=1, max=36))


class CommissionPlan(Schema):
    rates_bp = fields.List(fields.Integer(strict=True), required=True)


class Page(Schema):
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=200))


class DownlineQuery(CustomerRef, Page):
    pass


class WithdrawalQuery(Page):
    status = fields.String(
        load_default=None, validate=validate.OneOf([domain.REQUESTED, domain.PAID, domain.REJECTED])
    )


class NewWithdrawal(CustomerRef):
    amount = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=1, max=domain.MAX_WITHDRAWAL)
    )
    account = fields.String(required=True, validate=validate.Length(min=1, max=128))


class WithdrawalDecision(Schema):
    withdrawal_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    decision = fields.String(required=True, validate=validate.OneOf([domain.APPROVE, domain.REJECT]))
    reason = fields.String(load_default=None, validate=validate.Length(max=500))
    staff_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CustomerQuery(Page):
    tag = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    level = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    username = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    region = Region(load_default=None)


class CustomerTag(CustomerRef):
    tag = fields.String(required=True, validate=validate.Length(min=1, max=32))


class NewCustomerTag(CustomerTag):
    staff_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


# --- coupons ---


class NewCoupon(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True, validate=validate.OneOf(coupons.KINDS))
    value = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=10**12))
    min_total = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=10**12))
    currency = fields.String(load_default=domain.LEVEL_CURRENCY, validate=validate.Regexp(r"^[A-Z]{3}\Z"))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    total_limit = fields.Integer(
        strict=True, load_default=None, allow_none=True, validate=validate.Range(min=1, max=10**9)
    )
    per_customer_limit = fields.Integer(
        strict=True, load_default=1, validate=validate.Range(min=1, max=10**6)
    )
    product_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1)),
        load_default=list,
        validate=validate.Length(max=1000),
    )
    category_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1)),
        load_default=list,
        validate=validate.Length(max=1000),
    )
    public = fields.Boolean(load_default=True)
    segment = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=domain.SEGMENT_MAX_LENGTH)
    )
    created_by = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class CouponRef(Schema):
    coupon_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class CouponReport(CouponRef):
    tag = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))


class CouponPage(Page):
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=32))


class CouponIssue(CouponRef):
    customer_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=36)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=coupons.MAX_ISSUE),
    )
    tag = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))

    @validates_schema
    def one_audience(self, data, **_kwargs):
        if (data["customer_ids"] is None) == (data["tag"] is None):
            raise ValidationError("give either customer_ids or tag", "customer_ids")


class HeldLine(Schema):
    product_id = fields.Integer(strict=True, required=True)
    category_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    quantity = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    unit_price = fields.Integer(strict=True, required=True, validate=validate.Range(min=0))


class CouponHold(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lines = fields.List(fields.Nested(HeldLine), required=True, validate=validate.Length(min=1))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}\Z"))


class OrderRef(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ShopSettings(CustomerRef):
    slug = fields.String(required=True, validate=validate.Length(min=1, max=32))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    markup_bp = fields.Integer(strict=True, required=True)


class ShopRef(Schema):
    slug = fields.String(required=True, validate=validate.Length(min=1, max=32))
