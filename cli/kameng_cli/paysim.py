"""``kameng paysim``: a local stand-in for Alipay, WeChat Pay and UnionPay.

It serves each provider's endpoints that Kameng calls (Alipay's page pay and
``alipay.trade.refund``, WeChat Pay's v3 Native order and refund, UnionPay's
front consume form and back refund), checks the merchant's signature on each
request exactly as the provider would, and signs its answers with its own
keys. A checkout page has a "pay" button that sends the provider's real
notification, signed, to the notify URL the request named. The keys are
generated into ``<data folder>/paysim/`` (mode 0600) on first use; ``env()``
names the settings that point Kameng's payments service at them. Paid trades
and refunds are appended to ``trades.jsonl``, from which ``statement()``
writes a day's bill in Alipay's or WeChat's CSV format. A refund request is
idempotent on its id (Alipay's ``out_request_no``, WeChat's ``out_refund_no``,
UnionPay's ``orderId``), as at the providers: asked again it refunds nothing
more and answers the same refund; the same id with another amount is refused.
"""

import base64
import csv
import datetime
import hashlib
import html
import io
import json
import os
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

ALIPAY_APP_ID = "2021000000000000"
WECHAT_MCH_ID = "1900000000"
WECHAT_APP_ID = "wx0000000000000000"
UNIONPAY_MER_ID = "777290058110097"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PLATFORM_SERIAL = "PAYSIM-PLATFORM-1"
UNIONPAY_SIGNER_CN = "041@Z12@00040000:SIGN@中国银联股份有限公司@00000001"
BEIJING = datetime.timezone(datetime.timedelta(hours=8))
NOTIFY_TIMEOUT = 15


# --- keys ----------------------------------------------------------------------


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(key, common_name, issuer_key=None, issuer=None, ca=False):
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )


def _write(path, data):
    path.write_bytes(data)
    path.chmod(0o600)


def _private_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def ensure_keys(data_dir):
    """The sandbox's folder, with every key generated once: Kameng's merchant side and the providers'."""
    folder = Path(data_dir) / "paysim"
    if (folder / "complete").exists():
        return folder
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    merchant, alipay, platform, ca, signer = (_new_key() for _ in range(5))
    ca_cert = _certificate(ca, "PAYSIM TEST OCA1", ca=True)
    files = {
        "merchant.pem": _private_pem(merchant),
        "merchant.crt": _cert_pem(_certificate(merchant, "Kameng merchant")),
        "merchant_public.pem": _public_pem(merchant),
        "alipay.pem": _private_pem(alipay),
        "alipay_public.pem": _public_pem(alipay),
        "wechat_platform.pem": _private_pem(platform),
        "wechat_platform_public.pem": _public_pem(platform),
        "wechat_apiv3.key": secrets.token_hex(16).encode(),
        "unionpay_root.crt": _cert_pem(ca_cert),
        "unionpay_signer.pem": _private_pem(signer),
        "unionpay_signer.crt": _cert_pem(_certificate(signer, UNIONPAY_SIGNER_CN, ca, ca_cert.subject)),
    }
    for name, data in files.items():
        _write(folder / name, data)
    _write(folder / "complete", b"")
    return folder


