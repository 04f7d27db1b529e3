"""Every metric leadscore reports, defined once: conversion and deal velocity.

Pure functions of arrays, so tests check them against hand computations and the same numbers
appear in MLflow, the model report, `leadscore promote`, the funnel report and the benchmarks;
which rows each figure covers is training/evaluation.py's business.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from lifelines.utils import concordance_index

EPS = 1e-6


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate − mean prediction| over equal-count bins of p."""
    order = np.argsort(p, kind="stable")
    error = 0.0
    for part in np.array_split(order, bins):
        if len(part):
            error += len(part) * abs(y[part].mean() - p[part].mean())
    return float(error / len(y))


def lift_at(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Conversion rate among the top `share` by score, over the overall rate."""
    k = max(1, int(round(len(y) * share)))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def captured(y: np.ndarray, score: np.ndarray, day: np.ndarray, k: int) -> float:
    """Expected sum of `y` over each day's top `k` rows by `score`, ties in random order.

    Per day, whole groups of equal score are taken while they fit; the group that straddles
    the k-th place gives each member the chance (places left) / (group size). Exact and
    repeatable, and fair to coarse scores (a yes/no rule, random order) as to fine ones.
    """
    if y.size == 0:
        return 0.0
    groups = (
        pl.DataFrame({"day": day, "score": score, "y": y.astype(np.float64)})
        .group_by("day", "score")
        .agg(n=pl.len().cast(pl.Int64), y=pl.col("y").sum())  # signed: k - before < 0
        .sort(["day", "score"], descending=[False, True])
        .with_columns(before=(pl.col("n").cum_sum() - pl.col("n")).over("day"))
        .with_columns(take=(k - pl.col("before")).clip(0, pl.col("n")))
    )
    return float((groups["take"] / groups["n"] * groups["y"]).sum())


def recall_at_capacity(y: np.ndarray, p: np.ndarray, day: np.ndarray, per_day: float) -> float:
    """Share of all conversions found among the top `per_day` leads of each day."""
    return captured(y, p, day, max(1, round(per_day))) / max(float(y.sum()), 1.0)


def velocity_metrics(
    remaining_days: np.ndarray,
    observed: np.ndarray,
    p_sign: np.ndarray,
    expected_days: np.ndarray,
    p30: np.ndarray,
    horizon_days: float,
) -> dict[str, float]:
    """C-index over all rows (censored ones included), MAE on closed deals, P(30 d) calibration.

    `remaining_days` runs from the snapshot to the contract (observed) or to the data's end
    (censored); `p_sign` is P(contract within the model's horizon) — a higher chance of signing
    soon must mean a shorter time. MAE uses deals closed within the horizon.
    """
    cindex = concordance_index(remaining_days, -p_sign, observed)
    closed = observed & (remaining_days <= horizon_days)
    mae = (
        float(np.abs(expected_days[closed] - remaining_days[closed]).mean())
        if closed.any()
        else float("nan")
    )
    # P(contract within 30 d) is checkable where the 30 days were seen, or the deal signed.
    known = observed | (remaining_days >= 30)
    signed30 = (observed & (remaining_days <= 30))[known].astype(np.float64)
    return {
        "c_index": float(cindex),
        "mae_days_closed": mae,
        "p30_ece": expected_calibration_error(signed30, p30[known]),
        "p30_mean_prediction": float(p30[known].mean()),
        "p30_observed_rate": float(signed30.mean()),
    }


def kaplan_meier_share(remaining_days: np.ndarray, observed: np.ndarray, days: float) -> float:
    """Kaplan-Meier estimate of the share signed within `days` (censored rows count at risk
    until they leave)."""
    times = np.sort(remaining_days)
    event_times, deaths = np.unique(
        remaining_days[observed & (remaining_days <= days)], return_counts=True
    )
    at_risk = len(times) - np.searchsorted(times, event_times, side="left")
    return float(1 - np.prod(1 - deaths / at_risk)) if len(event_times) else 0.0


def velocity_calibration(
    remaining_days: np.ndarray,
    observed: np.ndarray,
    predicted: dict[int, np.ndarray],
    groups: int = 3,
) -> dict[str, float]:
    """Predicted P(signed within d) against Kaplan-Meier, per tercile of predicted risk.

    `predicted` maps each horizon in days to every row's P(signed within it); the terciles
    are cut on the longest horizon. `km_gap_max` is the largest |predicted − Kaplan-Meier|.
    """
    longest = predicted[max(predicted)]
    edges = np.quantile(longest, np.linspace(0, 1, groups + 1))
    group = np.clip(np.searchsorted(edges, longest, side="right") - 1, 0, groups - 1)
    out: dict[str, float] = {}
    gaps = []
    for g in range(groups):
        members = group == g
        for days, p in predicted.items():
            km = kaplan_meier_share(remaining_days[members], observed[members], days)
            mean = float(p[members].mean())
            out[f"tercile{g + 1}_{days}d_predicted"] = mean
            out[f"tercile{g + 1}_{days}d_kaplan_meier"] = km
            gaps.append(abs(mean - km))
    out["km_gap_max"] = float(max(gaps))
    for days, p in predicted.items():
        out[f"{days}d_predicted"] = float(p.mean())
        out[f"{days}d_kaplan_meier"] = kaplan_meier_share(remaining_days, observed, days)
    return out
