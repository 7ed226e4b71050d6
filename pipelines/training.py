"""The training pipeline: the data steps (cached when unchanged), then one training step
per configured run, each its own MLflow run."""

from pathlib import Path

from zenml import pipeline

from islr.job import JobConfig, discover_runs
from pipelines.data import data_steps
from steps.folds import check_cv_folds
from steps.tfjob import train_on_cluster
from steps.train import train_model

# Every run of the project's configs/runs/, in the study's order (a job with `runs: null`
# trains these; islr.job.discover_runs).
ALL_RUNS = tuple(discover_runs(Path(__file__).resolve().parents[1] / "configs" / "runs"))


def step_suffix(fold: int | None) -> str:
    """Step ids of one fold of a cross-validation end in `_fold<k>`; a single-fold job
    keeps the plain ids (`train_cnn`), which configs and caches refer to."""
    return "" if fold is None else f"_fold{fold}"


def train_steps(
    job: JobConfig, tfrecords, manifest, fingerprint
) -> list[tuple[str, int | None, object, object]]:
    """One training step per run and fold (id `train_<run>`, or `train_<run>_fold<k>`
    under cross-validation), shared by every pipeline that trains; returns (run name,
    fold, model output, train-result output) for each, folds outermost. Run files are
    resolved when the pipeline is compiled, so each step gets its full config as a
    parameter and any change to a run or scale file re-trains that run. With
    `job.training.backend: tfjob` each step launches the run as a TFJob instead; its
    outputs are the same, so everything downstream is unchanged. With `job.folds`, a
    first step checks every fold can be evaluated, so a bad fold fails before any
    training."""
    backend = job.training
    cluster = backend.tfjob_settings() if backend.backend == "tfjob" else None
    after = None
    if job.folds:
        check_cv_folds(tfrecords=tfrecords, folds=list(job.folds), id="check_cv_folds")
        after = "check_cv_folds"
    trained = []
    for fold in job.folds or [None]:
        for name in job.run_names():
            inputs = {
                "tfrecords": tfrecords,
                "fold_manifest": manifest,
                "data_fingerprint": fingerprint,
                "config": job.run_config(name),
                "scale": job.scale,
                "fold": fold,
            }
            step_id = f"train_{name}{step_suffix(fold)}"
            if cluster is None:
                # Not under the pipeline run's folder on purpose: the training folder is
                # keyed by the run's config, data and fold (`<output_root>/runs/<run>-<key>`),
                # so a pipeline killed mid-training and launched again resumes the run.
                model, result = train_model(
                    **inputs, out_root=f"{job.output_root}/runs", id=step_id, after=after
                )
            else:
                # the TFJob writes where every worker reads: the artifact store
                model, result = train_on_cluster(**inputs, cluster=cluster, id=step_id, after=after)
            trained.append((name, fold, model, result))
    return trained


@pipeline(enable_cache=True)
def training_pipeline(job: JobConfig | None = None):
    """The data steps, then every run of `job` (runs, scale, training backend, folds;
    islr.job.JobConfig, None: every default)."""
    job = job or JobConfig()
    fingerprint, _, manifest, tfrecords = data_steps(job)
    train_steps(job, tfrecords, manifest, fingerprint)
