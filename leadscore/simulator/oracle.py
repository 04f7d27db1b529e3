"""The best possible conversion score on simulated data, from the simulator's `truth` table.

The simulator draws each lead's SQL from a piecewise-constant daily hazard: `hazard_base`, and
`hazard_ready` while a buying need lasts (it arises with chance `p_need` after an exponential
delay and lasts a log-normal number of days). The oracle knows every parameter of the lead and
its state at as_of — no need yet, in a need (since when), or past it. It does not know random
draws that have left no trace by as_of: whether and when a need will arise, how long a need
will still last, or a future unsubscribe; it integrates over them, as any forecaster must.
Knowing those draws would give it foresight that no model can have.

For a lead with no need shown by t (age a), the need is still possible with posterior weights
  none ∝ 1 − p_need,  soon ∝ p_need·s·e^(−a/d_now),  later ∝ p_need·(1−s)·e^(−a/d_later),
and the onset after t is exponential again (memoryless). Onsets are integrated with the
midpoint rule over [t, t+H), need lengths over quantiles of the log-normal (truncated below at
the time already spent in a need).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import norm

from features import contract as c
from features.tables import table_path

DAY_US = 86_400_000_000
_GRID = 64
_LENGTHS = 16


TRUTH_COLUMNS = (
    "hazard_base",
    "hazard_ready",
    "ready_at",
    "ready_until",
    "ends_at",
    "p_need",
    "need_now_share",
    "need_now_days",
    "need_later_days",
    "ready_days_median",
    "ready_days_sigma",
)


def truth_table(folder: Path) -> pl.DataFrame | None:
    """The simulator's truth, when the folder has one this code can read (real data never)."""
    path = table_path(folder, c.TRUTH)
    if path is None or path.suffix != ".parquet":
        return None
    truth = pl.read_parquet(path)
    return truth if all(col in truth.columns for col in TRUTH_COLUMNS) else None


def oracle_for(folder: Path, horizon_days: int) -> Callable[[pl.DataFrame], np.ndarray] | None:
    """The oracle of a data folder's rows at the label horizon, when the folder holds the
    simulator's truth (what `leadscore train` hands to training); None for real data."""
    truth = truth_table(folder)
    return (
        partial(oracle_probability, truth, horizon_days=horizon_days) if truth is not None else None
    )


def oracle_probability(truth: pl.DataFrame, rows: pl.DataFrame, horizon_days: int) -> np.ndarray:
    """P(SQL within [as_of, as_of + horizon)) for rows (lead_id, created_at, as_of)."""
    frame = rows.select(c.LEAD_ID, c.CREATED_AT, "as_of").join(
        truth, on=c.LEAD_ID, how="left", maintain_order="left"
    )

    def days_since(col: str) -> np.ndarray:
        """Days from `col` to as_of (positive: col is in the past); NaN where col is null."""
        delta = frame.select((pl.col("as_of") - pl.col(col)).dt.total_microseconds() / DAY_US)
        return delta.to_series().fill_null(np.nan).to_numpy()

    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy().astype(np.float64)

    H = float(horizon_days)
    hb, hr = column("hazard_base"), column("hazard_ready")
    mu, sigma = np.log(column("ready_days_median")), column("ready_days_sigma")
    in_need = days_since("ready_at")
    started = in_need >= 0
    ongoing = started & (days_since("ready_until") < 0)
    quit_known = np.nan_to_num(days_since("ends_at"), nan=-1.0) >= 0

    # Past a need, or never to have one again: the base hazard alone.
    survival = np.exp(-hb * H)
    # In a need for `in_need` days: it lasts on for W − in_need more, W > in_need.
    lengths = _lengths(mu[ongoing], sigma[ongoing], in_need[ongoing])
    overlap = np.minimum(H, lengths - in_need[ongoing, None])
    survival[ongoing] = np.exp(
        -(hb[ongoing, None] * (H - overlap) + hr[ongoing, None] * overlap)
    ).mean(axis=1)
    # No need shown yet: mix "no need" with a need arising soon or later.
    waiting = ~started
    a = days_since(c.CREATED_AT)[waiting]
    share, p_need = column("need_now_share")[waiting], column("p_need")[waiting]
    d_now, d_later = column("need_now_days")[waiting], column("need_later_days")[waiting]
    w_now = p_need * share * np.exp(-a / d_now)
    w_later = p_need * (1 - share) * np.exp(-a / d_later)
    w_none = 1 - p_need
    b, r = hb[waiting], hr[waiting]
    w = _lengths(mu[waiting], sigma[waiting], np.zeros(waiting.sum()))
    survival[waiting] = (
        w_none * np.exp(-b * H)
        + w_now * _onset_survival(d_now, b, r, w, H)
        + w_later * _onset_survival(d_later, b, r, w, H)
    ) / (w_none + w_now + w_later)
    survival[quit_known] = 1.0
    return 1.0 - survival


def _lengths(mu: np.ndarray, sigma: np.ndarray, at_least: np.ndarray) -> np.ndarray:
    """Quantiles of a log-normal need length, truncated below at `at_least` days: (n, K)."""
    q = (np.arange(_LENGTHS) + 0.5) / _LENGTHS
    with np.errstate(divide="ignore"):
        floor = norm.cdf((np.log(np.maximum(at_least, 1e-9)) - mu) / sigma)
    levels = floor[:, None] + (1 - floor[:, None]) * q[None, :]
    return np.exp(mu[:, None] + sigma[:, None] * norm.ppf(levels))


def _onset_survival(
    delay: np.ndarray, base: np.ndarray, ready: np.ndarray, lengths: np.ndarray, H: float
) -> np.ndarray:
    """P(no SQL in [t, t+H)) when a need arises after t with an Exp(mean delay) wait."""
    step = H / _GRID
    e = (np.arange(_GRID) + 0.5) * step
    d, b, r = delay[:, None, None], base[:, None, None], ready[:, None, None]
    onset, w = e[None, :, None], lengths[:, None, :]
    ready_time = np.minimum(w, H - onset)
    integral = b * (H - ready_time) + r * ready_time
    inside = (np.exp(-onset / d) / d * step * np.exp(-integral)).mean(axis=2).sum(axis=1)
    return inside + np.exp(-H / delay) * np.exp(-base * H)
