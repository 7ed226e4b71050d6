"""Errors of evaluation, comparison and registration; each names what is wrong and what
to do about it."""

from __future__ import annotations

from islr.errors import IslrError


class EvaluationError(IslrError):
    """A model or test split cannot be evaluated (no test records, wrong output shape)."""


class TestSplitMismatchError(EvaluationError):
    """Runs were evaluated on different test records, so their numbers do not compare."""

    __test__ = False  # not a pytest test class despite its name


class RegistryError(IslrError):
    """An evaluation cannot be registered (no MLflow run, unknown metric, ...)."""
