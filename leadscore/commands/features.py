"""`leadscore features`: point-in-time feature vectors of the leads open at a moment."""

from __future__ import annotations

import argparse

from leadscore.commands import options
from leadscore.settings import default_config, load_config

NAME = "features"
HELP = "write point-in-time feature vectors of the open leads at a moment"
DESCRIPTION = (
    "One row per lead created before --as-of that is not WON or LOST then, "
    "lead_id first; only events strictly before --as-of are used."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    options.as_of_option(parser, default=None)
    parser.add_argument("--out", required=True, help="output file, .parquet or .csv")
    parser.add_argument("--config", default=default_config("features"), help="feature config")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data, write_frame
    from features.vectors import block_frame, open_leads, table_features, to_ms

    config = load_config(args.config, FeatureConfig)
    as_of = args.as_of
    data = load_data(args.data)
    spec = FeatureSpec.fit(config, data.leads)
    lead_ids = open_leads(data, as_of)
    block = table_features(data, spec, lead_ids, np.full(len(lead_ids), to_ms(as_of)))
    path = write_frame(block_frame(spec, block), args.out)
    print(
        f"{path}: {len(lead_ids):,} open leads × {len(spec.feature_names)} features "
        f"as of {as_of.isoformat()} (spec {spec.hash})"
    )
    return 0
