"""Each simulated lead's SQL hazard: low at base, high while a buying need lasts, 0 after
unsubscribing. Times are float days since the simulation start; `inf` means "never"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.simulator.config import ReadinessConfig


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Hazard:
    """Each lead's daily SQL hazard: `base`, `ready` on [ready_at, ready_until), 0 from `ends`.

    `cumulative` is Λ(t) = ∫ h from creation to t; `time_at` inverts it, which turns an
    Exp(1) draw into an exact sample of the next SQL (inverse-transform per constant piece).
    """

    created: np.ndarray
    base: np.ndarray
    ready_at: np.ndarray  # inf: no buying need within the data
    ready_until: np.ndarray
    ready: np.ndarray  # 0 where there is no ready window
    ends: np.ndarray  # inf: never unsubscribes within the data
    p_need: np.ndarray  # chance the lead ever has a buying need
    need_ready: np.ndarray  # hazard a need would bring, whether or not one arises
    window: np.ndarray  # days a need lasts

    def _knots(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """Breakpoints p1 <= p2 <= ends and Λ at each, for the leads `idx`."""
        ends = self.ends[idx]
        p1 = np.minimum(self.ready_at[idx], ends)
        p2 = np.minimum(self.ready_until[idx], ends)
        base, ready = self.base[idx], self.ready[idx]
        with np.errstate(invalid="ignore"):  # inf - inf where a piece never starts
            l1 = base * (p1 - self.created[idx])
            l2 = l1 + ready * np.where(p2 > p1, p2 - p1, 0.0)
            l3 = l2 + base * np.where(ends > p2, ends - p2, 0.0)
        return p1, p2, ends, l1, l2, l3

    def cumulative(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Λ(t) for leads `idx` at finite times t >= their creation."""
        p1, p2, ends, l1, l2, l3 = self._knots(idx)
        base, ready = self.base[idx], self.ready[idx]
        with np.errstate(invalid="ignore"):
            pieces = [base * (t - self.created[idx]), l1 + ready * (t - p1), l2 + base * (t - p2)]
            return np.select([t < p1, t < p2, t < ends], pieces, l3)

    def time_at(self, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The time t where Λ(t) = y; inf where the hazard ends before reaching y."""
        p1, p2, ends, l1, l2, l3 = self._knots(idx)
        base, ready = self.base[idx], self.ready[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            pieces = [self.created[idx] + y / base, p1 + (y - l1) / ready, p2 + (y - l2) / base]
            return np.select([y < l1, y < l2, y < l3], pieces, np.inf)


def draw_hazard(
    rng: np.random.Generator, r: ReadinessConfig, created: np.ndarray, fit: np.ndarray, end: float
) -> Hazard:
    """Base hazard from fit; a ready window for leads whose need arises in time; unsubscribes."""
    n = created.size
    p_need = sigmoid(r.need_logit + r.need_fit_slope * fit)
    need = rng.random(n) < p_need
    delay = np.where(rng.random(n) < r.need_now_share, r.need_now_days, r.need_later_days)
    ready_at = created + rng.exponential(delay)
    ready_at = np.where(need & (ready_at < end), ready_at, np.inf)
    window = rng.lognormal(np.log(r.ready_days_median), r.ready_days_sigma, n)
    ready = r.hazard_ready * np.exp(r.hazard_ready_fit_slope * fit)
    quits = created + rng.exponential(365.0 / r.unsubscribe_per_year, n) * np.exp(
        -r.unsubscribe_fit_slope * fit
    )
    return Hazard(
        created=created,
        base=r.hazard_base * np.exp(fit),
        ready_at=ready_at,
        ready_until=ready_at + window,
        ready=np.where(np.isfinite(ready_at), ready, 0.0),
        ends=np.where(quits < end, quits, np.inf),
        p_need=p_need,
        need_ready=ready,
        window=window,
    )
