"""The channel API's side of orders: API keys, orders placed with one, and their delivery callbacks.

An API key belongs to one customer (a partner, an agent's site); its secret
is sealed at rest and only ever leaves this service once, when the key is
made. The gateway asks ``verify_request`` whether a channel request is signed
by a live key; callbacks are signed here with the same secret.

A channel order is an ordinary order (``usecases.create_order``, the same
saga), paid at once from the key owner's wallet balance. Its
``client_order_id`` is the order's idempotency key, so a second request with
it, even at the same moment, answers the first order.

A callback is a row written in the unit of work that moves a channel order
to a status worth pushing; ``send_due_callbacks`` POSTs it, signed, until the
receiver answers 2xx, backing off between tries.
"""

import datetime
import json
import logging
import secrets
import urllib.parse
from functools import partial

import requests
import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from kameng_common import channel as protocol
from kameng_common.db import utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, KamengError, NotFound, Unauthorized
from kameng_common.sealing import SealError
from kameng_common.validation import load_or_invalid
from orders import domain, metrics, usecases
from orders.db import api_keys, channel_callbacks, channel_orders

_log = logging.getLogger(__name__)

SCOPES = ("products:read", "orders:create", "orders:read", "balance:read")
CHANNEL_KEY_PREFIX = "channel:"
CALLBACK_TIMEOUT_SECONDS = 5
CALLBACK_BATCH = 20
# a sender holds a callback this long; another replica takes it over afterwards
CALLBACK_LEASE = datetime.timedelta(seconds=30)
FIRST_RETRY_SECONDS = 5
MAX_RETRY_SECONDS = 600


class NewApiKey(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)), required=True, validate=validate.Length(min=1)
    )


class KeyRef(Schema):
    key_id = fields.String(required=True, validate=validate.Length(min=1, max=40))


class VerifyRequest(KeyRef):
    message = fields.String(required=True, validate=validate.Length(max=10_000))
    signature = fields.String(required=True, validate=validate.Length(max=128))


class NewChannelOrder(Schema):
    key_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    client_order_id = fields.String(
        required=True, validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9_.:-]+$")]
    )
    callback_url = fields.Url(
        load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False
    )


# ---- API keys


def create_api_key(db, sealer, customer_id, name, scopes, now=None):
    """A new key: ``{key_id, secret, ...}``; the secret is never answered again."""
    data = load_or_invalid(NewApiKey, {"customer_id": customer_id, "name": name, "scopes": scopes})
    key_id = "ck_" + secrets.token_hex(12)
    secret = secrets.token_hex(32)
    seal_key_id, sealed = sealer.seal(key_id, secret)
    now = now or utcnow()
    with db.unit_of_work() as uow:
        uow.execute(
            api_keys.insert().values(
                key_id=key_id,
                customer_id=data["customer_id"],
                name=data["name"],
                scopes=sorted(set(data["scopes"])),
                seal_key_id=seal_key_id,
                sealed_secret=sealed,
                created_at=now,
            )
        )
    return {
        **_key_out(key_id, data["customer_id"], data["name"], sorted(set(data["scopes"])), now),
        "secret": secret,
    }


def revoke_api_key(db, key_id, now=None):
    """Revoke a key from now on; revoking it again changes nothing."""
    key_id = load_or_invalid(KeyRef, {"key_id": key_id})["key_id"]
    with db.unit_of_work() as uow:
        uow.execute(
            api_keys.update()
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        )
        row = uow.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    return {
        **_key_out(row.key_id, row.customer_id, row.name, row.scopes, row.created_at),
        "revoked_at": row.revoked_at.isoformat(),
    }


def verify_request(db, sealer, key_id, message, signature):
    """``{key_id, customer_id, scopes}`` of the live key that signed ``message``; Unauthorized otherwise.

    An unknown key, a revoked one and a bad signature are refused alike, so a
    caller learns nothing about which keys exist.
    """
    data = load_or_invalid(VerifyRequest, {"key_id": key_id, "message": message, "signature": signature})
    with db.reading() as session:
        row = session.execute(sa.select(api_keys).where(api_keys.c.key_id == data["key_id"])).first()
    refused = Unauthorized("The request's signature does not verify.", "invalid_signature")
    if row is None or row.revoked_at is not None:
        raise refused
    if not protocol.signature_matches(_secret(sealer, row), data["message"], data["signature"]):
        raise refused
    return {"key_id": row.key_id, "customer_id": row.customer_id, "scopes": list(row.scopes)}


def _secret(sealer, row):
    try:
        return sealer.open(row.key_id, row.seal_key_id, row.sealed_secret)
    except SealError as error:
        _log.error("API key %s: %s", row.key_id, error)
        raise KamengError("the API key's secret cannot be read", code="key_integrity") from None


def _key_out(key_id, customer_id, name, scopes, created_at):
    return {
        "key_id": key_id,
        "customer_id": customer_id,
        "name": name,
        "scopes": list(scopes),
        "created_at": created_at.isoformat(),
    }


# ---- channel orders


