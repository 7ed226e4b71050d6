"""One typed job: everything a pipeline run (data, training, evaluation, registration,
export, reports) is configured by, with every default in exactly one place, the config
classes below and the ones they reuse.

A job file is the YAML `zenml pipeline run SOURCE -c FILE` reads; the job sits under
`parameters: job:` and holds only what differs from the defaults:

    parameters:
      job:
        export: {variants: [float32, dynamic_int8]}

`load_job(path)` reads the same file without ZenML (the CLI's `--job FILE`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from islr.cluster.tfjob import TrainingBackend
from islr.data.split import SplitConfig
from islr.data.tfrecord import TFRecordConfig
from islr.data.validate import ValidationConfig
from islr.errors import ConfigError, field_problems, read_yaml_mapping
from islr.evaluation.registry import RegistryConfig
from islr.export.config import ExportConfig
from islr.training.config import RunConfig, load_run_config

# The seed study's order of its seven runs: tables, step ids and the summary list them
# so. Run files in `runs_dir` that are not among them follow, alphabetically.
STUDY_ORDER = (
    "cnn",
    "transformer",
    "cnn_transformer_noaug",
    "cnn_transformer",
    "cnn_bilstm",
    "cnn_bigru",
    "cnn_linformer",
)


def discover_runs(runs_dir: str | os.PathLike[str]) -> list[str]:
    """The run names of `runs_dir` (one `<name>.yaml` per run): the study's runs in the
    study's order, then any other run alphabetically."""
    names = {p.stem for p in Path(runs_dir).glob("*.yaml")}
    if not names:
        raise ConfigError(f"{runs_dir}: no run files (<name>.yaml) in the runs folder (runs_dir)")
    return [n for n in STUDY_ORDER if n in names] + sorted(names - set(STUDY_ORDER))


class ReportConfig(BaseModel):
    """The comparison report across runs and folds."""

    model_config = ConfigDict(extra="forbid")

    ensemble: bool = Field(True, description="add the mean-of-softmax ensemble row")
    n_resamples: int = Field(10_000, ge=100, description="paired bootstrap resamples")


class JobConfig(BaseModel):
    """The `job` parameter of the data, training and main pipelines."""

    model_config = ConfigDict(extra="forbid")

    data_dir: str = Field("data", description="a folder in the asl-signs layout")
    # Every file a pipeline run writes lives under `<output_root>/<pipeline run id>/`
    # (validation report, evaluation files, TFLite files, comparison, summary). Three
    # paths are stable on purpose: `<output_root>/runs/<run>-<key>/` (a training run's
    # resumable folder, keyed by its config and data), `<output_root>/reports/summary.md`
    # (the latest summary) and the registry's `publish_champion` (what the app serves).
    output_root: str = "outputs"
    runs: list[str] | None = Field(
        None, description="names of files in runs_dir; None: every run file there"
    )
    runs_dir: str = "configs/runs"
    scale: str = Field("quickstart", description="a file in scales_dir")
    scales_dir: str = "configs/scales"
    # cross-validation, e.g. [0, 1, 2, 3]: every run trains and is evaluated once per
    # fold; None: one fold, the split's eval_fold
    folds: list[int] | None = None
    training: TrainingBackend = Field(default_factory=TrainingBackend)
    ingest_workers: int | None = Field(
        None, ge=1, description="processes; None: one per core (fewer for small data)"
    )
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    tfrecords: TFRecordConfig = Field(default_factory=TFRecordConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    def run_names(self) -> list[str]:
        """`runs`, or every run file of `runs_dir` (discover_runs)."""
        return list(self.runs) if self.runs else discover_runs(self.runs_dir)

    def run_config(self, name: str) -> RunConfig:
        """The run's file laid over the job's scale."""
        return load_run_config(
            Path(self.runs_dir) / f"{name}.yaml", Path(self.scales_dir) / f"{self.scale}.yaml"
        )

    def run_dir(self, run_id: str) -> Path:
        """`<output_root>/<pipeline run id>`: where that pipeline run writes its files."""
        return Path(self.output_root) / run_id


def job_from_dict(data: dict[str, Any] | None, where: str = "job") -> JobConfig:
    """Validate a job mapping; a ConfigError names `where` and every wrong field."""
    try:
        return JobConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {field_problems(exc, 'job.')}") from exc


def load_job(path: str | os.PathLike[str]) -> JobConfig:
    """The job of a pipeline config file (`parameters: job:`); an empty file, or one
    without a job, gives the defaults. A ConfigError names the file and the field."""
    loaded = read_yaml_mapping(path, "the job config")
    parameters = loaded.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ConfigError(f"{path}: `parameters` must be a mapping")
    return job_from_dict(parameters.get("job"), where=f"{path}: parameters")


def repeated_defaults(data: Any, model: BaseModel | None = None, path: str = "job") -> list[str]:
    """Dotted paths of `data` (a job mapping) whose value equals the default: what a job
    file repeats instead of leaving to the config classes."""
    model = model if model is not None else JobConfig()
    found = []
    for key, value in (data or {}).items():
        default = getattr(model, key, None)
        if isinstance(default, BaseModel) and isinstance(value, dict):
            found += repeated_defaults(value, default, f"{path}.{key}")
            continue
        current = default.model_dump() if isinstance(default, BaseModel) else default
        validated = type(model).model_validate({**model.model_dump(), key: value})
        new = getattr(validated, key)
        if (new.model_dump() if isinstance(new, BaseModel) else new) == current:
            found.append(f"{path}.{key}")
    return found