def env(data_dir, paysim_url, keep=None):
    """The settings that enable every channel of the payments service against this sandbox; a provider
    with any setting of its own in ``keep`` (the caller's environment) is left to those settings."""
    folder = ensure_keys(data_dir)
    sandbox = {
        "KAMENG_ALIPAY_APP_ID": ALIPAY_APP_ID,
        "KAMENG_ALIPAY_PRIVATE_KEY_FILE": str(folder / "merchant.pem"),
        "KAMENG_ALIPAY_PUBLIC_KEY_FILE": str(folder / "alipay_public.pem"),
        "KAMENG_ALIPAY_GATEWAY_URL": f"{paysim_url}/alipay/gateway.do",
        "KAMENG_WECHAT_MCH_ID": WECHAT_MCH_ID,
        "KAMENG_WECHAT_APP_ID": WECHAT_APP_ID,
        "KAMENG_WECHAT_PRIVATE_KEY_FILE": str(folder / "merchant.pem"),
        "KAMENG_WECHAT_CERT_SERIAL": MERCHANT_SERIAL,
        "KAMENG_WECHAT_API_V3_KEY_FILE": str(folder / "wechat_apiv3.key"),
        "KAMENG_WECHAT_PLATFORM_CERT_FILE": str(folder / "wechat_platform_public.pem"),
        "KAMENG_WECHAT_PLATFORM_SERIAL": PLATFORM_SERIAL,
        "KAMENG_WECHAT_API_URL": f"{paysim_url}/wechat",
        "KAMENG_UNIONPAY_MER_ID": UNIONPAY_MER_ID,
        "KAMENG_UNIONPAY_SIGN_KEY_FILE": str(folder / "merchant.pem"),
        "KAMENG_UNIONPAY_SIGN_CERT_FILE": str(folder / "merchant.crt"),
        "KAMENG_UNIONPAY_ROOT_CERT_FILE": str(folder / "unionpay_root.crt"),
        "KAMENG_UNIONPAY_GATEWAY_URL": f"{paysim_url}/unionpay",
    }
    configured = {
        prefix for prefix in PROVIDER_PREFIXES if any(name.startswith(prefix) for name in keep or ())
    }
    return {name: value for name, value in sandbox.items() if not name.startswith(tuple(configured))}


PROVIDER_PREFIXES = ("KAMENG_ALIPAY_", "KAMENG_WECHAT_", "KAMENG_UNIONPAY_")


# --- signatures ----------------------------------------------------------------


def _sign(key, message):
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _verify(public_key, message, signature):
    try:
        public_key.verify(base64.b64decode(signature or ""), message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def _sorted(params, exclude=()):
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] not in ("", None)
    )


def _unionpay_digest(fields):
    return hashlib.sha256(_sorted(fields, exclude=("signature",)).encode()).hexdigest().encode()


def _yuan(fen):
    return f"{fen // 100}.{fen % 100:02d}"


class RequestRefused(Exception):
    """A request the real provider would refuse (HTTP 400 with the reason)."""


