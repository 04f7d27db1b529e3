"""Ground floor: the lead-data contract, its validation, and point-in-time features.

Imported by training, serving and the batch alike, so a feature is defined once. Importing it
pulls in neither MLflow nor BentoML.
"""
