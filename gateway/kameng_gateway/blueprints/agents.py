"""Agents (代理): made by admins, paid by finance; their own earnings, downline and withdrawals."""

import uuid

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.auth import ADMIN, FINANCE, customer_required, roles_required, signed_in
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.customer_schemas import (
    AgentCreationSchema,
    AgentSchema,
    CommissionPlanSchema,
    DownlinePageSchema,
    EarningsSchema,
    ShopSchema,
    ShopSettingsSchema,
    WithdrawalDecisionSchema,
    WithdrawalListQuerySchema,
    WithdrawalPageSchema,
    WithdrawalRequestSchema,
    WithdrawalSchema,
)
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import PageQuerySchema

blueprint = Blueprint("agents", __name__, url_prefix="/api/v1")

WITHDRAWAL_ROLES = (ADMIN, FINANCE)

_AGENT_CREATION_SCHEMA = AgentCreationSchema()
_AGENT_SCHEMA = AgentSchema()
_PLAN_SCHEMA = CommissionPlanSchema()
_EARNINGS_SCHEMA = EarningsSchema()
_PAGE_QUERY_SCHEMA = PageQuerySchema()
_DOWNLINE_PAGE_SCHEMA = DownlinePageSchema()
_WITHDRAWAL_REQUEST_SCHEMA = WithdrawalRequestSchema()
_WITHDRAWAL_SCHEMA = WithdrawalSchema()
_WITHDRAWAL_LIST_QUERY_SCHEMA = WithdrawalListQuerySchema()
_WITHDRAWAL_PAGE_SCHEMA = WithdrawalPageSchema()
_WITHDRAWAL_DECISION_SCHEMA = WithdrawalDecisionSchema()
_SHOP_SETTINGS_SCHEMA = ShopSettingsSchema()
_SHOP_SCHEMA = ShopSchema()


@blueprint.post("/admin/agents")
@operation(
    "Make a customer an agent", body=AgentCreationSchema, responses={201: AgentSchema}, auth="required"
)
@roles_required(ADMIN)
def make_agent() -> ResponseReturnValue:
    """Under parent_agent_id, or at the top without one. The agent buys at the `agent` level's
    price and gets an invite code. Asking again for the same place answers the same agent; another
    place moves the agent with its whole subtree, and a place inside that subtree is 422
    `agent_cycle`."""
    data = load_json(_AGENT_CREATION_SCHEMA)
    agent = remote.call("customers", "make_agent", data["customer_id"], data.get("parent_agent_id"))
    return _AGENT_SCHEMA.dump(agent), 201


@blueprint.get("/admin/commission-plan")
@operation("The commission plan", responses={200: CommissionPlanSchema}, auth="required")
@roles_required(ADMIN)
def get_commission_plan() -> ResponseReturnValue:
    return _PLAN_SCHEMA.dump(remote.call("customers", "get_commission_plan"))


@blueprint.put("/admin/commission-plan")
@operation(
    "Set the commission plan",
    body=CommissionPlanSchema,
    responses={200: CommissionPlanSchema},
    auth="required",
)
@roles_required(ADMIN)
def set_commission_plan() -> ResponseReturnValue:
    """When an order is delivered, the agent closest above the buyer earns rates_bp[0] of its
    total, the next rates_bp[1], and so on, as deep as the plan goes. Rates over 100 % in all
    are 422 `commission_plan_over_100_percent`. Applies to orders delivered from now on."""
    data = load_json(_PLAN_SCHEMA)
    return _PLAN_SCHEMA.dump(remote.call("customers", "set_commission_plan", data["rates_bp"]))


