"""LightGBM, imported for the whole package without its scikit-learn interface.

`import lightgbm` imports scikit-learn when it is installed (for LGBMClassifier and friends,
which leadscore never uses: it trains with `lgb.train` and predicts with `Booster`), and
scikit-learn imports scipy.stats: 1.1–2 s of Python on one core before the nightly rescore
or a service worker can start, of a 15 s budget. Training still imports scikit-learn where it
fits a linear model or a calibrator; LightGBM then simply does not know about it.
"""

from __future__ import annotations

import importlib
import sys

if "lightgbm" not in sys.modules and "sklearn" not in sys.modules:
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # `import sklearn` fails here
    try:
        importlib.import_module("lightgbm")
    finally:
        del sys.modules["sklearn"]

import lightgbm as lgb

__all__ = ["lgb"]
