"""The behaviour feature table: what a model reads must not move when the code around it does."""

from __future__ import annotations

from features.config import FeatureConfig
from features.spec import FeatureSpec


def test_the_spec_hash_of_unchanged_definitions_is_unchanged() -> None:
    """Hashes recorded on the code of issue 14: a model trained then still reads its input."""
    default = FeatureSpec(FeatureConfig(), {"source": ("web", "paid")}, ("company_size",))
    assert default.hash == "2d01f9f3f1ac"
    assert len(default.behaviour_names) == 109
    other = FeatureSpec(
        FeatureConfig(windows_days=(7, 30), intent_onset_days=14), {"source": ("web",)}, ()
    )
    assert other.hash == "82fd0a06b21b"
