"""`leadscore features`: point-in-time feature vectors of the leads open at a moment."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from leadscore.commands import options
from leadscore.settings import default_config, load_config

if TYPE_CHECKING:
    from features.config import FeatureConfig
    from leadscore.engine.config import EngineConfig

NAME = "features"
HELP = "write point-in-time feature vectors of the open leads at a moment"
DESCRIPTION = (
    "One row per lead created before --as-of that is not WON or LOST then, "
    "lead_id first; only events strictly before --as-of are used. With --engine dask, "
    "each hash partition of the leads is computed on a Dask worker and --out is a folder "
    "of part-NNNNN.parquet files, published at once."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    options.data_option(parser)
    options.as_of_option(parser, default=None)
    parser.add_argument(
        "--out", required=True, help="output file, .parquet or .csv (a folder with dask)"
    )
    parser.add_argument("--config", default=default_config("features"), help="feature config")
    options.engine_options(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from features.config import FeatureConfig
    from features.spec import FeatureSpec
    from features.tables import load_data, write_frame
    from features.vectors import block_frame, open_leads, table_features, to_ms

    config = load_config(args.config, FeatureConfig)
    as_of = args.as_of
    engine = options.engine(args)
    if engine.engine == "dask":
        return _on_dask(args, config, engine)
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


def _on_dask(args: argparse.Namespace, config: FeatureConfig, engine: EngineConfig) -> int:
    from pathlib import Path

    from features.spec import FeatureSpec
    from leadscore.engine.cluster import dask_client
    from leadscore.engine.jobs import features_on_dask, leads_of
    from leadscore.engine.parts import partitions
    from serving.publish import publish

    with partitions(args.data, engine) as folders, dask_client(engine) as client:
        spec = FeatureSpec.fit(config, leads_of(client, folders))
        written: list[int] = []
        publish(
            Path(args.out),
            lambda folder: written.append(
                features_on_dask(client, folders, spec, args.as_of, folder)
            ),
        )
    print(
        f"{args.out}/: {written[0]:,} open leads × {len(spec.feature_names)} features as of "
        f"{args.as_of.isoformat()} (spec {spec.hash}), {len(folders)} partitions on Dask"
    )
    return 0
