"""The demand forecast, the restock suggestion and the backtest against seasonal-naive."""

import pytest

from inventory import forecast


def test_no_sales_forecast_no_demand():
    assert forecast.forecast([]) == forecast.Forecast(forecast.NONE, (0.0,) * 7, 0.0)
    assert forecast.forecast([0] * 30).method == forecast.NONE


def test_under_sixteen_days_of_history_forecast_the_mean_day():
    predicted = forecast.forecast([2, 4, 6], horizon=10)
    assert predicted.method == forecast.MEAN
    assert predicted.daily == (4.0,) * 10 and predicted.daily_error == 2.0


def test_sixteen_days_and_more_are_fitted_with_their_weekly_season():
    weeks = [5, 5, 5, 5, 5, 10, 10] * 4
    predicted = forecast.forecast(weeks)
    assert predicted.method == forecast.HOLT_WINTERS
    assert predicted.daily == pytest.approx((5, 5, 5, 5, 5, 10, 10), abs=0.5)
    assert forecast.forecast(weeks[:16]).method == forecast.HOLT_WINTERS
    assert forecast.forecast(weeks[:15]).method == forecast.MEAN


def test_a_forecast_is_never_negative():
    assert min(forecast.forecast([0, 0, 0, 0, 0, 0, 30] * 3 + [0] * 7).daily) >= 0


def test_the_suggestion_covers_the_lead_time_with_a_safety_stock_less_what_is_available():
    predicted = forecast.Forecast(forecast.HOLT_WINTERS, (10.0,) * 14, 2.0)
    suggestion = forecast.suggest(predicted, available=30, lead_days=4, threshold=5)
    # 40 over 4 days, 1.65 * 2 * sqrt(4) = 6.6 of safety stock, less 30 available
    assert suggestion == forecast.Suggestion(70.0, 3.0, 17)
    assert forecast.suggest(predicted, available=100, lead_days=4, threshold=5).quantity == 0


def test_without_demand_the_suggestion_restores_the_threshold_and_the_stock_lasts():
    none = forecast.forecast([])
    assert forecast.suggest(none, available=3, lead_days=7, threshold=10) == forecast.Suggestion(0.0, None, 7)
    assert forecast.suggest(none, available=None, lead_days=7, threshold=10).quantity == 0


def test_a_history_too_short_for_one_forecast_has_no_backtest():
    assert forecast.backtest("p", [1] * (forecast.FIRST_ORIGIN + 6)) is None


def test_the_forecast_beats_seasonal_naive_on_the_synthetic_year():
    year = forecast.synthetic_year()
    assert all(len(units) == 365 for units in year.values())
    backtests = [forecast.backtest(product, units) for product, units in year.items()]
    ours, naive = forecast.overall(backtests)
    assert ours.mase < naive.mase and ours.smape < naive.smape
    for test in backtests:
        assert test.forecast.mase < test.seasonal_naive.mase, test.product
