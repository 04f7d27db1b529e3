"""Why a lead scored as it did: exact TreeSHAP reasons, the fit/engagement split, input notes.

The definitions, in one place. TreeSHAP (training/treeshap.py, equal to LightGBM's
`pred_contrib`) splits the booster's raw log-odds of a lead exactly:
raw = bias + Σ_static φ_j + Σ_behaviour φ_j, where bias is the training average and φ_j
feature j's contribution. With the calibrator `cal` and σ(z)=1/(1+e^-z):

    score      = 100 · cal(σ(raw))                     = 100 × probability
    fit        = 100 · cal(σ(bias + Σ_static φ_j))     the score from static attributes alone
    engagement = 100 · cal(σ(bias + Σ_behaviour φ_j))  the score from behaviour alone

"Alone" means the other part held at the training average (its contributions zero), so fit and
engagement are on the score's own 0–100 scale: fit 40 with engagement 5 is a good match that
has not shown interest yet. They do not add up to the score; probabilities don't.
Reasons: the three largest positive and the three most negative φ_j, each with the value the
model saw (raw attribute values, not category codes).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.contract import LEAD_NOT_ATTRIBUTES
from features.spec import FeatureSpec
from features.vectors import FeatureBlock, LeadRecord
from training.models import ConversionModel

TOP = 3
NAMED = 10  # notes of one kind that name their input, per lead
EVENTS_KNOWN = "any_count_all"  # features/spec.py: every event before as_of


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def split_scores(
    model: ConversionModel, contributions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, engagement) on the 0–100 score scale, from TreeSHAP contributions (+ bias column)."""
    n_behaviour = len(model.spec.behaviour_names)
    bias = contributions[:, -1]
    behaviour = contributions[:, :n_behaviour].sum(axis=1)
    static = contributions[:, n_behaviour:-1].sum(axis=1)
    fit = 100 * model.calibrator.apply(_sigmoid(bias + static))
    engagement = 100 * model.calibrator.apply(_sigmoid(bias + behaviour))
    return np.round(fit, 1), np.round(engagement, 1)


def _numbers(values: np.ndarray) -> list[list[float | None]]:
    """`_number` of a whole matrix at once: one vectorised rounding, not one call a value."""
    return np.where(np.isnan(values), None, np.round(values, 4)).tolist()


def _shown(value: Any) -> float | str | None:
    if value is None or isinstance(value, str):
        return value
    return _number(float(value))


def _number(value: float) -> float | None:
    """A behaviour feature as shown: NaN (never happened) as null, else 4 decimals."""
    return None if math.isnan(value) else round(value, 4)


def top_reasons(
    spec: FeatureSpec, block: FeatureBlock, contributions: np.ndarray, k: int = TOP
) -> list[dict[str, list[dict[str, Any]]]]:
    """Per lead: {"up": k largest positive contributions, "down": k most negative}."""
    names = spec.feature_names
    n_behaviour = len(spec.behaviour_names)
    static = [block.static[name] for name in names[n_behaviour:]]
    phi = contributions[:, :-1]
    order = np.argsort(phi, axis=1, kind="stable")
    out: list[dict[str, list[dict[str, Any]]]] = [{} for _ in phi]
    for side, picked in (("up", order[:, ::-1][:, :k]), ("down", order[:, :k])):
        values = np.take_along_axis(phi, picked, axis=1)
        keep = (values > 0 if side == "up" else values < 0).tolist()
        rounded = np.round(values, 4).tolist()
        seen = np.take_along_axis(block.behaviour, np.minimum(picked, n_behaviour - 1), axis=1)
        shown = _numbers(seen)
        for i, (columns, seen_i) in enumerate(zip(picked.tolist(), shown, strict=True)):
            out[i][side] = [
                {
                    "feature": names[j],
                    "value": seen_i[slot]
                    if j < n_behaviour
                    else _shown(static[j - n_behaviour][i]),
                    "contribution": rounded[i][slot],
                }
                for slot, j in enumerate(columns)
                if keep[i][slot]
            ]
    return out


@dataclass(frozen=True)
class Note:
    """Something about the input the model could not use as sent; `kind` labels /metrics."""

    kind: str
    text: str


def input_notes(
    spec: FeatureSpec, records: Sequence[LeadRecord], block: FeatureBlock, X: np.ndarray
) -> list[list[Note]]:
    """Per lead: ignored late events, unknown event types, unseen categories, unused attributes
    (at most NAMED of each kind by name).

    None of these is an error: clocks skew, marketing adds event types, new countries appear.
    Late events are those the features did not count: all of them minus `any_count_all`, the
    events known at as_of (known means in an earlier millisecond, features/behaviour.py).
    """
    known_types = set(spec.config.event_types)
    model_attributes = set(spec.static_names) - set(LEAD_NOT_ATTRIBUTES)
    static_start = len(spec.behaviour_names)
    categories = list(spec.categories)  # the first static columns, in this order
    sent = np.array([[v is not None for v in block.static[name]] for name in categories], bool)
    unseen_matrix = np.isnan(X[:, static_start : static_start + len(categories)])
    unseen_matrix &= sent.T.reshape(unseen_matrix.shape)
    unseen, maybe_unseen = unseen_matrix.tolist(), unseen_matrix.any(axis=1).tolist()
    counted = block.behaviour[:, spec.behaviour_names.index(EVENTS_KNOWN)].tolist()
    # Usually every event type is known: one look over all the events instead of one per lead.
    any_unknown = bool({kind for record in records for _, kind in record.events} - known_types)
    out = []
    for i, record in enumerate(records):
        notes: list[Note] = []
        late = len(record.events) - int(counted[i])
        if not (late or any_unknown or maybe_unseen[i]) and record.attributes.keys() <= (
            model_attributes
        ):
            out.append(notes)  # the usual lead: nothing to say, and no more looking
            continue
        unknown = (
            Counter(kind for _, kind in record.events if kind not in known_types)
            if any_unknown
            else Counter()
        )
        if late:
            notes.append(Note("event_after_as_of", f"{late} events at or after as_of ignored"))
        notes += _at_most(
            [
                Note(
                    "unknown_event_type",
                    f"event type {kind!r} ({n}×) is not a model feature: counted as other",
                )
                for kind, n in sorted(unknown.items())
            ],
            "event types are not model features: counted as other",
        )
        for c, name in enumerate(categories):
            raw = block.static[name][i]
            if unseen[i][c]:
                notes.append(
                    Note(
                        "unknown_category",
                        f"{name} {raw!r} unseen in training (or too rare): scored as missing",
                    )
                )
        unused = sorted(name for name in record.attributes if name not in model_attributes)
        notes += _at_most(
            [
                Note("unused_attribute", f"attribute {name!r} is not a model feature: ignored")
                for name in unused
            ],
            "attributes are not model features: ignored",
        )
        out.append(notes)
    return out


def _at_most(notes: list[Note], rest: str) -> list[Note]:
    """The first NAMED notes of a kind, then one for the rest: an answer stays small even for
    a lead that sends hundreds of attributes or event types the model does not know."""
    if len(notes) <= NAMED:
        return notes
    more = Note(notes[0].kind, f"{len(notes) - NAMED} more {rest}")
    return [*notes[:NAMED], more]
