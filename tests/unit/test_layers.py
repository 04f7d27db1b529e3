"""The building's rules, checked: imports point down, one gateway to MLflow, light floors,
small functions and modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("features", "training", "serving", "leadscore")  # ground floor first
# The gateway, and the pyfunc wrappers MLflow itself imports to unpickle a logged model.
MLFLOW_MODULES = {"training/registry.py", "training/pyfunc.py"}
MAX_PARAMETERS = 6  # beyond that, arguments travel together as one typed object
MAX_LINES = 350  # a module past that usually holds two ideas (../shared/STYLE.md)


def _imports(path: Path) -> set[str]:
    """Top-level package names a module imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _sources() -> list[Path]:
    """Every production module, floor by floor."""
    return [path for floor in FLOORS for path in sorted((ROOT / floor).rglob("*.py"))]


def _modules() -> list[tuple[str, set[str]]]:
    return [(str(path.relative_to(ROOT)), _imports(path)) for path in _sources()]


def test_imports_point_only_down() -> None:
    upward = [
        (module, sorted(names & set(FLOORS[FLOORS.index(module.split("/")[0]) + 1 :])))
        for module, names in _modules()
    ]
    assert [(module, up) for module, up in upward if up] == []


def test_only_the_gateway_talks_to_mlflow() -> None:
    assert {module for module, names in _modules() if "mlflow" in names} == MLFLOW_MODULES


def _loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import serving.scorer", {"mlflow", "bentoml", "sklearn"}),
        ("import serving.rescore, leadscore.commands.rescore", {"bentoml", "sklearn"}),
        ("import features", {"mlflow", "bentoml", "lightgbm", "sklearn"}),
        (
            "import features.catalog, features.behaviour, features.spec, features.vectors, "
            "features.snapshots, features.tables",
            {"mlflow", "bentoml", "lightgbm", "sklearn"},
        ),
        ("import leadscore.cli", {"mlflow", "bentoml", "lightgbm", "sklearn", "polars"}),
    ],
    ids=["scorer", "rescore", "features", "features-modules", "cli"],
)
def test_a_floor_loads_only_what_it_needs(statement: str, absent: set[str]) -> None:
    loaded = _loaded_by(statement)
    assert loaded & absent == set()
    assert statement.split()[1].split(".")[0] in loaded  # the import itself happened


def test_no_function_takes_more_than_six_parameters() -> None:
    crowded = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
                count = len([n for n in names if n not in ("self", "cls")])
                if count > MAX_PARAMETERS:
                    crowded.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({count})")
    assert crowded == []


def test_no_module_is_over_350_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _sources()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
