"""The model's pictures: each function draws one figure from arrays and returns it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from lifelines import KaplanMeierFitter
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

PERIOD = "backtests (out of fold)"


def roc(y: np.ndarray, curves: dict[str, np.ndarray]) -> Figure:
    """One ROC curve per named score (the model first), each with its AUC."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for i, (name, scores) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(y, scores)
        auc = roc_auc_score(y, scores)
        ax.plot(fpr, tpr, "-" if i == 0 else "--", label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC, {PERIOD}")
    ax.legend(loc="lower right")
    return fig


def precision_recall(y: np.ndarray, p: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    precision, recall, _ = precision_recall_curve(y, p)
    ax.plot(recall, precision)
    ax.axhline(y.mean(), ls=":", color="grey", label=f"base rate {y.mean():.3f}")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall, {PERIOD}")
    ax.legend()
    return fig


def calibration(y: np.ndarray, p: np.ndarray, raw: np.ndarray, bins: int = 10) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label, scores in (("calibrated", p), ("raw booster", raw)):
        parts = np.array_split(np.argsort(scores), bins)
        ax.plot([scores[i].mean() for i in parts], [y[i].mean() for i in parts], "o-", label=label)
    top = max(p.max(), raw.max())
    ax.plot([0, top], [0, top], ":", color="grey")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title="Calibration (equal-count bins)",
    )
    ax.legend()
    return fig


def gains(y: np.ndarray, p: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    order = np.argsort(-p, kind="stable")
    captured = np.cumsum(y[order]) / y.sum()
    share = np.arange(1, len(y) + 1) / len(y)
    ax.plot(share, captured, label="model")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
    ax.set(
        xlabel="share of leads contacted (by score)",
        ylabel="share of conversions",
        title="Cumulative gains",
    )
    ax.legend()
    return fig


def importance(names: list[str], gain: np.ndarray, top: int = 20) -> Figure:
    order = np.argsort(gain)[-top:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh([names[i] for i in order], gain[order])
    ax.set(xlabel="total gain", title="Feature importance (gain)")
    fig.tight_layout()
    return fig


def shap_summary(names: list[str], contrib: np.ndarray, top: int = 20) -> Figure:
    """Mean |TreeSHAP| per feature, as the service explains its answers."""
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0)
    order = np.argsort(mean_abs)[-top:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh([names[i] for i in order], mean_abs[order])
    ax.set(
        xlabel="mean |contribution| (log-odds)", title="SHAP summary (deployed model, 5,000 rows)"
    )
    fig.tight_layout()
    return fig


def velocity_vs_km(
    remaining: np.ndarray,
    observed: np.ndarray,
    cumulative: np.ndarray,
    period_days: int,
    groups: int = 3,
) -> Figure:
    """Predicted P(signed by t) against Kaplan-Meier, per predicted-risk tercile."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    risk = cumulative[:, -1]
    edges = np.quantile(risk, np.linspace(0, 1, groups + 1))
    grid = np.arange(cumulative.shape[1] + 1) * period_days
    for g in range(groups):
        members = (risk >= edges[g]) & (risk <= edges[g + 1])
        km = KaplanMeierFitter().fit(remaining[members], observed[members])
        line = ax.step(
            km.timeline,
            1 - km.survival_function_.iloc[:, 0],
            where="post",
            label=f"risk group {g + 1}: Kaplan-Meier",
        )
        predicted = np.hstack([[0.0], cumulative[members].mean(axis=0)])
        ax.plot(grid, predicted, "--", color=line[0].get_color(), label="predicted")
    ax.set(
        xlim=(0, grid[-1]),
        xlabel="days after the snapshot",
        ylabel="share signed",
        title="Deal velocity: predicted vs Kaplan-Meier",
    )
    ax.legend(fontsize=7)
    return fig
