"""``kameng forecast backtest [FILE.csv]``: how far inventory's demand forecast misses, against seasonal-naive.

The history is a CSV of ``date,product,units`` (a header line is allowed), or
by default a synthetic year of sales with weekly and holiday patterns. Each
product's days run from its first line to the file's last date; a day it has
no line for sold nothing.
"""

import csv
import datetime

from rich.console import Console
from rich.table import Table

from inventory import forecast

HEADER = ("date", "product", "units")


class HistoryError(ValueError):
    """A CSV line that is not ``date,product,units``, with its line number."""


def read_history(path):
    """{product: [daily units, oldest first]} from a ``date,product,units`` CSV file."""
    sold: dict[str, dict[datetime.date, int]] = {}
    with open(path, newline="", encoding="utf-8") as lines:
        for number, row in enumerate(csv.reader(lines), start=1):
            if not row or (number == 1 and tuple(cell.strip().lower() for cell in row) == HEADER):
                continue
            if len(row) != 3:
                raise HistoryError(f"line {number}: expected date,product,units")
            day_text, product, units_text = (cell.strip() for cell in row)
            try:
                day, units = datetime.date.fromisoformat(day_text), int(units_text)
            except ValueError:
                raise HistoryError(f"line {number}: a date as YYYY-MM-DD and whole units, please") from None
            if units < 0 or not product:
                raise HistoryError(f"line {number}: a product and units of 0 or more, please")
            by_day = sold.setdefault(product, {})
            by_day[day] = by_day.get(day, 0) + units
    if not sold:
        raise HistoryError(f"{path}: no sales in it")
    last = max(max(by_day) for by_day in sold.values())
    return {
        product: [
            by_day.get(min(by_day) + datetime.timedelta(days=n), 0)
            for n in range((last - min(by_day)).days + 1)
        ]
        for product, by_day in sold.items()
    }


def run_backtests(history):
    """([Backtest], overall (forecast, seasonal naive) or None); products too short for one forecast left out."""
    backtests = [
        test
        for test in (forecast.backtest(product, units) for product, units in sorted(history.items()))
        if test is not None
    ]
    return backtests, forecast.overall(backtests) if backtests else None


def render(backtests, total, source, console=None):
    console = console or Console()
    table = Table(
        title=f"Holt-Winters vs seasonal-naive, {forecast.HORIZON}-day forecasts rolled weekly: {source}"
    )
    for column in ("product", "days", "forecasts", "MASE", "naive MASE", "sMAPE %", "naive sMAPE %"):
        table.add_column(column, justify="left" if column == "product" else "right", no_wrap=True)
    for test in backtests:
        table.add_row(*_row(test.product, test.days, test.origins, test.forecast, test.seasonal_naive))
    if total is not None:
        ours, naive = total
        table.add_row(
            *_row("overall", "", sum(test.origins for test in backtests), ours, naive), style="bold"
        )
    console.print(table)
    if total is None:
        console.print(
            f"no product has the {forecast.FIRST_ORIGIN + forecast.HORIZON} days one forecast needs"
        )
    else:
        verdict = "beats" if total[0].mase < total[1].mase else "does NOT beat"
        console.print(f"the forecast {verdict} seasonal-naive (MASE under 1: better than last week's sales)")


def _row(product, days, origins, ours, naive):
    return (
        product,
        str(days),
        str(origins),
        f"{ours.mase:.3f}",
        f"{naive.mase:.3f}",
        f"{ours.smape:.1f}",
        f"{naive.smape:.1f}",
    )
