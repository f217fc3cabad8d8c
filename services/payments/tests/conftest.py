"""Helpers the payments tests share: a mockpay secret, signed notifications, database snapshots."""

import importlib.util
import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from kameng_common.testing import deliver
from payments import usecases
from payments.db import metadata as service_metadata
from payments.providers import Mockpay, Providers
from payments.providers.alipay import Alipay
from payments.providers.unionpay import Unionpay
from payments.providers.wechat import Wechat


def _load_kit():
    # the tests are not a package (pytest imports them by path): load the kit beside this file
    spec = importlib.util.spec_from_file_location(
        "payments_providers_kit", Path(__file__).with_name("providers_kit.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kit = _load_kit()

MOCKPAY_SECRET = "test-mockpay-secret"
PUBLIC_URL = "https://shop.example"
ALIPAY_APP_ID = "2021000000000001"
WECHAT_MCH_ID = "1900000109"
UNIONPAY_MER_ID = "777290058110048"


@pytest.fixture
def mockpay_secret():
    return MOCKPAY_SECRET


@pytest.fixture
def mockpay():
    return Mockpay(MOCKPAY_SECRET)


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Every key and certificate of the three providers' sandboxes, and the files that hold ours."""
    folder = tmp_path_factory.mktemp("provider-keys")
    k = SimpleNamespace(
        merchant=kit.new_key(),
        alipay=kit.new_key(),
        wechat_platform=kit.new_key(),
        unionpay_ca=kit.new_key(),
        unionpay_signer=kit.new_key(),
        stranger=kit.new_key(),
        api_v3_key=b"0123456789abcdefghijklmnopqrstuv",
    )
    k.unionpay_ca_cert = kit.certificate(k.unionpay_ca, "CFCA TEST OCA1", ca=True)
    k.unionpay_signer_cert = kit.certificate(
        k.unionpay_signer,
        "041@Z12@00040000:SIGN@中国银联股份有限公司@00000001",
        k.unionpay_ca,
        k.unionpay_ca_cert.subject,
    )
    k.merchant_cert = kit.certificate(k.merchant, "merchant", serial=68759526131)
    files = {
        "merchant.pem": kit.pem_private(k.merchant),
        "merchant.crt": kit.pem_cert(k.merchant_cert),
        "alipay_public.pem": kit.pem_public(k.alipay),
        "wechat_platform.pem": kit.pem_public(k.wechat_platform),
        "apiv3.key": k.api_v3_key,
        "unionpay_root.crt": kit.pem_cert(k.unionpay_ca_cert),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    k.folder = folder
    k.unionpay_signer_pem = kit.pem_cert(k.unionpay_signer_cert).decode()
    return k


class FakeWechatApi:
    """WeChat's API for a Native order and a refund: checks the merchant's signature, signs its answer."""

    def __init__(self, keys):
        self.keys = keys
        self.requests = []
        self.refund_answer = (200, {"status": "PROCESSING"})

    def post(self, url, data, headers, timeout):
        body = data.decode()
        self.requests.append((url, json.loads(body), headers))
        authorization = headers["Authorization"]
        assert authorization.startswith("WECHATPAY2-SHA256-RSA2048 ")
        fields = dict(part.split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
        fields = {key: value.strip('"') for key, value in fields.items()}
        path = url.split("://", 1)[1].split("/", 1)[1]
        message = f"POST\n/{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n".encode()
        kit.verify(self.keys.merchant, message, fields["signature"])
        if url.endswith("/native"):
            status, answer = 200, {"code_url": "weixin://wxpay/bizpayurl?pr=test"}
        else:
            status, answer = self.refund_answer
        text = json.dumps(answer)
        return SimpleNamespace(
            status_code=status,
            text=text,
            headers=kit.wechat_headers(self.keys.wechat_platform, text, int(time.time())),
            json=lambda: json.loads(text),
        )


@pytest.fixture(scope="session")
def provider_kit():
    return kit


@pytest.fixture
def wechat_api(keys):
    return FakeWechatApi(keys)


@pytest.fixture(scope="session")
def adapters(keys):
    """The three real providers' adapters, configured from key files as a deployment is."""
    folder = keys.folder
    alipay = Alipay.from_settings(
        {
            "APP_ID": ALIPAY_APP_ID,
            "PRIVATE_KEY_FILE": str(folder / "merchant.pem"),
            "PUBLIC_KEY_FILE": str(folder / "alipay_public.pem"),
            "GATEWAY_URL": "https://openapi.alipaydev.com/gateway.do",
        },
        PUBLIC_URL + "/api/v1/payments/notify/alipay",
    )
    wechat = Wechat.from_settings(
        {
            "MCH_ID": WECHAT_MCH_ID,
            "APP_ID": "wxd678efh567hg6787",
            "PRIVATE_KEY_FILE": str(folder / "merchant.pem"),
            "CERT_SERIAL": "MERCHANT-SERIAL",
            "API_V3_KEY_FILE": str(folder / "apiv3.key"),
            "PLATFORM_CERT_FILE": str(folder / "wechat_platform.pem"),
            "PLATFORM_SERIAL": "PLATFORM-SERIAL",
        },
        PUBLIC_URL + "/api/v1/payments/notify/wechat",
    )
    unionpay = Unionpay.from_settings(
        {
            "MER_ID": UNIONPAY_MER_ID,
            "SIGN_KEY_FILE": str(folder / "merchant.pem"),
            "SIGN_CERT_FILE": str(folder / "merchant.crt"),
            "ROOT_CERT_FILE": str(folder / "unionpay_root.crt"),
        },
        PUBLIC_URL + "/api/v1/payments/notify/unionpay",
    )
    return SimpleNamespace(alipay=alipay, wechat=wechat, unionpay=unionpay)


@pytest.fixture
def providers(adapters, wechat_api, monkeypatch):
    monkeypatch.setattr(adapters.wechat, "_session", wechat_api)
    return Providers(
        mockpay_secret=MOCKPAY_SECRET,
        adapters=[adapters.alipay, adapters.wechat, adapters.unionpay],
        public_url=PUBLIC_URL,
    )


@pytest.fixture
def metadata():
    """The tables of the shared ``db``, ``any_db`` and ``postgres_db`` fixtures (kameng_common.testing)."""
    return service_metadata


@pytest.fixture
def signed_notification(mockpay):
    """(body, headers) of a mockpay notification for an intent, signed unless told otherwise."""

    def build(intent, trade_no="MP-1", amount=None, currency=None, status="SUCCESS"):
        body = json.dumps(
            {
                "payment_id": intent["payment_id"],
                "trade_no": trade_no,
                "amount": intent["amount"] if amount is None else amount,
                "currency": currency or intent["currency"],
                "status": status,
            }
        )
        return body, {"X-Mockpay-Signature": mockpay.sign(body)}

    return build


@pytest.fixture
def open_intent(any_db, providers):
    """Create an intent for a new order; returns the RPC answer."""

    def create(method="mockpay", amount=1500, currency="CNY", customer_id="buyer-1", order_id=None):
        return usecases.create_intent(
            any_db, providers, order_id or str(uuid.uuid4()), customer_id, amount, currency, method
        )

    return create


@pytest.fixture
def fund_wallet(any_db):
    """Put money in a customer's wallet the way payments does: a refund of a paid order."""

    def fund(customer_id, amount, currency="CNY"):
        providers = Providers(mockpay_secret=MOCKPAY_SECRET)
        order_id = str(uuid.uuid4())
        intent = usecases.create_intent(any_db, providers, order_id, customer_id, amount, currency, "mockpay")
        body = json.dumps(
            {
                "payment_id": intent["payment_id"],
                "trade_no": f"fund-{order_id}",
                "amount": amount,
                "currency": currency,
                "status": "SUCCESS",
            }
        )
        usecases.handle_notification(
            any_db, providers, "mockpay", body, {"X-Mockpay-Signature": Mockpay(MOCKPAY_SECRET).sign(body)}
        )
        deliver(any_db, "payments", usecases.on_refund_requested, refund_event(intent, order_id, customer_id))
        return intent

    return fund


def refund_event(intent, order_id, customer_id, amount=None, event_id=None, reason="test refund"):
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": "order.refund_requested",
        "version": 1,
        "occurred_at": None,
        "correlation_id": order_id,
        "payload": {
            "order_id": order_id,
            "customer_id": customer_id,
            "payment_id": intent["payment_id"],
            "amount": intent["amount"] if amount is None else amount,
            "currency": intent["currency"],
            "reason": reason,
        },
    }


@pytest.fixture
def refund_request():
    """An order.refund_requested envelope as the reliable handler passes it."""
    return refund_event


@pytest.fixture
def snapshot(any_db):
    """Every row of every table, to show that a refusal changed nothing."""

    def take():
        with any_db.reading() as session:
            return {
                name: sorted(map(tuple, session.execute(sa.select(table)).all()), key=repr)
                for name, table in service_metadata.tables.items()
            }

    return take


@pytest.fixture
def published(any_db):
    """The payloads of the events of one type in the outbox, oldest first."""

    def events(event_type):
        outbox = service_metadata.tables["outbox"]
        with any_db.reading() as session:
            bodies = (
                session.execute(
                    sa.select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
                )
                .scalars()
                .all()
            )
        return [json.loads(body)["payload"] for body in bodies]

    return events


@pytest.fixture
def paid_order(any_db, providers, open_intent, signed_notification):
    """An order paid ``amount`` through ``method``; returns its order id."""

    def pay(amount=1500, method="mockpay", customer_id="buyer-1"):
        order_id = str(uuid.uuid4())
        intent = open_intent(method=method, amount=amount, customer_id=customer_id, order_id=order_id)
        if method == "mockpay":
            usecases.handle_notification(
                any_db, providers, "mockpay", *signed_notification(intent, f"T-{order_id}")
            )
        return order_id

    return pay


@pytest.fixture
def alipay_paid_order(any_db, providers, open_intent, keys, provider_kit):
    def pay(amount=1500):
        order_id = str(uuid.uuid4())
        intent = open_intent(method="alipay", amount=amount, order_id=order_id)
        form = provider_kit.alipay_notification(
            keys.alipay,
            "2021000000000001",
            intent["payment_id"],
            f"A-{order_id[:8]}",
            f"{amount // 100}.{amount % 100:02d}",
        )
        usecases.handle_notification(any_db, providers, "alipay", provider_kit.form_body(form), {})
        return order_id

    return pay
