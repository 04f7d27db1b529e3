"""The best possible conversion score on simulated data, from the simulator's `truth` table.

The simulator draws each lead's SQL from a piecewise-constant daily hazard: `hazard_base`, and
`hazard_ready` for `ready_days` once a buying need arises (with chance `p_need`, after an
exponential delay). The oracle knows every parameter of the lead, and its readiness once the
need has arisen (from then on it shows in behaviour). It does not know random draws that have
left no trace by as_of — whether and when a need will arise, or a future unsubscribe — and
integrates over them, as any forecaster must. Knowing the realised onset would give it
foresight that no model can have.

For a lead with no need shown by t (age a), the need is still possible with posterior weights
  none ∝ 1 − p_need,  soon ∝ p_need·s·e^(−a/d_now),  later ∝ p_need·(1−s)·e^(−a/d_later),
and the onset after t is exponential again (memoryless), integrated numerically over [t, t+H).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from features import contract as c
from features.tables import table_path

DAY_US = 86_400_000_000
_GRID = 96


def truth_table(folder: Path) -> pl.DataFrame | None:
    """The simulator's truth, when the folder has one (real data never does)."""
    path = table_path(folder, c.TRUTH)
    return pl.read_parquet(path) if path is not None and path.suffix == ".parquet" else None


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
    hb, hr, window = column("hazard_base"), column("hazard_ready"), column("ready_days")
    since_ready, since_end = days_since("ready_at"), days_since("ready_until")
    age = days_since(c.CREATED_AT)
    quit_known = np.nan_to_num(days_since("ends_at"), nan=-1.0) >= 0

    # Need shown: ready exposure is the overlap of [t, t+H) with the known window.
    started = since_ready >= 0
    overlap = np.where(started, np.clip(np.minimum(H, -since_end), 0.0, H), 0.0)
    survival = np.exp(-(hb * (H - overlap) + hr * overlap))

    # No need shown yet: mix "no need" with a need arising soon or later.
    waiting = ~started
    a = age[waiting]
    share, p_need = column("need_now_share")[waiting], column("p_need")[waiting]
    d_now, d_later = column("need_now_days")[waiting], column("need_later_days")[waiting]
    w_now = p_need * share * np.exp(-a / d_now)
    w_later = p_need * (1 - share) * np.exp(-a / d_later)
    w_none = 1 - p_need
    b, r, w = hb[waiting], hr[waiting], window[waiting]
    mixed = (
        w_none * np.exp(-b * H)
        + w_now * _onset_survival(d_now, b, r, w, H)
        + w_later * _onset_survival(d_later, b, r, w, H)
    ) / (w_none + w_now + w_later)
    survival[waiting] = mixed
    survival[quit_known] = 1.0
    return 1.0 - survival


def _onset_survival(
    delay: np.ndarray, base: np.ndarray, ready: np.ndarray, window: np.ndarray, H: float
) -> np.ndarray:
    """P(no SQL in [t, t+H)) when a need arises after t with an Exp(mean delay) wait."""
    step = H / _GRID
    e = (np.arange(_GRID) + 0.5) * step
    d, b, r, w = delay[:, None], base[:, None], ready[:, None], window[:, None]
    integral = b * e + r * np.minimum(w, H - e) + b * np.maximum(0.0, H - e - w)
    onset_inside = (np.exp(-e / d) / d * step * np.exp(-integral)).sum(axis=1)
    return onset_inside + np.exp(-H / delay) * np.exp(-base * H)
