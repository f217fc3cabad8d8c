"""Demand forecasts from daily unit sales: Holt-Winters exponential smoothing with a weekly season.

Pure functions over lists of daily units, oldest first; no I/O. The restock
listing (restock.py) and ``kameng forecast backtest`` use the same ``forecast``.

With too little history for a seasonal model the forecast says so in its
``method``: under 16 days (two weeks and two days) each day is forecast as the
mean of the days known (``mean``); no day at all, or no sale in any day,
forecasts no demand (``none``).
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing

SEASON = 7  # days: demand has a weekly pattern
HORIZON = 7  # days forecast by default
# the fewest days statsmodels' heuristic start of the level and weekly terms works
# from: two full weeks and two days
MIN_SEASONAL_DAYS = 10 + 2 * (SEASON // 2)
# only the recent past is fitted: a model of the last 16 weeks adapts faster and fits quicker
HISTORY_DAYS = 16 * SEASON
HOLT_WINTERS, MEAN, NONE = "holt_winters", "mean", "none"
# the service level the safety stock covers: demand over the lead time stays under
# forecast + safety stock on about 95 % of restocks (normal errors)
SERVICE_LEVEL_Z = 1.65


@dataclass(frozen=True)
class Forecast:
    method: str
    daily: tuple  # forecast units for each coming day
    # the spread of one day's forecast error, in units (from the fit's residuals)
    daily_error: float

    def units(self, days):
        return float(sum(self.daily[:days]))


def forecast(daily_units, horizon=HORIZON):
    """The forecast of the next ``horizon`` days from ``daily_units`` (oldest first)."""
    history = np.asarray(daily_units[-HISTORY_DAYS:], dtype=float)
    if not history.size or not history.any():
        return Forecast(NONE, (0.0,) * horizon, 0.0)
    if history.size < MIN_SEASONAL_DAYS:
        spread = float(history.std(ddof=1)) if history.size > 1 else float(history[0])
        return Forecast(MEAN, (float(history.mean()),) * horizon, spread)
    with warnings.catch_warnings():
        # a short or flat history may not converge fully: the best fit found still beats no fit
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        # fitted on log(1 + units): the weekly pattern scales with the volume (a
        # multiplicative season) and days without sales stay allowed; no trend, as
        # holidays would otherwise be extrapolated as one
        fit = ExponentialSmoothing(
            np.log1p(history), seasonal="add", seasonal_periods=SEASON, initialization_method="heuristic"
        ).fit()
    predicted = np.clip(np.expm1(fit.forecast(horizon)), 0, None)
    spread = float(np.sqrt(np.mean(np.square(history - np.expm1(fit.fittedvalues)))))
    return Forecast(HOLT_WINTERS, tuple(float(units) for units in predicted), spread)


def seasonal_naive(daily_units, horizon=HORIZON):
    """The benchmark: each coming day sells what the same weekday sold last week."""
    last_week = list(daily_units[-SEASON:])
    return tuple(float(last_week[day % SEASON]) for day in range(horizon))


@dataclass(frozen=True)
class Suggestion:
    forecast_units: float  # over the forecast horizon
    days_of_cover: float | None  # None: no demand forecast, the stock lasts
    quantity: int


def suggest(forecast_of, available, lead_days, threshold, horizon=HORIZON):
    """How much to order now so that stock lasts the supplier's lead time.

    Forecast demand over the lead time, plus a safety stock for the forecast's
    error over those days, less what is available; never less than what brings
    the stock back to its alert threshold. ``available`` None (unlimited) needs nothing.
    """
    forecast_units = forecast_of.units(horizon)
    if available is None:
        return Suggestion(forecast_units, None, 0)
    daily_demand = forecast_units / horizon
    cover = round(available / daily_demand, 1) if daily_demand > 0 else None
    lead_demand = forecast_of.units(lead_days)
    safety = SERVICE_LEVEL_Z * forecast_of.daily_error * math.sqrt(lead_days)
    target = max(lead_demand + safety, threshold)
    return Suggestion(forecast_units, cover, max(0, math.ceil(target - available)))


# ---- backtests


@dataclass(frozen=True)
class Score:
    mase: float
    smape: float


@dataclass(frozen=True)
class Backtest:
    product: str
    days: int
    origins: int
    forecast: Score
    seasonal_naive: Score


FIRST_ORIGIN = 4 * SEASON  # the first forecast is made with four weeks of history


def backtest(product, daily_units, horizon=HORIZON, step=SEASON):
    """Forecast ``horizon`` days from every ``step``-th day on, rolling over the history, and
    score the forecast and the seasonal-naive benchmark against what was sold.

    MASE divides the mean absolute error by the in-sample mean absolute error of
    the seasonal-naive forecast (under 1: better than repeating last week on the
    history itself); sMAPE is in percent (0 to 200), a day with neither
    forecast nor sales counting as no error. None where the history is too short
    for one forecast.
    """
    units = [float(value) for value in daily_units]
    origins = range(FIRST_ORIGIN, len(units) - horizon + 1, step)
    if not origins:
        return None
    actual, ours, naive = [], [], []
    for origin in origins:
        history = units[:origin]
        actual.extend(units[origin : origin + horizon])
        ours.extend(forecast(history, horizon).daily)
        naive.extend(seasonal_naive(history, horizon))
    scale = _seasonal_naive_mae(units)
    return Backtest(
        product, len(units), len(origins), _score(actual, ours, scale), _score(actual, naive, scale)
    )


def overall(backtests):
    """The mean of the products' scores, each product weighing the same."""
    return (
        Score(
            float(np.mean([test.forecast.mase for test in backtests])),
            float(np.mean([test.forecast.smape for test in backtests])),
        ),
        Score(
            float(np.mean([test.seasonal_naive.mase for test in backtests])),
            float(np.mean([test.seasonal_naive.smape for test in backtests])),
        ),
    )


def _seasonal_naive_mae(units):
    history = np.asarray(units)
    errors = np.abs(history[SEASON:] - history[:-SEASON])
    # a history without any change from week to week: any error is infinitely worse
    return float(errors.mean()) if errors.size and errors.mean() > 0 else 1.0


def _score(actual, predicted, scale):
    actual, predicted = np.asarray(actual), np.asarray(predicted)
    errors = np.abs(actual - predicted)
    sums = np.abs(actual) + np.abs(predicted)
    ratios = np.divide(errors, sums, out=np.zeros_like(errors), where=sums > 0)
    return Score(float(errors.mean() / scale), float(200 * ratios.mean()))


def synthetic_year(seed=7):
    """{product: 365 daily units} with weekly and holiday patterns, the same for a seed.

    Three products of different volume: weekend peaks, a slow upward trend, the
    Spring Festival and National Day weeks (demand doubles) and the 11.11 and
    12.12 shopping days (it triples), Poisson noise on top.
    """
    rng = np.random.default_rng(seed)
    days = np.arange(365)
    weekday = days % SEASON  # day 0 is a Monday
    weekly = np.array([0.8, 0.85, 0.9, 1.0, 1.2, 1.5, 1.4])[weekday]
    holiday = np.ones(365)
    holiday[28:35] = 2.0  # Spring Festival week
    holiday[273:280] = 2.0  # National Day week
    holiday[314] = 3.0  # 11.11
    holiday[345] = 3.0  # 12.12
    trend = 1 + 0.3 * days / 365
    return {
        name: [int(units) for units in rng.poisson(base * weekly * holiday * trend)]
        for name, base in (("game-card-50", 40.0), ("phone-credit-100", 12.0), ("vip-month", 4.0))
    }
