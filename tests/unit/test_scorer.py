"""The in-process scorer on small synthetic models: scores, explanations, notes and intake.

The boosters are fitted on random feature rows of a real FeatureSpec, so every feature the
scorer computes goes through features/ exactly as in the service; only the models are toys.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import lightgbm as lgb
import msgspec
import numpy as np
import polars as pl
import pytest

from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.vectors import LeadRecord, record_features, to_matrix
from serving.decode import PRECOUNT_BYTES, Decoder
from serving.errors import InvalidRequest, Rejected, field_path
from serving.example import EXAMPLE_ANSWER, EXAMPLE_LEAD, curl_command
from serving.explain import split_scores
from serving.intake import CLOCK_SKEW, to_records
from serving.schemas import (
    MAX_ATTRIBUTES_BYTES,
    BatchIn,
    BatchOut,
    LeadIn,
    ScoreOut,
    answer_json,
    batch_in,
)
from serving.scorer import Scores, score_records
from training.models import Calibrator, ConversionModel, VelocityModel
from training.pair import ModelPair
from training.policy import EconomicsConfig, Policy, RoutingConfig

T0 = datetime(2026, 3, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=40)
POLICY = Policy(
    routing=RoutingConfig.model_validate(
        {
            "tiers": [
                {"tier": "A", "min_score": 50, "route": "active_sales"},
                {"tier": "B", "min_score": 20, "route": "active_sales"},
                {"tier": "C", "min_score": 0, "route": "nurturing"},
            ]
        }
    ),
    economics=EconomicsConfig(mrr_pln=1500, lifetime_months=45, sql_to_contract_rate=0.4),
)


def _spec() -> FeatureSpec:
    leads = pl.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(40)],
            "created_at": [T0] * 40,
            "source": ["paid", "webinar"] * 20,
            "partner_id": ["P1", None] * 20,
            "country": ["PL", "DE", "CZ", "PL"] * 10,
            "company_size": [float(i) for i in range(40)],
        }
    )
    return FeatureSpec.fit(FeatureConfig(min_category_count=5), leads)


@pytest.fixture(scope="module")
def pair() -> ModelPair:
    """Conversion and velocity boosters whose targets lean on behaviour and on attributes."""
    spec = _spec()
    rng = np.random.default_rng(0)
    X = rng.exponential(3.0, size=(2000, len(spec.feature_names)))
    X[rng.random(X.shape) < 0.2] = np.nan
    for j in spec.categorical_indices:
        X[:, j] = rng.integers(0, len(spec.categories[spec.feature_names[j]]), len(X))
    names = spec.feature_names
    signal = (
        np.nan_to_num(X[:, names.index("pricing_view_count_30d")]) - X[:, names.index("country")]
    )
    y = (signal + rng.normal(0, 1, len(X)) > 2).astype(float)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0}

    def fit(target: np.ndarray) -> lgb.Booster:
        data = lgb.Dataset(
            X, target, feature_name=names, categorical_feature=spec.categorical_indices
        )
        return lgb.train(params, data, num_boost_round=30)

    conversion = ConversionModel(fit(y), Calibrator("sigmoid", (0.9,), (-0.2,)), spec)
    velocity = VelocityModel(fit(rng.random(len(X)) < 0.3), (-3.0,) * 12, 15, spec)
    return ModelPair(conversion, velocity, conversion_version=3, velocity_version=4)


def _lead(i: int, **changes: object) -> LeadRecord:
    kinds = ["email_open", "page_view", "pricing_view", "pricing_view", "demo_request"]
    events = [(T0 + timedelta(days=d, hours=i), kinds[(d + i) % 5]) for d in range(0, 35, 3)]
    fields: dict[str, object] = {
        "lead_id": f"L{i}",
        "created_at": T0,
        "source": ["paid", "webinar"][i % 2],
        "attributes": {"country": ["PL", "DE", "CZ"][i % 3], "company_size": 10.0 + i},
        "events": events[: 3 + i % 9],
    }
    return LeadRecord(**(fields | changes))  # type: ignore[arg-type]


def _score(pair: ModelPair, leads: list[LeadRecord]) -> Scores:
    return score_records(pair, leads, [AS_OF] * len(leads), POLICY)


def test_probability_is_the_models_own_prediction_on_the_features_vector(pair: ModelPair) -> None:
    leads = [_lead(i) for i in range(12)]
    scores = _score(pair, leads)
    X = to_matrix(pair.conversion.spec, record_features(pair.conversion.spec, leads, [AS_OF] * 12))
    np.testing.assert_array_equal(scores.probability, pair.conversion.predict(X))
    np.testing.assert_array_equal(scores.score, np.round(100 * scores.probability, 1))
    assert len(set(scores.probability)) > 1


def test_a_batch_gives_each_lead_the_answer_it_gets_alone(pair: ModelPair) -> None:
    leads = [_lead(i) for i in range(10)]
    together = _score(pair, leads).to_dicts()
    alone = [_score(pair, [lead]).to_dicts()[0] for lead in leads]
    assert together == alone


def test_event_order_does_not_matter(pair: ModelPair) -> None:
    lead = _lead(7)
    shuffled = list(lead.events)
    random.Random(0).shuffle(shuffled)
    assert shuffled != list(lead.events)
    moved = LeadRecord(**{**lead.__dict__, "events": shuffled})
    assert _score(pair, [lead]).to_dicts() == _score(pair, [moved]).to_dicts()


def test_reasons_are_the_largest_exact_treeshap_contributions(pair: ModelPair) -> None:
    leads = [_lead(i) for i in range(6)]
    spec = pair.conversion.spec
    X = to_matrix(spec, record_features(spec, leads, [AS_OF] * 6))
    phi = pair.conversion.contributions(X)
    # Exactness: contributions and bias add up to the booster's raw log-odds.
    raw = pair.conversion.raw(X)
    np.testing.assert_allclose(1 / (1 + np.exp(-phi.sum(axis=1))), raw, rtol=1e-12)
    for i, reasons in enumerate(_score(pair, leads).reasons):
        up = [spec.feature_names.index(r["feature"]) for r in reasons["up"]]
        down = [spec.feature_names.index(r["feature"]) for r in reasons["down"]]
        expected_up = [j for j in np.argsort(-phi[i, :-1])[:3] if phi[i, j] > 0]
        expected_down = [j for j in np.argsort(phi[i, :-1])[:3] if phi[i, j] < 0]
        assert up == expected_up and down == expected_down
        for reason, j in zip(reasons["up"] + reasons["down"], up + down, strict=True):
            assert reason["contribution"] == round(phi[i, j], 4)


def test_reason_values_are_what_the_model_saw_with_categories_by_name(pair: ModelPair) -> None:
    scores = _score(pair, [_lead(i) for i in range(20)])
    seen = [r for lead in scores.reasons for r in lead["up"] + lead["down"]]
    countries = {r["value"] for r in seen if r["feature"] == "country"}
    assert countries and countries <= {"PL", "DE", "CZ"}
    assert all(isinstance(r["value"], float) for r in seen if r["feature"].endswith("_30d"))


def test_fit_and_engagement_hold_the_other_part_at_the_training_average(pair: ModelPair) -> None:
    model = pair.conversion
    n_behaviour = len(model.spec.behaviour_names)
    phi = np.zeros((2, len(model.spec.feature_names) + 1))
    phi[:, -1] = -1.0  # bias
    phi[0, 0] = 2.0  # behaviour only
    phi[1, n_behaviour] = 2.0  # static only
    fit, engagement = split_scores(model, phi)
    baseline = round(100 * float(model.calibrator.apply(np.array([1 / (1 + np.e)]))[0]), 1)
    boosted = round(100 * float(model.calibrator.apply(np.array([1 / (1 + np.e**-1)]))[0]), 1)
    assert (fit[0], engagement[0]) == (baseline, boosted)
    assert (fit[1], engagement[1]) == (boosted, baseline)


def test_velocity_and_value_follow_their_definitions(pair: ModelPair) -> None:
    lead = _lead(4)
    answer = _score(pair, [lead]).to_dicts()[0]
    spec = pair.velocity.spec
    X = to_matrix(spec, record_features(spec, [lead], [AS_OF]))
    forecast = pair.velocity.forecast(X)
    age = (AS_OF - lead.created_at).total_seconds() / 86400
    velocity = answer["velocity"]
    assert velocity["expected_days_to_contract"] == round(
        age + float(forecast.expected_remaining_days[0]), 1
    )
    assert velocity["p_contract_30d"] <= velocity["p_contract_90d"]
    assert answer["expected_value_pln"] == round(answer["probability"] * 27_000, 0)
    assert answer["model"] == {
        "conversion": {"name": "lead-conversion", "version": 3},
        "velocity": {"name": "deal-velocity", "version": 4},
        "feature_spec": pair.conversion.spec.hash,
    }
    msgspec.convert(answer, ScoreOut)


def test_unusable_inputs_are_scored_and_noted_not_refused(pair: ModelPair) -> None:
    lead = _lead(
        5,
        source="carrier_pigeon",
        attributes={"country": "PL", "company_size": 12.0, "shoe_size": 44},
        events=[
            (T0 + timedelta(days=1), "pricing_view"),
            (T0 + timedelta(days=2), "tiktok_like"),
            (AS_OF, "demo_request"),  # not yet known at as_of
            (AS_OF + timedelta(days=3), "demo_request"),
        ],
    )
    notes = _score(pair, [lead]).to_dicts()[0]["notes"]
    assert notes == [
        "2 events at or after as_of ignored",
        "event type 'tiktok_like' (1×) is not a model feature: counted as other",
        "source 'carrier_pigeon' unseen in training (or too rare): scored as missing",
        "attribute 'shoe_size' is not a model feature: ignored",
    ]
    on_time = LeadRecord(**{**lead.__dict__, "events": lead.events[:2]})
    assert _score(pair, [lead]).probability[0] == _score(pair, [on_time]).probability[0]


MAX_EVENTS = 100


def _decoded(**changes: object) -> LeadIn | Rejected:
    return Decoder(LeadIn, MAX_EVENTS)(json.dumps(EXAMPLE_LEAD | changes).encode())


def _request(**changes: object) -> LeadIn:
    lead = _decoded(**changes)
    assert isinstance(lead, LeadIn), lead
    return lead


def _records(
    leads: list[LeadIn], now: datetime, spec: FeatureSpec, prefix: str = ""
) -> tuple[list[LeadRecord], list[datetime]]:
    return to_records(leads, now, spec, prefix)


def test_intake_defaults_as_of_to_now_and_refuses_leads_from_the_future(pair: ModelPair) -> None:
    spec = pair.conversion.spec
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    _, (as_of,) = _records([_request(as_of=None)], now, spec)
    assert as_of == now
    ahead = now + CLOCK_SKEW / 2  # a caller's clock a little fast: scored as of creation
    _, (as_of,) = _records([_request(as_of=None, created_at=ahead.isoformat())], now, spec)
    assert as_of == ahead
    with pytest.raises(InvalidRequest) as caught:
        _records([_request(as_of="2026-10-01T00:00:00Z")], now, spec)
    assert [p.field for p in caught.value.problems] == ["created_at"]
    future = (now + 2 * CLOCK_SKEW).isoformat()
    with pytest.raises(InvalidRequest, match="created_at: is in the future"):
        _records([_request(as_of=None, created_at=future)], now, spec)


def test_intake_refuses_attributes_of_the_wrong_kind_naming_them(pair: ModelPair) -> None:
    spec = pair.conversion.spec
    bad = _request(attributes={"company_size": "35", "country": True})
    with pytest.raises(InvalidRequest) as caught:
        _records([_request(), bad], T0, spec, prefix="leads")
    assert [p.field for p in caught.value.problems] == [
        "leads[1].attributes.company_size",
        "leads[1].attributes.country",
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lead_id": 7}, "lead_id"),
        ({"extra": 1}, "extra"),
        ({"created_at": "2026-10-02"}, "created_at"),
        ({"created_at": 1_780_000_000}, "created_at"),
        ({"attributes": {"company_size": [1]}}, "attributes.company_size"),
        ({"attributes": {"company_size": 10**309}}, "attributes.company_size"),
        ({"attributes": {"x" * 65: 1}}, "attributes"),
        ({"attributes": {"note": "x" * 257}}, "attributes.note"),
        ({"attributes": {f"a{i}": i for i in range(201)}}, "attributes"),
        ({"events": [{"ts": "2026-10-02T09:20:00Z"}]}, "events[0].event_type"),
        ({"events": [{"ts": "2026-10-02T09:20:00Z", "event_type": "x", "at": 1}]}, "events[0].at"),
        (
            {"events": [{"ts": "2026-10-02T09:20:00Z", "event_type": "x", "value": "9"}]},
            "events[0].value",
        ),
    ],
)
def test_schema_refuses_wrong_fields_by_name(changes: dict[str, object], field: str) -> None:
    refused = _decoded(**changes)
    assert isinstance(refused, Rejected) and refused.status == 400
    assert field in [p.field for p in refused.problems]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"created_at": "1999-12-31T23:00:00Z"}, "created_at"),
        ({"created_at": "0001-01-01T00:00:00+00:01"}, "created_at"),  # overflows if converted
        ({"created_at": "2000-01-01T00:30:00+01:00"}, "created_at"),  # 1999 in UTC
        ({"as_of": "9999-12-31T23:59:59-23:59"}, "as_of"),
        ({"as_of": "2099-12-31T23:00:00-02:00"}, "as_of"),  # 2100 in UTC
        ({"events": [{"ts": "2100-01-01T00:00:00Z", "event_type": "x"}]}, "events[0].ts"),
        ({"events": [{"ts": "1999-12-31T23:59:59", "event_type": "x"}]}, "events[0].ts"),
    ],
)
def test_intake_refuses_moments_out_of_range_by_name(
    pair: ModelPair, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _records([_request(**changes)], T0, pair.conversion.spec)
    assert [p.field for p in caught.value.problems] == [field]


def test_moments_at_the_edges_of_the_range_and_odd_offsets_are_scored(pair: ModelPair) -> None:
    lead = _request(
        created_at="1999-12-31T23:00:00-02:00",  # 2000-01-01T01:00Z
        as_of="2100-01-01T10:00:00+14:00",  # 2099-12-31T20:00Z
        events=[
            {"ts": "2099-12-31T23:59:59Z", "event_type": "x"},
            {"ts": "2030-06-01T00:00:00-23:59", "event_type": "x"},
        ],
    )
    (record,), (as_of,) = _records([lead], T0, pair.conversion.spec)
    assert record.created_at == datetime(2000, 1, 1, 1, tzinfo=UTC)
    assert as_of == datetime(2099, 12, 31, 20, tzinfo=UTC)


@pytest.mark.parametrize("padding", [0, PRECOUNT_BYTES], ids=["counted after", "counted first"])
def test_a_request_over_a_count_limit_is_refused_naming_the_leads(padding: int) -> None:
    event = {"ts": "2026-10-02T09:20:00Z", "event_type": "x"}
    decode = Decoder(batch_in(3, MAX_EVENTS), MAX_EVENTS, 3)

    def body(*counts: int) -> bytes:
        leads = [EXAMPLE_LEAD | {"events": [event] * n} for n in counts]
        return json.dumps({"leads": leads}).encode() + b" " * padding

    refused = decode(body(60, 41))
    assert isinstance(refused, Rejected), refused
    assert refused.message == "leads: hold 101 events in all, over the limit of 100"
    accepted = decode(body(60, 40))
    assert [len(lead.events) for lead in accepted.leads] == [60, 40]  # at the limit
    refused = decode(body(1, 1, 1, 1))
    assert isinstance(refused, Rejected) and refused.problems[0].field == "leads"


@pytest.mark.parametrize("padding", [0, PRECOUNT_BYTES], ids=["small", "looked over first"])
def test_deep_nesting_is_refused_naming_where_it_is(padding: int) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    lead = json.dumps(EXAMPLE_LEAD | {"attributes": {"x": "DEEP"}}).encode()
    body = b'{"leads":[' + lead.replace(b'"DEEP"', deep) + b"]}" + b" " * padding
    refused = Decoder(batch_in(3, MAX_EVENTS), MAX_EVENTS, 3)(body)
    assert isinstance(refused, Rejected), refused
    assert refused.problems[0].field in ("leads[0].attributes", "leads[0].attributes.x")
    assert "got array" in refused.message


def test_an_attributes_object_over_its_byte_limit_is_refused_before_decoding() -> None:
    lead = json.dumps(EXAMPLE_LEAD | {"attributes": {"country": "PL"}}).encode()
    at = lead.replace(b'"PL"}', b'"PL"' + b" " * (MAX_ATTRIBUTES_BYTES - 17) + b"}")
    past = lead.replace(b'"PL"}', b'"PL"' + b" " * (MAX_ATTRIBUTES_BYTES - 16) + b"}")
    decode = Decoder(batch_in(3, MAX_EVENTS), MAX_EVENTS, 3)
    assert isinstance(decode(b'{"leads":[' + at + b"]}"), BatchIn)
    refused = decode(b'{"leads":[' + past + b"]}")
    assert isinstance(refused, Rejected), refused
    assert refused.message == (
        f"leads[0].attributes: is {MAX_ATTRIBUTES_BYTES + 1:,} bytes of JSON, over the limit "
        f"of {MAX_ATTRIBUTES_BYTES:,}"
    )


def test_naive_timestamps_are_utc_and_offsets_are_kept_exact(pair: ModelPair) -> None:
    lead = _request(
        created_at="2026-10-02T09:15:00",
        as_of="2026-11-01T02:00:00+02:00",
        events=[{"ts": "2026-10-03T10:00:00", "event_type": "page_view"}],
    )
    (record,), (as_of,) = _records([lead], T0, pair.conversion.spec)
    assert record.created_at == datetime(2026, 10, 2, 9, 15, tzinfo=UTC)
    assert as_of == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    # The naive event time is UTC to the features as it is to intake.
    same = _request(
        created_at="2026-10-02T09:15:00Z",
        as_of="2026-11-01T00:00:00Z",
        events=[{"ts": "2026-10-03T10:00:00Z", "event_type": "page_view"}],
    )
    (aware,), _ = _records([same], T0, pair.conversion.spec)
    spec = pair.conversion.spec
    naive_row = record_features(spec, [record], [as_of]).behaviour
    np.testing.assert_array_equal(naive_row, record_features(spec, [aware], [as_of]).behaviour)


def test_the_batch_limits_are_part_of_the_schema() -> None:
    model = batch_in(2, 50)
    leads = msgspec.json.schema(model)["$defs"]["BatchIn"]["properties"]["leads"]
    assert (leads["maxItems"], leads["x-max-events"]) == (2, 50)
    refused = Decoder(model, 50)(json.dumps({"leads": [EXAMPLE_LEAD] * 3}).encode())
    assert isinstance(refused, Rejected) and refused.problems[0].field == "leads"


def test_field_paths_read_like_the_json() -> None:
    assert field_path("$.leads[2].events[3].ts") == "leads[2].events[3].ts"
    assert field_path("$") == ""


def test_the_documented_answer_is_a_valid_answer() -> None:
    assert msgspec.to_builtins(msgspec.convert(EXAMPLE_ANSWER, ScoreOut)) == EXAMPLE_ANSWER


def test_the_curl_example_sends_the_example_lead() -> None:
    line = curl_command("http://127.0.0.1:3000", token_env="LEADSCORE_API_TOKEN")
    assert line.startswith("curl -s -X POST http://127.0.0.1:3000/score ")
    assert '"Authorization: Bearer $LEADSCORE_API_TOKEN"' in line
    assert json.dumps(EXAMPLE_LEAD, separators=(",", ":")) in line


def test_answers_are_written_as_the_response_structs_write_them(pair: ModelPair) -> None:
    leads = [_lead(i) for i in range(6)]
    leads[0] = _lead(0, source="carrier_pigeon")  # with a note
    answers = _score(pair, leads).to_dicts()
    batch = {"leads": answers}
    assert answer_json(batch) == msgspec.json.encode(msgspec.convert(batch, BatchOut))
    assert answer_json(answers[0]) == msgspec.json.encode(msgspec.convert(answers[0], ScoreOut))


def test_notes_name_at_most_ten_inputs_of_a_kind(pair: ModelPair) -> None:
    lead = _lead(1, attributes={f"extra_{i:03}": i for i in range(150)})
    notes = _score(pair, [lead]).to_dicts()[0]["notes"]
    named = [note for note in notes if note.startswith("attribute 'extra_")]
    assert len(named) == 10 and named[0] == "attribute 'extra_000' is not a model feature: ignored"
    assert "140 more attributes are not model features: ignored" in notes
