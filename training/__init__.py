"""Second floor: LightGBM conversion and deal-velocity models, evaluation, tuning, MLflow."""
