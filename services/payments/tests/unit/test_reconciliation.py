"""Reconciliation of Alipay's and WeChat's daily statements against what payments recorded."""

import datetime
import uuid

import pytest

from kameng_common.errors import InvalidInput
from payments import usecases

TODAY = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date().isoformat()
NOW = f"{TODAY} 10:00:00"


@pytest.fixture
def alipay_paid(any_db, providers, open_intent, keys, provider_kit):
    """An order paid through Alipay with trade ``trade_no``; returns its order id."""

    def pay(trade_no, amount):
        order_id = str(uuid.uuid4())
        intent = open_intent(method="alipay", amount=amount, order_id=order_id)
        form = provider_kit.alipay_notification(
            keys.alipay,
            "2021000000000001",
            intent["payment_id"],
            trade_no,
            f"{amount // 100}.{amount % 100:02d}",
        )
        usecases.handle_notification(any_db, providers, "alipay", provider_kit.form_body(form), {})
        return order_id

    return pay


def alipay_statement(*rows):
    header = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,订单金额（元）,商家实收（元）,退款批次号/请求号"
    return "\n".join(
        ["#支付宝业务明细查询", "#账号：[2021000000000001]", header, *rows, "#-----业务明细列表结束-----"]
    )


def test_an_alipay_statement_is_matched_row_by_row(any_db, providers, adapters, alipay_paid, monkeypatch):
    alipay_paid("A-1", 1500)
    alipay_paid("A-2", 2000)
    alipay_paid("A-3", 900)
    refunded = alipay_paid("A-4", 1000)
    monkeypatch.setattr(adapters.alipay, "refund", lambda refund: "A-4")
    refund = usecases.refund_order(any_db, providers, refunded, 300, "original", "late", "k", "staff-1")
    refund_no = uuid.UUID(refund["id"]).hex
    statement = alipay_statement(
        f"A-1,o1,交易,card,{NOW},{NOW},15.00,15.00,",
        f"A-2,o2,交易,card,{NOW},{NOW},19.99,19.99,",
        f"A-4,o4,交易,card,{NOW},{NOW},10.00,10.00,",
        f"A-4,o4,退款,card,{NOW},{NOW},-3.00,-3.00,{refund_no}",
        f"A-9,o9,交易,card,{NOW},{NOW},5.00,5.00,",
        f"A-10,o10,交易,card,{NOW},{NOW},five,5.00,",
        "A-11,o11,交易",
    )

    report = usecases.reconcile(any_db, "alipay", statement, "staff-1")

    assert {row["reference"] for row in report["matched"]} == {"A-1", "A-4", refund_no}
    [mismatch] = report["amount_mismatch"]
    assert (mismatch["reference"], mismatch["amount"], mismatch["amount_here"]) == ("A-2", 1999, 2000)
    assert [row["reference"] for row in report["missing_here"]] == ["A-9"]
    assert report["missing_at_provider"] == [{"kind": "payment", "reference": "A-3", "amount": 900}]
    assert [line["line"] for line in report["broken_lines"]] == [9, 10]
    assert report["counts"] == {
        "matched": 3,
        "missing_here": 1,
        "missing_at_provider": 1,
        "amount_mismatch": 1,
        "broken_lines": 2,
    }


def test_a_wechat_statement_is_read_with_its_backticks_and_its_summary_left_out(
    any_db, providers, open_intent, keys, provider_kit
):
    intent = open_intent(method="wechat", amount=1234)
    transaction = provider_kit.wechat_transaction("1900000109", intent["payment_id"], "4200001", 1234)
    body, headers = provider_kit.wechat_notification(
        keys.wechat_platform, keys.api_v3_key, transaction, int(datetime.datetime.now().timestamp())
    )
    usecases.handle_notification(any_db, providers, "wechat", body, headers)
    statement = "\n".join(
        [
            "交易时间,公众账号ID,商户号,微信订单号,商户订单号,交易状态,应结订单金额,微信退款单号,商户退款单号,退款金额,货币种类",
            f"`{NOW},`wx1,`1900000109,`4200001,`{intent['payment_id'].replace('-', '')},`SUCCESS,`12.34,`0,`0,`0.00,`CNY",
            "总交易单数,应结订单总金额,退款总金额",
            "`1,`12.34,`0.00",
        ]
    )

    report = usecases.reconcile(any_db, "wechat", statement, "staff-1")

    assert [row["reference"] for row in report["matched"]] == ["4200001"]
    assert report["counts"]["broken_lines"] == 0 and report["missing_at_provider"] == []


@pytest.mark.parametrize(
    "provider, statement, code",
    [
        ("alipay", "not,a,statement\n1,2,3", "invalid_statement"),
        ("alipay", "", "invalid_input"),
        ("unionpay", alipay_statement(), "invalid_input"),
    ],
)
def test_a_file_that_is_not_a_statement_is_422(db, provider, statement, code):
    with pytest.raises(InvalidInput) as refused:
        usecases.reconcile(db, provider, statement, "staff-1")
    assert refused.value.code == code
