"""kameng forecast backtest: reading a sales history, scoring it, and its exit status."""

import datetime

import pytest

from inventory import forecast
from kameng_cli import forecasting
from kameng_cli.main import main


def _csv(tmp_path, text):
    path = tmp_path / "sales.csv"
    path.write_text(text)
    return path


def test_a_history_fills_the_days_without_lines_with_zero_up_to_the_last_date(tmp_path):
    path = _csv(
        tmp_path,
        "date,product,units\n2026-01-01,a,3\n2026-01-03,a,2\n2026-01-03,a,1\n2026-01-02,b,5\n2026-01-04,b,1\n",
    )
    assert forecasting.read_history(path) == {"a": [3, 0, 3, 0], "b": [5, 0, 1]}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("2026-01-01,a,3\n2026-13-01,a,1\n", "line 2"),
        ("date,product,units\n2026-01-01,a\n", "line 2"),
        ("2026-01-01,a,-1\n", "line 1"),
        ("2026-01-01,,1\n", "line 1"),
        ("2026-01-01,a,1.5\n", "line 1"),
    ],
)
def test_a_bad_line_is_reported_by_its_number(tmp_path, text, line):
    with pytest.raises(forecasting.HistoryError, match=line):
        forecasting.read_history(_csv(tmp_path, text))


def test_a_file_of_a_year_is_scored_per_product_and_overall(tmp_path, capsys):
    start = datetime.date(2025, 1, 6)
    units = forecast.synthetic_year()["vip-month"]
    lines = [f"{start + datetime.timedelta(days=n)},vip,{sold}" for n, sold in enumerate(units)]
    main(["forecast", "backtest", str(_csv(tmp_path, "\n".join(lines) + "\n"))])
    shown = capsys.readouterr().out
    assert "vip" in shown and "overall" in shown and "beats seasonal-naive" in shown


def test_a_history_too_short_or_broken_exits_1(tmp_path):
    with pytest.raises(SystemExit) as short:
        main(["forecast", "backtest", str(_csv(tmp_path, "2026-01-01,a,3\n"))])
    assert short.value.code == 1
    with pytest.raises(SystemExit) as broken:
        main(["forecast", "backtest", str(tmp_path / "missing.csv")])
    assert "kameng forecast backtest" in str(broken.value.code)
