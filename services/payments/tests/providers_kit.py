"""The providers' side of each protocol, built here from the providers' documents, for the tests.

Keys and certificates are generated per test session; nothing here is a real key.
"""

import base64
import datetime
import hashlib
import json
import os
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa2(key, message):
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def sorted_string(params, exclude=()):
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] not in ("", None)
    )


def pem_private(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate(subject_key, common_name, issuer_key=None, issuer_name=None, days=365, serial=None, ca=False):
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or subject)
        .public_key(subject_key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key or subject_key, hashes.SHA256())


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


# --- Alipay ------------------------------------------------------------------


def alipay_notification(
    alipay_key, app_id, payment_id, trade_no, total_amount, status="TRADE_SUCCESS", **extra
):
    """The asynchronous notification Alipay posts (application/x-www-form-urlencoded)."""
    form = {
        "notify_time": "2026-11-27 10:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "app_id": app_id,
        "trade_no": trade_no,
        "out_trade_no": payment_id.replace("-", ""),
        "trade_status": status,
        "total_amount": total_amount,
        "receipt_amount": total_amount,
        "subject": "Kameng order",
        "gmt_payment": "2026-11-27 09:59:59",
        **extra,
    }
    form["sign"] = rsa2(alipay_key, sorted_string(form, exclude=("sign", "sign_type")).encode())
    return form


def form_body(form):
    return urllib.parse.urlencode(form)


# --- WeChat Pay API v3 -------------------------------------------------------


def wechat_notification(
    platform_key,
    api_v3_key,
    transaction,
    timestamp,
    nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    event_type="TRANSACTION.SUCCESS",
    serial="PLATFORM-SERIAL",
):
    """(body, headers) of an API v3 notification: the transaction sealed with AEAD_AES_256_GCM."""
    resource_nonce = os.urandom(6).hex()
    associated = "transaction"
    ciphertext = AESGCM(api_v3_key).encrypt(
        resource_nonce.encode(), json.dumps(transaction).encode(), associated.encode()
    )
    body = json.dumps(
        {
            "id": "EV-2018022511223320873",
            "create_time": "2026-11-27T10:00:00+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated,
                "nonce": resource_nonce,
            },
        },
        ensure_ascii=False,
    )
    return body, wechat_headers(platform_key, body, timestamp, nonce, serial)


def wechat_headers(
    platform_key, body, timestamp, nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS", serial="PLATFORM-SERIAL"
):
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa2(platform_key, f"{timestamp}\n{nonce}\n{body}\n".encode()),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def wechat_transaction(mch_id, payment_id, transaction_id, total, currency="CNY", trade_state="SUCCESS"):
    return {
        "mchid": mch_id,
        "appid": "wxd678efh567hg6787",
        "out_trade_no": payment_id.replace("-", ""),
        "transaction_id": transaction_id,
        "trade_type": "NATIVE",
        "trade_state": trade_state,
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "success_time": "2026-11-27T10:00:00+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": total, "payer_total": total, "currency": currency, "payer_currency": currency},
    }


# --- UnionPay ----------------------------------------------------------------


def unionpay_sign(key, fields):
    digest = hashlib.sha256(sorted_string(fields, exclude=("signature",)).encode()).hexdigest()
    return rsa2(key, digest.encode())


def unionpay_notification(
    signer_key, signer_cert_pem, mer_id, payment_id, query_id, txn_amt, resp_code="00", txn_type="01"
):
    """The back notification UnionPay posts to backUrl (a form), signed with its certificate."""
    form = {
        "accessType": "0",
        "bizType": "000201",
        "currencyCode": "156",
        "encoding": "UTF-8",
        "merId": mer_id,
        "orderId": payment_id.replace("-", ""),
        "queryId": query_id,
        "respCode": resp_code,
        "respMsg": "success",
        "settleAmt": txn_amt,
        "settleCurrencyCode": "156",
        "settleDate": "1127",
        "signMethod": "01",
        "signPubKeyCert": signer_cert_pem,
        "traceNo": "123456",
        "traceTime": "1127100000",
        "txnAmt": txn_amt,
        "txnSubType": "01",
        "txnTime": "20261127100000",
        "txnType": txn_type,
        "version": "5.1.0",
    }
    form["signature"] = unionpay_sign(signer_key, form)
    return form


def verify(key, message, signature):
    """Raise unless ``signature`` is SHA256withRSA of ``message`` under ``key``'s public half."""
    key.public_key().verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