def create_channel_order(
    db,
    placing,
    deadlines,
    create_intent,
    key_id,
    customer_id,
    items,
    client_order_id,
    callback_url=None,
):
    """Place (or find) the order for ``client_order_id`` and pay it from the owner's wallet balance.

    A retry finds the order the first request made; if it is still unpaid
    (the balance was short, say), it is paid now.
    """
    data = load_or_invalid(
        NewChannelOrder,
        {"key_id": key_id, "client_order_id": client_order_id, "callback_url": callback_url},
    )
    try:
        order = usecases.create_order(
            db,
            placing,
            deadlines,
            customer_id,
            items,
            CHANNEL_KEY_PREFIX + data["client_order_id"],
            on_created=partial(_record_channel_order, data),
        )
    except InvalidInput as refusal:
        if refusal.code != "idempotency_key_reused":
            raise
        raise InvalidInput(
            "this client_order_id was used for another order; use a fresh one for a new order",
            code="client_order_id_reused",
        ) from None
    if order["status"] == domain.AWAITING_PAYMENT:
        try:
            usecases.request_payment(db, create_intent, order["id"], customer_id, "balance")
        except Conflict as refusal:
            # paid meanwhile by a concurrent retry: orders saw it paid, or payments did first
            if refusal.code not in ("order_not_payable", "already_paid"):
                raise
        order = usecases.get_order(db, order["id"])
    return get_channel_order(db, order["id"], customer_id, order=order)


def _record_channel_order(data, uow, order_id):
    uow.execute(
        channel_orders.insert().values(
            order_id=order_id,
            key_id=data["key_id"],
            client_order_id=data["client_order_id"],
            callback_url=data["callback_url"],
        )
    )


def get_channel_order(db, order_id, customer_id, order=None):
    """The order with its ``client_order_id``, for the key owner that placed it."""
    order = order or usecases.get_order(db, order_id)
    if order["customer_id"] != customer_id:
        raise Forbidden("This order is not yours.")
    with db.reading() as session:
        row = session.execute(
            sa.select(channel_orders).where(channel_orders.c.order_id == order["id"])
        ).first()
    return {
        **order,
        "client_order_id": None if row is None else row.client_order_id,
        "callback_url": None if row is None else row.callback_url,
    }


# ---- callbacks


def send_due_callbacks(db, sealer, post=None, now=None, batch_size=CALLBACK_BATCH):
    """Send the callbacks whose time has come; returns ``{outcome: count}``.

    Each is taken under a lease first, so two replicas never send one at
    once, and one that dies mid-send leaves it to be sent again later.
    """
    post = post or requests.post
    now = now or utcnow()
    taken = _take_due(db, now, batch_size)
    outcomes: dict[str, int] = {}
    for callback in taken:
        outcome, error = _send(db, sealer, post, callback)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        metrics.count_callback_attempt(outcome)
        _record_attempt(db, callback, error, utcnow())
    return outcomes


def _take_due(db, now, batch_size):
    with db.unit_of_work() as uow:
        due = uow.execute(
            sa.select(
                channel_callbacks,
                channel_orders.c.key_id,
                channel_orders.c.client_order_id,
                channel_orders.c.callback_url,
            )
            .join(channel_orders, channel_orders.c.order_id == channel_callbacks.c.order_id)
            .where(channel_callbacks.c.delivered_at.is_(None), channel_callbacks.c.next_attempt_at <= now)
            .order_by(channel_callbacks.c.next_attempt_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True, of=channel_callbacks)
        ).all()
        for callback in due:
            uow.execute(
                channel_callbacks.update()
                .where(
                    channel_callbacks.c.order_id == callback.order_id,
                    channel_callbacks.c.status == callback.status,
                )
                .values(next_attempt_at=now + CALLBACK_LEASE)
            )
    return due


def callback_body(order, client_order_id):
    """What a callback says: the order's outcome, never a card secret (those are read with a signed GET)."""
    return {
        "order_id": order["id"],
        "client_order_id": client_order_id,
        "status": order["status"],
        "total": order["total"],
        "currency": order["currency"],
        "items": order["items"],
        "updated_at": order["updated_at"],
    }


def _send(db, sealer, post, callback):
    """``(outcome, error text or None)`` of one try."""
    try:
        order = usecases.get_order(db, callback.order_id)
        with db.reading() as session:
            key = session.execute(sa.select(api_keys).where(api_keys.c.key_id == callback.key_id)).one()
        body = json.dumps(callback_body(order, callback.client_order_id), separators=(",", ":")).encode()
        url = urllib.parse.urlparse(callback.callback_url)
        headers = protocol.signed_headers(
            key.key_id, _secret(sealer, key), "POST", url.path or "/", url.query, body
        )
        response = post(
            callback.callback_url,
            data=body,
            headers={**headers, "Content-Type": "application/json"},
            timeout=CALLBACK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return "unreachable", type(error).__name__
    except KamengError as error:
        return "error", error.code
    if 200 <= response.status_code < 300:
        return "delivered", None
    return "refused", f"HTTP {response.status_code}"


def _record_attempt(db, callback, error, now):
    attempts = callback.attempts + 1
    values = {"attempts": attempts, "last_error": error}
    if error is None:
        values["delivered_at"] = now
    else:
        values["next_attempt_at"] = now + retry_delay(attempts)
    with db.unit_of_work() as uow:
        uow.execute(
            channel_callbacks.update()
            .where(
                channel_callbacks.c.order_id == callback.order_id,
                channel_callbacks.c.status == callback.status,
            )
            .values(**values)
        )


def retry_delay(attempts):
    """5 s, 10 s, 20 s, ... up to 10 minutes between tries."""
    return datetime.timedelta(seconds=min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1)))


def callback_backlog(db):
    """{(state,): count} of callbacks waiting and delivered, for the metrics gauge."""
    with db.reading() as session:
        waiting, delivered = session.execute(
            sa.select(
                sa.func.count().filter(channel_callbacks.c.delivered_at.is_(None)),
                sa.func.count().filter(channel_callbacks.c.delivered_at.is_not(None)),
            )
        ).one()
    return {("waiting",): waiting, ("delivered",): delivered}
