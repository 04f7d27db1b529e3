"""configs/*.yaml into the typed, frozen config models that each package defines.

Nothing reads YAML at import time: commands call `load_config` with the path the user gave
(or the default one in configs/), and pass the resulting object down explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from features.errors import LeadscoreError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
Model = TypeVar("Model", bound=BaseModel)


def default_config(name: str) -> Path:
    """configs/<name>.yaml of this checkout."""
    return CONFIG_DIR / f"{name}.yaml"


def load_config(path: str | Path, model: type[Model]) -> Model:
    """Validate a YAML file into `model`; a typo or a wrong type names the file and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise LeadscoreError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise LeadscoreError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise LeadscoreError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    return validated(model, raw, str(path))


def validated(model: type[Model], raw: dict[str, object], source: str) -> Model:
    """`raw` as `model`; a wrong value is one LeadscoreError naming `source` and the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        issues = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise LeadscoreError(f"{source}: {issues}") from None
