"""`leadscore serve`: the scoring service on the champion models."""

from __future__ import annotations

import argparse

from leadscore.commands import options
from leadscore.settings import default_config, load_config, registry_config, validated

NAME = "serve"
HELP = "serve the champion models over HTTP: POST /score and /score_batch"
DESCRIPTION = (
    "Start the BentoML scoring service on lead-conversion@champion and "
    "deal-velocity@champion (reloaded when the aliases move). Prints a curl example; "
    "docs at /, health at /livez and /readyz, Prometheus at /metrics. Set "
    "LEADSCORE_API_TOKEN to require `Authorization: Bearer <token>` on the endpoints."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port (default: the config's, 3000)")
    parser.add_argument("--host", default=None, help="address (default: the config's, 127.0.0.1)")
    parser.add_argument("--config", default=default_config("serve"), help="server settings")
    options.policy_options(parser)


def run(args: argparse.Namespace) -> int:
    from serving.config import ServeConfig, ServiceSettings
    from serving.launch import serve

    server = load_config(args.config, ServeConfig)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = ServiceSettings(
        serve=validated(ServeConfig, server.model_dump() | overrides, "--port/--host"),
        policy=options.policy(args),
        registry=registry_config(),
    )
    serve(settings)
    return 0