@blueprint.get("/admin/withdrawals")
@operation(
    "List agents' withdrawals",
    query=WithdrawalListQuerySchema,
    responses={200: WithdrawalPageSchema},
    auth="required",
)
@roles_required(*WITHDRAWAL_ROLES)
def list_withdrawals() -> ResponseReturnValue:
    """Oldest first; ?status=requested for those awaiting a decision."""
    query = load_query(_WITHDRAWAL_LIST_QUERY_SCHEMA)
    page = remote.call(
        "customers",
        "list_withdrawals",
        status=query.get("status"),
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return _WITHDRAWAL_PAGE_SCHEMA.dump(page)


@blueprint.post("/admin/withdrawals/<uuid:withdrawal_id>/decision")
@operation(
    "Pay out or reject a withdrawal",
    body=WithdrawalDecisionSchema,
    responses={200: WithdrawalSchema},
    auth="required",
)
@roles_required(*WITHDRAWAL_ROLES)
def decide_withdrawal(withdrawal_id: uuid.UUID) -> ResponseReturnValue:
    """approve: paid out, posted on the ledger; reject: the amount goes back to available.
    Deciding again as before answers the same; deciding otherwise is 409."""
    data = load_json(_WITHDRAWAL_DECISION_SCHEMA)
    withdrawal = remote.call(
        "customers",
        "decide_withdrawal",
        str(withdrawal_id),
        data["decision"],
        data["reason"],
        signed_in().user_id,
    )
    return _WITHDRAWAL_SCHEMA.dump(withdrawal)


@blueprint.get("/agent/earnings")
@operation("The calling agent's earnings", responses={200: EarningsSchema}, auth="required")
@customer_required
def earnings() -> ResponseReturnValue:
    """Agents only (403 `not_an_agent` otherwise). A commission is pending for the hold period
    (KAMENG_COMMISSION_HOLD_SECONDS), then available; a refund of the order takes it back."""
    return _EARNINGS_SCHEMA.dump(remote.call("customers", "agent_earnings", signed_in().user_id))


@blueprint.get("/agent/downline")
@operation(
    "The calling agent's downline",
    query=PageQuerySchema,
    responses={200: DownlinePageSchema},
    auth="required",
)
@customer_required
def downline() -> ResponseReturnValue:
    """Every customer below the agent, at any depth: their invitees, their sub-agents and
    those agents' downlines; never anyone else's."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    page = remote.call(
        "customers",
        "agent_downline",
        signed_in().user_id,
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return _DOWNLINE_PAGE_SCHEMA.dump(page)


@blueprint.post("/agent/withdrawals")
@operation(
    "Ask for a withdrawal", body=WithdrawalRequestSchema, responses={201: WithdrawalSchema}, auth="required"
)
@customer_required
def request_withdrawal() -> ResponseReturnValue:
    """Never more than available (422 `withdrawal_exceeds_available`), also when asked
    concurrently. Finance then pays it out or rejects it."""
    data = load_json(_WITHDRAWAL_REQUEST_SCHEMA)
    withdrawal = remote.call(
        "customers", "request_withdrawal", signed_in().user_id, data["amount"], data["account"]
    )
    return _WITHDRAWAL_SCHEMA.dump(withdrawal), 201


@blueprint.get("/agent/shop")
@operation("The calling agent's shop", responses={200: ShopSchema}, auth="required")
@customer_required
def get_shop() -> ResponseReturnValue:
    """404 `shop_not_set_up` until the agent sets it up; 403 `not_an_agent` for other customers."""
    return _SHOP_SCHEMA.dump(remote.call("customers", "get_shop", signed_in().user_id))


@blueprint.put("/agent/shop")
@operation(
    "Set up the calling agent's shop", body=ShopSettingsSchema, responses={200: ShopSchema}, auth="required"
)
@customer_required
def set_shop() -> ResponseReturnValue:
    """The shop at /s/<slug> lists the catalogue at the agent price plus markup_bp. A slug
    another shop has is 409 `shop_slug_taken`."""
    data = load_json(_SHOP_SETTINGS_SCHEMA)
    shop = remote.call(
        "customers", "set_shop", signed_in().user_id, data["slug"], data["name"], data["markup_bp"]
    )
    return _SHOP_SCHEMA.dump(shop)
