"""Providers' daily statements (bills) read line by line, and matched against what payments recorded.

Pure: text in, rows and a report out. Alipay's bill is a CSV between ``#``
comment lines, with ``支付宝交易号`` (the trade), ``商户订单号`` (our order
number), ``业务类型`` (交易 or 退款), ``订单金额（元）`` and, for a refund,
``退款批次号/请求号`` (our refund request number). WeChat's is a CSV whose
every value is prefixed with a backtick, with ``微信订单号``, ``商户订单号``,
``交易状态`` (SUCCESS or REFUND), ``应结订单金额``, ``商户退款单号`` and
``退款金额``, followed by a summary that starts at ``总交易单数``.
"""

import csv
import io
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

from kameng_common.errors import InvalidInput

PAYMENT, REFUND = "payment", "refund"
REPORT_KINDS = ("matched", "missing_here", "missing_at_provider", "amount_mismatch")
# a statement of one day is a few thousand lines; far more is not one
MAX_LINES = 200_000


@dataclass(frozen=True)
class Row:
    line: int
    kind: str
    # the provider's trade number for a payment, our refund request number for a refund
    reference: str
    order_no: str
    amount: int
    day: str


@dataclass(frozen=True)
class Broken:
    line: int
    error: str


def _fen(text):
    try:
        value = Decimal(text.strip().lstrip("-"))
    except (InvalidOperation, AttributeError):
        raise ValueError(f"amount {text!r} is not a number") from None
    fen = value * 100
    if fen != fen.to_integral_value() or value < 0:
        raise ValueError(f"amount {text!r} is not in yuan with at most two decimals")
    return int(fen)


ALIPAY_COLUMNS = {
    "trade": "支付宝交易号",
    "order_no": "商户订单号",
    "kind": "业务类型",
    "amount": "订单金额（元）",
    "refund_no": "退款批次号/请求号",
    "time": "完成时间",
}
WECHAT_COLUMNS = {
    "trade": "微信订单号",
    "order_no": "商户订单号",
    "kind": "交易状态",
    "amount": "应结订单金额",
    "refund_no": "商户退款单号",
    "refund_amount": "退款金额",
    "time": "交易时间",
}


def parse(provider, text):
    """(rows, broken lines) of a statement; a header the format does not have is refused whole."""
    if provider not in ("alipay", "wechat"):
        raise InvalidInput(f"there is no statement format for {provider!r}", "unknown_provider")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"a statement has at most {MAX_LINES} lines", "statement_too_large")
    columns = ALIPAY_COLUMNS if provider == "alipay" else WECHAT_COLUMNS
    header, rows, broken = None, [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if provider == "wechat" and line.startswith("总交易单数"):
            break  # the summary: not trades
        try:
            cells = next(csv.reader(io.StringIO(line)))
        except csv.Error as exc:
            broken.append(Broken(number, f"not CSV: {exc}"))
            continue
        cells = [cell.strip().lstrip("`") for cell in cells]
        if header is None:
            missing = [name for name in columns.values() if name not in cells]
            if missing:
                raise InvalidInput(
                    f"line {number} is not a {provider} statement header: no {', '.join(missing)}",
                    "invalid_statement",
                )
            header = {name: index for index, name in enumerate(cells)}
            continue
        if len(cells) != len(header):
            broken.append(Broken(number, f"{len(cells)} fields where the header has {len(header)}"))
            continue
        try:
            rows.append(
                _row(provider, number, {name: cells[index] for name, index in header.items()}, columns)
            )
        except ValueError as exc:
            broken.append(Broken(number, str(exc)))
    if header is None:
        raise InvalidInput(f"no {provider} statement header found", "invalid_statement")
    return rows, broken


def _row(provider, number, cells, columns):
    kind_text = cells[columns["kind"]]
    if provider == "alipay":
        kind = {"交易": PAYMENT, "退款": REFUND}.get(kind_text)
        amount = cells[columns["amount"]]
    else:
        kind = {"SUCCESS": PAYMENT, "REFUND": REFUND}.get(kind_text)
        amount = cells[columns["refund_amount"] if kind == REFUND else columns["amount"]]
    if kind is None:
        raise ValueError(f"business type {kind_text!r} is neither a payment nor a refund")
    reference = cells[columns["refund_no"]] if kind == REFUND else cells[columns["trade"]]
    if not reference:
        raise ValueError("no trade or refund number")
    day = cells[columns["time"]][:10]
    if len(day) != 10 or day[4] != "-" or day[7] != "-":
        raise ValueError(f"time {cells[columns['time']]!r} is not YYYY-MM-DD hh:mm:ss")
    return Row(number, kind, reference, cells[columns["order_no"]], _fen(amount), day)


def match(rows, ours):
    """The report: ``ours`` is {(kind, reference): amount} of what payments recorded in the statement's days."""
    theirs = {(row.kind, row.reference): row for row in rows}
    report: dict[str, list[dict]] = {
        "matched": [],
        "missing_here": [],
        "amount_mismatch": [],
        "missing_at_provider": [],
    }
    for key, row in theirs.items():
        entry = {**asdict(row), "reference": row.reference}
        if key not in ours:
            report["missing_here"].append(entry)
        elif ours[key] != row.amount:
            report["amount_mismatch"].append({**entry, "amount_here": ours[key]})
        else:
            report["matched"].append(entry)
    report["missing_at_provider"] = [
        {"kind": kind, "reference": reference, "amount": amount}
        for (kind, reference), amount in sorted(ours.items())
        if (kind, reference) not in theirs
    ]
    return report
