"""Funnel economics against hand computations on a small, hand-made funnel.

Every expected number below is worked out by hand in the comments from the tables defined
here, following the definitions of leadscore/funnel/facts.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from features.errors import LeadscoreError
from features.tables import load_data
from leadscore.funnel.facts import wilson
from leadscore.funnel.figures import FunnelConfig, FunnelFigures, RoutingRule, funnel_figures
from leadscore.funnel.routing import check_rules, rule_score
from leadscore.settings import default_config, load_config
from training.policy import EconomicsConfig

AS_OF = datetime(2025, 7, 1, tzinfo=UTC)
ECONOMICS = EconomicsConfig(mrr_pln=1500, lifetime_months=45, sql_to_contract_rate=0.4)
CONFIG = FunnelConfig(min_partner_leads=1, cost_per_lead_pln={"paid": 100, "web": 20_000})
Z95 = 1.959963984540054


def lead(lead_id: str, created_at: str, source: str, partner: str | None = None) -> dict:
    return {"lead_id": lead_id, "created_at": created_at, "source": source, "partner_id": partner}


def stage(lead_id: str, ts: str, name: str, mrr: float | None = None) -> dict:
    return {"lead_id": lead_id, "ts": ts, "stage": name, "mrr": mrr}


def event(lead_id: str, ts: str, kind: str) -> dict:
    return {"lead_id": lead_id, "ts": ts, "event_type": kind}


# Seven leads before AS_OF (A–G) and one after (H). Times without a clock are midnight UTC.
LEADS = [
    lead("A", "2025-01-01", "web"),  # signs after 10 days
    lead("B", "2025-01-01", "web"),  # nurtured first, then signs after 20 days
    lead("C", "2025-02-01", "partner", "P1"),  # signs after 40 days
    lead("D", "2025-06-01", "partner", "P1"),  # open deal at AS_OF: censored at 30 days
    lead("E", "2025-03-01", "paid"),  # never an SQL, in nurture
    lead("F", "2025-03-01", "paid"),  # SQL, LOST, recycled; signs only after AS_OF
    lead("G", "2025-01-15", "web"),  # attended a webinar, in nurture
    lead("H", "2025-07-15", "web"),  # created after AS_OF
]
STAGES = [
    stage("A", "2025-01-01T06:00", "MQL"),
    stage("A", "2025-01-05", "SQL"),
    stage("A", "2025-01-11", "WON", 1000.0),
    stage("B", "2025-01-01T06:00", "MQL"),
    stage("B", "2025-01-03", "NURTURE"),
    stage("B", "2025-01-10", "SQL"),
    stage("B", "2025-01-21", "WON", 2000.0),
    stage("C", "2025-02-01T06:00", "MQL"),
    stage("C", "2025-02-15", "SQL"),
    stage("C", "2025-03-13", "WON", 3000.0),  # Feb 1 + 40 days (28-day February)
    stage("D", "2025-06-01T06:00", "MQL"),
    stage("D", "2025-06-10", "SQL"),
    stage("E", "2025-03-01T06:00", "MQL"),
    stage("E", "2025-03-20", "NURTURE"),
    stage("F", "2025-03-01T06:00", "MQL"),
    stage("F", "2025-03-10", "SQL"),
    stage("F", "2025-04-01", "LOST"),
    stage("F", "2025-05-01", "NURTURE"),  # after LOST: recycled
    stage("F", "2025-07-05", "SQL"),
    stage("F", "2025-07-20", "WON", 5000.0),  # the data's last moment
    stage("G", "2025-01-15T06:00", "MQL"),
    stage("G", "2025-02-01", "NURTURE"),
    stage("H", "2025-07-15T06:00", "MQL"),
]
EVENTS = [
    event("A", "2025-01-02", "webinar_registered"),
    event("A", "2025-01-03", "webinar_attended"),
    event("B", "2025-01-04", "webinar_attended"),  # attended without registering
    event("C", "2025-02-03", "webinar_registered"),
    event("E", "2025-03-02", "page_view"),
    event("E", "2025-07-05", "webinar_attended"),  # after AS_OF
    event("G", "2025-01-18", "webinar_registered"),
    event("G", "2025-01-20", "webinar_attended"),
]


def wilson_by_hand(hits: int, total: int) -> tuple[float, float]:
    """The textbook formula, written out separately from the code under test."""
    p, z2 = hits / total, Z95**2
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = Z95 / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total**2))
    return centre - half, centre + half


@pytest.fixture
def figures(make_folder: Callable[..., Path]) -> FunnelFigures:
    data = load_data(make_folder(LEADS, EVENTS, STAGES))
    return funnel_figures(data, AS_OF, CONFIG, ECONOMICS)


def test_wilson_interval_matches_the_formula() -> None:
    # 1 of 4: p = 0.25, z² = 3.8415; centre = (0.25 + 0.4802) / 1.9604 = 0.3725,
    # half = 1.96 × sqrt(0.046875 + 0.060024) / 1.9604 = 0.3269 → [0.0456, 0.6994].
    rate = wilson(1, 4, 0.95)
    assert rate.rate == 0.25
    assert (rate.low, rate.high) == pytest.approx((0.0456, 0.6994), abs=1e-4)
    assert (rate.low, rate.high) == pytest.approx(wilson_by_hand(1, 4))
    # No hits still has an upper bound; no trials has nothing.
    assert wilson(0, 10, 0.95).low == 0.0 and 0 < wilson(0, 10, 0.95).high < 0.35
    assert math.isnan(wilson(0, 0, 0.95).rate)


def test_stage_and_webinar_conversion(figures: FunnelFigures) -> None:
    steps = {s.name: (s.rate.hits, s.rate.total) for s in (*figures.steps, *figures.webinar)}
    assert figures.leads == 7  # H is created after AS_OF
    assert steps == {
        "lead → MQL": (7, 7),  # every lead A–G has an MQL row
        "MQL → SQL": (5, 7),  # A, B, C, D, F
        "SQL → contract": (3, 5),  # A, B, C; F signs only after AS_OF
        "lead → contract": (3, 7),
        "lead → webinar registered": (3, 7),  # A, C, G
        "registered → attended": (2, 3),  # A, G (B attended without registering)
        "lead → webinar attended": (3, 7),  # A, B, G; E's attendance comes after AS_OF
        "attended → contract": (2, 3),  # A, B
    }
    mql_sql = figures.steps[1].rate
    assert (mql_sql.low, mql_sql.high) == pytest.approx(wilson_by_hand(5, 7))


def test_money_per_customer_and_per_source(figures: FunnelFigures) -> None:
    money = figures.economics
    assert money.contracts == 3
    assert money.mrr_mean_pln == pytest.approx(2000.0)  # (1000 + 2000 + 3000) / 3
    assert money.clv_pln == pytest.approx(90_000.0)  # 2000 × 45 months (from config)
    assert money.allowable_acquisition_cost_pln == pytest.approx(45_000.0)  # × (1 − 0.5)
    assert money.value_per_lead_pln == pytest.approx(6000 / 7 * 45)  # 38,571.43
    assert money.allowable_cost_per_lead_pln == pytest.approx(6000 / 7 * 45 / 2)
    sources = {s.group.key: s for s in figures.sources}
    assert list(sources) == ["paid", "partner", "web"]
    web, partner, paid = sources["web"], sources["partner"], sources["paid"]
    # web: A, B, G; SQL A, B; signed A, B for 3000 PLN of MRR; all three attended.
    assert (web.group.leads, web.group.sql.hits, web.group.contract.hits) == (3, 2, 2)
    assert web.group.attended.hits == 3
    assert web.mrr_mean_pln == pytest.approx(1500.0)
    assert web.clv_pln == pytest.approx(67_500.0)
    assert web.value_per_lead_pln == pytest.approx(45_000.0)  # 3000 / 3 × 45
    assert web.allowable_cost_per_lead_pln == pytest.approx(22_500.0)
    assert web.pays_for_itself is True  # 22,500 ≥ 20,000
    # partner: C, D; C signed for 3000.
    assert partner.value_per_lead_pln == pytest.approx(67_500.0)  # 3000 / 2 × 45
    assert partner.pays_for_itself is None  # no cost configured
    # paid: E, F; nothing signed (yet): worth nothing, cannot pay for its 100 PLN a lead.
    assert paid.group.contract.hits == 0 and math.isnan(paid.mrr_mean_pln)
    assert paid.value_per_lead_pln == 0.0 and paid.pays_for_itself is False


def test_partners_and_cohorts(figures: FunnelFigures) -> None:
    partners = figures.partners
    assert partners is not None and (partners.partners, partners.ranked) == (1, 1)
    (p1,) = partners.top
    assert (p1.key, p1.leads, p1.contract.hits) == ("P1", 2, 1)
    assert partners.bottom == ()  # P1 is already the top
    cohorts = {
        g.key: (g.leads, g.sql.hits, g.contract.hits, g.attended.hits) for g in figures.cohorts
    }
    assert cohorts == {
        "2025-01": (3, 2, 2, 3),  # A, B, G
        "2025-02": (1, 1, 1, 0),  # C
        "2025-03": (2, 1, 0, 0),  # E, F (E's attendance is after AS_OF)
        "2025-06": (1, 1, 0, 0),  # D
    }


def test_velocity_kaplan_meier_with_an_open_deal(figures: FunnelFigures) -> None:
    v = figures.velocity
    # Signed: A 10 d, B 20 d, C 40 d. Open: D, SQL since June 10, censored at AS_OF = 30 d.
    assert (v.signed, v.open) == (3, 1)
    # Signed only: median of [10, 20, 40] = 20; quartiles (linear) 15 and 30.
    assert (v.median_days, v.q1_days, v.q3_days) == pytest.approx((20.0, 15.0, 30.0))
    # Kaplan-Meier: S(10) = 3/4, S(20) = 3/4 × 2/3 = 1/2, D leaves at 30, S(40) = 0.
    # 25% signed by day 10, half by day 20, 75% only by day 40.
    assert (v.km_q1_days, v.km_median_days, v.km_q3_days) == pytest.approx((10.0, 20.0, 40.0))
    share = dict(zip(v.curve_days, v.km_share_signed, strict=True))
    assert [share[d] for d in (0, 9, 10, 19, 20, 39, 40)] == pytest.approx(
        [0, 0, 0.25, 0.25, 0.5, 0.5, 1.0]
    )
    naive = dict(zip(v.curve_days, v.signed_only_share, strict=True))
    assert [naive[d] for d in (9, 10, 20, 40)] == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_nurture_pool_and_recycled_leads(figures: FunnelFigures) -> None:
    n = figures.nurture
    # Latest stage NURTURE at AS_OF: E (since Mar 20), F (recycled May 1), G (since Feb 1).
    assert (n.pool, n.share_of_leads) == (3, pytest.approx(3 / 7))
    # Ages since creation: E and F Mar 1 → Jul 1 = 122 d, G Jan 15 → Jul 1 = 167 d.
    assert (n.age_median_days, n.age_q1_days, n.age_q3_days) == pytest.approx(
        (122.0, 122.0, 144.5)  # q3: 122 + 0.5 × 45
    )
    assert dict(n.age_buckets) == {
        "0–30 d": 0,
        "30–90 d": 0,
        "90–180 d": 3,
        "180–365 d": 0,
        "≥ 365 d": 0,
    }
    # Ever nurtured: B, E, F, G; B signed after its NURTURE. Recycled: F, not signed by AS_OF.
    assert (n.nurtured_signed.hits, n.nurtured_signed.total) == (1, 4)
    assert (n.recycled_signed.hits, n.recycled_signed.total) == (0, 1)


def test_default_as_of_is_the_end_of_the_data(make_folder: Callable[..., Path]) -> None:
    data = load_data(make_folder(LEADS, EVENTS, STAGES))
    figures = funnel_figures(data, None, CONFIG, ECONOMICS)
    assert figures.as_of == datetime(2025, 7, 20, tzinfo=UTC)  # F's WON, the last row
    steps = {s.name: (s.rate.hits, s.rate.total) for s in (*figures.steps, *figures.webinar)}
    assert steps["lead → contract"] == (4, 8)  # F signed, H exists
    assert steps["lead → webinar attended"] == (4, 8)  # E attended on Jul 5
    assert figures.economics.mrr_mean_pln == pytest.approx(2750.0)  # 11,000 / 4
    # F signed recycled; its deal (Mar 1 → Jul 20 = 141 d) joins; D is censored at 49 d.
    assert (figures.nurture.recycled_signed.hits, figures.nurture.recycled_signed.total) == (1, 1)
    assert (figures.velocity.signed, figures.velocity.open) == (4, 1)
    assert figures.velocity.median_days == pytest.approx(30.0)  # [10, 20, 40, 141]


def test_as_of_before_every_lead_is_refused(make_folder: Callable[..., Path]) -> None:
    data = load_data(make_folder(LEADS, EVENTS, STAGES))
    with pytest.raises(LeadscoreError, match="no lead was created before"):
        funnel_figures(data, datetime(2024, 1, 1, tzinfo=UTC), CONFIG, ECONOMICS)


def _partner_folder(make_folder: Callable[..., Path]) -> Path:
    """BIG: 10 leads, 5 signed; ONE: 1 lead, signed; MID: 4 leads, 1 signed."""
    plan = {"BIG": (10, 5), "ONE": (1, 1), "MID": (4, 1)}
    leads, stages = [], []
    for partner, (n, won) in plan.items():
        for i in range(n):
            lead_id = f"{partner}{i}"
            leads.append(lead(lead_id, "2025-01-01", "partner", partner))
            stages.append(stage(lead_id, "2025-01-02", "MQL"))
            if i < won:
                stages += [stage(lead_id, "2025-01-05", "SQL")]
                stages += [stage(lead_id, "2025-02-01", "WON", 1000.0)]
    return make_folder(leads, [], stages)


def test_a_partner_with_one_lucky_lead_does_not_top_the_table(
    make_folder: Callable[..., Path],
) -> None:
    data = load_data(_partner_folder(make_folder))

    def top(**kw: object) -> list[str]:
        partners = funnel_figures(data, None, CONFIG.model_copy(update=kw), ECONOMICS).partners
        assert partners is not None
        return [g.key for g in partners.top]

    # Lower bounds: BIG 5/10 → 0.2366, ONE 1/1 → 0.2065, MID 1/4 → 0.0456.
    assert top(partner_rank="lower_bound") == ["BIG", "ONE", "MID"]
    assert top(partner_rank="rate") == ["ONE", "BIG", "MID"]  # 100% on one lead wins
    assert top(partner_rank="rate", min_partner_leads=2) == ["BIG", "MID"]
    shown = funnel_figures(
        data, None, CONFIG.model_copy(update={"partners_shown": 1}), ECONOMICS
    ).partners
    assert shown is not None
    assert [g.key for g in shown.top] == ["BIG"]
    assert [g.key for g in shown.bottom] == ["MID"]  # lowest upper bound of the rest
    assert shown.top[0].contract.low == pytest.approx(wilson_by_hand(5, 10)[0])


def test_no_webinar_events_no_webinar_steps(make_folder: Callable[..., Path]) -> None:
    data = load_data(_partner_folder(make_folder))
    figures = funnel_figures(data, None, CONFIG, ECONOMICS)
    assert figures.webinar == ()
    assert figures.velocity.signed == 7 and figures.velocity.open == 0


def test_rules_rank_by_a_feature_of_the_champion() -> None:
    names = ["pricing_view_count_7d", "intent_count_30d"]
    X = np.array([[0.0, 3.0], [2.0, np.nan], [1.0, 1.0]])
    flag = RoutingRule(name="pricing", feature="pricing_view_count_7d", min_value=1)
    value = RoutingRule(name="intent", feature="intent_count_30d", min_value=None)
    assert rule_score(flag, names, X).tolist() == [0.0, 1.0, 1.0]
    assert rule_score(value, names, X).tolist() == [3.0, -np.inf, 1.0]
    typo = RoutingRule(name="typo", feature="pricing_views_7d")
    with pytest.raises(LeadscoreError, match="no feature 'pricing_views_7d'.*pricing_view_count"):
        check_rules((typo,), names)


def test_config_file_is_valid_and_strict(tmp_path: Path) -> None:
    config = load_config(default_config("funnel"), FunnelConfig)
    assert config.rules
    with pytest.raises(ValidationError):
        FunnelConfig(ci_levle=0.9)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):  # the margin target is the policy's (economics.yaml)
        FunnelConfig(margin=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="strictly increasing"):
        FunnelConfig(nurture_age_days=(90, 30))
    assert load_config(default_config("economics"), EconomicsConfig).margin == 0.5
    bad = tmp_path / "economics.yaml"
    bad.write_text("mrr_pln: 1500\nlifetime_months: 45\nsql_to_contract_rate: 0.4\nmargin: 1.5\n")
    with pytest.raises(LeadscoreError, match="margin"):
        load_config(bad, EconomicsConfig)
