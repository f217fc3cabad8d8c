"""Customers as the shop sees them: membership levels."""

from flask import Blueprint

from kameng_gateway import remote
from kameng_gateway.auth import ADMIN, OPS, roles_required
from kameng_gateway.blueprints import load_json
from kameng_gateway.customer_schemas import LevelsSchema
from kameng_gateway.openapi import operation

blueprint = Blueprint("customers", __name__, url_prefix="/api/v1/admin")

LEVEL_ROLES = (ADMIN, OPS)

_LEVELS_SCHEMA = LevelsSchema()


@blueprint.get("/levels")
@operation("The membership levels", responses={200: LevelsSchema}, auth="required")
@roles_required(*LEVEL_ROLES)
def get_levels():
    """Each level and the lifetime spend that reaches it, lowest first."""
    return _LEVELS_SCHEMA.dump(remote.call("customers", "get_levels"))


@blueprint.put("/levels")
@operation("Set the membership levels", body=LevelsSchema, responses={200: LevelsSchema}, auth="required")
@roles_required(*LEVEL_ROLES)
def set_levels():
    """Replaces the whole table. The first level is `regular` at 0; thresholds rise strictly.
    A customer moves up as soon as a delivered order takes their spend over a threshold, and
    the next quote prices them at the new level (products' level_prices under the same name).
    Levels never go down: a customer keeps the level they hold when thresholds change."""
    data = load_json(_LEVELS_SCHEMA)
    return _LEVELS_SCHEMA.dump(remote.call("customers", "set_levels", data["levels"]))
