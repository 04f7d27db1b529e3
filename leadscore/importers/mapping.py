"""How one kind of CRM export maps into the data contract: a typed config per kind.

`configs/importers/<kind>.yaml` says everything the importer needs — which file to read and
how, which columns are the id, source and owner, how `created_at` is found, which columns become
lead attributes, which are leaky and why, and the label rule that turns an outcome column into
stages. It is data, not code, so a user maps their own export by writing one file; every model
here forbids unknown keys, so a misspelt key is an error instead of a silent default.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from features import contract as c
from features.config import FrozenConfig
from features.errors import LeadscoreError
from leadscore.settings import CONFIG_DIR, load_config

IMPORTER_DIR = CONFIG_DIR / "importers"
OutcomeStage = Literal["SQL", "WON", "LOST", "NURTURE"]


def as_text(value: Any) -> Any:
    """A value the export holds as text: YAML's numbers back to text, its booleans refused.

    Unquoted `yes`, `no`, `on`, `off` are booleans in YAML, and the spelling the export uses is
    lost, so they must be quoted; `999` or `1` mean the text "999" and "1".
    """
    if isinstance(value, bool):
        raise ValueError(f"{value} is a YAML boolean: quote the value as the export spells it")
    if isinstance(value, int | float):
        return str(value)
    return value


def snake(name: str) -> str:
    """A source header as a contract column name: 'Total Time Spent' -> 'total_time_spent'."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


class Column(FrozenConfig):
    """A source column that becomes a lead attribute (numeric or categorical)."""

    column: str = Field(min_length=1, description="header in the source file")
    name: str | None = Field(None, description="contract column; default: snake_case(column)")
    type: Literal["category", "number"] = "category"
    missing: tuple[str, ...] = Field((), description="values meaning 'unknown' in this column")
    change_over_days: int | None = Field(
        None,
        ge=1,
        description="a number that follows the calendar (a macro indicator, a price): import its "
        "change against the value in effect this many days before the lead's creation, taken "
        "from earlier leads only, as `<name>_change_<days>d`; trees cannot extrapolate a level "
        "into a regime they never saw, a change they can",
    )

    @field_validator("missing", mode="before")
    @classmethod
    def _texts(cls, values: Any) -> Any:
        return [as_text(v) for v in values] if isinstance(values, list | tuple) else values

    @model_validator(mode="after")
    def _change_of_a_number(self) -> Column:
        if self.change_over_days is not None and self.type != "number":
            raise ValueError(f"{self.column}: change_over_days needs type: number")
        return self

    @property
    def target(self) -> str:
        name = self.name or snake(self.column)
        return f"{name}_change_{self.change_over_days}d" if self.change_over_days else name


class LeakyColumn(Column):
    """A column known only after the outcome (or a proxy of it): dropped unless kept by flag."""

    reason: str = Field(min_length=1)


class Ignored(FrozenConfig):
    """A column deliberately not imported, with the reason (printed on import)."""

    column: str
    reason: str = Field(min_length=1)


class Join(FrozenConfig):
    """A lookup file joined on a key column; its attributes come in only with that key.

    When the key is a leaky column that is dropped, everything joined through it is dropped
    too: an attribute looked up by a leaky key carries the key's leak (e.g. its missingness).
    """

    file: str
    key: str = Field(description="the column both files share")
    attributes: tuple[Column, ...] = Field(min_length=1)


class LeadId(FrozenConfig):
    """The lead's id column; without one, ids are `prefix` + the 1-based row number."""

    column: str | None = None
    prefix: str = ""


class Source(FrozenConfig):
    """Where a lead came from: a column (empty values become `missing`) or one fixed value."""

    column: str | None = None
    value: str | None = None
    missing: str = Field("unknown", min_length=1)

    @model_validator(mode="after")
    def _one_way(self) -> Source:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of column or value")
        return self


class RowOrder(FrozenConfig):
    """Rows are in time order with month (and weekday) columns but no year or date.

    The year starts at `first_month` and advances whenever the month goes back; within a
    month each new run of weekdays is the next calendar day with that weekday.
    """

    first_month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM of the first row")
    month_column: str
    weekday_column: str | None = None


