"""Check the folds a cross-validation asks for, before any training starts."""

from typing import Annotated

from zenml import step

from islr.data.tfrecord import TFRecordSet, check_folds


@step
def check_cv_folds(tfrecords: TFRecordSet, folds: list[int]) -> Annotated[list[int], "folds"]:
    """ConfigError naming every fold in `folds` that the TFRecord set cannot evaluate (a
    fold that does not exist, or one of a single participant, which cannot be halved
    into validation and test). The training steps run after this step."""
    check_folds(tfrecords, folds)
    return folds
