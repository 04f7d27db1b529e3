"""The edge where settings come in: configs/*.yaml into the typed, frozen models that each
package defines, and the environment into the registry setting.

Nothing reads YAML or the environment at import time, and nothing below the top floor reads
them at all: commands call these functions with the paths the user gave (or the defaults in
configs/) and pass the resulting objects down explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from features.errors import LeadscoreError

if TYPE_CHECKING:  # their models are built when first needed: `leadscore --help` stays quick
    from training.config import BoosterParams, RegistryConfig, TrainConfig
    from training.policy import Policy

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
Model = TypeVar("Model", bound=BaseModel)


def default_config(name: str) -> Path:
    """configs/<name>.yaml of this checkout."""
    return CONFIG_DIR / f"{name}.yaml"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file of settings as a mapping (empty file: none); one line when unreadable."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise LeadscoreError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise LeadscoreError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise LeadscoreError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    return raw


def load_config(path: str | Path, model: type[Model]) -> Model:
    """Validate a YAML file into `model`; a typo or a wrong type names the file and field."""
    return validated(model, read_yaml(path), str(path))


def validated(model: type[Model], raw: dict[str, object], source: str, within: str = "") -> Model:
    """`raw` as `model`; a wrong value is one LeadscoreError naming `source` and the field
    (its path prefixed with `within`, the key `raw` sits under in the user's file)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        issues = "; ".join(
            f"{within}{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise LeadscoreError(f"{source}: {issues}") from None


def write_config(path: Path, config: BaseModel, header: str = "") -> None:
    """A config model as the YAML file `load_config` reads back, after a comment `header`."""
    path.write_text(header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def load_policy(routing: str | Path, economics: str | Path) -> Policy:
    """The routing and economics configs as the one policy every command passes down."""
    from training.policy import EconomicsConfig, Policy, RoutingConfig

    return Policy(
        routing=load_config(routing, RoutingConfig),
        economics=load_config(economics, EconomicsConfig),
    )


def tuned_params(config: TrainConfig) -> tuple[BoosterParams, str]:
    """Tuned parameters when `leadscore tune` wrote them, else the config's own; and where
    they came from."""
    from training.config import BoosterParams

    if config.tuned_params and Path(config.tuned_params).exists():
        return load_config(config.tuned_params, BoosterParams), config.tuned_params
    return config.conversion, "configs"


def registry_config(environ: Mapping[str, str] = os.environ) -> RegistryConfig:
    """Where runs and models live: MLFLOW_TRACKING_URI when set, else the embedded store."""
    from training.config import DEFAULT_TRACKING_URI, RegistryConfig

    return RegistryConfig(tracking_uri=environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI)
