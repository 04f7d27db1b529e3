"""`leadscore import`: one export in, one validated data folder out, written atomically.

The folder holds the three contract tables, the feature and training configs this export needs
(`features.yaml`, `train.yaml`: configs/*.yaml plus the mapping's overrides, e.g. a random split
when there is no time) and `import.json` (what was read, dropped and kept). Everything is built
in a hidden sibling folder, checked against the contract, and only then renamed into place, so
a killed import never leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from features import contract as c
from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.tables import check_folder, write_frame
from leadscore.importers.convert import Tables, build_tables
from leadscore.importers.mapping import Column, ImportMapping, load_mapping
from leadscore.importers.reader import load_export
from leadscore.settings import default_config, read_yaml, validated, write_config
from training.config import TrainConfig

MARKER = "import.json"

TUNED_FILE = "tuned_conversion.yaml"


@dataclass
class ImportReport:
    """What an import did, for the user: counts, dropped and kept columns, notes, next step."""

    folder: Path
    leads: int
    events: int
    stages: int
    attributes: list[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [
            f"keeping leaky column {col!r} ({reason}): scores and metrics will be optimistic "
            "and will not hold on new leads"
            for col, reason in self.kept
        ]

    def lines(self) -> list[str]:
        out = []
        if self.dropped:
            out.append("leaky columns dropped (keep one with --keep-leaky COL):")
            out += [f"  - {col}: {reason}" for col, reason in self.dropped]
        if self.ignored:
            out.append("not imported:")
            out += [f"  - {col}: {reason}" for col, reason in self.ignored]
        if self.unmapped:
            out.append(f"not in the mapping, ignored: {', '.join(self.unmapped)}")
        out += [f"note: {note}" for note in self.notes]
        out.append(
            f"{self.folder}: {self.leads:,} leads, {self.events:,} events, "
            f"{self.stages:,} stage changes; attributes: {', '.join(self.attributes)}"
        )
        out.append(
            f"next: leadscore train --data {self.folder} --config {self.folder}/train.yaml "
            f"--features-config {self.folder}/features.yaml"
        )
        return out


def import_export(
    mapping_file: Path, src: Path, out: Path, keep_leaky: Sequence[str] = (), kind: str = ""
) -> ImportReport:
    """Map the export at `src` into a new data folder `out`; refuse anything unclear."""
    mapping = load_mapping(mapping_file)
    features, train = training_configs(mapping, mapping_file, out)
    check_label_timing(mapping, features, mapping_file)
    _check_target(out)
    kept = _kept(mapping, keep_leaky, mapping_file)
    joins = [j for j in mapping.joins if mapping.leaky_named(j.key) is None or j.key in kept]
    export = load_export(src, mapping, kept, joins)
    columns = [
        *mapping.attributes,
        *(col for col in mapping.leaky if col.column in kept),
        *(a for j in joins for a in j.attributes),
    ]
    tables = build_tables(export.frame, mapping, columns, str(export.main))
    report = _report(mapping, tables, columns, kept, export.frame.columns, out)
    report.notes = export.notes + tables.notes + report.notes
    provenance = {
        "kind": kind,
        "mapping": str(mapping_file),
        "mapping_sha256": _sha256(mapping_file),
        "files": {str(path): _sha256(path) for path in export.files},
        "leaky_dropped": dict(report.dropped),
        "leaky_kept": dict(report.kept),
        "ignored": dict(report.ignored),
        "unmapped": report.unmapped,
        "notes": report.notes,
    }
    _write_folder(out, tables, {"features.yaml": features, "train.yaml": train}, provenance)
    return report


def training_configs(
    mapping: ImportMapping, where: Path, out: Path
) -> tuple[FeatureConfig, TrainConfig]:
    """configs/features.yaml and configs/train.yaml with the mapping's overrides applied.

    Tuned booster parameters belong to the data they were tuned on: unless the mapping says
    otherwise, `leadscore tune` on the imported folder writes them into it, and `train` reads
    them from there (never those tuned on other data).
    """
    features = validated(
        FeatureConfig,
        _merge(read_yaml(default_config("features")), mapping.features),
        str(where),
        within="features.",
    )
    train = validated(
        TrainConfig,
        _merge(read_yaml(default_config("train")), mapping.train),
        str(where),
        within="train.",
    )
    if "tuned_params" not in mapping.train:
        train = train.model_copy(update={"tuned_params": str(out / TUNED_FILE)})
    return features, train


def check_label_timing(mapping: ImportMapping, features: FeatureConfig, where: Path) -> None:
    """Outcomes placed `after_days` after creation must give one honest snapshot per lead.

    Such exports know the outcome but not when it came. A lead must be looked at once, at its
    creation (a second look at an older age would tell the model "not converted" by the age
    alone), a converting outcome must land inside the label horizon, and a non-converting one
    no earlier than its end, or the newest leads would keep their conversions but lose their
    non-conversions to censoring.
    """
    timed = {v: o for v, o in mapping.label.outcomes.items() if o.after_days is not None}
    if not timed:
        return
    problems = []
    if features.snapshot_max_age_days >= features.snapshot_every_days:
        problems.append(
            "features.snapshot_max_age_days must be below features.snapshot_every_days "
            "(one snapshot per lead, at creation)"
        )
    for value, outcome in timed.items():
        days = outcome.after_days or 0.0
        if outcome.converts and days >= features.horizon_days:
            problems.append(
                f"label.outcomes.{value}.after_days must be below features.horizon_days "
                f"({features.horizon_days})"
            )
        if not outcome.converts and days < features.horizon_days:
            problems.append(
                f"label.outcomes.{value}.after_days must be at least features.horizon_days "
                f"({features.horizon_days})"
            )
    if problems:
        raise LeadscoreError(f"{where}: " + "; ".join(problems))


def _kept(mapping: ImportMapping, keep: Sequence[str], where: Path) -> list[str]:
    leaky = [col.column for col in mapping.leaky]
    unknown = [col for col in keep if col not in leaky]
    if unknown:
        raise LeadscoreError(
            f"--keep-leaky {', '.join(unknown)}: not a leaky column of {where} "
            f"(leaky: {', '.join(leaky) or 'none'})"
        )
    return list(dict.fromkeys(keep))


def _report(
    mapping: ImportMapping,
    tables: Tables,
    columns: Sequence[Column],
    kept: Sequence[str],
    header: Sequence[str],
    out: Path,
) -> ImportReport:
    dropped = [(col.column, col.reason) for col in mapping.leaky if col.column not in kept]
    for join in mapping.joins:
        if any(col == join.key for col, _ in dropped):
            dropped += [
                (a.column, f"looked up by {join.key}, dropped with it") for a in join.attributes
            ]
    used = {col.column for col in columns} | {col.column for col in mapping.leaky}
    used |= {col.column for col in mapping.ignore} | {j.key for j in mapping.joins}
    used |= {a.column for j in mapping.joins for a in j.attributes}
    used |= {
        name
        for name in (
            mapping.lead_id.column,
            mapping.source.column,
            mapping.owner_id,
            mapping.partner_id,
            mapping.created_at.column,
            mapping.label.column,
            mapping.label.mrr,
            *(o.at for o in mapping.label.outcomes.values()),
        )
        if name
    }
    if mapping.created_at.row_order:
        order = mapping.created_at.row_order
        used |= {order.month_column, order.weekday_column or ""}
    notes = []
    if not (tables.stages[c.STAGE] == c.WON).any():
        notes.append(
            "no WON stages (no contract dates in this export): `train` fits the conversion "
            "model only and says that deal velocity cannot be trained"
        )
    return ImportReport(
        folder=out,
        leads=tables.leads.height,
        events=tables.events.height,
        stages=tables.stages.height,
        attributes=[col.target for col in columns],
        dropped=dropped,
        kept=[(col.column, col.reason) for col in mapping.leaky if col.column in kept],
        ignored=[(col.column, col.reason) for col in mapping.ignore],
        unmapped=[col for col in header if col not in used],
        notes=notes,
    )


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that an earlier import did not write."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise LeadscoreError(
            f"{out}: exists and was not written by `leadscore import`; choose a new folder"
        )


def _write_folder(
    out: Path, tables: Tables, configs: dict[str, BaseModel], provenance: dict[str, Any]
) -> None:
    """Write everything into a hidden sibling, check it, then swap it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        write_frame(tables.events, partial / f"{c.EVENTS}.parquet")
        write_frame(tables.stages, partial / f"{c.STAGES}.parquet")
        write_frame(tables.leads, partial / f"{c.LEADS}.parquet")
        for name, config in configs.items():
            header = f"# written by `leadscore import` from {provenance['mapping']}\n"
            write_config(partial / name, config, header)
        (partial / MARKER).write_text(json.dumps(provenance, indent=1) + "\n")
        problems, _ = check_folder(partial)
        if problems:
            raise LeadscoreError(
                f"the mapping produced data that breaks the contract: {'; '.join(problems)}"
            )
        _check_target(out)
        if out.exists():
            out.rename(old)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