class Sandbox:
    """The three providers' side: keys, trades, notifications and statements."""

    def __init__(self, data_dir):
        folder = ensure_keys(data_dir)
        load = lambda name: serialization.load_pem_private_key((folder / name).read_bytes(), None)  # noqa: E731
        self.merchant_public = serialization.load_pem_public_key(
            (folder / "merchant_public.pem").read_bytes()
        )
        self.alipay_key = load("alipay.pem")
        self.platform_key = load("wechat_platform.pem")
        self.api_v3_key = (folder / "wechat_apiv3.key").read_bytes().strip()
        self.signer_key = load("unionpay_signer.pem")
        self.signer_pem = (folder / "unionpay_signer.crt").read_text()
        self.trades_file = folder / "trades.jsonl"
        self._lock = threading.Lock()
        # one refund request (its id) is served once, as the providers do: asked again, the same answer
        self._refund_lock = threading.Lock()

    # --- the record of what moved ---

    def record(self, **trade):
        trade["at"] = datetime.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        with self._lock, open(self.trades_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(trade, ensure_ascii=False) + "\n")

    def trades(self, provider, day):
        return [
            row for row in self._all_trades() if row["provider"] == provider and row["at"].startswith(day)
        ]

    def _all_trades(self):
        if not self.trades_file.exists():
            return []
        return [
            json.loads(line) for line in self.trades_file.read_text(encoding="utf-8").splitlines() if line
        ]

    def refund_once(self, provider, refund_no, amount, **trade):
        """The provider's id of the refund request ``refund_no``: recorded the first time it is asked,
        the same id (and no second refund) every time after; the same id with another amount is refused.
        """
        with self._refund_lock:
            for row in self._all_trades():
                if (row["provider"], row["kind"], row.get("refund_no")) == (provider, "refund", refund_no):
                    if row["amount"] != amount:
                        raise RequestRefused(
                            f"refund request {refund_no} was asked before for another amount"
                        )
                    return row.get("refund_id", refund_no)  # a record older than its provider id
            refund_id = trade.pop("refund_id")
            self.record(
                provider=provider,
                kind="refund",
                refund_no=refund_no,
                refund_id=refund_id,
                amount=amount,
                **trade,
            )
            return refund_id

    # --- Alipay ---

    def alipay_check(self, params):
        if params.get("app_id") != ALIPAY_APP_ID or params.get("sign_type") != "RSA2":
            raise RequestRefused("unknown app_id or sign_type")
        if not _verify(self.merchant_public, _sorted(params, exclude=("sign",)).encode(), params.get("sign")):
            raise RequestRefused("invalid sign (isv.invalid-signature)")
        return json.loads(params["biz_content"])

    def alipay_pay(self, params):
        biz = self.alipay_check(params)
        trade_no = datetime.datetime.now(BEIJING).strftime("%Y%m%d") + secrets.token_hex(10)
        form = {
            "notify_time": datetime.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": ALIPAY_APP_ID,
            "trade_no": trade_no,
            "out_trade_no": biz["out_trade_no"],
            "trade_status": "TRADE_SUCCESS",
            "total_amount": biz["total_amount"],
            "receipt_amount": biz["total_amount"],
            "subject": biz.get("subject", ""),
            "gmt_payment": datetime.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        }
        form["sign"] = _sign(self.alipay_key, _sorted(form, exclude=("sign", "sign_type")).encode())
        answer = requests.post(params["notify_url"], data=form, timeout=NOTIFY_TIMEOUT)
        if answer.text == "success":
            fen = round(float(biz["total_amount"]) * 100)
            self.record(
                provider="alipay", kind="pay", trade_no=trade_no, order_no=biz["out_trade_no"], amount=fen
            )
        return trade_no, answer

    def alipay_refund(self, params):
        biz = self.alipay_check(params)
        response = {
            "code": "10000",
            "msg": "Success",
            "trade_no": biz.get("trade_no", ""),
            "out_trade_no": biz.get("out_trade_no", ""),
            "fund_change": "Y",
            "refund_fee": biz["refund_amount"],
        }
        self.refund_once(
            "alipay",
            biz["out_request_no"],
            round(float(biz["refund_amount"]) * 100),
            refund_id=biz["out_request_no"],
            trade_no=biz.get("trade_no", ""),
            order_no=biz.get("out_trade_no", ""),
        )
        member = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
        return (
            f'{{"alipay_trade_refund_response":{member},"sign":"{_sign(self.alipay_key, member.encode())}"}}'
        )

    # --- WeChat Pay API v3 ---

    def wechat_check(self, method, path, headers, body):
        authorization = headers.get("Authorization", "")
        scheme, _, rest = authorization.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            raise RequestRefused("SIGN_ERROR: no WECHATPAY2-SHA256-RSA2048 authorization")
        fields = {}
        for part in rest.split(","):
            key, _, value = part.partition("=")
            fields[key.strip()] = value.strip().strip('"')
        if fields.get("mchid") != WECHAT_MCH_ID:
            raise RequestRefused("SIGN_ERROR: unknown mchid")
        message = f"{method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n".encode()
        if not _verify(self.merchant_public, message, fields.get("signature")):
            raise RequestRefused("SIGN_ERROR: signature does not match")
        return json.loads(body)

    def wechat_headers(self, body):
        timestamp, nonce = str(int(datetime.datetime.now().timestamp())), secrets.token_hex(16)
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": _sign(self.platform_key, f"{timestamp}\n{nonce}\n{body}\n".encode()),
            "Wechatpay-Serial": PLATFORM_SERIAL,
        }

    def wechat_notify(self, order):
        transaction_id = "4200" + secrets.token_hex(12)
        transaction = {
            "mchid": WECHAT_MCH_ID,
            "appid": order["appid"],
            "out_trade_no": order["out_trade_no"],
            "transaction_id": transaction_id,
            "trade_type": "NATIVE",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": datetime.datetime.now(BEIJING).isoformat(timespec="seconds"),
            "payer": {"openid": "paysim-" + secrets.token_hex(8)},
            "amount": {
                "total": order["amount"]["total"],
                "payer_total": order["amount"]["total"],
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(self.api_v3_key).encrypt(
            nonce.encode(), json.dumps(transaction, ensure_ascii=False).encode(), b"transaction"
        )
        body = json.dumps(
            {
                "id": secrets.token_hex(16),
                "create_time": transaction["success_time"],
                "resource_type": "encrypt-resource",
                "event_type": "TRANSACTION.SUCCESS",
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        )
        answer = requests.post(
            order["notify_url"],
            data=body.encode(),
            headers={"Content-Type": "application/json", **self.wechat_headers(body)},
            timeout=NOTIFY_TIMEOUT,
        )
        if answer.status_code in (200, 204):
            self.record(
                provider="wechat",
                kind="pay",
                trade_no=transaction_id,
                order_no=order["out_trade_no"],
                amount=order["amount"]["total"],
            )
        return transaction_id, answer

    def wechat_refund(self, request):
        refund_id = self.refund_once(
            "wechat",
            request["out_refund_no"],
            request["amount"]["refund"],
            refund_id="5030" + secrets.token_hex(12),
            trade_no=request.get("transaction_id", ""),
            order_no=request.get("out_trade_no", ""),
        )
        return {
            "refund_id": refund_id,
            "out_refund_no": request["out_refund_no"],
            "transaction_id": request.get("transaction_id", ""),
            "channel": "ORIGINAL",
            "status": "PROCESSING",
            "amount": {**request["amount"], "payer_refund": request["amount"]["refund"]},
        }

    # --- UnionPay ---

    def unionpay_check(self, fields):
        # the merchant's certificate is the one Kameng's settings name; its key signs
        if fields.get("merId") != UNIONPAY_MER_ID:
            raise RequestRefused("respCode 12: unknown merId")
        if not _verify(self.merchant_public, _unionpay_digest(fields), fields.get("signature")):
            raise RequestRefused("respCode 11: signature does not verify")

    def unionpay_signed(self, fields):
        fields = {**fields, "signPubKeyCert": self.signer_pem, "signMethod": "01", "version": "5.1.0"}
        fields["signature"] = _sign(self.signer_key, _unionpay_digest(fields))
        return fields

    def unionpay_pay(self, fields):
        self.unionpay_check(fields)
        query_id = datetime.datetime.now(BEIJING).strftime("%m%d%H%M%S") + secrets.token_hex(5)
        notice = self.unionpay_signed(
            {
                "accessType": "0",
                "bizType": "000201",
                "currencyCode": "156",
                "encoding": "UTF-8",
                "merId": UNIONPAY_MER_ID,
                "orderId": fields["orderId"],
                "queryId": query_id,
                "respCode": "00",
                "respMsg": "success",
                "settleAmt": fields["txnAmt"],
                "settleCurrencyCode": "156",
                "settleDate": datetime.datetime.now(BEIJING).strftime("%m%d"),
                "traceNo": secrets.token_hex(3),
                "traceTime": datetime.datetime.now(BEIJING).strftime("%m%d%H%M%S"),
                "txnAmt": fields["txnAmt"],
                "txnSubType": "01",
                "txnTime": fields["txnTime"],
                "txnType": "01",
            }
        )
        answer = requests.post(fields["backUrl"], data=notice, timeout=NOTIFY_TIMEOUT)
        if answer.status_code == 200:
            self.record(
                provider="unionpay",
                kind="pay",
                trade_no=query_id,
                order_no=fields["orderId"],
                amount=int(fields["txnAmt"]),
            )
        return query_id, answer

    def unionpay_refund(self, fields):
        self.unionpay_check(fields)
        query_id = self.refund_once(
            "unionpay",
            fields["orderId"],
            int(fields["txnAmt"]),
            refund_id=datetime.datetime.now(BEIJING).strftime("%m%d%H%M%S") + secrets.token_hex(5),
            trade_no=fields["origQryId"],
            order_no="",
        )
        answer = self.unionpay_signed(
            {
                "merId": UNIONPAY_MER_ID,
                "orderId": fields["orderId"],
                "origQryId": fields["origQryId"],
                "queryId": query_id,
                "respCode": "00",
                "respMsg": "成功[0000000]",
                "txnAmt": fields["txnAmt"],
                "txnType": "04",
            }
        )
        return urllib.parse.urlencode(answer)

    # --- statements ---

    def statement(self, provider, day):
        """A day's bill as CSV, in the provider's layout (the columns Kameng reconciles on)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        rows = self.trades(provider, day)
        if provider == "alipay":
            out.write(
                f"#支付宝业务明细查询\n#账号：[{ALIPAY_APP_ID}]\n#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]\n"
            )
            writer.writerow(
                [
                    "支付宝交易号",
                    "商户订单号",
                    "业务类型",
                    "商品名称",
                    "创建时间",
                    "完成时间",
                    "订单金额（元）",
                    "商家实收（元）",
                    "退款批次号/请求号",
                ]
            )
            for row in rows:
                sign = -1 if row["kind"] == "refund" else 1
                amount = _yuan(row["amount"])
                writer.writerow(
                    [
                        row["trade_no"],
                        row["order_no"],
                        "交易" if sign > 0 else "退款",
                        "Kameng",
                        row["at"],
                        row["at"],
                        amount if sign > 0 else "-" + amount,
                        amount if sign > 0 else "-" + amount,
                        row.get("refund_no", ""),
                    ]
                )
            out.write(
                "#-----------------------------------------业务明细列表结束------------------------------------\n"
            )
        elif provider == "wechat":
            writer.writerow(
                [
                    "交易时间",
                    "公众账号ID",
                    "商户号",
                    "微信订单号",
                    "商户订单号",
                    "交易状态",
                    "应结订单金额",
                    "微信退款单号",
                    "商户退款单号",
                    "退款金额",
                    "货币种类",
                ]
            )
            for row in rows:
                refund = row["kind"] == "refund"
                writer.writerow(
                    [
                        f"`{row['at']}",
                        f"`{WECHAT_APP_ID}",
                        f"`{WECHAT_MCH_ID}",
                        f"`{row['trade_no']}",
                        f"`{row['order_no']}",
                        "`REFUND" if refund else "`SUCCESS",
                        "`0.00" if refund else f"`{_yuan(row['amount'])}",
                        "`" + (row.get("refund_no", "") if refund else "0"),
                        "`" + (row.get("refund_no", "") if refund else "0"),
                        f"`{_yuan(row['amount'])}" if refund else "`0.00",
                        "`CNY",
                    ]
                )
        else:
            raise ValueError(f"no statement format for {provider}")
        return out.getvalue()


# --- the HTTP server -------------------------------------------------------------


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>paysim · {provider}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>{provider} sandbox</h1><p>{subject}</p><p style="font-size: 2em">¥ {amount}</p>
<form method="post" action="{action}">{inputs}<button type="submit" style="font-size: 1.5em">pay</button></form>
<p><small>paysim stands in for {provider}: this button sends {provider}'s own signed notification to the shop.</small></p>
</body></html>"""


def _page(provider, subject, fen, action, fields):
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
        for k, v in fields.items()
    )
    return PAGE.format(
        provider=html.escape(provider),
        subject=html.escape(subject),
        amount=_yuan(fen),
        action=action,
        inputs=inputs,
    )


class Handler(BaseHTTPRequestHandler):
    sandbox: Sandbox
    public_url: str
    wechat_orders: dict

    def log_message(self, format, *args):
        pass

    def _send(self, status, body, content_type="text/html; charset=utf-8", headers=None):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")

    def _form(self):
        return dict(urllib.parse.parse_qsl(self._body(), keep_blank_values=True))

    def _result(self, provider, trade_no, answer):
        ok = answer.status_code in (200, 204)
        self._send(
            200 if ok else 502,
            f"<!doctype html><meta charset='utf-8'><h1>{provider}: {'paid' if ok else 'the shop refused the notification'}</h1>"
            f"<p>trade {html.escape(trade_no)}; the shop answered HTTP {answer.status_code}: "
            f"<code>{html.escape(answer.text[:200])}</code></p>",
        )

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            if url.path == "/alipay/gateway.do":
                params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                biz = self.sandbox.alipay_check(params)
                fen = round(float(biz["total_amount"]) * 100)
                return self._send(200, _page("alipay", biz.get("subject", ""), fen, "/alipay/pay", params))
            if url.path.startswith("/wechat/pay/"):
                order = self.wechat_orders.get(url.path.rsplit("/", 1)[1])
                if order is None:
                    return self._send(404, "no such order")
                return self._send(
                    200, _page("wechat", order["description"], order["amount"]["total"], url.path, {})
                )
            if url.path.startswith("/statements/"):
                provider = url.path.rsplit("/", 1)[1]
                day = dict(urllib.parse.parse_qsl(url.query)).get("date") or datetime.date.today().isoformat()
                return self._send(200, self.sandbox.statement(provider, day), "text/csv; charset=utf-8")
            if url.path == "/health":
                return self._send(200, "ok", "text/plain")
        except (RequestRefused, KeyError, ValueError) as exc:
            return self._send(400, f"refused: {html.escape(str(exc))}", "text/plain; charset=utf-8")
        self._send(404, "not found", "text/plain")

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/alipay/pay":
                return self._result("alipay", *self.sandbox.alipay_pay(self._form()))
            if path == "/alipay/gateway.do":
                params = self._form()
                if params.get("method") != "alipay.trade.refund":
                    raise RequestRefused("paysim serves alipay.trade.refund by POST")
                return self._send(200, self.sandbox.alipay_refund(params), "application/json; charset=utf-8")
            if path.startswith("/wechat/v3/"):
                body = self._body()
                # the merchant signs the path it requested, whatever host serves it
                request = self.sandbox.wechat_check("POST", path, self.headers, body)
                if path == "/wechat/v3/pay/transactions/native":
                    self.wechat_orders[request["out_trade_no"]] = request
                    answer = json.dumps(
                        {"code_url": f"{self.public_url}/wechat/pay/{request['out_trade_no']}"}
                    )
                elif path == "/wechat/v3/refund/domestic/refunds":
                    answer = json.dumps(self.sandbox.wechat_refund(request), ensure_ascii=False)
                else:
                    return self._send(404, "not found", "text/plain")
                return self._send(200, answer, "application/json", self.sandbox.wechat_headers(answer))
            if path.startswith("/wechat/pay/"):
                order = self.wechat_orders.get(path.rsplit("/", 1)[1])
                if order is None:
                    return self._send(404, "no such order", "text/plain")
                return self._result("wechat", *self.sandbox.wechat_notify(order))
            if path == "/unionpay/gateway/api/frontTransReq.do":
                fields = self._form()
                self.sandbox.unionpay_check(fields)
                return self._send(
                    200,
                    _page(
                        "unionpay",
                        fields.get("orderDesc", ""),
                        int(fields["txnAmt"]),
                        "/unionpay/pay",
                        fields,
                    ),
                )
            if path == "/unionpay/pay":
                return self._result("unionpay", *self.sandbox.unionpay_pay(self._form()))
            if path == "/unionpay/gateway/api/backTransReq.do":
                return self._send(
                    200, self.sandbox.unionpay_refund(self._form()), "text/plain; charset=utf-8"
                )
        except RequestRefused as exc:
            return self._send(
                400, json.dumps({"code": "SIGN_ERROR", "message": str(exc)}), "application/json"
            )
        except (KeyError, ValueError) as exc:
            return self._send(
                400, json.dumps({"code": "PARAM_ERROR", "message": str(exc)}), "application/json"
            )
        except requests.RequestException as exc:
            return self._send(502, f"the shop did not answer: {type(exc).__name__}", "text/plain")
        self._send(404, "not found", "text/plain")


def serve(data_dir, host="127.0.0.1", port=8010):
    """Run the sandbox until interrupted."""
    handler = type(
        "PaysimHandler",
        (Handler,),
        {"sandbox": Sandbox(data_dir), "public_url": f"http://{host}:{port}", "wechat_orders": {}},
    )
    server = ThreadingHTTPServer((host, port), handler)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def paysim_url():
    port = os.environ.get("KAMENG_PAYSIM_PORT", "8010")
    return os.environ.get("KAMENG_PAYSIM_URL", f"http://127.0.0.1:{port}")
