"""MLflow "model from code" entry point of the registered composer.

MLflow copies this file into the logged model and runs it on load, instead of
unpickling a Python object; the model class itself lives in `islr.text.mlflow_model`.
"""

import mlflow

from islr.text.mlflow_model import ComposerModel

mlflow.models.set_model(ComposerModel())
