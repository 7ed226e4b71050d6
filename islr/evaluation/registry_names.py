"""Names in the MLflow model registry: the registered model the gate writes and the
aliases it moves. The app reads the same names; they live apart from
`islr.evaluation.registry` so that importing them pulls in neither MLflow nor the
TFRecord reader, which the app image does not install."""

from __future__ import annotations

MODEL_NAME = "islr-sign-classifier"
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
