import base64
import hashlib
import json

import pytest
import redis

from kameng_common.errors import InvalidSignature, Unavailable

NOTIFICATION = json.dumps(
    {"payment_id": "p1", "trade_no": "T1", "amount": 19000, "currency": "CNY", "status": "SUCCESS"},
    separators=(",", ":"),
)


def test_notification_passes_the_raw_body_and_headers(client, rpc):
    rpc.answer("payments", "handle_notification", {"status": "ok", "payment_id": "p1", "trade_no": "T1"})

    response = client.post(
        "/api/v1/payments/notify/mockpay",
        data=NOTIFICATION,
        content_type="application/json",
        headers={"X-Mockpay-Signature": "ab12"},
    )

    assert response.status_code == 200
    assert response.json == {"status": "ok", "payment_id": "p1", "trade_no": "T1"}
    provider, body, headers = rpc.calls_to("payments", "handle_notification")[0].args
    assert (provider, body) == ("mockpay", NOTIFICATION)
    assert headers["X-Mockpay-Signature"] == "ab12"
    assert headers["Content-Type"] == "application/json"


def test_a_refused_notification_keeps_its_status(client, rpc):
    rpc.answer("payments", "handle_notification", InvalidSignature("Bad signature."))

    response = client.post(
        "/api/v1/payments/notify/mockpay", data=NOTIFICATION, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_signature"


def test_a_notification_body_in_another_charset_is_decoded(client, rpc):
    rpc.answer("payments", "handle_notification", {"status": "ok", "payment_id": "p1", "trade_no": "T1"})
    form = "subject=点卡&trade_no=T1"

    client.post(
        "/api/v1/payments/notify/alipay",
        data=form.encode("gbk"),
        content_type="application/x-www-form-urlencoded; charset=GBK",
    )

    assert rpc.calls_to("payments", "handle_notification")[0].args[1] == form


def test_a_strange_provider_name_is_not_found(client, rpc):
    response = client.post("/api/v1/payments/notify/Mock.Pay", data="{}")

    assert response.status_code == 404
    assert rpc.calls == []


def test_liveness(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json == {"status": "live"}


@pytest.fixture
def healthy(rpc):
    for service in ("inventory", "orders", "payments", "customers", "risk"):
        rpc.answer(service, "health", {"service": service, "database": "ok"})
    return rpc


def test_ready_when_the_broker_and_every_service_answer(client, healthy, settings):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["redis"] == "ok"
    assert response.json["services"]["orders"] == {"status": "ok", "service": "orders", "database": "ok"}
    timeouts = {call.timeout for call in healthy.calls_to("risk", "health")}
    assert timeouts == {settings.ready_timeout}


def test_not_ready_when_a_service_is_down(client, healthy):
    healthy.answer("risk", "health", Unavailable("The risk service is not running."))

    response = client.get("/health/ready")

    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "unavailable"
    assert "risk" in error["message"]
    assert error["details"]["services"]["risk"] == {
        "status": "unavailable",
        "error": "The risk service is not running.",
    }
    assert error["details"]["services"]["orders"]["status"] == "ok"


def test_not_ready_when_the_broker_is_down(client, healthy):
    healthy.broker_up = False

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert "broker" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "provider, reply",
    [
        ("alipay", {"content_type": "text/plain", "body": "success"}),
        ("wechat", {"content_type": "application/json", "body": '{"code": "SUCCESS", "message": "成功"}'}),
        ("unionpay", {"content_type": "text/plain", "body": "ok"}),
    ],
)
def test_a_real_providers_notification_is_answered_in_its_own_format(client, rpc, provider, reply):
    rpc.answer(
        "payments",
        "handle_notification",
        {"status": "ok", "payment_id": "p1", "trade_no": "T1", "reply": reply},
    )

    response = client.post(f"/api/v1/payments/notify/{provider}", data="a=1")

    assert response.status_code == 200
    assert response.get_data(as_text=True) == reply["body"]
    assert response.mimetype == reply["content_type"]


def test_a_checkout_page_posts_the_providers_signed_form(client, rpc):
    payment_id = "0b8e2a52-8a29-4a55-9a43-3bd0c2f7a1e2"
    rpc.answer(
        "payments",
        "get_checkout",
        {
            "payment_id": payment_id,
            "method": "unionpay",
            "status": "pending",
            "form": {
                "action": "https://gateway.95516.com/gateway/api/frontTransReq.do",
                "fields": {"txnAmt": "1500", "orderDesc": '<b>"x"</b>'},
            },
        },
    )

    response = client.get(f"/api/v1/payments/{payment_id}/checkout")

    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'action="https://gateway.95516.com/gateway/api/frontTransReq.do"' in page
    assert 'name="txnAmt" value="1500"' in page
    assert "<b>" not in page and "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in page
    assert rpc.calls_to("payments", "get_checkout")[0].args == (payment_id,)
    # the page's one script (it posts the form) is the only script its policy allows
    script = page.split("<script>")[1].split("</script>")[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def test_not_ready_when_redis_is_down(client, healthy, redis_client, monkeypatch):
    def refuse():
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(redis_client, "ping", refuse)

    response = client.get("/health/ready")

    assert response.status_code == 503
    error = response.json["error"]
    assert error["message"] == "Not ready: redis."
    assert error["details"]["redis"] == "Redis does not answer: Connection refused"
    assert error["details"]["broker"] == "ok"
