"""UnionPay online gateway (ACP 5.1.0): the front consume form, the back notification, refunds.

Every message is signed (``signMethod`` 01) with SHA256withRSA over the hex
SHA-256 digest of its non-empty fields but ``signature``, sorted by name and
joined as ``k=v&k=v``. UnionPay's own messages carry the signing certificate
(``signPubKeyCert``), which must be issued by the configured UnionPay
certificate authority and name UnionPay; a notification is answered 200.
"""

import datetime
import hashlib
import urllib.parse

import requests
from cryptography import x509
from cryptography.x509.oid import NameOID

from kameng_common.errors import InvalidInput, InvalidSignature, Unavailable
from payments import domain
from payments.providers import signing
from payments.providers.base import (
    Checkout,
    Ignored,
    RefundFailed,
    Reply,
    merchant_order_no,
    payment_id_of,
    post,
)

DEFAULT_GATEWAY = "https://gateway.95516.com"
FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
BEIJING = datetime.timezone(datetime.timedelta(hours=8))
CNY = "156"
CONSUME, REFUND = "01", "04"
SUCCESS = "00"
# respCode of a request UnionPay could not handle for now (timeouts, busy): worth another try
RETRY_CODES = ("03", "04", "05")
SIGNER_NAME = "中国银联股份有限公司"
SETTINGS = ("MER_ID", "SIGN_KEY_FILE", "SIGN_CERT_FILE", "ROOT_CERT_FILE")


def signing_string(fields):
    digest = hashlib.sha256(signing.sorted_parameters(fields, exclude=("signature",)).encode("utf-8"))
    return digest.hexdigest().encode("ascii")


