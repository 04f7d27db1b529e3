"""The two models as plain files: LightGBM boosters, a calibrator and the feature spec.

A model directory is what MLflow stores and what every consumer loads — the pyfunc wrapper,
the service and the batch — so they all predict with the same arithmetic. No pickles: the
booster is LightGBM's text format, calibration and the hazard baseline are small JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from features.spec import FeatureSpec
from training.lgb import lgb
from training.linear import LinearBase
from training.treeshap import TreeShap

EPS = 1e-6
BOOSTER_FILE = "booster.txt"
SPEC_FILE = "feature_spec.json"
CALIBRATION_FILE = "calibration.json"
HAZARD_FILE = "hazard.json"
LINEAR_FILE = "linear_base.json"
LEAD_AGE = "lead_age_days"  # features/catalog.py: days since the lead was created
VELOCITY_DAYS = (30, 60, 90)  # the horizons every velocity answer gives P(contract) for


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def level_shift(eta: np.ndarray, y: np.ndarray) -> float:
    """The constant b with Σ σ(eta + b) = Σ y: the level fixed, the ranking kept."""
    from scipy.optimize import brentq  # imported where fitted: training/lgb.py

    target = float(y.sum())

    def excess(b: float) -> float:
        return float((1 / (1 + np.exp(-(eta + b)))).sum()) - target

    return float(brentq(excess, -50.0, 50.0)) if 0 < target < len(y) else 0.0


@dataclass(frozen=True)
class Calibrator:
    """Maps raw probabilities to calibrated ones (isotonic steps or a sigmoid), never
    reversing their order: where the calibration rows rank backwards (a regime change between
    periods), the sigmoid keeps slope 1 and only moves the level."""

    kind: str
    x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def fit(cls, kind: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression  # imported where fitted: training/lgb.py
        from sklearn.linear_model import LogisticRegression

        if kind == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(raw, y)
            return cls(kind, tuple(iso.X_thresholds_), tuple(iso.y_thresholds_))
        logistic = LogisticRegression(C=1e6, solver="newton-cholesky").fit(logit(raw)[:, None], y)
        slope, intercept = float(logistic.coef_[0, 0]), float(logistic.intercept_[0])
        if slope <= 0:
            slope, intercept = 1.0, level_shift(logit(raw), y)
        return cls(kind, (slope,), (intercept,))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if self.kind == "isotonic":
            calibrated = np.interp(raw, self.x, self.y)
        else:
            calibrated = 1 / (1 + np.exp(-(self.x[0] * logit(raw) + self.y[0])))
        return np.clip(calibrated, EPS, 1 - EPS)


@dataclass(frozen=True)
class ConversionModel:
    """P(SQL within the horizon) = calibrator(σ(linear base(x) + trees(x))).

    Without a linear base the trees start from the training rate, as LightGBM does alone.
    """

    booster: lgb.Booster
    calibrator: Calibrator
    spec: FeatureSpec
    linear: LinearBase | None = None
    shap: TreeShap | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Tabulate TreeSHAP once, where the model is built or loaded, not in a request."""
        object.__setattr__(self, "shap", TreeShap.of(self.booster))

    def raw(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """Uncalibrated probabilities; one thread by default (a request is a few rows)."""
        if self.linear is None:
            return self.booster.predict(X, num_threads=threads)
        trees = self.booster.predict(X, raw_score=True, num_threads=threads)
        return 1 / (1 + np.exp(-(trees + self.linear.logit(X))))

    def predict(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        return self.calibrator.apply(self.raw(X, threads))

    def contributions(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """Exact contributions in log-odds of the raw model: one column per feature, then the
        bias. TreeSHAP for the trees (from tables; LightGBM's recursion, on `threads`, for
        trees too deep to tabulate) plus each feature's linear term against its mean."""
        trees = (
            self.shap.contributions(X)
            if self.shap is not None
            else self.booster.predict(X, pred_contrib=True, num_threads=threads)
        )
        return trees if self.linear is None else trees + self.linear.contributions(X)

    def save(self, folder: Path) -> Path:
        cal = {"kind": self.calibrator.kind, "x": self.calibrator.x, "y": self.calibrator.y}
        _save(folder, self.booster, self.spec, CALIBRATION_FILE, cal)
        if self.linear is not None:
            (folder / LINEAR_FILE).write_text(json.dumps(self.linear.to_dict()))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ConversionModel:
        booster, spec, cal = _load(folder, CALIBRATION_FILE)
        linear_file = folder / LINEAR_FILE
        linear = (
            LinearBase.from_dict(json.loads(linear_file.read_text()))
            if linear_file.exists()
            else None
        )
        calibrator = Calibrator(cal["kind"], tuple(cal["x"]), tuple(cal["y"]))
        return cls(booster, calibrator, spec, linear)


@dataclass(frozen=True)
class VelocityForecast:
    """Per lead: P(contract within each horizon period end) and days to contract if it signs."""

    cumulative: np.ndarray  # (rows, periods): P(signed by the end of period k)
    expected_remaining_days: np.ndarray
    period_days: int

    def within(self, days: int) -> np.ndarray:
        """P(contract within `days`), interpolated linearly inside a period."""
        grid = np.arange(0, self.cumulative.shape[1] + 1) * self.period_days
        padded = np.hstack([np.zeros((len(self.cumulative), 1)), self.cumulative])
        days = min(days, grid[-1])
        k = min(int(days // self.period_days), self.cumulative.shape[1] - 1)
        frac = (days - grid[k]) / self.period_days
        return padded[:, k] + frac * (padded[:, k + 1] - padded[:, k])


@dataclass(frozen=True)
class VelocityAnswer:
    """What a caller is told about a lead's deal: days from the lead's creation to its
    contract if it signs, and P(contract within each of VELOCITY_DAYS)."""

    expected_days_to_contract: np.ndarray
    p_contract: dict[int, np.ndarray]


@dataclass(frozen=True)
class VelocityModel:
    """Discrete-time hazard: logit h_k(x) = f(x) + baseline_k (proportional odds).

    One booster pass gives f(x) for a lead; the per-period baseline turns it into the chance of
    signing in each period, given not signed before — censored deals simply stop contributing
    periods, they are never "never signs".
    """

    booster: lgb.Booster
    baseline: tuple[float, ...]
    period_days: int
    spec: FeatureSpec
    slope: float = 1.0  # cross-fitted calibration: logit h_k = slope · f(x) + baseline_k

    def shift(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """f(x): the lead's shift of the per-period logit hazard, before calibration."""
        return self.booster.predict(X, raw_score=True, num_threads=threads)

    def forecast(self, X: np.ndarray, threads: int = 1) -> VelocityForecast:
        f = self.slope * self.shift(X, threads)
        hazard = 1 / (1 + np.exp(-(f[:, None] + np.asarray(self.baseline)[None, :])))
        survival = np.cumprod(1 - hazard, axis=1)
        cumulative = 1 - survival
        signs_in = hazard * np.hstack([np.ones((len(f), 1)), survival[:, :-1]])
        mid = (np.arange(len(self.baseline)) + 0.5) * self.period_days
        total = signs_in.sum(axis=1)
        expected = (signs_in * mid).sum(axis=1) / np.maximum(total, EPS)
        return VelocityForecast(cumulative, expected, self.period_days)

    def answer(self, X: np.ndarray, threads: int = 1) -> VelocityAnswer:
        """The forecast as the service, the batch and the pyfunc give it."""
        forecast = self.forecast(X, threads)
        age = X[:, self.spec.feature_names.index(LEAD_AGE)]
        within = {days: forecast.within(days) for days in VELOCITY_DAYS}
        return VelocityAnswer(age + forecast.expected_remaining_days, within)

    def save(self, folder: Path) -> Path:
        hazard = {"baseline": self.baseline, "period_days": self.period_days, "slope": self.slope}
        return _save(folder, self.booster, self.spec, HAZARD_FILE, hazard)

    @classmethod
    def load(cls, folder: Path) -> VelocityModel:
        booster, spec, hazard = _load(folder, HAZARD_FILE)
        baseline, period = tuple(hazard["baseline"]), int(hazard["period_days"])
        return cls(booster, baseline, period, spec, float(hazard.get("slope", 1.0)))


def _save(
    folder: Path, booster: lgb.Booster, spec: FeatureSpec, extra_file: str, extra: dict
) -> Path:
    """A model directory: the booster, the spec it reads, and the model's own small JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(folder / BOOSTER_FILE)
    (folder / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=1))
    (folder / extra_file).write_text(json.dumps(extra))
    return folder


def _load(folder: Path, extra_file: str) -> tuple[lgb.Booster, FeatureSpec, dict]:
    return (
        lgb.Booster(model_file=str(folder / BOOSTER_FILE)),
        FeatureSpec.from_dict(json.loads((folder / SPEC_FILE).read_text())),
        json.loads((folder / extra_file).read_text()),
    )
