"""Options several commands share, and how their values are read: each defined once."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from leadscore.settings import (
    default_config,
    load_config,
    load_policy,
    registry_config,
    tuned_params,
)

if TYPE_CHECKING:
    from features.config import FeatureConfig
    from leadscore.engine.config import EngineConfig
    from training.config import Procedure, TrainConfig
    from training.policy import Policy
    from training.registry import Registry


def data_option(
    parser: argparse.ArgumentParser, help: str = "data folder, or a lead store URL"
) -> None:
    parser.add_argument("--data", required=True, help=help)


def training_options(parser: argparse.ArgumentParser) -> None:
    """The two configs of a training procedure."""
    parser.add_argument("--config", default=default_config("train"), help="training config")
    parser.add_argument(
        "--features-config", default=default_config("features"), help="feature config"
    )


def store_option(parser: argparse.ArgumentParser) -> None:
    """The lead store's settings (LEADSCORE_STORE_URL overrides their URL)."""
    parser.add_argument(
        "--store-config", default=default_config("store"), help="lead store settings"
    )


def policy_options(parser: argparse.ArgumentParser) -> None:
    """The routing policy and the economics (training/policy.py)."""
    parser.add_argument(
        "--routing-config", default=default_config("routing"), help="tiers and sales capacity"
    )
    parser.add_argument(
        "--economics-config",
        default=default_config("economics"),
        help="MRR, lifetime, margin, value",
    )


def engine_options(parser: argparse.ArgumentParser) -> None:
    """Where a batch job runs (configs/engine.yaml, overridden by --engine and --scheduler)."""
    parser.add_argument(
        "--engine", choices=("local", "dask"), default=None, help="local (default) or dask"
    )
    parser.add_argument(
        "--scheduler", default=None, help="a Dask scheduler address (default: a LocalCluster)"
    )
    parser.add_argument(
        "--engine-config", default=default_config("engine"), help="engine and cluster settings"
    )


def engine(args: argparse.Namespace) -> EngineConfig:
    from leadscore.engine.config import EngineConfig

    config = load_config(args.engine_config, EngineConfig)
    given = {"engine": args.engine, "scheduler": args.scheduler}
    if args.scheduler is not None and args.engine is None:
        given["engine"] = "dask"  # a scheduler address means Dask
    return config.model_copy(update={k: v for k, v in given.items() if v is not None})


def as_of_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--as-of, read as table timestamps are; `default` says what its absence means (None:
    the option is required)."""
    parser.add_argument(
        "--as-of",
        type=moment,
        required=default is None,
        default=None,
        help=f"UTC moment, ISO 8601, e.g. 2026-03-01{f' (default: {default})' if default else ''}",
    )


def moment(text: str) -> datetime:
    """An --as-of value; a bad one is one line and exit 1, like every user error."""
    from features.tables import parse_moment

    return parse_moment(text)


def policy(args: argparse.Namespace) -> Policy:
    return load_policy(args.routing_config, args.economics_config)


def training_configs(args: argparse.Namespace) -> tuple[FeatureConfig, TrainConfig]:
    """--features-config and --config."""
    from features.config import FeatureConfig
    from training.config import TrainConfig

    return load_config(args.features_config, FeatureConfig), load_config(args.config, TrainConfig)


def procedure(args: argparse.Namespace, seed: int | None = None) -> Procedure:
    """The training procedure of --features-config and --config (tuned parameters when
    `leadscore tune` wrote them), with `seed` instead of the config's when given."""
    from training.config import Procedure

    features, config = training_configs(args)
    if seed is not None:
        config = config.model_copy(update={"seed": seed})
    params, params_from = tuned_params(config)
    return Procedure(features=features, train=config, params=params, params_from=params_from)


def keep_report(store_url: str, kind: str, as_of: datetime, body: str) -> None:
    """Keep a command's JSON in the store it read, for the service's pages to show."""
    from datetime import UTC

    from features.store.reports import Report, save_report

    save_report(store_url, Report(kind, datetime.now(UTC), as_of, body))
    print(f"kept in the store for the service's pages: {kind} as of {as_of:%Y-%m-%d %H:%M} UTC")


def registry() -> Registry:
    """The gateway to the MLflow store the environment names (MLFLOW_TRACKING_URI)."""
    from training.registry import Registry

    return Registry(registry_config())
