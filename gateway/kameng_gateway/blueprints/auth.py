"""Customer sign-up and bearer tokens."""

from flask import Blueprint, request

from kameng_gateway import remote
from kameng_gateway.auth import issue_token
from kameng_gateway.blueprints import load_json
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import CredentialsSchema, CustomerSchema, RegistrationSchema, TokenSchema

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

_REGISTRATION_SCHEMA = RegistrationSchema()
_CREDENTIALS_SCHEMA = CredentialsSchema()
_CUSTOMER_SCHEMA = CustomerSchema()
_TOKEN_SCHEMA = TokenSchema()


@blueprint.post("/register")
@operation("Create a customer account", body=RegistrationSchema, responses={201: CustomerSchema})
def register():
    data = load_json(_REGISTRATION_SCHEMA)
    customer = remote.call(
        "customers", "register", data["username"], data["password"], invite_code=data.get("invite_code")
    )
    return _CUSTOMER_SCHEMA.dump(customer), 201


@blueprint.post("/token")
@operation(
    "Exchange a username and password for a bearer token",
    body=CredentialsSchema,
    responses={200: TokenSchema},
)
def issue_access_token():
    """Customers and staff alike; the token's claims carry the kind and the staff role."""
    data = load_json(_CREDENTIALS_SCHEMA)
    # the address lets risk see a sign-in from a network the customer never used
    user = remote.call(
        "customers", "authenticate", data["username"], data["password"], client_ip=request.remote_addr
    )
    return _TOKEN_SCHEMA.dump(issue_token(user)), 200, {"Cache-Control": "no-store"}
