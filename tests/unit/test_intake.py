"""Attribute types the model cannot read are refused lead by lead, naming the lead: the check
looks over a whole request first, and must not miss a problem in any one lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from features.config import FeatureConfig
from features.spec import FeatureSpec
from serving.errors import InvalidRequest
from serving.intake import to_records
from serving.schemas import LeadIn

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SPEC = FeatureSpec(
    FeatureConfig(), {"source": ("web",), "industry": ("retail",)}, ("company_size",)
)


def _lead(lead_id: str, **attributes: object) -> LeadIn:
    return LeadIn(lead_id, NOW - timedelta(days=3), "web", attributes=attributes)


def test_a_request_of_readable_attributes_passes() -> None:
    leads = [_lead("A", company_size=12, industry="retail"), _lead("B", company_size=None)]
    records, _ = to_records(leads, NOW, SPEC, "leads")
    assert [record.attributes for record in records] == [lead.attributes for lead in leads]


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"company_size": "120"}, "leads[2].attributes.company_size"),
        ({"company_size": True}, "leads[2].attributes.company_size"),
        ({"industry": False}, "leads[2].attributes.industry"),
    ],
)
def test_an_unreadable_attribute_of_any_lead_is_named(attributes: dict, field: str) -> None:
    leads = [_lead("A", company_size=3), _lead("B", industry="retail"), _lead("C", **attributes)]
    with pytest.raises(InvalidRequest) as refused:
        to_records(leads, NOW, SPEC, "leads")
    assert [problem.field for problem in refused.value.problems] == [field]