class Unionpay:
    name = domain.UNIONPAY
    currencies = ("CNY",)
    reply = Reply("text/plain", "ok")

    def __init__(
        self,
        mer_id,
        sign_key,
        sign_cert,
        issuers,
        back_url,
        front_url=None,
        gateway_url=DEFAULT_GATEWAY,
        signer_name=SIGNER_NAME,
        session=None,
    ):
        self.mer_id = mer_id
        self._sign_key = sign_key
        # certId: the merchant signing certificate's serial number, in decimal
        self.cert_id = str(sign_cert.serial_number)
        self._issuers = issuers
        self.back_url = back_url
        self.front_url = front_url
        self.gateway_url = (gateway_url or DEFAULT_GATEWAY).rstrip("/")
        self.signer_name = signer_name or SIGNER_NAME
        self._session = session or requests.Session()

    @classmethod
    def from_settings(cls, settings, notify_url):
        certificates = signing.load_certificates("KAMENG_UNIONPAY_SIGN_CERT_FILE", settings["SIGN_CERT_FILE"])
        return cls(
            mer_id=settings["MER_ID"],
            sign_key=signing.load_private_key("KAMENG_UNIONPAY_SIGN_KEY_FILE", settings["SIGN_KEY_FILE"]),
            sign_cert=certificates[0],
            issuers=signing.load_certificates("KAMENG_UNIONPAY_ROOT_CERT_FILE", settings["ROOT_CERT_FILE"]),
            back_url=notify_url,
            front_url=settings.get("FRONT_URL") or None,
            gateway_url=settings.get("GATEWAY_URL"),
            signer_name=settings.get("SIGNER_NAME"),
        )

    def sign(self, fields, now=None):
        moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(BEIJING)
        signed = {
            "version": "5.1.0",
            "encoding": "UTF-8",
            "signMethod": "01",
            "merId": self.mer_id,
            "certId": self.cert_id,
            "accessType": "0",
            "bizType": "000201",
            "channelType": "07",
            "txnTime": moment.strftime("%Y%m%d%H%M%S"),
            **fields,
        }
        signed["signature"] = signing.sign_sha256_rsa(self._sign_key, signing_string(signed))
        return signed

    def checkout(self, intent):
        """The front consume form, posted by the buyer's browser to UnionPay (the gateway serves it)."""
        fields = {
            "txnType": CONSUME,
            "txnSubType": "01",
            "orderId": merchant_order_no(intent.id),
            "txnAmt": str(intent.amount),
            "currencyCode": CNY,
            "backUrl": self.back_url,
            "orderDesc": domain.subject(intent),
        }
        if self.front_url:
            fields["frontUrl"] = self.front_url
        return Checkout(form={"action": self.gateway_url + FRONT_PATH, "fields": self.sign(fields)})

    # --- notifications -----------------------------------------------------

    def _form(self, body):
        try:
            pairs = urllib.parse.parse_qsl(body, keep_blank_values=True, strict_parsing=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("unionpay notification is not a form", "invalid_notification") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise InvalidInput("unionpay notification repeats a field", "invalid_notification")
        return form

    def _signer(self, pem):
        """UnionPay's signing certificate, once it proves to be issued to UnionPay by the configured CA."""
        try:
            certificate = x509.load_pem_x509_certificate((pem or "").encode("utf-8"))
        except ValueError:
            raise InvalidSignature("unionpay signPubKeyCert is not a certificate") from None
        now = datetime.datetime.now(datetime.UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise InvalidSignature("unionpay signing certificate is not valid now")
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not any(self.signer_name in str(name.value) for name in names):
            raise InvalidSignature("unionpay signing certificate is not issued to UnionPay")
        for issuer in self._issuers:
            try:
                certificate.verify_directly_issued_by(issuer)
                return certificate
            except (ValueError, TypeError, signing.BadSignature):
                continue
        raise InvalidSignature("unionpay signing certificate is not issued by the configured authority")

    def verify_fields(self, form):
        certificate = self._signer(form.get("signPubKeyCert"))
        signing.verify_sha256_rsa(
            certificate.public_key(), signing_string(form), form.get("signature"), self.name
        )

    def verify(self, body, headers):
        self.verify_fields(self._form(body))

    def read(self, body):
        form = self._form(body)
        for field in ("merId", "orderId", "queryId", "respCode", "txnType", "txnAmt"):
            if not form.get(field):
                raise InvalidInput(f"unionpay notification has no {field}", "invalid_notification")
        if form["merId"] != self.mer_id:
            raise InvalidInput("unionpay notification is for another merchant", "invalid_notification")
        if form["txnType"] != CONSUME:
            return Ignored(self.name, f"txnType {form['txnType']}")
        if form["respCode"] != SUCCESS:
            return Ignored(self.name, f"respCode {form['respCode']}")
        if not form["txnAmt"].isdigit() or form.get("currencyCode", CNY) != CNY:
            raise InvalidInput("unionpay amount or currency is malformed", "invalid_notification")
        return domain.Notice(
            self.name, payment_id_of(form["orderId"], self.name), form["queryId"], int(form["txnAmt"]), "CNY"
        )

    # --- refunds -----------------------------------------------------------

    def refund(self, refund):
        """A back refund of the consume ``origQryId``; its ``orderId`` (the refund id) is unique per refund."""
        fields = self.sign(
            {
                "txnType": REFUND,
                "txnSubType": "00",
                "orderId": merchant_order_no(refund.refund_id),
                "origQryId": refund.trade_no,
                "txnAmt": str(refund.amount),
                "backUrl": self.back_url,
            }
        )
        try:
            answer = post(self._session, self.name, self.gateway_url + BACK_PATH, data=fields)
        except Unavailable as exc:
            raise RefundFailed(str(exc), retryable=True) from None
        if answer.status_code != 200:
            raise RefundFailed(f"unionpay answered HTTP {answer.status_code}", retryable=True)
        try:
            response = self._form(answer.text)
            self.verify_fields(response)
        except (InvalidInput, InvalidSignature):
            raise RefundFailed("unionpay's answer is not a form signed by unionpay", retryable=True) from None
        code = response.get("respCode")
        if code == SUCCESS:
            return response.get("queryId") or ""
        raise RefundFailed(f"unionpay refused the refund: respCode {code}", retryable=code in RETRY_CODES)