class CreatedAt(FrozenConfig):
    """How each lead's creation time is found: exactly one of column, fixed, row_order."""

    column: str | None = None
    missing: Literal["error", "drop", "end"] = Field(
        "error", description="rows without a date: refuse, drop them, or the export's last date"
    )
    fixed: date | None = Field(None, description="every lead at this date: no time in the data")
    row_order: RowOrder | None = None
    note: str = Field("", description="why this rule; printed on import")

    @model_validator(mode="after")
    def _one_way(self) -> CreatedAt:
        given = [self.column is not None, self.fixed is not None, self.row_order is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of column, fixed or row_order")
        return self


class Outcome(FrozenConfig):
    """The stages one value of the label column adds after MQL, and when they happen."""

    stages: tuple[OutcomeStage, ...] = ()
    at: str | None = Field(None, description="date column of these stages")
    after_days: float | None = Field(None, ge=0, description="or days after created_at")

    @model_validator(mode="after")
    def _timed(self) -> Outcome:
        timed = (self.at is not None) + (self.after_days is not None)
        if self.stages and timed != 1:
            raise ValueError("stages need exactly one of at (a date column) or after_days")
        if not self.stages and timed:
            raise ValueError("at/after_days without stages: an open lead has no outcome date")
        if c.WON in self.stages and (
            c.SQL not in self.stages or self.stages.index(c.SQL) > self.stages.index(c.WON)
        ):
            raise ValueError("WON must follow SQL in stages (the contract has no WON without SQL)")
        return self

    @property
    def converts(self) -> bool:
        return c.SQL in self.stages


class Label(FrozenConfig):
    """The outcome column: each value's stages; `mrr` is the amount column for WON."""

    column: str
    outcomes: dict[str, Outcome] = Field(min_length=1)
    mrr: str | None = None

    @field_validator("outcomes", mode="before")
    @classmethod
    def _text_keys(cls, outcomes: Any) -> Any:
        if isinstance(outcomes, dict):
            return {as_text(k): v for k, v in outcomes.items()}
        return outcomes

    @model_validator(mode="after")
    def _won_has_amount(self) -> Label:
        if self.mrr is None and any(c.WON in o.stages for o in self.outcomes.values()):
            raise ValueError("outcomes with WON need `mrr`: the contract requires an amount")
        return self


class ReadSpec(FrozenConfig):
    """The main file and how to read it; every value is read as text first."""

    file: str
    separator: str = Field(",", min_length=1, max_length=1)
    missing: tuple[str, ...] = Field(("",), description="values meaning 'unknown' everywhere")
    date_format: str | None = Field(None, description="strftime of date columns; None: ISO 8601")
    recode: dict[str, dict[str, str]] = Field(
        {}, description="column -> {value: replacement}, applied before joins"
    )

    @field_validator("missing", mode="before")
    @classmethod
    def _texts(cls, values: Any) -> Any:
        return [as_text(v) for v in values] if isinstance(values, list | tuple) else values


class ImportMapping(FrozenConfig):
    """Everything `leadscore import` needs to turn one kind of export into a data folder."""

    description: str = ""
    read: ReadSpec
    lead_id: LeadId
    source: Source
    owner_id: str | None = None
    partner_id: str | None = None
    created_at: CreatedAt
    label: Label
    attributes: tuple[Column, ...] = ()
    joins: tuple[Join, ...] = ()
    leaky: tuple[LeakyColumn, ...] = ()
    ignore: tuple[Ignored, ...] = ()
    features: dict[str, Any] = Field({}, description="overrides of configs/features.yaml")
    train: dict[str, Any] = Field({}, description="overrides of configs/train.yaml")

    @model_validator(mode="after")
    def _names_are_unique(self) -> ImportMapping:
        columns = [*self.attributes, *self.leaky, *(a for j in self.joins for a in j.attributes)]
        names = [col.target for col in columns]
        reserved = sorted(set(names) & set(c.LEAD_NOT_ATTRIBUTES))
        if reserved:
            raise ValueError(f"attribute names reserved by the contract: {', '.join(reserved)}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"attribute names used twice: {', '.join(dupes)}")
        leaky = {col.column for col in self.leaky}
        both = sorted(leaky & {col.column for col in self.attributes})
        if both:
            raise ValueError(f"columns both attribute and leaky: {', '.join(both)}")
        if self.label.column in leaky | {col.column for col in self.attributes}:
            raise ValueError(f"the label column {self.label.column!r} cannot be an attribute")
        return self

    def leaky_named(self, column: str) -> LeakyColumn | None:
        return next((col for col in self.leaky if col.column == column), None)


def known_kinds() -> list[str]:
    """The export kinds with a mapping in configs/importers/."""
    return sorted(path.stem for path in IMPORTER_DIR.glob("*.yaml"))


def mapping_path(kind: str, override: str | Path | None = None) -> Path:
    """The mapping file of `kind`: `override` when given, else configs/importers/<kind>.yaml."""
    if override is not None:
        return Path(override)
    if kind not in known_kinds():
        raise LeadscoreError(
            f"unknown KIND {kind!r}: one of {', '.join(known_kinds())}, "
            "or pass --mapping FILE for your own export"
        )
    return IMPORTER_DIR / f"{kind}.yaml"


def load_mapping(path: str | Path) -> ImportMapping:
    """Read and validate a mapping file; errors name the file and the field."""
    return load_config(path, ImportMapping)
